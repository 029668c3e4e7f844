#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *p;
  const char *err;
} jp;

static void ws(jp *j) {
  while (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t') j->p++;
}

static jval *newval(jtype t) {
  jval *v = calloc(1, sizeof *v);
  if (!v) abort();
  v->type = t;
  return v;
}

static void push(jval *v, jval *item, char *key) {
  v->items = realloc(v->items, (v->count + 1) * sizeof *v->items);
  if (!v->items) abort();
  v->items[v->count] = item;
  if (v->type == J_OBJ) {
    v->keys = realloc(v->keys, (v->count + 1) * sizeof *v->keys);
    if (!v->keys) abort();
    v->keys[v->count] = key;
  }
  v->count++;
}

static unsigned hex4(jp *j) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = *j->p++;
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else j->err = "bad \\u escape";
  }
  return v;
}

static char *parse_string(jp *j, size_t *out_len) {
  size_t cap = 16, n = 0;
  char *s = malloc(cap);
  if (!s) abort();
  j->p++; /* opening quote */
  while (*j->p && *j->p != '"') {
    unsigned cp;
    if (*j->p == '\\') {
      j->p++;
      char c = *j->p++;
      switch (c) {
        case 'n': cp = '\n'; break;
        case 't': cp = '\t'; break;
        case 'r': cp = '\r'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'u':
          cp = hex4(j);
          if (cp >= 0xD800 && cp <= 0xDBFF && j->p[0] == '\\' && j->p[1] == 'u') {
            j->p += 2;
            unsigned lo = hex4(j);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          break;
        default: cp = (unsigned char)c; break;
      }
    } else {
      cp = (unsigned char)*j->p++;
      if (n + 1 >= cap) {
        cap *= 2;
        s = realloc(s, cap);
        if (!s) abort();
      }
      s[n++] = (char)cp; /* raw UTF-8 byte */
      continue;
    }
    if (n + 5 >= cap) {
      cap = cap * 2 + 8;
      s = realloc(s, cap);
      if (!s) abort();
    }
    if (cp < 0x80) s[n++] = (char)cp;
    else if (cp < 0x800) {
      s[n++] = (char)(0xC0 | (cp >> 6));
      s[n++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s[n++] = (char)(0xE0 | (cp >> 12));
      s[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
      s[n++] = (char)(0x80 | (cp & 0x3F));
    } else {
      s[n++] = (char)(0xF0 | (cp >> 18));
      s[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
      s[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
      s[n++] = (char)(0x80 | (cp & 0x3F));
    }
  }
  if (*j->p != '"') j->err = "unterminated string";
  else j->p++;
  s[n] = '\0';
  *out_len = n;
  return s;
}

static jval *parse_value(jp *j, int depth) {
  ws(j);
  if (depth > 64) {
    j->err = "too deep";
    return NULL;
  }
  char c = *j->p;
  if (c == '{' || c == '[') {
    jval *v = newval(c == '{' ? J_OBJ : J_ARR);
    char close = c == '{' ? '}' : ']';
    j->p++;
    ws(j);
    if (*j->p == close) {
      j->p++;
      return v;
    }
    for (;;) {
      char *key = NULL;
      ws(j);
      if (v->type == J_OBJ) {
        size_t kl;
        if (*j->p != '"') {
          j->err = "expected key";
          return v;
        }
        key = parse_string(j, &kl);
        ws(j);
        if (*j->p != ':') {
          j->err = "expected :";
          return v;
        }
        j->p++;
      }
      jval *item = parse_value(j, depth + 1);
      if (!item) return v;
      push(v, item, key);
      ws(j);
      if (*j->p == ',') {
        j->p++;
        continue;
      }
      if (*j->p == close) {
        j->p++;
        return v;
      }
      j->err = "expected , or close";
      return v;
    }
  }
  if (c == '"') {
    jval *v = newval(J_STR);
    v->str = parse_string(j, &v->len);
    return v;
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    jval *v = newval(J_NUM);
    if (c == '-') {
      v->neg = true;
      j->p++;
    }
    while (*j->p >= '0' && *j->p <= '9') v->num = v->num * 10u + (uint64_t)(*j->p++ - '0');
    return v;
  }
  if (strncmp(j->p, "true", 4) == 0 || strncmp(j->p, "false", 5) == 0) {
    jval *v = newval(J_BOOL);
    v->b = c == 't';
    j->p += v->b ? 4 : 5;
    return v;
  }
  if (strncmp(j->p, "null", 4) == 0) {
    j->p += 4;
    return newval(J_NULL);
  }
  j->err = "unexpected character";
  return NULL;
}

jval *json_parse(const char *text, const char **error) {
  jp j = {text, NULL};
  jval *v = parse_value(&j, 0);
  *error = j.err;
  return v;
}

jval *json_get(const jval *obj, const char *key) {
  if (!obj || obj->type != J_OBJ) return NULL;
  for (size_t i = 0; i < obj->count; i++)
    if (strcmp(obj->keys[i], key) == 0) return obj->items[i];
  return NULL;
}

void json_free(jval *v) {
  if (!v) return;
  for (size_t i = 0; i < v->count; i++) {
    json_free(v->items[i]);
    if (v->keys) free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  free(v->str);
  free(v);
}

char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (!buf) abort();
  size_t got = fread(buf, 1, (size_t)n, f);
  fclose(f);
  buf[got] = '\0';
  if (len) *len = got;
  return buf;
}
