// The C ABI shim, common part: versions, errors, memory, the live-handle set
// and the registry. No logic beyond mapping C++ to C.
#include <cstddef>
#include <cstdlib>
#include <mutex>
#include <unordered_map>

#include "capi/src/api_guard.h"
#include "sdk/data/utf8.h"
#include "sdk/train/registry_report.h"

namespace loom::capi {

thread_local std::string g_last_error;

namespace {
std::mutex g_handles_mu;
std::unordered_map<const void*, const char*>& Handles() {
  static auto* handles = new std::unordered_map<const void*, const char*>();  // never destroyed: usable at exit
  return *handles;
}
}  // namespace

void RegisterHandle(const void* handle, const char* kind) {
  std::lock_guard<std::mutex> lock(g_handles_mu);
  Handles()[handle] = kind;
}

void UnregisterHandle(const void* handle) {
  std::lock_guard<std::mutex> lock(g_handles_mu);
  Handles().erase(handle);
}

bool IsLiveHandle(const void* handle, const char* kind) {
  std::lock_guard<std::mutex> lock(g_handles_mu);
  const auto it = Handles().find(handle);
  return it != Handles().end() && std::strcmp(it->second, kind) == 0;
}

std::string Utf8Arg(const char* text, const char* name, bool nullptr_ok) {
  if (!text) {
    if (nullptr_ok) return "";
    throw ConfigError(std::string(name) + " is NULL; pass a NUL-terminated UTF-8 string");
  }
  std::string s(text);
  if (!data::IsValidUtf8(s)) {
    throw ConfigError(std::string(name) + " is not valid UTF-8 (\"" + data::RepairUtf8(s.substr(0, 60)) +
                      "\"); pass UTF-8 text");
  }
  return s;
}

std::vector<std::string> Utf8Args(const char* const* texts, size_t n, const char* name) {
  if (n > 0 && !texts) throw ConfigError(std::string(name) + " is NULL with a count of " + std::to_string(n) + "; pass an array of that many strings, or a count of 0");
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.push_back(Utf8Arg(texts[i], (std::string(name) + "[" + std::to_string(i) + "]").c_str()));
  return out;
}

void CheckOut(const void* out, const char* name) {
  if (!out) throw ConfigError(std::string("the output argument ") + name + " is NULL; pass where to write the result");
}

void ReturnString(char** out, const std::string& s, const char* name) {
  CheckOut(out, name);
  char* copy = static_cast<char*>(std::malloc(s.size() + 1));
  if (!copy) throw std::bad_alloc();
  std::memcpy(copy, s.c_str(), s.size() + 1);
  *out = copy;
}

}  // namespace loom::capi

namespace {

// The shipped layouts (x86-64 / aarch64 LP64): a change here is an ABI break
// (bump LOOM_ABI_VERSION and the SOVERSION), never an accident.
static_assert(sizeof(loom_trainer_options) == 64 && offsetof(loom_trainer_options, join_world) == 56);
static_assert(sizeof(loom_step_metrics) == 80 && offsetof(loom_step_metrics, extra_json) == 72);
static_assert(sizeof(loom_plan_options) == 32 && offsetof(loom_plan_options, media_fraction) == 24);
static_assert(sizeof(loom_dataset_options) == 56 && offsetof(loom_dataset_options, eval_fraction) == 48);
static_assert(sizeof(loom_launch_options) == 80 && offsetof(loom_launch_options, kill_grace_ms) == 72);
static_assert(sizeof(loom_launch_state) == 24 && offsetof(loom_launch_state, restarts) == 16);
static_assert(sizeof(loom_trainer_state) == 48 && offsetof(loom_trainer_state, status) == 40);

template <typename S>
void CheckSize(const char* type, size_t caller, size_t library) {
  if (caller > library || caller < sizeof(size_t)) {
    throw loom::ConfigError(std::string("the caller's ") + type + " is " + std::to_string(caller) +
                            " bytes but this library's is " + std::to_string(library) +
                            (caller > library ? "; the caller's loom.h is newer than libloom: use the libloom it came with"
                                              : "; rebuild the caller against loom.h"));
  }
}

}  // namespace

extern "C" {

const char* loom_version(void) { return "0.2.0"; }

loom_status loom_check_abi(int32_t abi_version, size_t trainer_options_size, size_t step_metrics_size,
                           size_t plan_options_size, size_t dataset_options_size, size_t launch_options_size,
                           size_t launch_state_size, size_t trainer_state_size) {
  LOOM_API_BEGIN
  if (abi_version != LOOM_ABI_VERSION) {
    throw loom::ConfigError("caller was built for Loom ABI " + std::to_string(abi_version) +
                            " but this library implements ABI " + std::to_string(LOOM_ABI_VERSION) +
                            "; rebuild the caller against this library's loom.h");
  }
  CheckSize<loom_trainer_options>("loom_trainer_options", trainer_options_size, sizeof(loom_trainer_options));
  CheckSize<loom_step_metrics>("loom_step_metrics", step_metrics_size, sizeof(loom_step_metrics));
  CheckSize<loom_plan_options>("loom_plan_options", plan_options_size, sizeof(loom_plan_options));
  CheckSize<loom_dataset_options>("loom_dataset_options", dataset_options_size, sizeof(loom_dataset_options));
  CheckSize<loom_launch_options>("loom_launch_options", launch_options_size, sizeof(loom_launch_options));
  CheckSize<loom_launch_state>("loom_launch_state", launch_state_size, sizeof(loom_launch_state));
  CheckSize<loom_trainer_state>("loom_trainer_state", trainer_state_size, sizeof(loom_trainer_state));
  LOOM_API_END_WITH(LOOM_E_UNSUPPORTED)
}

const char* loom_last_error_message(void) { return loom::capi::g_last_error.c_str(); }

const char* loom_status_name(loom_status status) {
  switch (status) {
    case LOOM_OK: return "LOOM_OK";
    case LOOM_E_INVALID_ARG: return "LOOM_E_INVALID_ARG";
    case LOOM_E_NOT_FOUND: return "LOOM_E_NOT_FOUND";
    case LOOM_E_UNSUPPORTED: return "LOOM_E_UNSUPPORTED";
    case LOOM_E_OOM: return "LOOM_E_OOM";
    case LOOM_E_DIST: return "LOOM_E_DIST";
    case LOOM_E_CANCELLED: return "LOOM_E_CANCELLED";
    case LOOM_E_TIMEOUT: return "LOOM_E_TIMEOUT";
    case LOOM_E_DATA: return "LOOM_E_DATA";
    default: return "LOOM_E_INTERNAL";
  }
}

void loom_free(void* p) { std::free(p); }

loom_status loom_registry_json(char** out_json) {
  LOOM_API_BEGIN
  loom::capi::CheckOut(out_json, "out_json");
  loom::capi::ReturnString(out_json, loom::train::RegistryReport().dump(), "out_json");
  LOOM_API_END
}

}  // extern "C"
