#include "studio/model/series.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

namespace loom::studio {
namespace {

const char* const kColumns[] = {"loss", "lr", "grad_norm", "tokens_per_s", "step_time_s", "peak_mem_bytes"};

// ops/base/format.cc's FormatShortest, restated: the studio sees only the C ABI.
std::string Shortest(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  if (v == std::trunc(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
    return buf;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string Field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string JsonField(const nlohmann::json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return Field(v.get<std::string>());
  if (v.is_number_float()) return Shortest(v.get<double>());
  return Field(v.dump());
}

// The store writes NaN as null.
double NumberOr(const nlohmann::json& v) { return v.is_number() ? v.get<double>() : std::nan(""); }

void Leaves(const nlohmann::json& v, const std::string& prefix, std::set<std::string>& out) {
  if (v.is_number()) {
    out.insert(prefix);
  } else if (v.is_object()) {
    for (const auto& item : v.items()) Leaves(item.value(), prefix.empty() ? item.key() : prefix + "." + item.key(), out);
  }
}

const nlohmann::json* Find(const nlohmann::json& row, const std::string& metric) {
  for (const char* c : kColumns)
    if (metric == c) return row.contains(c) ? &row.at(c) : nullptr;
  const nlohmann::json* at = row.contains("extra") ? &row.at("extra") : nullptr;
  size_t begin = 0;
  while (at) {
    const size_t dot = metric.find('.', begin);
    const std::string key = metric.substr(begin, dot == std::string::npos ? std::string::npos : dot - begin);
    if (!at->is_object() || !at->contains(key)) return nullptr;
    at = &at->at(key);
    if (dot == std::string::npos) return at;
    begin = dot + 1;
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> MetricsOf(const std::vector<nlohmann::json>& steps) {
  std::vector<std::string> out(std::begin(kColumns), std::end(kColumns));
  std::set<std::string> extra;
  for (const auto& row : steps)
    if (row.contains("extra")) Leaves(row.at("extra"), "", extra);
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

std::vector<std::string> ModalityLosses(const std::vector<nlohmann::json>& steps) {
  std::vector<std::string> out;
  for (const auto& m : MetricsOf(steps))
    if (m.rfind("loss_by_modality.", 0) == 0) out.push_back(m);
  return out;
}

Series SeriesOf(const std::vector<nlohmann::json>& steps, const std::string& metric) {
  Series s{metric, {}, {}};
  for (const auto& row : steps) {
    const nlohmann::json* v = Find(row, metric);
    if (!v || !v->is_number()) continue;
    s.x.push_back(row.value("step", 0.0));
    s.y.push_back(v->get<double>());
  }
  return s;
}

std::string StepsCsv(const std::vector<nlohmann::json>& steps) {
  std::set<std::string> extra_keys;
  for (const auto& row : steps)
    if (row.contains("extra") && row.at("extra").is_object())
      for (const auto& item : row.at("extra").items()) extra_keys.insert(item.key());
  std::string out = "step,loss,lr,grad_norm,tokens_per_s,step_time_s,peak_mem_bytes";
  for (const auto& k : extra_keys) out += "," + Field(k);
  out += "\n";
  for (const auto& row : steps) {
    out += std::to_string(row.value("step", int64_t{0}));
    for (const char* c : {"loss", "lr", "grad_norm", "tokens_per_s", "step_time_s"})
      out += "," + Shortest(row.contains(c) ? NumberOr(row.at(c)) : std::nan(""));
    out += "," + std::to_string(row.value("peak_mem_bytes", int64_t{0}));
    const nlohmann::json extra = row.value("extra", nlohmann::json::object());
    for (const auto& k : extra_keys) {
      out += ",";
      if (extra.is_object() && extra.contains(k)) out += JsonField(extra.at(k));
    }
    out += "\n";
  }
  return out;
}

}  // namespace loom::studio
