// The C ABI shim: configs, plans and datasets over sdk/config and sdk/train.
#include <filesystem>

#include "capi/src/api_guard.h"
#include "capi/src/handles.h"
#include "sdk/config/load_config.h"
#include "sdk/config/schema.h"
#include "sdk/train/data_report.h"
#include "sdk/train/plan_report.h"

using loom::capi::Live;
using loom::capi::Utf8Arg;
using loom::capi::Utf8Args;

namespace {

constexpr const char* kConfigMaker = "loom_config_load or loom_config_parse";

loom_config* NewConfig(loom::config::LoomConfig cfg) {
  auto* c = new loom_config{std::move(cfg)};
  loom::capi::RegisterHandle(c, "loom_config");
  return c;
}

// A JSON value as the command line spells it: 3e-4, true, "full", [0, 2] -> 0,2.
std::string OverrideValue(const std::string& key, const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return v.dump();
  if (v.is_array()) {
    std::string out;
    for (const auto& e : v) {
      if (!e.is_number_integer()) throw loom::ConfigError("'" + key + "': a list value must hold integers, got " + v.dump() + "; pass e.g. [0, 2]");
      out += (out.empty() ? "" : ",") + e.dump();
    }
    return out;
  }
  throw loom::ConfigError("'" + key + "': " + v.dump() + " is not a value a config key takes; pass a string, number, boolean or integer list");
}

}  // namespace

extern "C" {

loom_status loom_config_load(loom_config** out_config, const char* path, const char* const* overrides, size_t n_overrides) {
  LOOM_API_BEGIN
  loom::capi::CheckOut(out_config, "out_config");
  const std::string file = Utf8Arg(path, "path", /*nullptr_ok=*/true);
  const auto tokens = Utf8Args(overrides, n_overrides, "overrides");
  if (!file.empty() && !std::filesystem::exists(file)) {
    throw loom::capi::NotFoundError("config file '" + file + "' does not exist; pass the path of a YAML config (e.g. samples/configs/tiny_qwen3.yaml)");
  }
  *out_config = NewConfig(loom::config::LoadConfig(file, tokens));
  LOOM_API_END
}

loom_status loom_config_parse(loom_config** out_config, const char* yaml, const char* source_name,
                              const char* const* overrides, size_t n_overrides) {
  LOOM_API_BEGIN
  loom::capi::CheckOut(out_config, "out_config");
  const std::string text = Utf8Arg(yaml, "yaml");
  std::string source = Utf8Arg(source_name, "source_name", /*nullptr_ok=*/true);
  const auto tokens = Utf8Args(overrides, n_overrides, "overrides");
  *out_config = NewConfig(loom::config::LoadConfigFromString(text, source.empty() ? "<string>" : source, tokens));
  LOOM_API_END
}

loom_status loom_config_update(loom_config* config, const char* json_object) {
  LOOM_API_BEGIN
  auto& c = Live(config, "loom_config", kConfigMaker);
  const std::string text = Utf8Arg(json_object, "json_object");
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    throw loom::ConfigError("json_object is not valid JSON (\"" + text.substr(0, 60) +
                            "\"); pass an object such as {\"train.lr\": 3e-4}");
  }
  if (!j.is_object()) throw loom::ConfigError("json_object is " + j.dump().substr(0, 60) + ", not an object; pass {\"train.lr\": 3e-4, ...}");
  std::vector<std::string> tokens;
  for (const auto& [key, value] : j.items()) tokens.push_back("--" + key + "=" + OverrideValue(key, value));
  loom::config::LoomConfig updated = c.cfg;
  loom::config::ApplyOverrides(&updated, tokens);  // validates; throws before anything changes
  c.cfg = std::move(updated);
  LOOM_API_END
}

loom_status loom_config_to_json(const loom_config* config, char** out_text) {
  LOOM_API_BEGIN
  auto& c = Live(config, "loom_config", kConfigMaker);
  loom::capi::ReturnString(out_text, loom::config::ToJson(c.cfg).dump(), "out_text");
  LOOM_API_END
}

loom_status loom_config_to_yaml(const loom_config* config, char** out_text) {
  LOOM_API_BEGIN
  auto& c = Live(config, "loom_config", kConfigMaker);
  loom::capi::ReturnString(out_text, loom::config::ToYaml(c.cfg), "out_text");
  LOOM_API_END
}

loom_status loom_config_check(char** out_json, const char* yaml, const char* source_name, const char* const* overrides,
                              size_t n_overrides) {
  LOOM_API_BEGIN
  loom::capi::CheckOut(out_json, "out_json");
  const std::string text = Utf8Arg(yaml, "yaml", /*nullptr_ok=*/true);
  const std::string source = Utf8Arg(source_name, "source_name", /*nullptr_ok=*/true);
  const auto tokens = Utf8Args(overrides, n_overrides, "overrides");
  nlohmann::json out;
  try {
    const auto cfg = loom::config::LoadConfigFromString(text, source.empty() ? "<string>" : source, tokens);
    out = {{"valid", true}, {"config", loom::config::ToJson(cfg)}};
  } catch (const loom::ConfigError& e) {
    out = {{"valid", false}, {"errors", loom::config::ConfigErrorsJson(e.what())}};
  }
  loom::capi::ReturnString(out_json, out.dump(), "out_json");
  LOOM_API_END
}

void loom_config_destroy(loom_config* config) {
  LOOM_API_VOID_BEGIN
  loom::capi::DestroyHandle(config, "loom_config", kConfigMaker);
  LOOM_API_VOID_END
}

loom_plan_options loom_plan_options_default(void) { return LOOM_PLAN_OPTIONS_INIT; }

loom_status loom_plan_check(const loom_config* config, const loom_plan_options* options, char** out_json) {
  LOOM_API_BEGIN
  auto& c = Live(config, "loom_config", kConfigMaker);
  loom::capi::CheckOut(out_json, "out_json");
  const auto o = loom::capi::ReadOptions(options, loom_plan_options_default(), "loom_plan_options");
  loom::train::PlanReportOptions report;
  report.world = o.world;
  report.memory_budget = Utf8Arg(o.memory_budget, "loom_plan_options.memory_budget", /*nullptr_ok=*/true);
  report.media_fraction = o.media_fraction;
  loom::capi::ReturnString(out_json, loom::train::CheckPlan(c.cfg, report).dump(), "out_json");
  LOOM_API_END
}

loom_dataset_options loom_dataset_options_default(void) { return LOOM_DATASET_OPTIONS_INIT; }

loom_status loom_dataset_build(const loom_dataset_options* options, char** out_report_json) {
  LOOM_API_BEGIN
  loom::capi::CheckOut(out_report_json, "out_report_json");
  if (!options) throw loom::ConfigError("options is NULL; pass a loom_dataset_options with the tokenizer, inputs and output set");
  const auto o = loom::capi::ReadOptions(options, loom_dataset_options_default(), "loom_dataset_options");
  loom::train::DatasetRequest r;
  r.tokenizer = Utf8Arg(o.tokenizer, "loom_dataset_options.tokenizer");
  r.inputs = Utf8Args(o.inputs, o.n_inputs, "loom_dataset_options.inputs");
  r.output = Utf8Arg(o.output, "loom_dataset_options.output");
  r.format = o.format ? Utf8Arg(o.format, "loom_dataset_options.format") : "auto";
  r.eval_fraction = o.eval_fraction;
  if (!std::filesystem::exists(r.tokenizer)) {
    throw loom::capi::NotFoundError("tokenizer '" + r.tokenizer + "' does not exist; pass a Hugging Face tokenizer.json");
  }
  for (const auto& input : r.inputs) {
    if (!std::filesystem::exists(input)) throw loom::capi::NotFoundError("input '" + input + "' does not exist; pass existing JSONL or text files");
  }
  loom::capi::ReturnString(out_report_json, loom::train::BuildDataset(r).dump(), "out_report_json");
  LOOM_API_END
}

loom_status loom_dataset_preview(const loom_config* config, int64_t n_batches, char** out_json) {
  LOOM_API_BEGIN
  auto& c = Live(config, "loom_config", kConfigMaker);
  loom::capi::CheckOut(out_json, "out_json");
  loom::capi::ReturnString(out_json, loom::train::PreviewBatches(c.cfg, n_batches).dump(), "out_json");
  LOOM_API_END
}

}  // extern "C"
