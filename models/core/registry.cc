#include "models/core/registry.h"

#include "models/llm/decoder_lm.h"
#include "models/omni/omni_model.h"
#include "ops/base/error.h"

namespace loom::models {
namespace {

std::vector<FamilyEntry>& Table() {
  static std::vector<FamilyEntry> families = [] {
    std::vector<FamilyEntry> out;
    for (const auto& f : LlmFamilies()) {
      out.push_back({f.model_type, f.description, DecoderLM::FamilySpec(f.model_type),
                     [](const nlohmann::json& j, const std::string& source, at::Device device) {
                       return std::static_pointer_cast<TrainableModel>(
                           std::make_shared<DecoderLM>(LlmConfigFromJson(j, source), device));
                     }});
    }
    // Omni formats: the spec shown here is the default foundation's; a built
    // model's plan_spec() / component_specs() carry its own.
    for (const auto& [type, what] : {std::pair<const char*, const char*>{"qwen2_vl", "Qwen2-VL: vision tower + Qwen2 (M-RoPE)"},
                                     {"qwen2_audio", "Qwen2-Audio: audio encoder + projector + Qwen2"},
                                     {"loom_omni", "Loom composition: vision / audio encoders + any decoder"}}) {
      out.push_back({type, what, DecoderLM::FamilySpec("qwen2"),
                     [](const nlohmann::json& j, const std::string& source, at::Device device) {
                       return std::static_pointer_cast<TrainableModel>(
                           std::make_shared<OmniModel>(OmniConfigFromJson(j, source), device));
                     }});
    }
    return out;
  }();
  return families;
}

}  // namespace

const std::vector<FamilyEntry>& Families() { return Table(); }

const FamilyEntry& FindFamily(const std::string& model_type) {
  std::string known;
  for (const auto& f : Families()) {
    if (f.model_type == model_type) return f;
    known += (known.empty() ? "" : ", ") + f.model_type;
  }
  throw ConfigError(ErrorWithFix("unknown model family '" + model_type + "'", "use one of: " + known));
}

void RegisterFamily(FamilyEntry entry) {
  for (auto& f : Table()) {
    if (f.model_type == entry.model_type) {
      f = std::move(entry);
      return;
    }
  }
  Table().push_back(std::move(entry));
}

}  // namespace loom::models
