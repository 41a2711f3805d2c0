#include "ops/attention/attention.h"

#include <cmath>

#include <ATen/ATen.h>

namespace loom::ops {

at::Tensor PackedCausalMask(const at::Tensor& doc_ids, int64_t batch, int64_t seq_len) {
  const auto opts = at::TensorOptions().dtype(at::kBool);
  auto causal = at::ones({seq_len, seq_len}, opts).tril();  // (T, T)
  if (!doc_ids.defined()) return causal.view({1, 1, seq_len, seq_len}).expand({batch, 1, seq_len, seq_len});
  auto same_doc = doc_ids.unsqueeze(2) == doc_ids.unsqueeze(1);  // (B, T, T)
  auto valid = (doc_ids >= 0).unsqueeze(2);                        // query not padding
  auto eye = at::eye(seq_len, opts).unsqueeze(0);
  auto mask = (same_doc.logical_and(valid).logical_and(causal.unsqueeze(0))).logical_or(eye);
  return mask.unsqueeze(1);
}

at::Tensor CausalAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const AttentionInputs& inputs) {
  const int64_t batch = q.size(0), heads = q.size(1), seq = q.size(2), dim = q.size(3);
  const int64_t kv_heads = k.size(1);
  at::Tensor kk = k, vv = v;
  if (kv_heads != heads) {  // GQA: each kv head serves heads/kv_heads query heads
    kk = k.repeat_interleave(heads / kv_heads, 1);
    vv = v.repeat_interleave(heads / kv_heads, 1);
  }
  const double scale = inputs.scale > 0 ? inputs.scale : 1.0 / std::sqrt(static_cast<double>(dim));
  auto mask = PackedCausalMask(inputs.doc_ids, batch, seq);
  return at::scaled_dot_product_attention(q, kk, vv, mask, 0.0, /*is_causal=*/false, scale);
}

}  // namespace loom::ops
