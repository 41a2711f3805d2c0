// Where a model's parameter values come from, read one parameter slice at a
// time: what lets a rank build only its shard of a model (sharded
// construction, parallel/fsdp/fsdp.h) and what a whole-model InitWeights or
// LoadFrom uses too, so both paths produce the same bits.
//
// Contract: callers call Fill once per parameter, in the model's
// named_parameters() order, also when the slice is empty, so a source may
// keep state across parameters. A source must give a slice the same values
// as the same slice of a whole-parameter Fill: that is what makes a sharded
// model equal, bit for bit, to one built whole.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace loom::models {

class Module;

class ParameterSource {
 public:
  virtual ~ParameterSource() = default;
  // Writes elements [begin, begin + dst.numel()) of parameter `name` (full
  // shape `shape`, flattened row-major) into `dst` (1-D, any float dtype).
  virtual void Fill(const std::string& name, at::IntArrayRef shape, int64_t begin, at::Tensor dst) = 0;
};

// Sends each parameter to the source routed for the longest prefix of its
// name, else to `fallback` (e.g. a composed model: its vision tower from one
// checkpoint, its LLM from another, the rest from a seeded init). Each
// routed source sees only its parameters, in the model's order.
class PrefixRoutedSource : public ParameterSource {
 public:
  explicit PrefixRoutedSource(std::unique_ptr<ParameterSource> fallback) : fallback_(std::move(fallback)) {}
  void Route(const std::string& prefix, std::unique_ptr<ParameterSource> source);
  void Fill(const std::string& name, at::IntArrayRef shape, int64_t begin, at::Tensor dst) override;

 private:
  std::unique_ptr<ParameterSource> fallback_;
  std::vector<std::pair<std::string, std::unique_ptr<ParameterSource>>> routes_;
};

// Fills every parameter of `module` whole from `source` (they must have storage).
void FillParameters(Module& module, ParameterSource& source);

// Points `param` at `data` (shape, dtype and device may all change), as
// Tensor::set_data, but also for a parameter built on the meta device:
// set_data refuses to change a tensor's backend. A meta parameter has no
// storage, gradient or gradient accumulator yet, so replacing its metadata
// loses nothing; autograd treats it as the same leaf afterwards.
void RebindParameter(at::Tensor& param, const at::Tensor& data);

}  // namespace loom::models
