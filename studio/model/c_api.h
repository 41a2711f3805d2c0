// The studio's side of the C ABI: RAII for the handles and strings it uses,
// and status -> exception. The studio links libloom.so and includes only
// loom/loom.h (STYLE rule 6: it talks to the core as a binding would).
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "loom/loom.h"

namespace loom::studio {

// A failed loom_* call: its status and the library's message.
struct ApiError : std::runtime_error {
  ApiError(loom_status s, const std::string& what) : std::runtime_error(what), status(s) {}
  loom_status status;
};

// Throws ApiError unless `s` is LOOM_OK; `call` names the function.
void Check(loom_status s, const char* call);

// Takes a string the library returned (loom_free's it).
std::string Take(char* s);
inline nlohmann::json TakeJson(char* s) { return nlohmann::json::parse(Take(s)); }

struct ConfigDeleter {
  void operator()(loom_config* c) const { loom_config_destroy(c); }
};
struct StoreDeleter {
  void operator()(loom_store* s) const { loom_store_destroy(s); }
};
using ConfigPtr = std::unique_ptr<loom_config, ConfigDeleter>;
using StorePtr = std::unique_ptr<loom_store, StoreDeleter>;

}  // namespace loom::studio
