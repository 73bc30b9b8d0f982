// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The JSON writer (user/json.c) with outside strings: comm, argv, paths
 * and trigger details are arbitrary bytes. The input is a program for the
 * writer: each byte picks the next call (begin/end an object or array, a
 * key, a string, a number, ...), strings and numbers come from the bytes
 * that follow. The harness keeps the calls legal (keys only where a key
 * goes), so whatever the bytes, the output must be valid JSON: a strict
 * RFC 8259 parser below checks every document, strings as valid UTF-8
 * without raw control characters, and that a valid UTF-8 string without
 * escapes comes back unchanged.
 */
#include <ctype.h>
#include <math.h>

#include "fuzz.h"
#include "json.h"

/* ---- a strict checker ---- */

struct jp {
	const unsigned char *s, *e;
	int depth;
};

static void ws(struct jp *p)
{
	while (p->s < p->e && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
		p->s++;
}

static int utf8_seq(const unsigned char *s, const unsigned char *e)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	int len, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (e - s < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

static bool jstring(struct jp *p)
{
	if (p->s >= p->e || *p->s++ != '"')
		return false;
	while (p->s < p->e && *p->s != '"') {
		int n;

		if (*p->s < 0x20)
			return false;
		if (*p->s == '\\') {
			p->s++;
			if (p->s >= p->e)
				return false;
			if (*p->s == 'u') {
				int i;

				for (i = 1; i <= 4; i++)
					if (p->s + i >= p->e || !isxdigit(p->s[i]))
						return false;
				p->s += 5;
				continue;
			}
			if (!strchr("\"\\/bfnrt", *p->s))
				return false;
			p->s++;
			continue;
		}
		n = utf8_seq(p->s, p->e);
		if (!n)
			return false;
		p->s += n;
	}
	if (p->s >= p->e)
		return false;
	p->s++;
	return true;
}

static bool jnumber(struct jp *p)
{
	const unsigned char *s = p->s;

	if (s < p->e && *s == '-')
		s++;
	if (s >= p->e || !isdigit(*s))
		return false;
	if (*s == '0')
		s++;
	else
		while (s < p->e && isdigit(*s))
			s++;
	if (s < p->e && *s == '.') {
		s++;
		if (s >= p->e || !isdigit(*s))
			return false;
		while (s < p->e && isdigit(*s))
			s++;
	}
	if (s < p->e && (*s == 'e' || *s == 'E')) {
		s++;
		if (s < p->e && (*s == '+' || *s == '-'))
			s++;
		if (s >= p->e || !isdigit(*s))
			return false;
		while (s < p->e && isdigit(*s))
			s++;
	}
	p->s = s;
	return true;
}

static bool jlit(struct jp *p, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(p->e - p->s) < n || memcmp(p->s, lit, n))
		return false;
	p->s += n;
	return true;
}

static bool jvalue(struct jp *p)
{
	bool first = true;

	ws(p);
	if (p->s >= p->e)
		return false;
	switch (*p->s) {
	case '"':
		return jstring(p);
	case '{':
	case '[': {
		unsigned char close = *p->s == '{' ? '}' : ']';
		bool obj = close == '}';

		if (++p->depth > 100000)
			return false;
		p->s++;
		ws(p);
		if (p->s < p->e && *p->s == close) {
			p->s++;
			p->depth--;
			return true;
		}
		for (;;) {
			if (!first) {
				ws(p);
				if (p->s >= p->e || *p->s++ != ',')
					return false;
			}
			first = false;
			if (obj) {
				ws(p);
				if (!jstring(p))
					return false;
				ws(p);
				if (p->s >= p->e || *p->s++ != ':')
					return false;
			}
			if (!jvalue(p))
				return false;
			ws(p);
			if (p->s < p->e && *p->s == close) {
				p->s++;
				p->depth--;
				return true;
			}
		}
	}
	case 't':
		return jlit(p, "true");
	case 'f':
		return jlit(p, "false");
	case 'n':
		return jlit(p, "null");
	default:
		return jnumber(p);
	}
}

/* One or more documents, one per line (the writer's JSON Lines). */
static bool valid_json_lines(const char *buf, size_t len)
{
	struct jp p = { (const unsigned char *)buf, (const unsigned char *)buf + len, 0 };

	if (!len)
		return true;
	while (p.s < p.e) {
		if (!jvalue(&p))
			return false;
		ws(&p);
	}
	return true;
}

/* ---- the writer's program ---- */

/* Where the writer is, so that only legal calls are made. */
enum { K_OBJ = 1, K_ARR = 2 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char stack[256];
	size_t depth = 0, i = 0;
	bool want_key = false, pretty = size && (data[0] & 1);
	char *out = NULL;
	size_t outlen = 0;
	struct json_w *w;
	FILE *f;

	f = open_memstream(&out, &outlen);
	FUZZ_CHECK(f);
	w = json_new(f, pretty);
	FUZZ_CHECK(w);
	if (size)
		i = 1;
	while (i < size) {
		uint8_t op = data[i++];
		size_t n = i < size ? data[i] % 32 : 0;
		const char *str = (const char *)data + (i < size ? i + 1 : size);

		if (n > size - (i < size ? i + 1 : size))
			n = size - (i < size ? i + 1 : size);
		if (want_key) {
			/* Inside an object, a key first (or the object ends). */
			if ((op & 7) == 0) {
				json_obj_end(w);
				depth--;
				want_key = depth && stack[depth - 1] == K_OBJ;
			} else {
				char key[33];

				memcpy(key, str, n);
				key[n] = '\0';
				json_key(w, key);
				i += n + 1;
				want_key = false;
			}
			continue;
		}
		switch (op % 12) {
		case 0:
		case 1:
			if (depth == sizeof(stack)) {
				json_null(w); /* a value is due: too deep for the harness */
				break;
			}
			stack[depth++] = op % 12 == 0 ? K_OBJ : K_ARR;
			if (op % 12 == 0)
				json_obj_begin(w);
			else
				json_arr_begin(w);
			want_key = op % 12 == 0;
			continue;
		case 2:
			if (!depth || stack[depth - 1] != K_ARR)
				json_null(w);
			else {
				json_arr_end(w);
				depth--;
			}
			break;
		case 3:
			json_strn(w, str, n);
			i += n + 1;
			break;
		case 4: {
			char s[33];

			memcpy(s, str, n);
			s[n] = '\0';
			json_str(w, s);
			i += n + 1;
			break;
		}
		case 5:
			json_int(w, (int64_t)fuzz_u64(data, size, i));
			i += 8;
			break;
		case 6:
			json_uint(w, fuzz_u64(data, size, i));
			i += 8;
			break;
		case 7: {
			uint64_t b = fuzz_u64(data, size, i);
			double d;

			memcpy(&d, &b, sizeof(d));
			json_double(w, d);
			i += 8;
			break;
		}
		case 8:
			json_bool(w, op & 0x80);
			break;
		case 9:
			json_str(w, NULL);
			break;
		case 10: {
			/* A valid UTF-8 string without escapes comes back byte for byte. */
			char s[33];
			size_t k;
			bool plain = true;
			long before;

			memcpy(s, str, n);
			s[n] = '\0';
			n = strlen(s);
			for (k = 0; k < n && plain;) {
				int l = utf8_seq((const unsigned char *)s + k,
						 (const unsigned char *)s + n);

				plain = l && (unsigned char)s[k] >= 0x20 && s[k] != '"' &&
					s[k] != '\\';
				k += l ? (size_t)l : 1;
			}
			fflush(f);
			before = ftell(f);
			json_str(w, s);
			fflush(f);
			if (plain && !pretty && depth == 0) {
				/* At top level: the newline between documents, then the string. */
				const char *q = out + before;

				if (*q == '\n')
					q++;
				FUZZ_CHECK(q[0] == '"' && !memcmp(q + 1, s, n) && q[1 + n] == '"');
			}
			i += n + 1;
			break;
		}
		default:
			json_null(w);
			break;
		}
		want_key = depth && stack[depth - 1] == K_OBJ;
	}
	/* The writer closes whatever is open. */
	json_free(w);
	FUZZ_CHECK(fclose(f) == 0);
	if (!valid_json_lines(out, outlen)) {
		fprintf(stderr, "invalid JSON from the writer:\n%.*s\n", (int)outlen, out);
		abort();
	}
	free(out);
	return 0;
}
