/* Loom's stable C ABI.
 *
 * Conventions (docs/design/c-abi.md, STYLE.md rules 11-21): every symbol is
 * prefixed loom_/LOOM_; fallible functions return loom_status and write their
 * outputs only on success; details of the last failure on the calling thread
 * are read with loom_last_error_message(). No C++ exception crosses this
 * boundary. This first cut carries versioning and errors; sessions, models and
 * runs arrive with their issues.
 */
#ifndef LOOM_LOOM_H_
#define LOOM_LOOM_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(LOOM_BUILDING_LIBRARY)
#define LOOM_API __attribute__((visibility("default")))
#else
#define LOOM_API
#endif

#define LOOM_VERSION_MAJOR 0
#define LOOM_VERSION_MINOR 1
#define LOOM_VERSION_PATCH 0
/* Bumped on any ABI break; bindings pass it to loom_check_abi. */
#define LOOM_ABI_VERSION 1

/** Status codes: LOOM_OK or a negative code for an expected failure. */
typedef int32_t loom_status;
#define LOOM_OK 0
#define LOOM_E_INVALID_ARG (-1)
#define LOOM_E_NOT_FOUND (-2)
#define LOOM_E_UNSUPPORTED (-3)
#define LOOM_E_OOM (-4)
#define LOOM_E_DIST (-5)
#define LOOM_E_CANCELLED (-6)
#define LOOM_E_INTERNAL (-100)

/** The library version as "MAJOR.MINOR.PATCH". Static storage; never free. */
LOOM_API const char* loom_version(void);

/** Checks that the caller was compiled against a compatible header.
 *  @param[in] abi_version  pass LOOM_ABI_VERSION.
 *  @return LOOM_OK, or LOOM_E_UNSUPPORTED when the library's ABI differs
 *          (the message names both versions). Thread-safe. */
LOOM_API loom_status loom_check_abi(int32_t abi_version);

/** Message of the last failure on the calling thread ("" when none). Valid
 *  until the next loom_* call on this thread. Never NULL. */
LOOM_API const char* loom_last_error_message(void);

/** The name of a status code ("LOOM_E_DIST", ...). Static storage. */
LOOM_API const char* loom_status_name(loom_status status);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_LOOM_H_ */
