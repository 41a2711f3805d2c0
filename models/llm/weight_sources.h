// The decoder LMs' two parameter sources (models/core/parameter_source.h):
// Hugging Face's random initialisation and a Hugging Face safetensors
// checkpoint. DecoderLM::InitWeights / LoadFrom fill a whole model from them;
// FSDP's sharded construction fills each rank's shards from the same sources.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "models/core/parameter_source.h"
#include "models/core/safetensors.h"

namespace loom::models {

// HF's _init_weights: normal(0, initializer_range) for matrices and
// embeddings, 1 for norm weights (modules named *norm* or ln_*), 0 for biases.
//
// Random values are drawn per chunk of `chunk` elements of each flattened
// parameter, from a generator seeded by (seed, parameter name, chunk index).
// A slice therefore costs only the chunks it overlaps, in time and memory,
// and equals the same slice of a whole-model init on any layout, in any
// order. (One generator running over every parameter would make each rank
// draw the whole model.)
class HfInitSource : public ParameterSource {
 public:
  static constexpr int64_t kDefaultChunk = int64_t{1} << 20;  // 4 MiB of fp32
  HfInitSource(double initializer_range, uint64_t seed, int64_t chunk = kDefaultChunk);
  void Fill(const std::string& name, at::IntArrayRef shape, int64_t begin, at::Tensor dst) override;
  // Random elements drawn so far (the slices, rounded out to whole chunks).
  int64_t elements_drawn() const { return elements_drawn_; }

 private:
  double std_;
  uint64_t seed_;
  int64_t chunk_;
  int64_t elements_drawn_ = 0;
};

// How a model's parameter names map to a checkpoint's tensor names: each
// (model prefix, file prefix) pair renames the names under its model prefix
// (the longest matching model prefix wins), and only tensors under one of
// the file prefixes belong to the model (the rest of the checkpoint is
// another component's). No pairs: names are equal and every tensor belongs.
//   {{"vision.", "visual."}, {"llm.model.", "model."}, {"llm.lm_head.", "lm_head."}}
// reads an omni model's components from a Qwen2-VL checkpoint.
struct NameMap {
  std::vector<std::pair<std::string, std::string>> prefixes;  // (model, file)
  // One component under `file_prefix` (model names have no prefix).
  static NameMap Under(const std::string& file_prefix) { return NameMap{{{"", file_prefix}}}; }
  std::string ToFile(const std::string& name) const;
  // Whether checkpoint tensor `file_name` belongs to the model.
  bool Covers(const std::string& file_name) const;
};

// Parameter names and full shapes, as named_parameters() gives them.
using ParameterShapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;

// A safetensors checkpoint (file, directory, or sharded directory with an
// index) read slice by slice from the memory map: a rank touches only the
// bytes of its slices. Stacked expert parameters read HF's per-expert tensors
// (models/llm/moe_state_adapter.h). Any dtype is converted on copy.
class HfWeightsSource : public ParameterSource {
 public:
  // Checks names and shapes against `model` from the headers alone (no data
  // read): a missing, extra or mis-shaped tensor is a ConfigError naming it
  // and the fix. `tied_embeddings`: HF may also store lm_head.weight.
  // `names`: where each parameter is stored (NameMap), for a model that is
  // one component of a checkpoint holding several or whose names differ.
  HfWeightsSource(const std::string& file_or_dir, const ParameterShapes& model, bool tied_embeddings,
                  NameMap names = {});
  void Fill(const std::string& name, at::IntArrayRef shape, int64_t begin, at::Tensor dst) override;
  // Bytes copied from the safetensors files so far (in the checkpoint's dtype).
  int64_t bytes_read() const { return bytes_read_; }

 private:
  // Copies elements [begin, begin + dst.numel()) of `tensor_name` into dst.
  void CopySlice(const std::string& tensor_name, int64_t begin, at::Tensor dst);
  std::string source_;
  NameMap names_;
  SafetensorsFiles checkpoint_;
  int64_t bytes_read_ = 0;
};

ParameterShapes ShapesOf(const Module& module);

}  // namespace loom::models
