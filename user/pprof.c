// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * profile.proto written by hand: the few messages a CPU profile needs are
 * varints and length-delimited fields, not worth a protobuf library.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST
#include <zlib.h>

#include "stacks.h"

/* Field numbers from github.com/google/pprof/proto/profile.proto. */
enum {
	PROFILE_SAMPLE_TYPE = 1,
	PROFILE_SAMPLE = 2,
	PROFILE_LOCATION = 4,
	PROFILE_FUNCTION = 5,
	PROFILE_STRING_TABLE = 6,
	PROFILE_TIME_NANOS = 9,
	PROFILE_DURATION_NANOS = 10,
	PROFILE_PERIOD_TYPE = 11,
	PROFILE_PERIOD = 12,
	PROFILE_COMMENT = 13,
	PROFILE_DEFAULT_SAMPLE_TYPE = 14,
	VALUETYPE_TYPE = 1,
	VALUETYPE_UNIT = 2,
	SAMPLE_LOCATION_ID = 1,
	SAMPLE_VALUE = 2,
	LOCATION_ID = 1,
	LOCATION_LINE = 4,
	LINE_FUNCTION_ID = 1,
	FUNCTION_ID = 1,
	FUNCTION_NAME = 2,
	FUNCTION_SYSTEM_NAME = 3,
};

enum { WIRE_VARINT = 0, WIRE_LEN = 2 };

/* Fixed string table head; frame names follow, name of location id i at STR_FRAMES + i - 1. */
static const char *const fixed_strs[] = { "", "samples", "count", "cpu", "nanoseconds", "cause" };
enum { STR_SAMPLES = 1, STR_COUNT, STR_CPU, STR_NANOSECONDS, STR_CAUSE, STR_FRAMES };

/*
 * A growable byte buffer, or a fixed one on the stack for a small message;
 * oom sticks so callers check once at the end.
 */
struct pb {
	uint8_t *p;
	size_t len, cap;
	bool fixed;
	bool oom;
};

/* Room for a small message's fields: a tag and a varint each. */
#define PB_FIELD_MAX 11

/* A buffer on the caller's stack: overflowing it is oom, never realloc. */
static struct pb pb_fixed(uint8_t *buf, size_t cap)
{
	struct pb b = { .p = buf, .cap = cap, .fixed = true };

	return b;
}

static bool pb_reserve(struct pb *b, size_t n)
{
	size_t ncap = b->cap ? b->cap : 256;
	uint8_t *np;

	if (b->oom)
		return false;
	if (b->len + n <= b->cap)
		return true;
	if (b->fixed) {
		b->oom = true;
		return false;
	}
	while (ncap < b->len + n)
		ncap *= 2;
	np = realloc(b->p, ncap);
	if (!np) {
		b->oom = true;
		return false;
	}
	b->p = np;
	b->cap = ncap;
	return true;
}

static void pb_bytes(struct pb *b, const void *d, size_t n)
{
	if (n && pb_reserve(b, n)) {
		memcpy(b->p + b->len, d, n);
		b->len += n;
	}
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void pb_varint(struct pb *b, uint64_t v)
{
	if (!pb_reserve(b, varint_len(v)))
		return;
	while (v >= 0x80) {
		b->p[b->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b->p[b->len++] = (uint8_t)v;
}

static void pb_tag(struct pb *b, unsigned int field, unsigned int wire)
{
	pb_varint(b, (uint64_t)field << 3 | wire);
}

/* A varint field; proto3 leaves zero scalars out. */
static void pb_uint(struct pb *b, unsigned int field, uint64_t v)
{
	if (!v)
		return;
	pb_tag(b, field, WIRE_VARINT);
	pb_varint(b, v);
}

static void pb_lenfield(struct pb *b, unsigned int field, const void *d, size_t n)
{
	pb_tag(b, field, WIRE_LEN);
	pb_varint(b, n);
	pb_bytes(b, d, n);
}

/* A sub-message as a length-delimited field. */
static void pb_msg(struct pb *b, unsigned int field, const struct pb *sub)
{
	if (sub->oom)
		b->oom = true;
	pb_lenfield(b, field, sub->p, sub->len);
}

static int64_t clamp_i64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* A ValueType {type, unit} as field number field. */
static void pb_value_type(struct pb *b, unsigned int field, uint64_t type, uint64_t unit)
{
	uint8_t m[2 * PB_FIELD_MAX];
	struct pb sub = pb_fixed(m, sizeof(m));

	pb_uint(&sub, VALUETYPE_TYPE, type);
	pb_uint(&sub, VALUETYPE_UNIT, unit);
	pb_msg(b, field, &sub);
}

/* Sample: location ids leaf first (the stack is stored root first), [count, cpu ns]. */
static void pb_sample(struct pb *b, struct pb *tmp, const struct stk *k, const uint32_t *loc,
		      uint64_t period_ns)
{
	uint64_t vals[2] = { k->count, k->count * period_ns };
	size_t n = 0;
	uint32_t i;

	if (period_ns && vals[1] / period_ns != k->count)
		vals[1] = UINT64_MAX; /* clamped below */
	vals[0] = (uint64_t)clamp_i64(vals[0]);
	vals[1] = (uint64_t)clamp_i64(vals[1]);
	tmp->len = 0;
	for (i = 0; i < k->nframes; i++)
		n += varint_len(loc[k->frames[i]]);
	if (n) {
		pb_tag(tmp, SAMPLE_LOCATION_ID, WIRE_LEN);
		pb_varint(tmp, n);
		for (i = k->nframes; i-- > 0;)
			pb_varint(tmp, loc[k->frames[i]]);
	}
	pb_tag(tmp, SAMPLE_VALUE, WIRE_LEN);
	pb_varint(tmp, varint_len(vals[0]) + varint_len(vals[1]));
	pb_varint(tmp, vals[0]);
	pb_varint(tmp, vals[1]);
	pb_msg(b, PROFILE_SAMPLE, tmp);
}

/* Location id and Function id are the same number; no address, one Line. */
static void pb_location(struct pb *b, uint64_t id)
{
	uint8_t line[PB_FIELD_MAX], m[3 * PB_FIELD_MAX];
	struct pb l = pb_fixed(line, sizeof(line));
	struct pb sub = pb_fixed(m, sizeof(m));

	pb_uint(&l, LINE_FUNCTION_ID, id);
	pb_uint(&sub, LOCATION_ID, id);
	pb_msg(&sub, LOCATION_LINE, &l);
	pb_msg(b, PROFILE_LOCATION, &sub);
}

static void pb_function(struct pb *b, uint64_t id, bool cause)
{
	uint64_t name = STR_FRAMES + id - 1;
	uint8_t m[3 * PB_FIELD_MAX];
	struct pb sub = pb_fixed(m, sizeof(m));

	pb_uint(&sub, FUNCTION_ID, id);
	pb_uint(&sub, FUNCTION_NAME, name);
	pb_uint(&sub, FUNCTION_SYSTEM_NAME, cause ? STR_CAUSE : name);
	pb_msg(b, PROFILE_FUNCTION, &sub);
}

/*
 * Numbers the frames the stacks use 1.. in frame id order: loc[frame] is the
 * location id (0: unused), order[i - 1] the frame of location i. A frame used
 * as a cause anywhere is a cause function (one Function per frame).
 */
static size_t number_frames(const struct stackset *s, uint32_t *loc, uint32_t *order, bool *cause)
{
	size_t i, n = 0;
	uint32_t j;

	for (i = 0; i < s->n; i++) {
		for (j = 0; j < s->v[i].nframes; j++) {
			loc[s->v[i].frames[j]] = 1;
			if (j < s->v[i].ncause)
				cause[s->v[i].frames[j]] = true;
		}
	}
	for (i = 0; i < s->nnames; i++) {
		if (!loc[i])
			continue;
		order[n] = (uint32_t)i;
		loc[i] = (uint32_t)++n;
	}
	return n;
}

static void pb_profile(struct pb *b, struct pb *tmp, const struct stackset *s, const uint32_t *loc,
		       const uint32_t *order, const bool *cause, size_t nloc)
{
	size_t i;

	pb_value_type(b, PROFILE_SAMPLE_TYPE, STR_SAMPLES, STR_COUNT);
	pb_value_type(b, PROFILE_SAMPLE_TYPE, STR_CPU, STR_NANOSECONDS);
	for (i = 0; i < s->n; i++)
		pb_sample(b, tmp, &s->v[i], loc, s->period_ns);
	for (i = 1; i <= nloc; i++)
		pb_location(b, i);
	for (i = 1; i <= nloc; i++)
		pb_function(b, i, cause[order[i - 1]]);
	for (i = 0; i < ARRAY_SIZE(fixed_strs); i++)
		pb_lenfield(b, PROFILE_STRING_TABLE, fixed_strs[i], strlen(fixed_strs[i]));
	for (i = 0; i < nloc; i++) {
		const char *name = s->names[order[i]];

		pb_lenfield(b, PROFILE_STRING_TABLE, name, strlen(name));
	}
	/* The comment is the last string: `go tool pprof -comments` prints it. */
	if (s->comment[0]) {
		pb_lenfield(b, PROFILE_STRING_TABLE, s->comment, strlen(s->comment));
		pb_uint(b, PROFILE_COMMENT, STR_FRAMES + nloc);
	}
}

static int write_err(void)
{
	return errno ? -errno : -EIO;
}

/* gzip (windowBits 15 + 16) of p[0..n) to out; 0, -ENOMEM, -EIO or -errno. */
static int gz_write(FILE *out, const uint8_t *p, size_t n)
{
	z_stream z = { 0 };
	uint8_t buf[16384];
	int zr;

	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -ENOMEM;
	z.next_in = p;
	errno = 0;
	do {
		/* avail_in is a uInt: feed a huge buffer in pieces. */
		if (!z.avail_in && n) {
			z.avail_in = n > (1u << 30) ? (1u << 30) : (uInt)n;
			n -= z.avail_in;
		}
		z.next_out = buf;
		z.avail_out = sizeof(buf);
		zr = deflate(&z, n ? Z_NO_FLUSH : Z_FINISH);
		if (zr == Z_STREAM_ERROR)
			break;
		if (fwrite(buf, 1, sizeof(buf) - z.avail_out, out) != sizeof(buf) - z.avail_out)
			break;
	} while (zr != Z_STREAM_END);
	deflateEnd(&z);
	if (zr != Z_STREAM_END && !ferror(out))
		return -EIO;
	if (fflush(out) || ferror(out))
		return write_err();
	return 0;
}

int pprof_write(FILE *out, const struct stackset *s, uint64_t start_real_ns, uint64_t duration_ns)
{
	uint32_t *loc = calloc(s->nnames + 1, sizeof(*loc));
	uint32_t *order = calloc(s->nnames + 1, sizeof(*order));
	bool *cause = calloc(s->nnames + 1, sizeof(*cause));
	struct pb b = { 0 }, tmp = { 0 };
	int err = -ENOMEM;
	size_t nloc;

	if (!loc || !order || !cause)
		goto out;
	nloc = number_frames(s, loc, order, cause);
	pb_profile(&b, &tmp, s, loc, order, cause, nloc);
	pb_uint(&b, PROFILE_TIME_NANOS, (uint64_t)clamp_i64(start_real_ns));
	pb_uint(&b, PROFILE_DURATION_NANOS, (uint64_t)clamp_i64(duration_ns));
	pb_value_type(&b, PROFILE_PERIOD_TYPE, STR_CPU, STR_NANOSECONDS);
	pb_uint(&b, PROFILE_PERIOD, (uint64_t)clamp_i64(s->period_ns));
	pb_uint(&b, PROFILE_DEFAULT_SAMPLE_TYPE, STR_CPU);
	if (!b.oom && !tmp.oom)
		err = gz_write(out, b.p, b.len);
out:
	free(loc);
	free(order);
	free(cause);
	free(b.p);
	free(tmp.p);
	return err;
}
