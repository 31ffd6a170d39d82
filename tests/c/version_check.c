/* Prints fg_version() and fails unless it equals the header's FG_VERSION_* macros. */
#include <stdio.h>
#include <string.h>

#include "fabgossip.h"

int main(void) {
  char macros[64];
  snprintf(macros, sizeof macros, "%d.%d.%d", FG_VERSION_MAJOR, FG_VERSION_MINOR,
           FG_VERSION_PATCH);
  printf("%s\n", fg_version());
  if (strcmp(fg_version(), macros) != 0) {
    fprintf(stderr, "fg_version() is %s but the header says %s\n", fg_version(), macros);
    return 1;
  }
  return 0;
}
