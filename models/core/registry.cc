#include "models/core/registry.h"

#include "models/llm/decoder_lm.h"
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
