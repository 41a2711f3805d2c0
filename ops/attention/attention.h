// Causal self-attention over packed rows, and the backend interface through
// which a parallel plan redirects it (e.g. Ulysses SP) without model changes.
//
// Shapes: q (B, H, T, D); k, v (B, Hkv, T, D) with H % Hkv == 0 (GQA/MQA).
// doc_ids (B, T) int64: position i may attend to j iff j <= i and
// doc_ids[b,i] == doc_ids[b,j] >= 0; padding (doc -1) attends only to itself
// so its (unused) output stays finite. Undefined doc_ids = one document per row.
// Output (B, H, T, D).
#pragma once

#include <memory>

#include <ATen/core/Tensor.h>

namespace loom::ops {

struct AttentionInputs {
  at::Tensor doc_ids;  // (B, T) or undefined
  double scale = 0;    // 0 = 1/sqrt(D)
};

// Boolean mask (B, 1, T, T), true = may attend.
at::Tensor PackedCausalMask(const at::Tensor& doc_ids, int64_t batch, int64_t seq_len);

// Plain single-process attention (SDPA with the packed causal mask).
at::Tensor CausalAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const AttentionInputs& inputs);

// What a model calls. The default runs CausalAttention; plans install others.
class AttentionBackend {
 public:
  virtual ~AttentionBackend() = default;
  virtual at::Tensor Attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const AttentionInputs& inputs) = 0;
};

class LocalAttention : public AttentionBackend {
 public:
  at::Tensor Attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const AttentionInputs& inputs) override {
    return CausalAttention(q, k, v, inputs);
  }
};

}  // namespace loom::ops
