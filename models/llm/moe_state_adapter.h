// The one mapping between Loom's stacked expert parameters and Hugging
// Face's per-expert tensors. Every load and export path goes through it
// (loading: HfWeightsSource, models/llm/weight_sources.h).
//
//   Loom   model.layers.{i}.mlp.experts.gate_proj          (E, I, C)
//          model.layers.{i}.mlp.experts.up_proj            (E, I, C)
//          model.layers.{i}.mlp.experts.down_proj          (E, C, I)
//   HF     model.layers.{i}.mlp.experts.{e}.gate_proj.weight   (I, C)  e = 0..E-1
//          model.layers.{i}.mlp.experts.{e}.up_proj.weight     (I, C)
//          model.layers.{i}.mlp.experts.{e}.down_proj.weight   (C, I)
// The router (model.layers.{i}.mlp.gate.weight (E, C)) has the same name in both.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace loom::models {

// Whether `name` is a stacked expert parameter ("...mlp.experts.{gate,up,down}_proj").
bool IsStackedExpertName(const std::string& name);
// The HF name of expert `expert`'s slice of a stacked parameter.
std::string HfExpertName(const std::string& stacked_name, int64_t expert);

// Replaces every stacked expert tensor (3-D, stacked name) by its E per-expert
// tensors in HF naming (slices, not copies); other pairs pass through in
// order. Idempotent: HF-named state is returned unchanged.
std::vector<std::pair<std::string, at::Tensor>> StackedExpertsToHf(
    std::vector<std::pair<std::string, at::Tensor>> state);

}  // namespace loom::models
