// Schema helpers: key lookup, nearest-key suggestions, and the string <->
// value conversions shared by YAML loading, overrides and printing.
#include "sdk/config/schema.h"

#include "ops/base/format.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "ops/base/error.h"

namespace loom::config {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string JoinChoices(const std::vector<std::string>& choices, const char* sep) {
  std::string out;
  for (size_t i = 0; i < choices.size(); ++i) out += (i ? sep : "") + choices[i];
  return out;
}

std::string FormatDouble(double v) { return FormatShortest(v); }

[[noreturn]] void ThrowType(const ConfigKey& key, const std::string& text,
                            const std::string& where, const std::string& example) {
  const std::string type =
      std::string(key.type() == KeyType::kInt || key.type() == KeyType::kIntList ? "an " : "a ") +
      KeyTypeName(key.type());
  throw ConfigError(ErrorWithFix("'" + std::string(key.name) + "' expects " + type + ", got '" +
                                     text + "' (" + where + ")",
                                 "write " + type + " such as " + example));
}

void CheckRange(const ConfigKey& key, double v, const std::string& text,
                const std::string& where) {
  if (key.range.Contains(v)) return;
  throw ConfigError(ErrorWithFix("'" + std::string(key.name) + "' = " + text +
                                     " is out of range (" + where + ")",
                                 "use a value in " + key.range.Describe()));
}

}  // namespace

const char* KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kString: return "string";
    case KeyType::kInt: return "int";
    case KeyType::kFloat: return "float";
    case KeyType::kBool: return "bool";
    case KeyType::kIntList: return "int list";
  }
  return "?";
}

bool Range::Contains(double v) const {
  if (has_sentinel && v == sentinel) return true;
  if (lo_open ? !(v > lo) : !(v >= lo)) return false;
  if (hi_open ? !(v < hi) : !(v <= hi)) return false;
  return true;
}

std::string Range::Describe() const {
  if (std::isinf(lo) && std::isinf(hi) && !has_sentinel) return "";
  std::string out = has_sentinel ? FormatDouble(sentinel) + " or " : "";
  out += lo_open ? "(" : "[";
  out += std::isinf(lo) ? "-inf" : FormatDouble(lo);
  out += ", ";
  out += std::isinf(hi) ? "inf" : FormatDouble(hi);
  out += (hi_open || std::isinf(hi)) ? ")" : "]";
  return out;
}

KeyType ConfigKey::type() const {
  LoomConfig probe;
  return static_cast<KeyType>(bind(probe).index());
}

std::string ConfigKey::section() const {
  const std::string n = name;
  return n.substr(0, n.find('.'));
}

std::string ConfigKey::leaf() const {
  const std::string n = name;
  return n.substr(n.find('.') + 1);
}

std::vector<std::string> ConfigSections() {
  std::vector<std::string> sections;
  for (const auto& key : ConfigSchema()) {
    if (sections.empty() || sections.back() != key.section()) sections.push_back(key.section());
  }
  return sections;
}

const ConfigKey* FindKey(const std::string& name) {
  for (const auto& key : ConfigSchema()) {
    if (name == key.name) return &key;
  }
  return nullptr;
}

const ConfigKey* FindComponentKey(const std::string& name, std::string* component) {
  const std::string prefix = "components.";
  if (name.rfind(prefix, 0) != 0) return nullptr;
  const size_t dot = name.find('.', prefix.size());
  const std::string inner = dot == std::string::npos ? "" : name.substr(dot + 1);
  const std::string example = "components.vision.parallel.recompute";
  if (dot == std::string::npos || dot == prefix.size() || inner.rfind("parallel.", 0) != 0) {
    throw ConfigError(ErrorWithFix("'" + name + "' is not a component key",
                                   "write components.<component>.parallel.<key>, e.g. " + example));
  }
  const ConfigKey* key = FindKey(inner);
  if (!key) {
    throw ConfigError(ErrorWithFix("'" + name + "': " + inner + " is not a parallel key",
                                   "did you mean '" + name.substr(0, dot + 1) + NearestKey(inner) + "'?"));
  }
  *component = name.substr(prefix.size(), dot - prefix.size());
  return key;
}

void SetComponentKey(const std::string& name, LoomConfig& cfg, const std::string& text, const std::string& where) {
  std::string component;
  const ConfigKey* key = FindComponentKey(name, &component);
  if (!key) throw ConfigError(ErrorWithFix("'" + name + "' is not a component key", "see docs/config.md"));
  LoomConfig scratch;
  try {
    SetFromString(*key, scratch, text, where);
  } catch (const ConfigError& e) {  // name the component key, not the parallel.* row it borrows
    std::string message = e.what();
    for (size_t at = message.find(key->name); at != std::string::npos; at = message.find(key->name, at + name.size())) {
      message.replace(at, std::string(key->name).size(), name);
    }
    throw ConfigError(message);
  }
  cfg.components[component][key->leaf()] = FormatValue(*key, scratch);
}

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitute = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, substitute});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string NearestKey(const std::string& name) {
  const bool bare = name.find('.') == std::string::npos;
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const auto& key : ConfigSchema()) {
    size_t d = EditDistance(name, key.name);
    if (bare) d = std::min(d, EditDistance(name, key.leaf()));
    if (d < best_distance) best_distance = d, best = key.name;
  }
  return best;
}

void SetFromString(const ConfigKey& key, LoomConfig& cfg, const std::string& text,
                   const std::string& where) {
  FieldRef field = key.bind(cfg);
  if (auto* s = std::get_if<std::string*>(&field)) {
    if (!key.choices.empty() &&
        std::find(key.choices.begin(), key.choices.end(), text) == key.choices.end()) {
      throw ConfigError(ErrorWithFix("'" + std::string(key.name) + "' = '" + text +
                                         "' is not allowed (" + where + ")",
                                     "use one of: " + JoinChoices(key.choices, ", ")));
    }
    **s = text;
  } else if (auto* i = std::get_if<int64_t*>(&field)) {
    int64_t v = 0;
    const char* end = text.data() + text.size();
    const char* begin = text.data() + (!text.empty() && text[0] == '+' ? 1 : 0);
    const auto [ptr, ec] = std::from_chars(begin, end, v);
    if (text.empty() || ec != std::errc() || ptr != end) ThrowType(key, text, where, "4");
    CheckRange(key, static_cast<double>(v), text, where);
    **i = v;
  } else if (auto* d = std::get_if<double*>(&field)) {
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE ||
        !std::isfinite(v)) {
      ThrowType(key, text, where, "3e-4");
    }
    CheckRange(key, v, text, where);
    **d = v;
  } else if (auto* list = std::get_if<std::vector<int64_t>*>(&field)) {
    // "0,2", "[0, 2]", "" or "[]".
    std::string body = text;
    body.erase(std::remove(body.begin(), body.end(), ' '), body.end());
    if (body.size() >= 2 && body.front() == '[' && body.back() == ']') body = body.substr(1, body.size() - 2);
    std::vector<int64_t> values;
    size_t start = 0;
    while (!body.empty() && start <= body.size()) {
      const size_t comma = std::min(body.find(',', start), body.size());
      const std::string item = body.substr(start, comma - start);
      int64_t v = 0;
      const auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
      if (item.empty() || ec != std::errc() || ptr != item.data() + item.size()) ThrowType(key, text, where, "0,2");
      CheckRange(key, static_cast<double>(v), text, where);
      values.push_back(v);
      start = comma + 1;
    }
    **list = values;
  } else if (auto* b = std::get_if<bool*>(&field)) {
    const std::string t = Lower(text);
    if (t == "true" || t == "yes" || t == "on" || t == "1") {
      **b = true;
    } else if (t == "false" || t == "no" || t == "off" || t == "0") {
      **b = false;
    } else {
      ThrowType(key, text, where, "true or false");
    }
  }
}

std::string FormatValue(const ConfigKey& key, const LoomConfig& cfg) {
  // bind() only forms a pointer; nothing is written through it here.
  FieldRef field = key.bind(const_cast<LoomConfig&>(cfg));
  if (auto* s = std::get_if<std::string*>(&field)) return **s;
  if (auto* i = std::get_if<int64_t*>(&field)) return std::to_string(**i);
  if (auto* d = std::get_if<double*>(&field)) return FormatDouble(**d);
  if (auto* list = std::get_if<std::vector<int64_t>*>(&field)) {
    std::string out = "[";
    for (size_t i = 0; i < (*list)->size(); ++i) out += (i ? ", " : "") + std::to_string((**list)[i]);
    return out + "]";
  }
  return *std::get<bool*>(field) ? "true" : "false";
}

std::string ConfigDocMarkdown() {
  const LoomConfig defaults;
  std::string out =
      "# Loom config reference\n\n"
      "<!-- Generated by `loom config --doc > docs/config.md` from the schema in\n"
      "     sdk/config/train_config.cc; tests/sdk/config fails when it is stale. -->\n\n"
      "A Loom config is a YAML file with one mapping per section. Any key can be\n"
      "overridden on the command line with its dotted name, after the file is read:\n\n"
      "```sh\n"
      "loom config samples/configs/tiny_qwen3.yaml --train.lr 3e-4 --model.path=/x \\\n"
      "    --parallel.dp_shard 4 --model.tie_word_embeddings false\n"
      "```\n\n"
      "Keys left out take the defaults below. An unknown key, a value of the wrong\n"
      "type, or a value outside its range or allowed set is an error that names the\n"
      "key (and, for unknown keys, the nearest valid one). Booleans accept\n"
      "true/false, yes/no, on/off, 1/0. `loom config CONFIG --print` shows the\n"
      "resolved config.\n";
  out +=
      "\nA model of several components (an omni model's `vision`, `audio` and\n"
      "`llm`) takes a plan per component: `components.<name>.parallel.<key>`\n"
      "sets any `parallel.*` key below for that component alone, e.g.\n"
      "`components.vision.parallel.recompute: full`. Unset, the foundation\n"
      "(`llm`) takes `parallel.*`; a component that cannot split sequences\n"
      "(the encoders) takes `parallel.*` too, except its mesh: `sp` 1, `ep` 1\n"
      "and `dp_shard` -1 (it shards over what `dp_replicate` leaves of the\n"
      "world). `loom plan CONFIG` shows what each component gets.\n";
  for (const auto& section : ConfigSections()) {
    out += "\n## " + section + "\n\n";
    out += "| key | type | default | allowed | meaning |\n";
    out += "|---|---|---|---|---|\n";
    for (const auto& key : ConfigSchema()) {
      if (key.section() != section) continue;
      std::string def = FormatValue(key, defaults);
      def = def.empty() ? "\"\"" : "`" + def + "`";
      const std::string allowed =
          key.choices.empty() ? key.range.Describe() : JoinChoices(key.choices, ", ");
      out += "| `" + std::string(key.name) + "` | " + KeyTypeName(key.type()) + " | " + def +
             " | " + allowed + " | " + key.doc + " |\n";
    }
  }
  return out;
}

nlohmann::json SchemaJson() {
  const LoomConfig defaults;
  nlohmann::json out = nlohmann::json::array();
  for (const auto& key : ConfigSchema()) {
    FieldRef field = key.bind(const_cast<LoomConfig&>(defaults));  // read only
    nlohmann::json def;
    if (auto* s = std::get_if<std::string*>(&field)) def = **s;
    else if (auto* i = std::get_if<int64_t*>(&field)) def = **i;
    else if (auto* d = std::get_if<double*>(&field)) def = **d;
    else if (auto* l = std::get_if<std::vector<int64_t>*>(&field)) def = **l;
    else def = *std::get<bool*>(field);
    nlohmann::json row{{"name", key.name}, {"section", key.section()}, {"type", KeyTypeName(key.type())},
                       {"default", def}, {"choices", key.choices}, {"doc", key.doc}};
    const KeyType type = key.type();
    if (type == KeyType::kInt || type == KeyType::kFloat || type == KeyType::kIntList) {
      nlohmann::json range{{"lo_open", key.range.lo_open}, {"hi_open", key.range.hi_open}};
      if (std::isfinite(key.range.lo)) range["lo"] = key.range.lo;
      if (std::isfinite(key.range.hi)) range["hi"] = key.range.hi;
      if (key.range.has_sentinel) range["sentinel"] = key.range.sentinel;
      row["range"] = range;
    }
    out.push_back(std::move(row));
  }
  return out;
}

std::vector<std::string> KeysMentioned(const std::string& message) {
  std::vector<std::string> names;
  for (const auto& key : ConfigSchema()) names.emplace_back(key.name);
  std::sort(names.begin(), names.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  std::vector<std::string> found;
  std::string rest = message;
  for (const auto& name : names) {
    size_t at = rest.find(name);
    if (at == std::string::npos) continue;
    found.push_back(name);
    // Blank every occurrence so a shorter key inside this one is not reported again.
    for (; at != std::string::npos; at = rest.find(name, at)) rest.replace(at, name.size(), std::string(name.size(), ' '));
  }
  // Mesh messages name parallel keys by their leaf ("dp_shard 2 x sp 1"): a
  // whole-word leaf names parallel.<leaf>.
  const auto is_word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; };
  for (const auto& key : ConfigSchema()) {
    if (key.section() != "parallel" || std::find(found.begin(), found.end(), key.name) != found.end()) continue;
    const std::string leaf = key.leaf();
    for (size_t at = rest.find(leaf); at != std::string::npos; at = rest.find(leaf, at + 1)) {
      const bool starts = at == 0 || !is_word(rest[at - 1]);
      const bool ends = at + leaf.size() == rest.size() || !is_word(rest[at + leaf.size()]);
      if (starts && ends) {
        found.emplace_back(key.name);
        break;
      }
    }
  }
  return found;
}

nlohmann::json ConfigErrorsJson(const std::string& message) {
  nlohmann::json errors = nlohmann::json::array();
  size_t start = 0;
  while (start <= message.size()) {
    const size_t end = std::min(message.find('\n', start), message.size());
    const std::string line = message.substr(start, end - start);
    if (line.find_first_not_of(" \t-") != std::string::npos) errors.push_back({{"message", line}, {"keys", KeysMentioned(line)}});
    start = end + 1;
  }
  return errors;
}

}  // namespace loom::config
