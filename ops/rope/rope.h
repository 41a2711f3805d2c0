// Rotary position embeddings (RoPE), HF-compatible ("rotate_half" layout).
//
//   RopeScaling     none, or llama3-style frequency scaling
//   InverseFrequencies(head_dim, theta, scaling) -> inv_freq (head_dim/2), fp32
//   RopeCosSin(position_ids (B,T), inv_freq)    -> cos, sin (B, T, head_dim), fp32
//   ApplyRope(x (B, H, T, D), cos, sin)         -> (B, H, T, D) in x's dtype
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "ops/rope/rope_scaling.h"

namespace loom::ops {

at::Tensor InverseFrequencies(int64_t head_dim, double theta, const RopeScaling& scaling);

std::pair<at::Tensor, at::Tensor> RopeCosSin(const at::Tensor& position_ids,
                                             const at::Tensor& inv_freq);

// Multimodal RoPE (Qwen2-VL): position_ids (3, B, T) rows t, h, w -> cos, sin
// (B, T, D), channel chunk i of mrope_section x 2 taken from row i % 3 (HF's
// apply_multimodal_rotary_pos_emb). With three equal rows it equals RopeCosSin.
std::pair<at::Tensor, at::Tensor> MropeCosSin(const at::Tensor& position_ids, const at::Tensor& inv_freq,
                                              const std::vector<int64_t>& mrope_section);

at::Tensor ApplyRope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace loom::ops
