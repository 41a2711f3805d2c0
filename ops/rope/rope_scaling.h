// RopeScaling: the frequency-scaling choice of a RoPE table, a plain value
// (no tensors) so configs can hold it without pulling in ATen.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace loom::ops {

struct RopeScaling {
  std::string type = "default";  // "default" | "llama3" | "mrope"
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
  // mrope (Qwen2-VL): head_dim / 2 rotary frequencies split into (t, h, w)
  // sections; sum == head_dim / 2. Frequencies are the default ones.
  std::vector<int64_t> mrope_section;
};

}  // namespace loom::ops
