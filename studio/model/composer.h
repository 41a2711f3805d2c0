// Composition: the composer's graph of modality blocks, as plain data. A
// block is a registry component (loom_registry_json's "components": a
// vision or audio encoder, or the LLM foundation) with its fields set from
// the registry's defaults and edited through SetField, which checks each
// name and type against the registry. Encoders connect to the foundation by
// their modality (image, audio). The graph saves as what `loom train` runs:
// a loom_omni config.json (an LLM alone: its own config.json) plus a YAML
// with `model.config` naming it and each block's `components.<role>.parallel.*`
// keys; FromConfig loads that back into the same graph.
//
// Joins the user should not have to type are derived on save: the vision
// tower's output width is the foundation's hidden_size, and the foundation
// gets M-RoPE sections for its head_dim when a vision block feeds it. Token
// ids are the Qwen2-VL / Qwen2-Audio ones (the Qwen tokenizers').
//
// Not thread-safe: the UI thread owns it (its edits are cheap; validation of
// the saved result runs on PlanChecker's worker).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace loom::studio {

struct Block {
  std::string role;        // "vision" | "audio" | "llm" (one block per role)
  std::string model_type;  // a registry component of that role (qwen2_vision, whisper, qwen3, ...)
  nlohmann::json fields;   // its config.json fields: the registry's defaults, then edits
  std::map<std::string, std::string> parallel;  // components.<role>.parallel.<leaf> -> value
  bool connected = false;  // encoders: feeds the foundation
};

class Composition {
 public:
  // `registry`: loom_registry_json's object.
  explicit Composition(nlohmann::json registry);

  // Adds a block with the registry's defaults. std::invalid_argument naming
  // the choices for an unknown (role, model_type), or a second block of a role.
  void AddBlock(const std::string& role, const std::string& model_type);
  void RemoveBlock(const std::string& role);
  // A field of a block: the name must be one of its component's fields and
  // the value of its type (int, float, bool, string); else invalid_argument
  // naming the nearest field or the type.
  void SetField(const std::string& role, const std::string& name, const nlohmann::json& value);
  // An encoder feeds the foundation (its modality: image or audio).
  void Connect(const std::string& encoder_role, const std::string& to_role);
  void Disconnect(const std::string& encoder_role);
  void SetParallel(const std::string& role, const std::string& leaf, const std::string& value);
  void ClearParallel(const std::string& role, const std::string& leaf);  // back to the default
  // The config key of a block's parallel leaf: components.<role>.parallel.<leaf>,
  // or parallel.<leaf> when the foundation is the only block.
  std::string ParallelKey(const std::string& role, const std::string& leaf) const;

  const std::map<std::string, Block>& blocks() const { return blocks_; }
  // What stops the graph from saving: no foundation, an unconnected encoder.
  std::vector<std::string> Problems() const;

  // The config.json `loom train` builds (throws invalid_argument listing Problems()).
  nlohmann::json ModelConfig() const;
  // The YAML that trains it: `model.config: <config_json_path>`, the blocks'
  // components.*.parallel keys, then `rest_yaml` (data / train / run sections).
  std::string TrainYaml(const std::string& config_json_path, const std::string& rest_yaml = "") const;
  // The graph back from a config.json this class wrote (or any loom_omni /
  // LLM config.json of registry components), plus per-block parallel keys
  // from a resolved config's "components" object (loom_config_to_json's).
  static Composition FromConfig(nlohmann::json registry, const nlohmann::json& model_config,
                                const nlohmann::json& components = nlohmann::json::object());

 private:
  const nlohmann::json& Component(const std::string& role, const std::string& model_type) const;
  Block& BlockOf(const std::string& role);

  nlohmann::json registry_;
  std::map<std::string, Block> blocks_;
};

}  // namespace loom::studio
