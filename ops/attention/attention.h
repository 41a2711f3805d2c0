// Causal self-attention over packed rows, and the backend interface through
// which a parallel plan redirects it (e.g. Ulysses SP) without model changes.
//
// Shapes: q (B, H, T, D); k, v (B, Hkv, T, D) with H % Hkv == 0 (GQA/MQA).
// doc_ids (B, T) int64: position i may attend to j iff j <= i and
// doc_ids[b,i] == doc_ids[b,j] >= 0; padding (doc -1) attends only to itself
// so its (unused) output stays finite. Undefined doc_ids = one document per row.
// Output (B, H, T, D).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

namespace loom::ops {

// The documents of packed rows as runs of one doc id: rows[b] lists
// [begin, end) runs covering 0..seq_len (doc -1: padding). Computed once per
// batch by the collator, so attention does not re-derive them (a device to
// host copy of doc_ids) in every layer.
struct Segment {
  int64_t begin, end, doc;
};
struct PackedSegments {
  int64_t seq_len = 0;
  std::vector<std::vector<Segment>> rows;
};
PackedSegments SegmentsOf(const at::Tensor& doc_ids);  // doc_ids (B, T) int64, on any device

struct AttentionInputs {
  at::Tensor doc_ids;  // (B, T) or undefined
  double scale = 0;    // 0 = 1/sqrt(D)
  // The runs of doc_ids over whole rows, or null. Used when they cover the
  // rows attended (B rows of seq_len positions; e.g. after Ulysses gathers
  // the sequence); otherwise the runs are derived from doc_ids.
  const PackedSegments* segments = nullptr;
};

// Boolean mask (B, 1, T, T), true = may attend. O(T^2): for tests and small
// inputs; CausalAttention never builds it.
at::Tensor PackedCausalMask(const at::Tensor& doc_ids, int64_t batch, int64_t seq_len);

// Plain single-process attention. Documents are contiguous runs of equal
// doc id, so each (row, document) segment runs as its own causal SDPA with no
// mask (flash kernel: O(T) memory, never a (T, T) mask); padding positions
// return their own v.
at::Tensor CausalAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const AttentionInputs& inputs);

// The projections of one attention call, computed when a backend asks, so it
// can overlap communicating one with computing the next. Each returns
// (B, H, T, D) for q and (B, Hkv, T, D) for k and v, RoPE and qk-norm applied.
struct QkvProjections {
  std::function<at::Tensor()> q, k, v;
};

// What a model calls. The default runs CausalAttention; plans install others.
class AttentionBackend {
 public:
  virtual ~AttentionBackend() = default;
  virtual at::Tensor Attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const AttentionInputs& inputs) = 0;
  // Default: project q, k, v in that order, then Attend.
  virtual at::Tensor AttendProjected(const QkvProjections& qkv, const AttentionInputs& inputs) {
    auto q = qkv.q();
    auto k = qkv.k();
    auto v = qkv.v();
    return Attend(q, k, v, inputs);
  }
};

class LocalAttention : public AttentionBackend {
 public:
  at::Tensor Attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const AttentionInputs& inputs) override {
    return CausalAttention(q, k, v, inputs);
  }
};

}  // namespace loom::ops
