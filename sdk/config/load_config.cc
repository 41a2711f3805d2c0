// YAML files and dotted overrides -> LoomConfig, and back to YAML/JSON.
// All key handling goes through the schema (schema.h); this file only walks
// YAML nodes and command-line tokens.
#include "sdk/config/load_config.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "ops/base/error.h"
#include "sdk/config/schema.h"

namespace loom::config {
namespace {

const char* kSeeKeys = "every key is listed by `loom config --doc` and in docs/config.md";

bool IsSection(const std::string& name) {
  const auto sections = ConfigSections();
  return std::find(sections.begin(), sections.end(), name) != sections.end();
}

[[noreturn]] void ThrowUnknown(const std::string& name, const std::string& where) {
  if (IsSection(name)) {
    throw ConfigError(ErrorWithFix("'" + name + "' is a section, not a key (" + where + ")",
                                   "put its keys under it, e.g. " + NearestKey(name + ".")));
  }
  std::string fix = "did you mean '" + NearestKey(name) + "'? (" + kSeeKeys + ")";
  if (name.find('.') == std::string::npos) {
    fix += "; config keys are dotted (--section.key), other options are listed by --help";
  }
  throw ConfigError(ErrorWithFix("unknown key '" + name + "' in " + where, fix));
}

std::string Where(const std::string& source, const YAML::Mark& mark) {
  if (mark.is_null()) return source;
  return source + " line " + std::to_string(mark.line + 1);
}

// Walks a YAML mapping; nested mappings extend the dotted prefix.
void Walk(const YAML::Node& map, const std::string& prefix, const std::string& source,
          LoomConfig* cfg) {
  for (const auto& entry : map) {
    const std::string where = Where(source, entry.first.Mark());
    if (!entry.first.IsScalar()) {
      throw ConfigError(ErrorWithFix("a key in " + where + " is not a plain name",
                                     "write keys as `name: value`"));
    }
    const std::string name = prefix + entry.first.Scalar();
    const YAML::Node& value = entry.second;
    const ConfigKey* key = FindKey(name);
    if (value.IsMap() && !key) {
      Walk(value, name + ".", source, cfg);
      continue;
    }
    std::string component;
    if (!key && FindComponentKey(name, &component)) {
      if (!value.IsScalar()) {
        throw ConfigError(ErrorWithFix("'" + name + "' expects a single value (" + where + ")",
                                       "write e.g. `recompute: full` under components.<name>.parallel"));
      }
      SetComponentKey(name, *cfg, value.Scalar(), where);
      continue;
    }
    if (!key) ThrowUnknown(name, where);
    if (value.IsSequence() && key->type() == KeyType::kIntList) {
      std::string joined;
      for (size_t i = 0; i < value.size(); ++i) {
        if (!value[i].IsScalar()) {
          throw ConfigError(ErrorWithFix("'" + name + "' expects a list of ints (" + where + ")",
                                         "write e.g. `" + key->leaf() + ": [0, 2]`"));
        }
        joined += (i ? "," : "") + value[i].Scalar();
      }
      SetFromString(*key, *cfg, joined, where);
      continue;
    }
    if (value.IsMap() || value.IsSequence()) {
      throw ConfigError(ErrorWithFix(
          "'" + name + "' expects a " + KeyTypeName(key->type()) + ", got a " +
              (value.IsMap() ? "mapping" : "list") + " (" + where + ")",
          "write a single value, e.g. `" + key->leaf() + ": " + FormatValue(*key, LoomConfig{}) +
              "`"));
    }
    if (value.IsNull() || !value.IsDefined()) {
      if (key->type() == KeyType::kString || key->type() == KeyType::kIntList) {
        SetFromString(*key, *cfg, "", where);
        continue;
      }
      throw ConfigError(ErrorWithFix("'" + name + "' has no value (" + where + ")",
                                     "write a " + std::string(KeyTypeName(key->type())) +
                                         " after the colon, or remove the line"));
    }
    SetFromString(*key, *cfg, value.Scalar(), where);
  }
}

bool IsKeyToken(const std::string& token) { return token.size() > 2 && token.rfind("--", 0) == 0; }

// One `--key value` / `--key=value` pair, or a positional (key empty).
struct Token {
  std::string key;
  std::string value;
  std::string text;  // as written, for messages
};

std::vector<Token> Tokenize(const std::vector<std::string>& tokens) {
  std::vector<Token> out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (t == "--") {
      throw ConfigError(ErrorWithFix("unexpected '--' among config overrides",
                                     "write overrides as --section.key value"));
    }
    if (!IsKeyToken(t)) {
      out.push_back({"", t, t});
      continue;
    }
    const std::string body = t.substr(2);
    const size_t eq = body.find('=');
    if (eq != std::string::npos) {
      out.push_back({body.substr(0, eq), body.substr(eq + 1), t});
      continue;
    }
    std::string component;
    const ConfigKey* key = FindKey(body);
    if (!key) key = FindComponentKey(body, &component);
    const bool next_is_value = i + 1 < tokens.size() && !IsKeyToken(tokens[i + 1]);
    if (key && key->type() == KeyType::kBool && !next_is_value) {
      out.push_back({body, "true", t});
    } else if (i + 1 < tokens.size() && tokens[i + 1] != "--") {
      out.push_back({body, tokens[i + 1], t + " " + tokens[i + 1]});
      ++i;
    } else if (!key) {
      ThrowUnknown(body, "override '" + t + "'");
    } else {
      throw ConfigError(ErrorWithFix("override " + t + " has no value",
                                     "write " + t + " VALUE or " + t + "=VALUE"));
    }
  }
  return out;
}

// Plain YAML scalars that would not read back as the same string.
bool NeedsQuotes(const std::string& s) {
  static const std::regex plain("[A-Za-z_/.][A-Za-z0-9_./-]*");
  static const char* kWords[] = {"null", "true", "false", "yes", "no", "on", "off", "y", "n"};
  if (!std::regex_match(s, plain)) return true;
  std::string lower = s;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  return std::any_of(std::begin(kWords), std::end(kWords),
                     [&](const char* w) { return lower == w; });
}

}  // namespace

LoomConfig LoadConfigFromString(const std::string& yaml_text, const std::string& source,
                                const std::vector<std::string>& overrides) {
  LoomConfig cfg;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(ErrorWithFix("invalid YAML in " + source + " line " +
                                       std::to_string(e.mark.line + 1) + ", column " +
                                       std::to_string(e.mark.column + 1) + ": " + e.msg,
                                   "fix the YAML syntax there (indent with spaces, `key: value`)"));
  }
  if (root.IsDefined() && !root.IsNull()) {
    if (!root.IsMap()) {
      throw ConfigError(ErrorWithFix(source + " is not a mapping of sections (" +
                                         Where(source, root.Mark()) + ")",
                                     "write sections such as `train:` with `key: value` lines "
                                     "under them"));
    }
    try {
      Walk(root, "", source, &cfg);
    } catch (const YAML::Exception& e) {
      throw ConfigError(ErrorWithFix("cannot read " + source + " line " +
                                         std::to_string(e.mark.line + 1) + ": " + e.msg,
                                     "write plain `key: value` pairs"));
    }
  }
  ApplyOverrides(&cfg, overrides);
  return cfg;
}

LoomConfig LoadConfig(const std::string& path, const std::vector<std::string>& overrides) {
  if (path.empty()) return LoadConfigFromString("", "defaults", overrides);
  std::ifstream in(path);
  if (!in) {
    const std::string reason = std::strerror(errno);
    throw ConfigError(ErrorWithFix(
        "cannot read config file '" + path + "': " + reason,
        "check the path (relative to " + std::filesystem::current_path().string() + ")"));
  }
  if (std::filesystem::is_directory(path)) {
    throw ConfigError(ErrorWithFix("config file '" + path + "' is a directory",
                                   "pass the path of a .yaml file"));
  }
  std::stringstream text;
  text << in.rdbuf();
  return LoadConfigFromString(text.str(), path, overrides);
}

void ApplyOverrides(LoomConfig* cfg, const std::vector<std::string>& overrides) {
  for (const Token& token : Tokenize(overrides)) {
    if (token.key.empty()) {
      throw ConfigError(ErrorWithFix("unexpected argument '" + token.text + "' among overrides",
                                     "write overrides as --section.key value"));
    }
    const std::string where = "override " + token.text;
    std::string component;
    if (FindComponentKey(token.key, &component)) {
      SetComponentKey(token.key, *cfg, token.value, where);
      continue;
    }
    const ConfigKey* key = FindKey(token.key);
    if (!key) ThrowUnknown(token.key, "override '--" + token.key + "'");
    SetFromString(*key, *cfg, token.value, where);
  }
  Validate(*cfg);
}

void Validate(const LoomConfig& cfg) {
  const auto& m = cfg.model.arch;
  if (m.num_attention_heads % m.num_key_value_heads != 0) {
    throw ConfigError(ErrorWithFix(
        "model.num_key_value_heads " + std::to_string(m.num_key_value_heads) +
            " does not divide model.num_attention_heads " +
            std::to_string(m.num_attention_heads),
        "pick num_key_value_heads among the divisors of num_attention_heads"));
  }
}

ConfigArgs SplitConfigArgs(const std::vector<std::string>& tokens) {
  ConfigArgs args;
  for (const Token& token : Tokenize(tokens)) {
    if (!token.key.empty()) {
      args.overrides.push_back("--" + token.key + "=" + token.value);
    } else if (args.path.empty()) {
      args.path = token.value;
    } else {
      throw ConfigError(ErrorWithFix("two config files given: '" + args.path + "' and '" +
                                         token.value + "'",
                                     "pass one config file; override keys with --section.key "
                                     "value"));
    }
  }
  return args;
}

std::string ToYaml(const LoomConfig& cfg) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  for (const auto& section : ConfigSections()) {
    out << YAML::Key << section << YAML::Value << YAML::BeginMap;
    for (const auto& key : ConfigSchema()) {
      if (key.section() != section) continue;
      const std::string value = FormatValue(key, cfg);
      out << YAML::Key << key.leaf() << YAML::Value;
      if (key.type() == KeyType::kIntList) {
        out << YAML::Flow << YAML::BeginSeq;
        for (int64_t v : *std::get<std::vector<int64_t>*>(key.bind(const_cast<LoomConfig&>(cfg)))) out << v;
        out << YAML::EndSeq;
      } else if (key.type() == KeyType::kString && NeedsQuotes(value)) {
        out << YAML::DoubleQuoted << value;
      } else {
        out << value;
      }
    }
    out << YAML::EndMap;
  }
  if (!cfg.components.empty()) {  // components.<name>.parallel.<key>, canonical strings
    out << YAML::Key << "components" << YAML::Value << YAML::BeginMap;
    for (const auto& [name, keys] : cfg.components) {
      out << YAML::Key << name << YAML::Value << YAML::BeginMap << YAML::Key << "parallel" << YAML::Value
          << YAML::BeginMap;
      for (const auto& [leaf, value] : keys) out << YAML::Key << leaf << YAML::Value << value;
      out << YAML::EndMap << YAML::EndMap;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

nlohmann::json ToJson(const LoomConfig& cfg) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& key : ConfigSchema()) {
    const FieldRef field = key.bind(const_cast<LoomConfig&>(cfg));
    nlohmann::json& slot = j[key.section()][key.leaf()];
    std::visit([&](auto* p) { slot = *p; }, field);
  }
  for (const auto& [name, keys] : cfg.components) {  // native types, via the parallel.* rows
    for (const auto& [leaf, value] : keys) {
      LoomConfig scratch;
      const ConfigKey& key = *FindKey("parallel." + leaf);
      SetFromString(key, scratch, value, "components." + name);
      std::visit([&](auto* p) { j["components"][name]["parallel"][leaf] = *p; }, key.bind(scratch));
    }
  }
  return j;
}

}  // namespace loom::config
