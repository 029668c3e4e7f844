/* Runs the firmware unit tests: test_main <test/vectors dir> */
#include <stdio.h>
#include <time.h>

#include "testutil.h"

int g_checks, g_failures;

int test_valid_vectors(const char *dir);
int test_invalid_vectors(const char *dir);
int test_frame_vectors(const char *dir);
int test_encoder_rejects(void);
int test_blocks(void);
int test_device(void);
int test_wasm(void);
int test_enrollment(void);

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "test/vectors";
  struct {
    const char *name;
    int count;
  } results[10];
  int r = 0;
  results[r].name = "valid message vectors";
  results[r++].count = test_valid_vectors(dir);
  results[r].name = "invalid message vectors";
  results[r++].count = test_invalid_vectors(dir);
  results[r].name = "frame vectors";
  results[r++].count = test_frame_vectors(dir);
  results[r].name = "encoder validation cases";
  results[r++].count = test_encoder_rejects();
  results[r].name = "memory block cases";
  results[r++].count = test_blocks();
  results[r].name = "device state machine cases";
  results[r++].count = test_device();
  results[r].name = "enrollment cases";
  results[r++].count = test_enrollment();
  results[r].name = "wasm runtime cases";
  results[r++].count = test_wasm();
  for (int i = 0; i < r; i++) printf("  %-30s %d\n", results[i].name, results[i].count);
  printf("%d checks, %d failures\n", g_checks, g_failures);
  if (g_failures == 0) printf("ALL FIRMWARE UNIT TESTS PASSED\n");
  return g_failures == 0 ? 0 : 1;
}
