// The config schema: one table (sdk/config/train_config.cc) that lists every
// key of a LoomConfig -- its dotted name, type, allowed values or range and a
// one-line doc -- and binds it to the struct field. Loading (YAML files and
// dotted overrides), printing (ToYaml/ToJson) and docs/config.md are all
// derived from this table, so a key added here is loadable, printable and
// documented at once. Defaults are not repeated here: they are read from a
// default-constructed LoomConfig (the in-class initializers of
// train_config.h).
//
// This header is the low-level view; most code wants load_config.h.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "sdk/config/train_config.h"

namespace loom::config {

// A pointer to the bound field inside one LoomConfig. The alternative held
// is the key's type.
using FieldRef = std::variant<std::string*, int64_t*, double*, bool*, std::vector<int64_t>*>;

// Type names as they appear in messages and docs: string, int, float, bool,
// int list (YAML `[0, 2]`; on the command line `0,2`; empty = none; the
// range applies to each element).
enum class KeyType { kString = 0, kInt = 1, kFloat = 2, kBool = 3, kIntList = 4 };
const char* KeyTypeName(KeyType type);

// Inclusive or open bounds for an int/float key, plus an optional sentinel
// value accepted outside them (e.g. dp_shard = -1 meaning "the rest").
struct Range {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false;  // true: value must be > lo (else >= lo)
  bool hi_open = false;  // true: value must be < hi (else <= hi)
  bool has_sentinel = false;
  double sentinel = 0;

  bool Contains(double v) const;
  // "[1, inf)", "(0, 1]", "-1 or [1, inf)"; "" when unbounded.
  std::string Describe() const;
};

// One schema row.
struct ConfigKey {
  const char* name;                   // dotted: "train.lr"
  FieldRef (*bind)(LoomConfig& cfg);  // the field this key reads/writes
  const char* doc;                    // one line, no trailing period needed
  std::vector<std::string> choices;   // string keys: allowed values ({} = any)
  Range range;                        // int/float keys: allowed range

  KeyType type() const;
  // The section ("train") and leaf ("lr") parts of the name.
  std::string section() const;
  std::string leaf() const;
};

// Every key, in the order they are printed and documented (grouped by
// section: model, data, train, run, parallel). Thread-safe; the table is
// built once and never changes.
const std::vector<ConfigKey>& ConfigSchema();

// The section names in schema order: model, data, train, run, parallel.
std::vector<std::string> ConfigSections();

// The row for a dotted name, or nullptr.
const ConfigKey* FindKey(const std::string& name);

// The valid key closest to `name` by edit distance (Levenshtein over the
// full dotted name; a name without a dot is also compared to each key's
// leaf, so "lr" suggests "train.lr"). Never empty.
std::string NearestKey(const std::string& name);

// Levenshtein distance (insert/delete/substitute, each cost 1).
size_t EditDistance(const std::string& a, const std::string& b);

// Parses `text` as the key's type and checks choices/range, then stores it
// into cfg. Throws ConfigError naming the key, `where` (e.g. "cfg.yaml line
// 3" or "override --train.lr"), the expected type or allowed values, and the
// value. Integers are decimal (no fraction); floats accept 3e-4, 0.1, 1;
// bools accept true|false|yes|no|on|off|1|0.
void SetFromString(const ConfigKey& key, LoomConfig& cfg, const std::string& text,
                   const std::string& where);

// The current value of the key in cfg, formatted so SetFromString parses it
// back to the same value (floats: whole numbers as integers, else the
// shortest %g form that round-trips).
std::string FormatValue(const ConfigKey& key, const LoomConfig& cfg);

// Per-component parallel keys, `components.<name>.parallel.<leaf>` (leaf:
// any parallel.* key). The row of parallel.<leaf> and *component, or
// nullptr (and *component untouched) when `name` is not of that form.
// Throws ConfigError when it is of that form but <leaf> is no parallel key.
const ConfigKey* FindComponentKey(const std::string& name, std::string* component);

// Checks `text` against the parallel.<leaf> row (as SetFromString) and
// stores its canonical form in cfg.components[component][leaf].
void SetComponentKey(const std::string& name, LoomConfig& cfg, const std::string& text, const std::string& where);

// The schema as JSON, for forms (the studio, the C ABI): an array of
// {"name", "section", "type" (KeyTypeName), "default" (native JSON),
//  "choices" [..] (string keys; [] = any), "range" {"lo","hi","lo_open",
//  "hi_open","sentinel"?} (int/float keys; absent bounds = unbounded),
//  "doc"}, in schema order.
nlohmann::json SchemaJson();

// The dotted schema keys a message names (e.g. a plan error naming
// "parallel.sp"), longest match first, each once: what a form highlights.
std::vector<std::string> KeysMentioned(const std::string& message);

// A ConfigError's message as form errors: one {"message", "keys"} per
// non-empty line (KeysMentioned), as loom_config_check and CheckPlan return.
nlohmann::json ConfigErrorsJson(const std::string& message);

// docs/config.md: every key with its type, default, allowed values and doc.
// `loom config --doc` prints this; a test checks docs/config.md equals it.
std::string ConfigDocMarkdown();

}  // namespace loom::config
