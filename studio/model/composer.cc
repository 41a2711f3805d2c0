#include "studio/model/composer.h"

#include <algorithm>
#include <stdexcept>

namespace loom::studio {
namespace {

// Qwen2-VL / Qwen2-Audio placeholder and delimiter ids (the Qwen tokenizers').
constexpr int64_t kImageToken = 151655, kVideoToken = 151656, kVisionStart = 151652, kVisionEnd = 151653,
                  kAudioToken = 151646;

size_t Distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string TypeOf(const nlohmann::json& v) {
  if (v.is_boolean()) return "bool";
  if (v.is_number_integer()) return "int";
  if (v.is_number()) return "float";
  if (v.is_string()) return "string";
  return "json";
}

}  // namespace

Composition::Composition(nlohmann::json registry) : registry_(std::move(registry)) {}

const nlohmann::json& Composition::Component(const std::string& role, const std::string& model_type) const {
  std::string choices;
  for (const auto& c : registry_["components"]) {
    if (c["role"] != role) continue;
    if (c["model_type"] == model_type) return c;
    choices += (choices.empty() ? "" : ", ") + c["model_type"].get<std::string>();
  }
  if (choices.empty()) throw std::invalid_argument("no block role '" + role + "'; the roles are vision, audio and llm");
  throw std::invalid_argument("no " + role + " block '" + model_type + "'; choose one of: " + choices);
}

Block& Composition::BlockOf(const std::string& role) {
  const auto it = blocks_.find(role);
  if (it == blocks_.end()) throw std::invalid_argument("the graph has no " + role + " block; add one first");
  return it->second;
}

void Composition::AddBlock(const std::string& role, const std::string& model_type) {
  const auto& c = Component(role, model_type);
  if (blocks_.count(role)) {
    throw std::invalid_argument("the graph already has a " + role + " block (" + blocks_[role].model_type +
                                "); an omni model takes one per role: remove it first");
  }
  blocks_[role] = Block{role, model_type, c["config"], {}, false};
}

void Composition::RemoveBlock(const std::string& role) { blocks_.erase(role); }

void Composition::SetField(const std::string& role, const std::string& name, const nlohmann::json& value) {
  Block& b = BlockOf(role);
  const auto& c = Component(role, b.model_type);
  std::string nearest;
  size_t best = SIZE_MAX;
  for (const auto& f : c["fields"]) {
    const std::string field = f["name"];
    if (field == name) {
      const std::string want = f["type"], got = TypeOf(value);
      const bool ok = want == got || want == "json" || (want == "float" && got == "int") || f["default"].is_null();
      if (!ok) throw std::invalid_argument(role + "." + name + " takes a " + want + ", not " + value.dump());
      b.fields[name] = value;
      return;
    }
    if (const size_t d = Distance(field, name); d < best) best = d, nearest = field;
  }
  throw std::invalid_argument(b.model_type + " has no field '" + name + "'; did you mean '" + nearest + "'?");
}

void Composition::Connect(const std::string& encoder_role, const std::string& to_role) {
  if (encoder_role == "llm" || to_role != "llm") {
    throw std::invalid_argument("blocks connect from an encoder (vision, audio) to the foundation (llm), not " +
                                encoder_role + " -> " + to_role);
  }
  BlockOf(to_role);
  BlockOf(encoder_role).connected = true;
}

void Composition::Disconnect(const std::string& encoder_role) { BlockOf(encoder_role).connected = false; }

void Composition::ClearParallel(const std::string& role, const std::string& leaf) { BlockOf(role).parallel.erase(leaf); }

std::string Composition::ParallelKey(const std::string& role, const std::string& leaf) const {
  if (blocks_.size() == 1 && role == "llm") return "parallel." + leaf;
  return "components." + role + ".parallel." + leaf;
}

void Composition::SetParallel(const std::string& role, const std::string& leaf, const std::string& value) {
  BlockOf(role).parallel[leaf] = value;  // checked when the YAML is validated (loom_config_check)
}

std::vector<std::string> Composition::Problems() const {
  std::vector<std::string> problems;
  if (!blocks_.count("llm")) problems.push_back("no foundation: add an llm block");
  for (const auto& [role, b] : blocks_) {
    if (role != "llm" && !b.connected) problems.push_back("the " + role + " block feeds nothing: connect it to the llm");
  }
  return problems;
}

nlohmann::json Composition::ModelConfig() const {
  const auto problems = Problems();
  if (!problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
    throw std::invalid_argument("the graph cannot be saved: " + all);
  }
  nlohmann::json llm = blocks_.at("llm").fields;
  llm["model_type"] = blocks_.at("llm").model_type;
  if (blocks_.size() == 1) return llm;  // an LLM alone trains from its own config.json
  nlohmann::json out{{"model_type", "loom_omni"}, {"components", nlohmann::json::object()}};
  if (const auto v = blocks_.find("vision"); v != blocks_.end()) {
    nlohmann::json vision = v->second.fields;
    vision["hidden_size"] = llm["hidden_size"];  // the merger's output joins the foundation
    vision.erase("model_type");
    out["components"]["vision"] = vision;
    const int64_t half = llm["head_dim"].get<int64_t>() / 2;  // M-RoPE: temporal, height, width sections
    llm["rope_scaling"] = {{"type", "mrope"}, {"mrope_section", {half - 2 * (half / 4), half / 4, half / 4}}};
    out["image_token_id"] = kImageToken;
    out["video_token_id"] = kVideoToken;
    out["vision_start_token_id"] = kVisionStart;
    out["vision_end_token_id"] = kVisionEnd;
  }
  if (const auto a = blocks_.find("audio"); a != blocks_.end()) {
    nlohmann::json audio = a->second.fields;
    audio["model_type"] = a->second.model_type;
    out["components"]["audio"] = audio;
    out["audio_token_id"] = kAudioToken;
  }
  out["components"]["llm"] = llm;
  return out;
}

std::string Composition::TrainYaml(const std::string& config_json_path, const std::string& rest_yaml) const {
  std::string yaml = "# Composed in Loom Studio: the model is " + config_json_path + "\nmodel:\n  config: " +
                     nlohmann::json(config_json_path).dump() + "\n";
  if (blocks_.size() == 1 && blocks_.count("llm")) {  // one component: the plain parallel.* keys
    const auto& p = blocks_.at("llm").parallel;
    if (!p.empty()) yaml += "parallel:\n";
    for (const auto& [leaf, value] : p) yaml += "  " + leaf + ": " + value + "\n";
    return yaml + rest_yaml;
  }
  bool any = false;
  for (const auto& [role, b] : blocks_) any |= !b.parallel.empty();
  if (any) {
    yaml += "components:\n";
    for (const auto& [role, b] : blocks_) {
      if (b.parallel.empty()) continue;
      yaml += "  " + role + ":\n    parallel:\n";
      for (const auto& [leaf, value] : b.parallel) yaml += "      " + leaf + ": " + value + "\n";
    }
  }
  return yaml + rest_yaml;
}

Composition Composition::FromConfig(nlohmann::json registry, const nlohmann::json& model_config,
                                    const nlohmann::json& components) {
  Composition c(std::move(registry));
  const auto load = [&](const std::string& role, const std::string& model_type, const nlohmann::json& fields) {
    c.AddBlock(role, model_type);
    for (const auto& [name, value] : fields.items()) {
      if (name == "model_type" || (role == "vision" && name == "hidden_size") || (role == "llm" && name == "rope_scaling")) continue;
      c.SetField(role, name, value);
    }
    if (role != "llm") c.Connect(role, "llm");
  };
  if (model_config.value("model_type", "") == "loom_omni") {
    const auto& parts = model_config.at("components");
    load("llm", parts.at("llm").at("model_type"), parts.at("llm"));
    if (parts.contains("vision")) load("vision", "qwen2_vision", parts["vision"]);
    if (parts.contains("audio")) load("audio", parts["audio"].value("model_type", "qwen2_audio_encoder"), parts["audio"]);
  } else {
    load("llm", model_config.at("model_type"), model_config);
  }
  for (const auto& [name, settings] : components.items()) {
    const std::string role = name == "model" ? "llm" : name;
    if (!c.blocks_.count(role) || !settings.contains("parallel")) continue;
    for (const auto& [leaf, value] : settings["parallel"].items()) {
      c.SetParallel(role, leaf, value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
  return c;
}

}  // namespace loom::studio
