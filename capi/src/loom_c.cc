// The C ABI shim: no logic beyond mapping C++ to C (status codes, messages).
#include "loom/loom.h"

#include <string>

#include "capi/src/api_guard.h"

namespace loom::capi {
thread_local std::string g_last_error;
}  // namespace loom::capi

extern "C" {

const char* loom_version(void) {
  return "0.1.0";
}

loom_status loom_check_abi(int32_t abi_version) {
  LOOM_API_BEGIN
  if (abi_version != LOOM_ABI_VERSION) {
    throw loom::ConfigError("caller was built for Loom ABI " + std::to_string(abi_version) +
                            " but this library implements ABI " +
                            std::to_string(LOOM_ABI_VERSION) + "; rebuild the caller");
  }
  LOOM_API_END_WITH(LOOM_E_UNSUPPORTED)
}

const char* loom_last_error_message(void) {
  return loom::capi::g_last_error.c_str();
}

const char* loom_status_name(loom_status status) {
  switch (status) {
    case LOOM_OK: return "LOOM_OK";
    case LOOM_E_INVALID_ARG: return "LOOM_E_INVALID_ARG";
    case LOOM_E_NOT_FOUND: return "LOOM_E_NOT_FOUND";
    case LOOM_E_UNSUPPORTED: return "LOOM_E_UNSUPPORTED";
    case LOOM_E_OOM: return "LOOM_E_OOM";
    case LOOM_E_DIST: return "LOOM_E_DIST";
    case LOOM_E_CANCELLED: return "LOOM_E_CANCELLED";
    default: return "LOOM_E_INTERNAL";
  }
}

}  // extern "C"
