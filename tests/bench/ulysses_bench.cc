// Ulysses SP benchmark (run by ulysses_bench.sh under `loom launch --nproc P`;
// sp = P). The model is replicated (no FSDP) so only Ulysses' own
// communication is measured. Modes, printed by every rank:
//   --speed LEN ITERS   median fwd+bwd ms at LEN tokens per row for the sync
//                       backend, the async one, and a no-communication
//                       stand-in that moves the same bytes locally (the lower
//                       bound with the all-to-alls removed)
//   --memory LEN        activation peak bytes of one fwd+bwd on this rank's
//                       LEN/P slice (tracking allocator; parameter grads are
//                       allocated by a warm-up pass first, so excluded)
//   --fit BUDGET        the longest LEN (multiple of 256) whose activation
//                       peak on every rank stays <= BUDGET bytes
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "models/llm/decoder_lm.h"
#include "parallel/comm/communicator.h"
#include "parallel/ulysses/ulysses_attention.h"
#include "sdk/runtime/world.h"
#include "sdk/train/sequence_slice.h"
#include "tests/bench/tracking_allocator.h"

namespace {

using Clock = std::chrono::steady_clock;

loom::models::LlmConfig ActivationHeavy() {
  loom::models::LlmConfig c;
  c.model_type = "qwen3";
  c.vocab_size = 512, c.hidden_size = 256, c.intermediate_size = 768, c.num_hidden_layers = 2;
  c.num_attention_heads = 8, c.num_key_value_heads = 2, c.head_dim = 32, c.qk_norm = true;
  c.tie_word_embeddings = false;
  return c;
}

// One row of LEN tokens: three packed documents.
loom::data::PackedBatch Row(int64_t len) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(9);
  loom::data::PackedBatch b;
  b.input_ids = at::randint(512, {1, len}, g);
  b.labels = at::full_like(b.input_ids, loom::data::kIgnoreIndex);
  b.labels.slice(1, 0, -1).copy_(b.input_ids.slice(1, 1));
  b.doc_ids = at::zeros_like(b.input_ids);
  b.doc_ids.slice(1, len / 3).fill_(1);
  b.doc_ids.slice(1, 2 * len / 3).fill_(2);
  auto pos = at::arange(len);
  b.position_ids = (pos - at::where(pos >= 2 * len / 3, 2 * len / 3, at::where(pos >= len / 3, len / 3, 0)))
                       .unsqueeze(0).contiguous();
  return b;
}

// Same shapes and local data movement as Ulysses, no communication: the
// lower bound of a step with the all-to-alls removed (numbers are wrong).
class NoCommUlysses : public loom::ops::AttentionBackend {
 public:
  NoCommUlysses(int64_t p, at::Tensor global_doc_ids) : p_(p), global_doc_ids_(std::move(global_doc_ids)) {}
  at::Tensor Attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const loom::ops::AttentionInputs& in) override {
    // (B, n, T/P, D) -> (B, n/P, T, D): this rank's head block, P sequence copies.
    const auto to_heads = [&](const at::Tensor& x) {
      return at::cat(std::vector<at::Tensor>(p_, x.narrow(1, 0, x.size(1) / p_)), 2);
    };
    const int64_t repeat = loom::parallel::UlyssesKvRepeat(k.size(1), p_);
    loom::ops::AttentionInputs global = in;
    global.doc_ids = global_doc_ids_;
    auto out = loom::ops::CausalAttention(to_heads(q), to_heads(k.repeat_interleave(repeat, 1)),
                                          to_heads(v.repeat_interleave(repeat, 1)), global);
    // (B, H/P, T, D) -> (B, H, T/P, D)
    return at::cat(std::vector<at::Tensor>(p_, out.narrow(2, 0, out.size(2) / p_)), 1);
  }

 private:
  int64_t p_;
  at::Tensor global_doc_ids_;
};

double FwdBwdMs(loom::models::DecoderLM& model, const loom::data::PackedBatch& slice) {
  const auto t0 = Clock::now();
  model.LossSum({slice.input_ids, slice.position_ids, slice.doc_ids}, slice.labels, 1024).backward();
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  auto* tracker = loom::bench::TrackingAllocator::Install();
  if (argc < 3) {
    std::fprintf(stderr, "usage: ulysses_bench --speed LEN ITERS | --memory LEN | --fit BUDGET_BYTES\n");
    return 2;
  }
  at::set_num_threads(1);  // ranks share this machine's cores
  const std::string mode = argv[1];
  const auto info = loom::runtime::WorldInfoFromEnv();
  auto world = loom::runtime::JoinWorld(info, {});
  const int p = world->size(), rank = world->rank();
  auto model = std::make_shared<loom::models::DecoderLM>(ActivationHeavy());
  model->InitWeights(1);
  auto sync = std::make_shared<loom::parallel::UlyssesAttention>(world, loom::parallel::UlyssesMode::kSync);
  model->SetAttentionBackend(sync);
  const auto slice_of = [&](int64_t len) { return loom::train::SliceSequence(Row(len), rank, p); };

  if (mode == "--speed") {
    const int64_t len = std::stoll(argv[2]);
    const int iters = argc > 3 ? std::stoi(argv[3]) : 5;
    if (len % p != 0) {
      std::fprintf(stderr, "--speed: LEN %lld must be a multiple of sp %d\n", static_cast<long long>(len), p);
      return 2;
    }
    const auto slice = slice_of(len);
    std::vector<std::pair<std::string, std::shared_ptr<loom::ops::AttentionBackend>>> backends = {
        {"sync", sync},
        {"async", std::make_shared<loom::parallel::UlyssesAttention>(world, loom::parallel::UlyssesMode::kAsync)},
        {"no_comm", std::make_shared<NoCommUlysses>(p, Row(len).doc_ids)}};
    std::vector<std::vector<double>> times(backends.size());
    for (int it = 0; it < iters + 1; ++it) {  // interleaved, first round is warm-up
      for (size_t i = 0; i < backends.size(); ++i) {
        model->SetAttentionBackend(backends[i].second);
        world->Barrier()->Wait();
        const double ms = FwdBwdMs(*model, slice);
        if (it > 0) times[i].push_back(ms);
      }
    }
    std::printf("rank %d sp %d len %lld sync_ms %.2f async_ms %.2f no_comm_ms %.2f\n", rank, p,
                static_cast<long long>(len), Median(times[0]), Median(times[1]), Median(times[2]));
    return 0;
  }

  const auto activation_peak = [&](int64_t len) {
    const auto slice = slice_of(len);
    FwdBwdMs(*model, slice);  // warm-up: allocates parameter grads, caches
    const int64_t before = tracker->live();
    tracker->ResetPeak();
    FwdBwdMs(*model, slice);
    at::Tensor peak = at::tensor(static_cast<double>(tracker->peak() - before), at::kDouble);
    loom::comm::AllReduceOptions o;
    o.op = loom::comm::ReduceOp::kMax;
    world->AllReduce(peak, o)->Wait();  // the worst rank decides
    return static_cast<int64_t>(peak.item<double>());
  };
  if (mode == "--memory") {
    const int64_t len = std::stoll(argv[2]);
    std::printf("rank %d sp %d len %lld activation_peak_bytes %lld\n", rank, p, static_cast<long long>(len),
                static_cast<long long>(activation_peak(len)));
    return 0;
  }
  if (mode == "--fit") {
    const int64_t budget = std::stoll(argv[2]);
    int64_t fits = 0, fails = 256;
    while (activation_peak(fails) <= budget) fits = fails, fails *= 2;
    while (fails - fits > 256) {  // bisect on multiples of 256
      const int64_t mid = (fits + fails) / 512 * 256;
      (activation_peak(mid) <= budget ? fits : fails) = mid;
    }
    std::printf("rank %d sp %d budget %lld longest_len %lld\n", rank, p, static_cast<long long>(budget),
                static_cast<long long>(fits));
    return 0;
  }
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
