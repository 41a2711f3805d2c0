#include "models/core/layers.h"

#include <ATen/ATen.h>

namespace loom::models {

at::Tensor NewParameterTensor(at::IntArrayRef sizes, at::Device device) {
  const auto options = at::TensorOptions().dtype(at::kFloat).device(device);
  return device.is_meta() ? at::empty(sizes, options) : at::zeros(sizes, options);
}

Linear::Linear(int64_t in_features, int64_t out_features, bool with_bias, at::Device device) : Module("Linear") {
  weight = register_parameter("weight", NewParameterTensor({out_features, in_features}, device));
  if (with_bias) bias = register_parameter("bias", NewParameterTensor({out_features}, device));
}

at::Tensor Linear::forward(const at::Tensor& x) { return at::linear(x, weight, bias); }

LayerNorm::LayerNorm(int64_t dim, double eps, at::Device device) : Module("LayerNorm"), dim_(dim), eps_(eps) {
  weight = register_parameter("weight", NewParameterTensor({dim}, device));
  bias = register_parameter("bias", NewParameterTensor({dim}, device));
}

at::Tensor LayerNorm::forward(const at::Tensor& x) { return at::layer_norm(x, {dim_}, weight, bias, eps_); }

Embedding::Embedding(int64_t num_embeddings, int64_t dim, at::Device device) : Module("Embedding") {
  weight = register_parameter("weight", NewParameterTensor({num_embeddings, dim}, device));
}

at::Tensor Embedding::forward(const at::Tensor& ids) { return at::embedding(weight, ids); }

}  // namespace loom::models
