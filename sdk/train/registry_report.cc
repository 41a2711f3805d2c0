#include "sdk/train/registry_report.h"

#include "models/audio/audio_config.h"
#include "models/core/registry.h"
#include "models/llm/llm_config.h"
#include "models/vision/vision_config.h"
#include "sdk/config/schema.h"

namespace loom::train {
namespace {

const char* JsonTypeName(const nlohmann::json& v) {
  if (v.is_boolean()) return "bool";
  if (v.is_number_integer()) return "int";
  if (v.is_number()) return "float";
  if (v.is_string()) return "string";
  return "json";
}

nlohmann::json Component(const char* role, const std::string& model_type, const char* modality, const nlohmann::json& config) {
  nlohmann::json fields = nlohmann::json::array();
  for (const auto& [name, value] : config.items()) fields.push_back({{"name", name}, {"type", JsonTypeName(value)}, {"default", value}});
  return {{"role", role}, {"model_type", model_type}, {"modality", modality}, {"config", config}, {"fields", fields}};
}

}  // namespace

nlohmann::json RegistryReport() {
  nlohmann::json families = nlohmann::json::array();
  for (const auto& f : models::Families()) {
    const auto& p = f.plan;
    families.push_back({{"model_type", f.model_type},
                        {"description", f.description},
                        {"kind", models::IsLlmFamily(f.model_type) ? "llm" : "omni"},
                        {"plan",
                         {{"fsdp_unit_pattern", p.fsdp_unit_pattern},
                          {"root_params", p.root_params},
                          {"sp_attention_pattern", p.sp_attention_pattern},
                          {"expert_param_pattern", p.expert_param_pattern},
                          {"selective_recompute_pattern", p.selective_recompute_pattern}}}});
  }
  nlohmann::json components = nlohmann::json::array();
  components.push_back(Component("vision", "qwen2_vision", "image", models::Qwen2VisionConfigToJson({})));
  for (const char* type : {"qwen2_audio_encoder", "whisper"}) {
    models::AudioEncoderConfig audio;
    audio.model_type = type;
    components.push_back(Component("audio", type, "audio", models::AudioEncoderConfigToJson(audio)));
  }
  for (const auto& f : models::LlmFamilies()) {
    models::LlmConfig llm;
    llm.model_type = f.model_type;
    components.push_back(Component("llm", f.model_type, "text", models::LlmConfigToJson(llm)));
  }
  return {{"families", families}, {"components", components}, {"config_schema", config::SchemaJson()}};
}

}  // namespace loom::train
