#include "ops/attention/kv_cache.h"

#include <cmath>

#include <ATen/ATen.h>

#include "ops/base/error.h"

namespace loom::ops {
namespace {

// Appends `x` (B, K, Tn, D) at position `length` of `cache`, growing it by doubling.
void Append(at::Tensor& cache, const at::Tensor& x, int64_t length) {
  const int64_t needed = length + x.size(2);
  if (!cache.defined() || cache.size(2) < needed) {
    const int64_t capacity = std::max<int64_t>(needed, cache.defined() ? 2 * cache.size(2) : 64);
    auto grown = at::empty({x.size(0), x.size(1), capacity, x.size(3)}, x.options());
    if (cache.defined() && length > 0) grown.slice(2, 0, length).copy_(cache.slice(2, 0, length));
    cache = grown;
  }
  cache.slice(2, length, needed).copy_(x);
}

}  // namespace

KvCacheAttention::KvCacheAttention(int64_t num_layers)
    : layers_(num_layers), k_(num_layers), v_(num_layers), lengths_(num_layers, 0) {
  if (num_layers < 1) throw ConfigError("KvCacheAttention needs at least one layer, got " + std::to_string(num_layers));
}

at::Tensor KvCacheAttention::Attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                    const AttentionInputs& inputs) {
  const auto layer = static_cast<size_t>(calls_++ % layers_);
  const int64_t past = lengths_[layer], fresh = q.size(2), total = past + fresh;
  Append(k_[layer], k, past);
  Append(v_[layer], v, past);
  lengths_[layer] = total;
  auto kk = k_[layer].slice(2, 0, total), vv = v_[layer].slice(2, 0, total);  // (B, K, L, D)
  const int64_t heads = q.size(1), kv_heads = k.size(1);
  if (kv_heads != heads) {  // GQA, as CausalAttention
    kk = kk.repeat_interleave(heads / kv_heads, 1);
    vv = vv.repeat_interleave(heads / kv_heads, 1);
  }
  const double scale = inputs.scale > 0 ? inputs.scale : 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  if (past == 0) return at::scaled_dot_product_attention(q, kk, vv, {}, 0.0, /*is_causal=*/true, scale);
  if (fresh == 1) return at::scaled_dot_product_attention(q, kk, vv, {}, 0.0, /*is_causal=*/false, scale);
  // New query i sits at position past + i: it sees keys 0 .. past + i.
  const auto opts = at::TensorOptions().dtype(at::kLong).device(q.device());
  const auto mask = at::arange(total, opts).unsqueeze(0) <= (at::arange(fresh, opts) + past).unsqueeze(1);  // (Tn, L)
  return at::scaled_dot_product_attention(q, kk, vv, mask, 0.0, /*is_causal=*/false, scale);
}

}  // namespace loom::ops
