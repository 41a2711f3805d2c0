#include "studio/model/c_api.h"

namespace loom::studio {

void Check(loom_status s, const char* call) {
  if (s != LOOM_OK) throw ApiError(s, std::string(call) + ": " + loom_status_name(s) + ": " + loom_last_error_message());
}

std::string Take(char* s) {
  std::string out = s ? s : "";
  loom_free(s);
  return out;
}

}  // namespace loom::studio
