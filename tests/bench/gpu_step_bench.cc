// The single-device train step of a Qwen3-shaped model, timed: what
// scripts/gpu_check.sh runs at ~1B parameters and 8K tokens per sequence in
// bf16 on one GPU, next to tests/bench/qwen3_eager_step.py (PyTorch eager,
// the same shapes and batch). Runs on the CPU too (tiny shapes: the dry run).
//
//   gpu_step_bench [--device cuda|cpu] [--hidden C] [--layers L] [--heads H]
//                  [--kv-heads K] [--head-dim D] [--intermediate F] [--vocab V]
//                  [--seq T] [--rows B] [--steps S] [--warmup W] [--dtype bf16|fp32]
//                  [--peak-tflops P]
//
// One step: forward + chunked cross-entropy + backward + gradient clipping +
// fused AdamW (train.fused_adamw), through Loom's TrainStep; one document
// per row, so attention is SDPA's causal path (flash attention on CUDA in
// bf16). Prints the FLOP formula, then
//   loom_step_ms <median> min <min> max <max> tokens_per_s <x> tflops <y> mfu <z>
// FLOPs per token = 6 N + 6 L H D T: N the matmul parameters (the layers'
// projections and the tied head, V C), and causal attention's two T x T
// matmuls (2 T H D each per token forward, halved by causality, x3 for
// forward + backward). MFU = achieved / --peak-tflops (989: H200 bf16 dense).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/cuda.h>

#include "models/llm/decoder_lm.h"
#include "sdk/train/optimizer.h"
#include "sdk/train/train_step.h"

int main(int argc, char** argv) {
  std::map<std::string, std::string> a = {{"device", "cuda"}, {"hidden", "2048"},  {"layers", "16"},   {"heads", "16"},
                                          {"kv-heads", "8"},  {"head-dim", "128"}, {"intermediate", "6144"},
                                          {"vocab", "151936"}, {"seq", "8192"},    {"rows", "1"},      {"steps", "8"},
                                          {"warmup", "3"},     {"dtype", "bf16"},  {"peak-tflops", "989"}};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = std::string(argv[i]).substr(2);
    if (std::string(argv[i]).rfind("--", 0) != 0 || !a.count(key)) {
      std::fprintf(stderr, "gpu_step_bench: unknown option %s (see the header of tests/bench/gpu_step_bench.cc)\n", argv[i]);
      return 2;
    }
    a[key] = argv[i + 1];
  }
  const auto n = [&](const char* k) { return std::stoll(a[k]); };
  if (a["device"] == "cuda" && !torch::cuda::is_available()) {
    std::fprintf(stderr, "gpu_step_bench: no CUDA device; pass --device cpu for the dry run\n");
    return 77;
  }
  const at::Device device = a["device"] == "cuda" ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  loom::models::LlmConfig c;
  c.model_type = "qwen3";
  c.hidden_size = n("hidden"), c.num_hidden_layers = n("layers"), c.num_attention_heads = n("heads");
  c.num_key_value_heads = n("kv-heads"), c.head_dim = n("head-dim"), c.intermediate_size = n("intermediate");
  c.vocab_size = n("vocab"), c.max_position_embeddings = std::max<int64_t>(n("seq"), 4096), c.tie_word_embeddings = true;
  const int64_t t = n("seq"), rows = n("rows"), L = c.num_hidden_layers, C = c.hidden_size, H = c.num_attention_heads,
                K = c.num_key_value_heads, D = c.head_dim, F = c.intermediate_size, V = c.vocab_size;
  auto model = std::make_shared<loom::models::DecoderLM>(c, device);
  {
    torch::NoGradGuard no_grad;  // HF-like init on the device (the timing does not depend on values)
    for (auto& p : model->parameters()) p.dim() >= 2 ? p.normal_(0, 0.02) : p.fill_(1.0);
  }
  auto g = at::make_generator<at::CPUGeneratorImpl>(1);
  loom::data::PackedBatch b;
  b.input_ids = at::randint(0, V, {rows, t}, g);
  b.labels = at::full_like(b.input_ids, loom::data::kIgnoreIndex);
  b.labels.slice(1, 0, -1).copy_(b.input_ids.slice(1, 1));
  b.position_ids = at::arange(t).expand({rows, t}).contiguous();
  b.input_ids = b.input_ids.to(device), b.labels = b.labels.to(device), b.position_ids = b.position_ids.to(device);
  loom::config::TrainConfig tc;
  tc.lr = 1e-4, tc.fused_adamw = true;
  auto opt = loom::train::BuildAdamW(model->parameters(), tc);
  loom::train::StepOptions so;
  so.device = device;
  so.bf16 = a["dtype"] == "bf16";
  so.loss_chunk_size = 8192;
  const auto sync = [&] { if (device.is_cuda()) torch::cuda::synchronize(); };
  std::vector<double> ms;
  for (int64_t i = 0; i < n("warmup") + n("steps"); ++i) {
    sync();
    const auto t0 = std::chrono::steady_clock::now();
    loom::train::TrainStep(*model, *opt, {b}, so);
    sync();
    if (i >= n("warmup")) ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  const double matmul_params = static_cast<double>(L * (C * H * D * 2 + C * K * D * 2 + 3 * C * F) + V * C);
  const double flops_per_token = 6 * matmul_params + 6.0 * L * H * D * t;
  const double tokens_per_s = static_cast<double>(rows * t) / (median / 1e3);
  const double tflops = flops_per_token * tokens_per_s / 1e12;
  std::printf("FLOPs per token = 6 N + 6 L H D T = 6 x %.4g + 6 x %lld x %lld x %lld x %lld = %.4g (N: matmul parameters incl. the tied head)\n",
              matmul_params, static_cast<long long>(L), static_cast<long long>(H), static_cast<long long>(D),
              static_cast<long long>(t), flops_per_token);
  std::printf("loom_step_ms %.2f min %.2f max %.2f tokens_per_s %.1f tflops %.2f mfu %.4f\n", median, ms.front(),
              ms.back(), tokens_per_s, tflops, tflops / std::stod(a["peak-tflops"]));
  return 0;
}
