/* A plain C99 program over Loom's public header: versioning and errors. */
#include <stdio.h>
#include <string.h>

#include "loom/loom.h"

#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      return 1;                                                       \
    }                                                                 \
  } while (0)

int main(void) {
  CHECK(strcmp(loom_version(), "0.1.0") == 0);
  CHECK(loom_check_abi(LOOM_ABI_VERSION) == LOOM_OK);
  CHECK(strcmp(loom_last_error_message(), "") == 0);
  CHECK(loom_check_abi(LOOM_ABI_VERSION + 1) == LOOM_E_UNSUPPORTED);
  CHECK(strstr(loom_last_error_message(), "rebuild the caller") != NULL);
  CHECK(strcmp(loom_status_name(LOOM_E_DIST), "LOOM_E_DIST") == 0);
  printf("1 passed, 0 failed\n");
  return 0;
}
