#include "models/llm/moe_state_adapter.h"

#include <ATen/ATen.h>


namespace loom::models {
namespace {

const char* const kExperts = ".mlp.experts.";
const char* const kProjections[] = {"gate_proj", "up_proj", "down_proj"};

}  // namespace

bool IsStackedExpertName(const std::string& name) {
  const auto at = name.rfind(kExperts);
  if (at == std::string::npos) return false;
  const std::string leaf = name.substr(at + std::string(kExperts).size());
  for (const char* p : kProjections) {
    if (leaf == p) return true;
  }
  return false;
}

std::string HfExpertName(const std::string& stacked_name, int64_t expert) {
  const auto at = stacked_name.rfind(kExperts) + std::string(kExperts).size();
  return stacked_name.substr(0, at) + std::to_string(expert) + "." + stacked_name.substr(at) + ".weight";
}

std::vector<std::pair<std::string, at::Tensor>> StackedExpertsToHf(
    std::vector<std::pair<std::string, at::Tensor>> state) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  out.reserve(state.size());
  for (auto& [name, t] : state) {
    if (!IsStackedExpertName(name) || t.dim() != 3) {
      out.emplace_back(std::move(name), std::move(t));
      continue;
    }
    for (int64_t e = 0; e < t.size(0); ++e) out.emplace_back(HfExpertName(name, e), t[e]);
  }
  return out;
}

}  // namespace loom::models
