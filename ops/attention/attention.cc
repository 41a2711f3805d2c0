#include "ops/attention/attention.h"

#include <cmath>
#include <vector>

#include <ATen/ATen.h>

namespace loom::ops {
namespace {

std::vector<Segment> Segments(const int64_t* ids, int64_t seq_len) {
  std::vector<Segment> out;
  for (int64_t t = 0; t < seq_len;) {
    int64_t e = t + 1;
    while (e < seq_len && ids[e] == ids[t]) ++e;
    out.push_back({t, e, ids[t]});
    t = e;
  }
  return out;
}

}  // namespace

PackedSegments SegmentsOf(const at::Tensor& doc_ids) {
  const auto ids = doc_ids.to(at::kCPU, at::kLong).contiguous();
  PackedSegments out;
  out.seq_len = ids.size(1);
  for (int64_t b = 0; b < ids.size(0); ++b) out.rows.push_back(Segments(ids.data_ptr<int64_t>() + b * out.seq_len, out.seq_len));
  return out;
}

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
  if (!inputs.doc_ids.defined()) {
    return at::scaled_dot_product_attention(q, kk, vv, {}, 0.0, /*is_causal=*/true, scale);
  }
  const PackedSegments* given = inputs.segments;
  PackedSegments derived;
  if (!given || given->seq_len != seq || static_cast<int64_t>(given->rows.size()) != batch) {
    derived = SegmentsOf(inputs.doc_ids);
    given = &derived;
  }
  std::vector<at::Tensor> rows;
  rows.reserve(batch);
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<at::Tensor> pieces;
    for (const auto& s : given->rows[static_cast<size_t>(b)]) {
      auto vs = vv[b].slice(1, s.begin, s.end);  // (H, L, D)
      if (s.doc < 0) {  // padding attends only to itself: softmax over one key = its v
        pieces.push_back(vs);
        continue;
      }
      auto qs = q[b].slice(1, s.begin, s.end).unsqueeze(0);
      auto ks = kk[b].slice(1, s.begin, s.end).unsqueeze(0);
      pieces.push_back(at::scaled_dot_product_attention(qs, ks, vs.unsqueeze(0), {}, 0.0, true, scale).squeeze(0));
    }
    rows.push_back(pieces.size() == 1 ? pieces[0] : at::cat(pieces, 1));
  }
  return at::stack(rows, 0);
}

}  // namespace loom::ops
