/* Tiny test harness shared by the firmware unit tests. */
#ifndef WB_TESTUTIL_H
#define WB_TESTUTIL_H
#include <stdio.h>

extern int g_checks, g_failures;

#define CHECK(cond, ...)                                              \
  do {                                                                \
    g_checks++;                                                       \
    if (!(cond)) {                                                    \
      g_failures++;                                                   \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                   \
      fputc('\n', stderr);                                            \
    }                                                                 \
  } while (0)

#endif
