// Rotary position embeddings (RoPE), HF-compatible ("rotate_half" layout).
//
//   RopeScaling     none, or llama3-style frequency scaling
//   InverseFrequencies(head_dim, theta, scaling) -> inv_freq (head_dim/2), fp32
//   RopeCosSin(position_ids (B,T), inv_freq)    -> cos, sin (B, T, head_dim), fp32
//   ApplyRope(x (B, H, T, D), cos, sin)         -> (B, H, T, D) in x's dtype
#pragma once

#include <string>
#include <utility>

#include <ATen/core/Tensor.h>

#include "ops/rope/rope_scaling.h"

namespace loom::ops {

at::Tensor InverseFrequencies(int64_t head_dim, double theta, const RopeScaling& scaling);

std::pair<at::Tensor, at::Tensor> RopeCosSin(const at::Tensor& position_ids,
                                             const at::Tensor& inv_freq);

at::Tensor ApplyRope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace loom::ops
