/* A minimal JSON reader for the test vectors (test code only; not part of the firmware). */
#ifndef WB_TEST_JSON_H
#define WB_TEST_JSON_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
  jtype type;
  bool b;
  uint64_t num; /* non-negative integers only (all the vectors need) */
  bool neg;
  char *str;    /* UTF-8, NUL-terminated; len excludes NUL (may contain no NULs in vectors) */
  size_t len;
  size_t count;        /* array items / object members */
  struct jval **items; /* array items or object values */
  char **keys;         /* object keys */
} jval;

jval *json_parse(const char *text, const char **error);
jval *json_get(const jval *obj, const char *key); /* NULL if absent */
void json_free(jval *v);
char *read_file(const char *path, size_t *len);

#endif
