#include "ops/base/error.h"

namespace loom {

std::string ErrorWithFix(const std::string& what, const std::string& fix) {
  return what + "; fix: " + fix;
}

}  // namespace loom
