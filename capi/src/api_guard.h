// The shim's plumbing, shared by every capi/src/*.cc file:
//  - LOOM_API_BEGIN / LOOM_API_END: every C entry body sits between them so
//    no exception crosses the ABI; each exception kind maps to one status
//    code and its message is kept for loom_last_error_message();
//  - the live-handle set: every handle the library made is registered, and
//    every entry checks its handle against it, so NULL, a destroyed handle
//    or a stray pointer is an error status, never a crash;
//  - argument checks (UTF-8 strings, size-tagged options) and string returns.
#pragma once

#include <cstring>
#include <new>
#include <string>
#include <typeinfo>
#include <vector>

#include "loom/loom.h"
#include "ops/base/error.h"

namespace loom::capi {

extern thread_local std::string g_last_error;

// Expected outcomes the C++ core reports otherwise, raised by the shim.
struct NotFoundError : Error {
  using Error::Error;
};
struct CancelledError : Error {
  using Error::Error;
};
struct TimeoutError : Error {
  using Error::Error;
};

// The live-handle set (thread-safe). `kind` is the handle's type name.
void RegisterHandle(const void* handle, const char* kind);
void UnregisterHandle(const void* handle);
bool IsLiveHandle(const void* handle, const char* kind);

// `handle` as a live handle of `kind` ("loom_trainer"), or an InvalidArg
// naming why not (NULL, destroyed, never made) and how to make one.
template <typename H>
H& Live(H* handle, const char* kind, const char* maker) {
  if (!handle) throw ConfigError(std::string(kind) + " is NULL; make one with " + maker);
  if (!IsLiveHandle(handle, kind)) {
    throw ConfigError(std::string(kind) + " handle is not live (destroyed already, or not made by " + maker +
                      "); use a handle " + maker + " returned and has not been destroyed");
  }
  return *handle;
}

// The body of every loom_*_destroy: NULL is a no-op; a handle that is not
// live is refused (the message set, nothing freed); a live one is freed.
template <typename H>
void DestroyHandle(H* handle, const char* kind, const char* maker) {
  if (!handle) return;
  Live(handle, kind, maker);
  UnregisterHandle(handle);
  delete handle;
}

// A required NUL-terminated UTF-8 argument (nullptr_ok: NULL means "").
std::string Utf8Arg(const char* text, const char* name, bool nullptr_ok = false);
// `n` UTF-8 strings (NULL allowed only when n == 0).
std::vector<std::string> Utf8Args(const char* const* texts, size_t n, const char* name);

// Writes a malloc'ed copy to *out (released by loom_free).
void ReturnString(char** out, const std::string& s, const char* name);
void CheckOut(const void* out, const char* name);

// A size-tagged options struct: `given` (NULL: the defaults) read up to its
// struct_size; fields past it keep the defaults.
template <typename S>
S ReadOptions(const S* given, const S& defaults, const char* type) {
  if (!given) return defaults;
  if (given->struct_size < sizeof(size_t) || given->struct_size > sizeof(S)) {
    throw ConfigError(std::string(type) + ".struct_size is " + std::to_string(given->struct_size) +
                      ", outside [" + std::to_string(sizeof(size_t)) + ", " + std::to_string(sizeof(S)) +
                      "]; initialise it with " + type + "_default() or the INIT macro (a larger size means "
                      "the caller's header is newer than this library)");
  }
  S out = defaults;
  std::memcpy(static_cast<void*>(&out), given, given->struct_size);
  out.struct_size = sizeof(S);
  return out;
}

// Copies `full` into *out up to out->struct_size (an older, smaller struct
// gets only the fields it has).
template <typename S>
void WriteState(S* out, S full, const char* type) {
  CheckOut(out, type);
  if (out->struct_size < sizeof(size_t) || out->struct_size > sizeof(S)) {
    throw ConfigError(std::string(type) + ".struct_size is " + std::to_string(out->struct_size) +
                      "; set it to sizeof(" + type + ") (the INIT macro does)");
  }
  full.struct_size = out->struct_size;
  std::memcpy(static_cast<void*>(out), &full, out->struct_size);
}

}  // namespace loom::capi

#define LOOM_API_BEGIN \
  loom::capi::g_last_error.clear(); \
  try {
#define LOOM_API_CATCH(e, code) \
  catch (const e& ex) {         \
    loom::capi::g_last_error = ex.what(); \
    return (code);              \
  }
// `config_code` is what a ConfigError maps to at this entry point.
#define LOOM_API_END_WITH(config_code)                            \
  return LOOM_OK;                                                 \
  }                                                               \
  LOOM_API_CATCH(loom::capi::NotFoundError, LOOM_E_NOT_FOUND)     \
  LOOM_API_CATCH(loom::capi::CancelledError, LOOM_E_CANCELLED)    \
  LOOM_API_CATCH(loom::capi::TimeoutError, LOOM_E_TIMEOUT)        \
  LOOM_API_CATCH(loom::ConfigError, config_code)                  \
  LOOM_API_CATCH(loom::DataError, LOOM_E_DATA)                    \
  LOOM_API_CATCH(loom::DistError, LOOM_E_DIST)                    \
  catch (const std::bad_alloc&) {                                 \
    loom::capi::g_last_error = "out of memory";                   \
    return LOOM_E_OOM;                                            \
  }                                                               \
  LOOM_API_CATCH(std::exception, LOOM_E_INTERNAL)                 \
  catch (...) {                                                   \
    loom::capi::g_last_error = "unknown exception";               \
    return LOOM_E_INTERNAL;                                       \
  }
#define LOOM_API_END LOOM_API_END_WITH(LOOM_E_INVALID_ARG)

// For void entries (destroy): failures only set the message.
#define LOOM_API_VOID_BEGIN \
  loom::capi::g_last_error.clear(); \
  try {
#define LOOM_API_VOID_END                         \
  }                                               \
  catch (const std::exception& ex) {              \
    loom::capi::g_last_error = ex.what();         \
  }                                               \
  catch (...) {                                   \
    loom::capi::g_last_error = "unknown exception"; \
  }
