#include "models/core/plan_spec.h"

namespace loom::models {
namespace {

std::vector<std::string> Segments(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    out.push_back(s.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) return out;
    start = dot + 1;
  }
}

}  // namespace

bool MatchesPattern(const std::string& pattern, const std::string& path) {
  if (pattern.empty()) return false;
  if (const auto bar = pattern.find('|'); bar != std::string::npos) {
    return MatchesPattern(pattern.substr(0, bar), path) || MatchesPattern(pattern.substr(bar + 1), path);
  }
  const auto p = Segments(pattern), s = Segments(path);
  if (p.size() != s.size()) return false;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] != "*" && p[i] != s[i]) return false;
  }
  return true;
}

}  // namespace loom::models
