/* Checks the ABI and counts the registry's LLM families. */
#include <stdio.h>
#include <string.h>

#include <loom/loom.h>

int main(void) {
  char* json = NULL;
  int llms = 0;
  const char* p;
  if (LOOM_CHECK_ABI() != LOOM_OK || loom_registry_json(&json) != LOOM_OK) {
    fprintf(stderr, "consumer: %s\n", loom_last_error_message());
    return 1;
  }
  for (p = json; (p = strstr(p, "\"kind\":\"llm\"")) != NULL; p++) llms++;
  printf("consumer: libloom %s, ABI ok, %d llm families\n", loom_version(), llms);
  loom_free(json);
  return 0;
}
