#include "models/llm/decoder_lm.h"
#include "parallel/plan/memory_estimate.h"

#include "ops/base/error.h"

#include <algorithm>
#include <cstdio>

#include "ops/base/format.h"

namespace loom::parallel {

MemoryEstimate EstimateMemory(const models::LlmConfig& c, const ParallelState& state, RecomputePolicy recompute,
                              int64_t seq_len, int64_t rows_per_rank, int64_t layers_per_unit) {
  MemoryEstimate e;
  const int64_t n = state.fsdp_size();
  e.parameters = c.NumParameters();
  const int64_t shard = (e.parameters + n - 1) / n;
  e.param_bytes = 4 * shard;
  e.grad_bytes = 4 * shard;
  e.optimizer_bytes = 8 * shard;
  const int64_t layer_params = (e.parameters - c.vocab_size * c.hidden_size * (c.tie_word_embeddings ? 1 : 2)) /
                               std::max<int64_t>(1, c.num_hidden_layers);
  const int64_t root_params = c.vocab_size * c.hidden_size * (c.tie_word_embeddings ? 1 : 2);
  const int64_t unit_layers = std::clamp<int64_t>(layers_per_unit, 1, std::max<int64_t>(1, c.num_hidden_layers));
  e.gathered_unit_bytes = 4 * 2 * std::max(layer_params * unit_layers, root_params);
  const int64_t C = c.hidden_size, I = c.intermediate_size, H = c.num_attention_heads, K = c.num_key_value_heads,
                D = c.head_dim, L = c.num_hidden_layers;
  // Per token, saved for backward (floats). Dense MLP: gate, up, silu, product.
  // Sparse MoE block: router logits and fp32 probabilities (2E), each of the
  // k routed copies of the input and of the expert output (2kC), the experts'
  // gate/up/silu/product per copy (4k I_moe), the combined output (C).
  const int64_t dense_mlp = 4 * I;
  const int64_t sparse_mlp = c.IsMoe() ? 2 * c.num_experts + 2 * c.num_experts_per_tok * C +
                                             4 * c.num_experts_per_tok * c.moe_intermediate_size + C
                                       : 0;
  int64_t all_mlp = 0, largest_mlp = 0;
  for (int64_t l = 0; l < L; ++l) {
    const int64_t mlp = c.IsSparseLayer(l) ? sparse_mlp : dense_mlp;
    all_mlp += mlp;
    largest_mlp = std::max(largest_mlp, mlp);
  }
  // Flash attention per document: no T x T probabilities, only a log-sum-exp per head.
  const int64_t attn = 6 * C + 2 * (H + 2 * K) * D + 2 * H * D + H;
  int64_t per_token = 0;
  switch (recompute) {
    case RecomputePolicy::kNone: per_token = L * attn + all_mlp; break;
    case RecomputePolicy::kSelective: per_token = L * attn + largest_mlp; break;
    case RecomputePolicy::kFull: per_token = L * C + (attn + largest_mlp); break;
  }
  e.activation_bytes_per_token = 4 * per_token;
  // Ulysses: each SP rank holds ceil(T / sp) positions of every row.
  const int64_t sp = state.shape().sp;
  e.activation_bytes = e.activation_bytes_per_token * ((seq_len + sp - 1) / sp) * rows_per_rank;
  e.total_bytes = e.param_bytes + e.grad_bytes + e.optimizer_bytes + e.gathered_unit_bytes + e.activation_bytes;
  return e;
}

nlohmann::json EstimateToJson(const MemoryEstimate& e) {
  return {{"parameters", e.parameters},
          {"param_bytes", e.param_bytes},
          {"grad_bytes", e.grad_bytes},
          {"optimizer_bytes", e.optimizer_bytes},
          {"gathered_unit_bytes", e.gathered_unit_bytes},
          {"activation_bytes_per_token", e.activation_bytes_per_token},
          {"activation_bytes", e.activation_bytes},
          {"total_bytes", e.total_bytes}};
}

int64_t LongestSeqLenWithin(int64_t budget, const models::LlmConfig& model, const ParallelState& state,
                            RecomputePolicy recompute, int64_t rows, int64_t layers_per_unit) {
  return LongestWithin([&](int64_t len) {
    return EstimateMemory(model, state, recompute, len, rows, layers_per_unit).total_bytes <= budget;
  });
}

int64_t LongestWithin(c10::function_ref<bool(int64_t)> fits) {
  if (!fits(1)) return 0;
  int64_t lo = 1, hi = 2;  // fits(lo), and hi is the next candidate
  while (hi <= (int64_t{1} << 40) && fits(hi)) lo = hi, hi *= 2;
  if (hi > (int64_t{1} << 40)) return lo;
  while (hi - lo > 1) {  // fits(lo), !fits(hi)
    const int64_t mid = lo + (hi - lo) / 2;
    (fits(mid) ? lo : hi) = mid;
  }
  return lo;
}

int64_t ParseByteSize(const std::string& text, const std::string& key) {
  static const std::pair<const char*, double> kUnits[] = {
      {"KiB", 1024.0}, {"MiB", 1024.0 * 1024}, {"GiB", 1024.0 * 1024 * 1024}, {"TiB", 1024.0 * 1024 * 1024 * 1024},
      {"KB", 1e3},     {"MB", 1e6},            {"GB", 1e9},                   {"TB", 1e12},
      {"B", 1.0},      {"", 1.0}};
  size_t end = 0;
  double value = -1;
  try {
    value = std::stod(text, &end);
  } catch (const std::exception&) {
    end = 0;
  }
  const std::string unit = end > 0 ? text.substr(end) : "?";
  for (const auto& [name, scale] : kUnits) {
    if (unit == name && value > 0) return static_cast<int64_t>(value * scale);
  }
  throw ConfigError(ErrorWithFix(key + " '" + text + "' is not a positive size",
                                 "write a number with an optional unit: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB (e.g. 80GiB)"));
}

std::string DescribeEstimate(const MemoryEstimate& e) {
  std::string s;
  s += "  parameters           " + std::to_string(e.parameters) + "\n";
  s += "  sharded parameters   " + FormatBytes(e.param_bytes) + " (fp32 master shard)\n";
  s += "  sharded gradients    " + FormatBytes(e.grad_bytes) + "\n";
  s += "  AdamW state          " + FormatBytes(e.optimizer_bytes) + "\n";
  s += "  largest unit gathered " + FormatBytes(e.gathered_unit_bytes) + " (parameters + gradients in flight)\n";
  s += "  activations          ~" + FormatBytes(e.activation_bytes) + " (~" + FormatBytes(e.activation_bytes_per_token) + " per token)\n";
  s += "  total per rank       ~" + FormatBytes(e.total_bytes) + "\n";
  return s;
}

}  // namespace loom::parallel
