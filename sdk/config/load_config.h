// Loading a LoomConfig: a YAML file, then dotted command-line overrides, all
// checked against the schema (schema.h, table in train_config.cc).
//
//   LoomConfig cfg = LoadConfig("cfg.yaml", {"--train.lr", "3e-4",
//                                            "--model.path=/x"});
//
// YAML layout: one mapping per section (`train: {lr: 3e-4}`); dotted keys at
// any level are accepted too (`train.lr: 3e-4`). Every error is a
// loom::ConfigError whose message names the file (and line) or the override,
// the key, and the fix:
//   - unknown key          -> the nearest valid key ("did you mean 'train.lr'?")
//   - wrong type           -> the expected type and the value given
//   - out of range / set   -> the allowed range or values
//   - missing file / bad YAML -> the file and the line
//
// Nothing here touches LibTorch. All functions are thread-safe (no shared
// mutable state).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sdk/config/train_config.h"

namespace loom::config {

/// Reads `path` (YAML) over the defaults, then applies `overrides`.
/// @param[in] path       YAML file; "" = start from the defaults only.
/// @param[in] overrides  command-line tokens, e.g. {"--train.lr", "3e-4",
///                       "--model.path=/x", "--model.tie_word_embeddings",
///                       "false"}; see ApplyOverrides.
/// @return the resolved, validated config.
/// @throws ConfigError on any problem (see the file comment).
LoomConfig LoadConfig(const std::string& path, const std::vector<std::string>& overrides = {});

/// Like LoadConfig, but the YAML comes from a string; `source` names it in
/// messages (e.g. "cfg.yaml").
LoomConfig LoadConfigFromString(const std::string& yaml_text, const std::string& source,
                                const std::vector<std::string>& overrides = {});

/// Applies dotted overrides to *cfg in order (later wins), then Validate().
/// Forms: `--key value`, `--key=value`; a bool key followed by nothing or by
/// another `--` token means true (`--model.tie_word_embeddings`). Values
/// that start with "--" need the `=` form.
/// @throws ConfigError for a token that is not `--key`, a missing value, an
///         unknown key (with the nearest valid key), or a bad value.
void ApplyOverrides(LoomConfig* cfg, const std::vector<std::string>& overrides);

/// Checks relations between keys (per-key ranges are checked on load):
/// model.num_key_value_heads divides model.num_attention_heads.
/// @throws ConfigError naming the keys and values.
void Validate(const LoomConfig& cfg);

/// A command line split into the config path and the overrides, for
/// commands of the form `loom CMD [CONFIG] [--key value ...]`.
struct ConfigArgs {
  std::string path;                    // "" when no positional was given
  std::vector<std::string> overrides;  // the `--key[=value]` tokens and values
};

/// Splits `tokens` (the command's unparsed arguments, in order): the first
/// token that is neither a `--key` nor the value of one is the path.
/// @throws ConfigError if more than one such token is present.
ConfigArgs SplitConfigArgs(const std::vector<std::string>& tokens);

/// The resolved config as YAML (every key, defaults included, schema order,
/// one mapping per section). Loading it back gives the same config.
std::string ToYaml(const LoomConfig& cfg);

/// The resolved config as JSON: {"model": {...}, "train": {...}, ...} with
/// native JSON types (for the run store's runs.config column).
nlohmann::json ToJson(const LoomConfig& cfg);

}  // namespace loom::config
