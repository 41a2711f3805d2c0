// RMSNorm as Llama/Qwen define it: normalise in fp32, scale in the input dtype.
//   x (..., C), weight (C) -> (..., C)
#pragma once

#include <ATen/core/Tensor.h>

namespace loom::ops {

at::Tensor RmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps);

}  // namespace loom::ops
