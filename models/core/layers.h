// Linear, LayerNorm and Embedding with HF parameter names ("weight", "bias") that can be
// built without storage.
//
// LibTorch's torch::nn::Linear/Embedding allocate and initialise their
// weights on the CPU in their constructors, so a model built from them always
// materialises in full. These take a device: on at::kMeta parameters have
// their shapes and no storage (what sharded construction needs: FSDP reads
// the shapes and fills only its shards, parallel/fsdp/fsdp.h); on a real
// device they are zero-filled until InitWeights or LoadFrom writes them.
#pragma once

#include <c10/core/Device.h>

#include "models/core/module.h"

namespace loom::models {

// A parameter tensor of `sizes` (fp32): no storage on meta, zeros otherwise.
at::Tensor NewParameterTensor(at::IntArrayRef sizes, at::Device device);

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias, at::Device device);
  // x (..., in) -> (..., out)
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight;  // (out, in)
  at::Tensor bias;    // (out) or undefined
};

// LayerNorm over the last dim (weight 1, bias 0 once initialised).
class LayerNorm : public Module {
 public:
  LayerNorm(int64_t dim, double eps, at::Device device);
  at::Tensor forward(const at::Tensor& x);  // (..., dim) -> (..., dim)
  at::Tensor weight, bias;                  // (dim)

 private:
  int64_t dim_;
  double eps_;
};

class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t dim, at::Device device);
  // ids (...) int64 -> (..., dim)
  at::Tensor forward(const at::Tensor& ids);
  at::Tensor weight;  // (num_embeddings, dim)
};

}  // namespace loom::models
