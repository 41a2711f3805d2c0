// Formatting helpers for progress lines, `loom runs` tables and CSV.
#include "sdk/metrics/format.h"

#include "ops/base/format.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <set>

namespace loom::metrics {
namespace {

std::string Printf(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string CsvJson(const nlohmann::json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return CsvField(v.get<std::string>());
  if (v.is_number_float()) return FormatShortest(v.get<double>());
  return CsvField(v.dump());
}

}  // namespace


std::string FormatDuration(double seconds) {
  if (!(seconds >= 0) || std::isinf(seconds)) return "-";
  const auto s = static_cast<int64_t>(std::llround(seconds));
  char buf[64];
  if (s < 60) {
    std::snprintf(buf, sizeof(buf), "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else if (s < 86400) {
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%lldd%02lldh", static_cast<long long>(s / 86400),
                  static_cast<long long>(s % 86400 / 3600));
  }
  return buf;
}

std::string FormatRate(double v) {
  if (!std::isfinite(v)) return "-";
  const double a = std::fabs(v);
  if (a < 999.95) return Printf("%.0f", v);
  if (a < 999.95e3) return Printf("%.1fk", v / 1e3);
  if (a < 999.95e6) return Printf("%.1fM", v / 1e6);
  return Printf("%.1fG", v / 1e9);
}

std::string FormatLr(double lr) {
  if (lr == 0) return "0";
  if (!std::isfinite(lr)) return FormatShortest(lr);
  // "%.1e" gives "2.9e-04": drop ".0" from the mantissa, zero-padding and '+'.
  std::string s = Printf("%.1e", lr);
  const size_t e = s.find('e');
  std::string mantissa = s.substr(0, e);
  if (mantissa.size() > 2 && mantissa.compare(mantissa.size() - 2, 2, ".0") == 0) {
    mantissa.resize(mantissa.size() - 2);
  }
  const int exponent = std::atoi(s.c_str() + e + 1);
  return mantissa + "e" + std::to_string(exponent);
}


std::string FormatLocalTime(double unix_seconds) {
  if (!(unix_seconds > 0)) return "-";
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string StepsToCsv(const std::vector<StepMetrics>& steps) {
  std::set<std::string> extra_keys;
  for (const auto& m : steps) {
    if (!m.extra.is_object()) continue;
    for (const auto& item : m.extra.items()) extra_keys.insert(item.key());
  }
  std::string out = "step,loss,lr,grad_norm,tokens_per_s,step_time_s,peak_mem_bytes";
  for (const auto& k : extra_keys) out += "," + CsvField(k);
  out += "\n";
  for (const auto& m : steps) {
    out += std::to_string(m.step) + "," + FormatShortest(m.loss) + "," + FormatShortest(m.lr) +
           "," + FormatShortest(m.grad_norm) + "," + FormatShortest(m.tokens_per_s) + "," +
           FormatShortest(m.step_time_s) + "," + std::to_string(m.peak_mem_bytes);
    for (const auto& k : extra_keys) {
      out += ",";
      if (m.extra.is_object() && m.extra.contains(k)) out += CsvJson(m.extra.at(k));
    }
    out += "\n";
  }
  return out;
}

namespace {
nlohmann::json Number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
}  // namespace

nlohmann::json RunToJson(const RunInfo& r, bool with_config) {
  nlohmann::json j{{"id", r.id},
                   {"name", r.name},
                   {"status", RunStatusName(r.status)},
                   {"started_at", r.started_at},
                   {"ended_at", r.ended_at},
                   {"duration_s", Number(r.DurationSeconds())},
                   {"world_size", r.world_size},
                   {"error", r.error},
                   {"num_steps", r.num_steps},
                   {"last_step", r.last_step},
                   {"last_loss", Number(r.last_loss)},
                   {"heartbeat_at", r.heartbeat_at},
                   {"lost_after_s", r.lost_after_s}};
  if (with_config) {
    const auto config = nlohmann::json::parse(r.config_json, nullptr, /*allow_exceptions=*/false);
    j["config"] = config.is_discarded() ? nlohmann::json(r.config_json) : config;
  }
  return j;
}

nlohmann::json StepsToJson(const std::vector<StepMetrics>& steps) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& m : steps) {
    out.push_back({{"step", m.step}, {"loss", Number(m.loss)}, {"lr", Number(m.lr)}, {"grad_norm", Number(m.grad_norm)},
                   {"tokens_per_s", Number(m.tokens_per_s)}, {"step_time_s", Number(m.step_time_s)},
                   {"peak_mem_bytes", m.peak_mem_bytes}, {"extra", m.extra}});
  }
  return out;
}

nlohmann::json EventsToJson(const std::vector<RunEvent>& events) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : events) {
    out.push_back({{"id", e.id}, {"step", e.step}, {"time", e.time}, {"kind", e.kind}, {"message", e.message}});
  }
  return out;
}

}  // namespace loom::metrics
