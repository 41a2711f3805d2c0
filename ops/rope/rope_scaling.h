// RopeScaling: the frequency-scaling choice of a RoPE table, a plain value
// (no tensors) so configs can hold it without pulling in ATen.
#pragma once

#include <cstdint>
#include <string>

namespace loom::ops {

struct RopeScaling {
  std::string type = "default";  // "default" | "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

}  // namespace loom::ops
