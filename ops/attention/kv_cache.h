// KvCacheAttention: an attention backend for incremental decoding, so a
// generator reuses every earlier position's keys and values instead of
// recomputing the whole prefix per token. Model code is unchanged: the
// generator installs this backend (TrainableModel::SetAttentionBackend) and
// feeds only the new positions, with their position ids.
//
// A forward calls Attend once per layer, in layer order: call i (mod the
// layer count) appends its k, v (B, K, Tn, D) to layer i's cache and lets
// the new queries (B, H, Tn, D) attend to every cached position, causally
// within the new block. One document per row; single process.
#pragma once

#include <vector>

#include "ops/attention/attention.h"

namespace loom::ops {

class KvCacheAttention : public AttentionBackend {
 public:
  explicit KvCacheAttention(int64_t num_layers);
  at::Tensor Attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const AttentionInputs& inputs) override;
  // Positions cached so far (every layer has them once a forward finished).
  int64_t length() const { return lengths_.empty() ? 0 : lengths_.back(); }

 private:
  int64_t layers_;
  int64_t calls_ = 0;
  std::vector<at::Tensor> k_, v_;  // (B, K, capacity, D) per layer; capacity doubles when full
  std::vector<int64_t> lengths_;
};

}  // namespace loom::ops
