// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define JSON_DEPTH_INIT 64

enum { CTX_OBJ = 1, CTX_ARR = 2 };

struct json_w {
	FILE *out;
	bool pretty;
	bool after_key; /* a key was written, its value comes next */
	bool wrote_top; /* a top-level value exists (json_free adds the newline) */
	bool broken; /* nesting stack could not grow: stop writing */
	size_t depth;
	size_t cap;
	/* per open container: CTX_* and whether it has elements yet */
	unsigned char *kind;
	bool *nonempty;
};

struct json_w *json_new(FILE *out, bool pretty)
{
	struct json_w *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->out = out;
	w->pretty = pretty;
	w->cap = JSON_DEPTH_INIT;
	w->kind = malloc(w->cap);
	w->nonempty = malloc(w->cap * sizeof(*w->nonempty));
	if (!w->kind || !w->nonempty) {
		free(w->kind);
		free(w->nonempty);
		free(w);
		return NULL;
	}
	return w;
}

static void newline_indent(struct json_w *w, size_t depth)
{
	size_t i;

	fputc('\n', w->out);
	for (i = 0; i < depth; i++)
		fputs("  ", w->out);
}

/* Separator and indentation before a value or key at the current level. */
static void pre_item(struct json_w *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (!w->depth) {
		/* Several top-level values become JSON Lines, not one invalid doc. */
		if (w->wrote_top)
			fputc('\n', w->out);
		w->wrote_top = true;
		return;
	}
	if (w->nonempty[w->depth - 1])
		fputc(',', w->out);
	w->nonempty[w->depth - 1] = true;
	if (w->pretty)
		newline_indent(w, w->depth);
}

static void push(struct json_w *w, unsigned char kind, char open)
{
	if (w->broken)
		return;
	if (w->depth == w->cap) {
		size_t ncap = w->cap * 2;
		unsigned char *k = realloc(w->kind, ncap);

		if (k)
			w->kind = k;
		bool *n = k ? realloc(w->nonempty, ncap * sizeof(*n)) : NULL;

		if (!n) {
			w->broken = true;
			return;
		}
		w->nonempty = n;
		w->cap = ncap;
	}
	pre_item(w);
	fputc(open, w->out);
	w->kind[w->depth] = kind;
	w->nonempty[w->depth] = false;
	w->depth++;
}

static void pop(struct json_w *w, unsigned char kind, char close)
{
	/* An unmatched end is a caller bug; ignoring it keeps the output valid. */
	if (w->broken || !w->depth || w->kind[w->depth - 1] != kind)
		return;
	if (w->after_key) {
		/* A key without a value: give it one so the object stays valid. */
		fputs("null", w->out);
		w->after_key = false;
	}
	w->depth--;
	if (w->pretty && w->nonempty[w->depth])
		newline_indent(w, w->depth);
	fputc(close, w->out);
}

void json_free(struct json_w *w)
{
	if (!w)
		return;
	/* Close what the caller left open so the document still parses. */
	while (!w->broken && w->depth)
		pop(w, w->kind[w->depth - 1], w->kind[w->depth - 1] == CTX_OBJ ? '}' : ']');
	if (w->wrote_top)
		fputc('\n', w->out);
	free(w->kind);
	free(w->nonempty);
	free(w);
}

void json_obj_begin(struct json_w *w)
{
	push(w, CTX_OBJ, '{');
}

void json_obj_end(struct json_w *w)
{
	pop(w, CTX_OBJ, '}');
}

void json_arr_begin(struct json_w *w)
{
	push(w, CTX_ARR, '[');
}

void json_arr_end(struct json_w *w)
{
	pop(w, CTX_ARR, ']');
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* UTF-16 surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		return 0; /* continuation byte, 0xc0/0xc1 or 0xf5.. */
	}
	if (len > n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

static void write_string(FILE *out, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0; /* s[run..i) is copied verbatim */

	fputc('"', out);
	while (i < n) {
		unsigned char c = s[i];
		const char *esc = NULL;
		char buf[8];
		size_t len = 1;

		if (c == '"') {
			esc = "\\\"";
		} else if (c == '\\') {
			esc = "\\\\";
		} else if (c < 0x20) {
			switch (c) {
			case '\n':
				esc = "\\n";
				break;
			case '\t':
				esc = "\\t";
				break;
			case '\r':
				esc = "\\r";
				break;
			case '\b':
				esc = "\\b";
				break;
			case '\f':
				esc = "\\f";
				break;
			default:
				snprintf(buf, sizeof(buf), "\\u%04x", c);
				esc = buf;
			}
		} else if (c >= 0x80) {
			len = utf8_len(s + i, n - i);
			if (!len) {
				/* One replacement per bad byte, then resync on the next. */
				esc = "\\ufffd";
				len = 1;
			}
		}
		if (esc) {
			fwrite(s + run, 1, i - run, out);
			fputs(esc, out);
			run = i + len;
		}
		i += len;
	}
	fwrite(s + run, 1, i - run, out);
	fputc('"', out);
}

void json_key(struct json_w *w, const char *key)
{
	if (w->broken)
		return;
	pre_item(w);
	write_string(w->out, key ? key : "", key ? strlen(key) : 0);
	fputs(w->pretty ? ": " : ":", w->out);
	w->after_key = true;
}

void json_strn(struct json_w *w, const char *s, size_t n)
{
	if (w->broken)
		return;
	if (!s) {
		json_null(w);
		return;
	}
	pre_item(w);
	write_string(w->out, s, strnlen(s, n));
}

void json_str(struct json_w *w, const char *s)
{
	json_strn(w, s, s ? strlen(s) : 0);
}

void json_int(struct json_w *w, int64_t v)
{
	if (w->broken)
		return;
	pre_item(w);
	fprintf(w->out, "%" PRId64, v);
}

void json_uint(struct json_w *w, uint64_t v)
{
	if (w->broken)
		return;
	pre_item(w);
	fprintf(w->out, "%" PRIu64, v);
}

void json_double(struct json_w *w, double v)
{
	/* %.6f of DBL_MAX is 309 digits + ".000000": no exponent, fits. */
	char buf[400];
	char *p, *end;

	if (!isfinite(v)) {
		json_null(w);
		return;
	}
	if (w->broken)
		return;
	snprintf(buf, sizeof(buf), "%.6f", v);
	/* A locale may have made the decimal point a comma; JSON wants '.'. */
	for (p = buf; *p; p++)
		if (*p != '-' && (*p < '0' || *p > '9'))
			*p = '.';
	end = strchr(buf, '.');
	if (end) {
		p = end + strlen(end);
		while (p > end && p[-1] == '0')
			p--;
		if (p == end + 1)
			p = end; /* drop a bare '.' */
		*p = '\0';
	}
	pre_item(w);
	/* Tiny negatives round to "-0"; plain 0 reads better. */
	fputs(strcmp(buf, "-0") ? buf : "0", w->out);
}

void json_bool(struct json_w *w, bool v)
{
	if (w->broken)
		return;
	pre_item(w);
	fputs(v ? "true" : "false", w->out);
}

void json_null(struct json_w *w)
{
	if (w->broken)
		return;
	pre_item(w);
	fputs("null", w->out);
}

void json_kstr(struct json_w *w, const char *k, const char *v)
{
	json_key(w, k);
	json_str(w, v);
}

void json_kint(struct json_w *w, const char *k, int64_t v)
{
	json_key(w, k);
	json_int(w, v);
}

void json_kuint(struct json_w *w, const char *k, uint64_t v)
{
	json_key(w, k);
	json_uint(w, v);
}

void json_kdouble(struct json_w *w, const char *k, double v)
{
	json_key(w, k);
	json_double(w, v);
}

void json_kbool(struct json_w *w, const char *k, bool v)
{
	json_key(w, k);
	json_bool(w, v);
}

void json_knull(struct json_w *w, const char *k)
{
	json_key(w, k);
	json_null(w);
}
