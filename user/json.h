/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A small streaming JSON writer. It tracks nesting and commas so callers
 * only say what comes next. Strings are escaped and made valid UTF-8:
 * comm and argv come from the kernel as arbitrary bytes.
 */
#ifndef ST_JSON_H
#define ST_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct json_w;

/* pretty: two-space indentation and newlines; else one compact line. */
struct json_w *json_new(FILE *out, bool pretty);
/* Ends the document (a newline after the top-level value) and frees. */
void json_free(struct json_w *w);

void json_obj_begin(struct json_w *w);
void json_obj_end(struct json_w *w);
void json_arr_begin(struct json_w *w);
void json_arr_end(struct json_w *w);
void json_key(struct json_w *w, const char *key);

void json_str(struct json_w *w, const char *s); /* NULL writes null */
void json_strn(struct json_w *w, const char *s, size_t n);
void json_int(struct json_w *w, int64_t v);
void json_uint(struct json_w *w, uint64_t v);
/* Non-finite values are written as null; others with up to 6 decimals, trimmed. */
void json_double(struct json_w *w, double v);
void json_bool(struct json_w *w, bool v);
void json_null(struct json_w *w);

/* key + value in one call */
void json_kstr(struct json_w *w, const char *k, const char *v);
void json_kint(struct json_w *w, const char *k, int64_t v);
void json_kuint(struct json_w *w, const char *k, uint64_t v);
void json_kdouble(struct json_w *w, const char *k, double v);
void json_kbool(struct json_w *w, const char *k, bool v);
void json_knull(struct json_w *w, const char *k);

#endif
