// LOOM_API_BEGIN / LOOM_API_END: every C entry body sits between them so no
// exception crosses the ABI; each Loom exception kind maps to one status code
// and its message is kept for loom_last_error_message().
#pragma once

#include <new>
#include <string>

#include "loom/loom.h"
#include "ops/base/error.h"

namespace loom::capi {
extern thread_local std::string g_last_error;
}  // namespace loom::capi

#define LOOM_API_BEGIN \
  loom::capi::g_last_error.clear(); \
  try {
// `config_code` is what a ConfigError maps to at this entry point.
#define LOOM_API_END_WITH(config_code)                     \
  return LOOM_OK;                                          \
  }                                                        \
  catch (const loom::ConfigError& e) {                     \
    loom::capi::g_last_error = e.what();                   \
    return (config_code);                                  \
  }                                                        \
  catch (const loom::DistError& e) {                       \
    loom::capi::g_last_error = e.what();                   \
    return LOOM_E_DIST;                                    \
  }                                                        \
  catch (const std::bad_alloc&) {                          \
    loom::capi::g_last_error = "out of memory";            \
    return LOOM_E_OOM;                                     \
  }                                                        \
  catch (const std::exception& e) {                        \
    loom::capi::g_last_error = e.what();                   \
    return LOOM_E_INTERNAL;                                \
  }                                                        \
  catch (...) {                                            \
    loom::capi::g_last_error = "unknown exception";        \
    return LOOM_E_INTERNAL;                                \
  }
#define LOOM_API_END LOOM_API_END_WITH(LOOM_E_INVALID_ARG)
