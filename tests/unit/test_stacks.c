// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "stacks.h"

#define PERIOD_NS 10000000ULL /* 100 Hz */

static uint32_t frame(struct stackset *s, const char *name)
{
	uint32_t id = stackset_frame(s, name);

	assert_int_not_equal(id, UINT32_MAX);
	return id;
}

/* Adds the stack named by a NULL-terminated list of frame names. */
static void add_names(struct stackset *s, size_t ncause, uint64_t count, ...)
{
	uint32_t ids[32];
	size_t n = 0;
	const char *name;
	va_list ap;

	va_start(ap, count);
	while ((name = va_arg(ap, const char *)) && n < ARRAY_SIZE(ids))
		ids[n++] = frame(s, name);
	va_end(ap);
	assert_int_equal(stackset_add(s, ids, n, ncause, count), 0);
}

static void test_intern(void **state)
{
	struct stackset s;
	char name[32];
	uint32_t i;

	stackset_init(&s, PERIOD_NS);
	assert_int_equal(frame(&s, "main"), 0);
	assert_int_equal(frame(&s, "work"), 1);
	assert_int_equal(frame(&s, "main"), 0);
	assert_int_equal(frame(&s, ""), 2);
	for (i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "fn_%u", i);
		assert_int_equal(frame(&s, name), i + 3);
	}
	for (i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "fn_%u", i);
		assert_int_equal(frame(&s, name), i + 3);
		assert_string_equal(s.names[i + 3], name);
	}
	assert_int_equal(s.nnames, 20003);
	stackset_free(&s);
}

static void test_merge(void **state)
{
	struct stackset s;
	uint32_t bad[2] = { 0, 99 };

	stackset_init(&s, PERIOD_NS);
	add_names(&s, 0, 3, "main", "work", NULL);
	add_names(&s, 0, 4, "main", "work", NULL);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.v[0].count, 7);
	assert_int_equal(s.v[0].nframes, 2);
	/* Same ids, but "main" is a cause frame here: a different stack. */
	add_names(&s, 1, 2, "main", "work", NULL);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.v[1].ncause, 1);
	/* A prefix is a different stack too, and so is the empty one. */
	add_names(&s, 0, 1, "main", NULL);
	add_names(&s, 0, 5, NULL);
	add_names(&s, 0, 5, NULL);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.v[3].count, 10);
	assert_int_equal(s.total, 7 + 2 + 1 + 10);
	/* Count 0 adds nothing; unknown ids or ncause > n are refused. */
	add_names(&s, 0, 0, "never", NULL);
	assert_int_equal(s.n, 4);
	assert_int_equal(stackset_add(&s, bad, 2, 0, 1), -EINVAL);
	assert_int_equal(stackset_add(&s, bad, 1, 2, 1), -EINVAL);
	assert_int_equal(s.total, 20);
	stackset_free(&s);
}

static char *folded_text(const struct stackset *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(folded_write(f, s), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void test_folded(void **state)
{
	struct stackset s;
	char *text;

	stackset_init(&s, PERIOD_NS);
	add_names(&s, 0, 3, "main", "b", NULL);
	add_names(&s, 0, 2, "main", NULL);
	add_names(&s, 1, 4, "job:x", "main", "a;b", NULL);
	add_names(&s, 0, 1, "main", "x\ny\rz", NULL);
	add_names(&s, 0, 9, NULL);
	add_names(&s, 0, 1, "Main", NULL);
	add_names(&s, 0, 6, "main", "a", "c", NULL);
	/* "main;a;c" only as cause frames: the same text, one line. */
	add_names(&s, 2, 1, "main", "a", "c", NULL);
	text = folded_text(&s);
	assert_string_equal(text, "Main 1\n"
				  "job:x;main;a:b 4\n"
				  "main 2\n"
				  "main;a;c 7\n"
				  "main;b 3\n"
				  "main;x y z 1\n");
	free(text);
	stackset_free(&s);

	stackset_init(&s, PERIOD_NS);
	text = folded_text(&s);
	assert_string_equal(text, "");
	free(text);
	stackset_free(&s);
}

static void test_write_errors(void **state)
{
	struct stackset s;
	FILE *f;

	stackset_init(&s, PERIOD_NS);
	add_names(&s, 0, 3, "main", "b", NULL);
	f = fopen("/dev/full", "w");
	assert_non_null(f);
	assert_int_equal(folded_write(f, &s), -ENOSPC);
	clearerr(f);
	assert_int_equal(pprof_write(f, &s, 1, 1), -ENOSPC);
	fclose(f);
	stackset_free(&s);
}

/* A minimal protobuf reader: enough to walk profile.proto messages. */
struct rd {
	const uint8_t *p, *end;
};

static uint64_t rd_varint(struct rd *r)
{
	uint64_t v = 0;
	unsigned int shift = 0;

	for (;;) {
		assert_true(r->p < r->end && shift < 64);
		v |= (uint64_t)(*r->p & 0x7f) << shift;
		shift += 7;
		if (!(*r->p++ & 0x80))
			return v;
	}
}

/* Next field: varints in *v, length-delimited bytes in *sub. false at the end. */
static bool rd_field(struct rd *r, unsigned int *field, uint64_t *v, struct rd *sub)
{
	uint64_t key;

	if (r->p == r->end)
		return false;
	key = rd_varint(r);
	*field = (unsigned int)(key >> 3);
	assert_true(*field > 0);
	switch (key & 7) {
	case 0:
		*v = rd_varint(r);
		sub->p = sub->end = NULL;
		break;
	case 2:
		*v = rd_varint(r);
		assert_true(*v <= (uint64_t)(r->end - r->p));
		sub->p = r->p;
		sub->end = r->p + *v;
		r->p += *v;
		break;
	default:
		fail_msg("unexpected wire type %u", (unsigned int)(key & 7));
	}
	return true;
}

/* Appends a repeated varint field, packed (sub set) or not. */
static void rd_repeated(uint64_t *out, size_t *n, size_t max, uint64_t v, struct rd *sub)
{
	if (!sub->p) {
		assert_true(*n < max);
		out[(*n)++] = v;
		return;
	}
	while (sub->p < sub->end) {
		assert_true(*n < max);
		out[(*n)++] = rd_varint(sub);
	}
}

#define MAX_LOCS 64

struct psample {
	uint64_t locs[MAX_LOCS];
	size_t nlocs;
	uint64_t vals[4];
	size_t nvals;
};

struct pfunc {
	uint64_t id, name, system_name;
};

struct ploc {
	uint64_t id, function_id;
	size_t nlines;
};

struct prof {
	char **strs;
	size_t nstrs;
	uint64_t st_type[4], st_unit[4];
	size_t nst;
	struct psample *samples;
	size_t nsamples;
	struct ploc *locs;
	size_t nlocs;
	struct pfunc *funcs;
	size_t nfuncs;
	uint64_t time_nanos, duration_nanos, period, pt_type, pt_unit, default_st, comment;
	size_t ncomments;
};

static void *push(void *arr, size_t *n, size_t elem)
{
	char *p = realloc(arr, (*n + 1) * elem);

	assert_non_null(p);
	memset(p + *n * elem, 0, elem);
	(*n)++;
	return p;
}

static void rd_value_type(struct rd *r, uint64_t *type, uint64_t *unit)
{
	struct rd sub;
	unsigned int f;
	uint64_t v;

	while (rd_field(r, &f, &v, &sub)) {
		if (f == 1)
			*type = v;
		else if (f == 2)
			*unit = v;
	}
}

static void rd_sample(struct rd *r, struct psample *ps)
{
	struct rd sub;
	unsigned int f;
	uint64_t v;

	while (rd_field(r, &f, &v, &sub)) {
		if (f == 1)
			rd_repeated(ps->locs, &ps->nlocs, MAX_LOCS, v, &sub);
		else if (f == 2)
			rd_repeated(ps->vals, &ps->nvals, ARRAY_SIZE(ps->vals), v, &sub);
	}
}

static void rd_location(struct rd *r, struct ploc *pl)
{
	struct rd sub, line;
	unsigned int f, lf;
	uint64_t v, lv;

	while (rd_field(r, &f, &v, &sub)) {
		if (f == 1) {
			pl->id = v;
		} else if (f == 4) {
			pl->nlines++;
			while (rd_field(&sub, &lf, &lv, &line))
				if (lf == 1)
					pl->function_id = lv;
		} else {
			fail_msg("unexpected Location field %u", f);
		}
	}
}

static void rd_function(struct rd *r, struct pfunc *pf)
{
	struct rd sub;
	unsigned int f;
	uint64_t v;

	while (rd_field(r, &f, &v, &sub)) {
		if (f == 1)
			pf->id = v;
		else if (f == 2)
			pf->name = v;
		else if (f == 3)
			pf->system_name = v;
	}
}

static void rd_profile_field(struct prof *p, unsigned int f, uint64_t v, struct rd *sub)
{
	switch (f) {
	case 1:
		assert_true(p->nst < ARRAY_SIZE(p->st_type));
		rd_value_type(sub, &p->st_type[p->nst], &p->st_unit[p->nst]);
		p->nst++;
		break;
	case 2:
		p->samples = push(p->samples, &p->nsamples, sizeof(*p->samples));
		rd_sample(sub, &p->samples[p->nsamples - 1]);
		break;
	case 4:
		p->locs = push(p->locs, &p->nlocs, sizeof(*p->locs));
		rd_location(sub, &p->locs[p->nlocs - 1]);
		break;
	case 5:
		p->funcs = push(p->funcs, &p->nfuncs, sizeof(*p->funcs));
		rd_function(sub, &p->funcs[p->nfuncs - 1]);
		break;
	case 6:
		p->strs = push(p->strs, &p->nstrs, sizeof(*p->strs));
		p->strs[p->nstrs - 1] = strndup((const char *)sub->p, (size_t)v);
		break;
	case 9:
		p->time_nanos = v;
		break;
	case 10:
		p->duration_nanos = v;
		break;
	case 11:
		rd_value_type(sub, &p->pt_type, &p->pt_unit);
		break;
	case 12:
		p->period = v;
		break;
	case 13:
		p->comment = v;
		p->ncomments++;
		break;
	case 14:
		p->default_st = v;
		break;
	default:
		fail_msg("unexpected Profile field %u", f);
	}
}

static uint8_t *gunzip(const uint8_t *in, size_t n, size_t *outlen)
{
	z_stream z = { 0 };
	size_t cap = 1 << 16;
	uint8_t *out = malloc(cap);
	int zr;

	assert_non_null(out);
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	do {
		if (z.total_out == cap) {
			cap *= 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
		z.next_out = out + z.total_out;
		z.avail_out = (uInt)(cap - z.total_out);
		zr = inflate(&z, Z_NO_FLUSH);
		assert_true(zr == Z_OK || zr == Z_STREAM_END);
	} while (zr != Z_STREAM_END);
	assert_int_equal(z.avail_in, 0);
	*outlen = z.total_out;
	inflateEnd(&z);
	return out;
}

static void prof_read(struct prof *p, const struct stackset *s, uint64_t start, uint64_t dur)
{
	char *gz = NULL;
	size_t gzlen = 0, len;
	FILE *f = open_memstream(&gz, &gzlen);
	struct rd r, sub;
	unsigned int field;
	uint8_t *raw;
	uint64_t v;

	assert_non_null(f);
	assert_int_equal(pprof_write(f, s, start, dur), 0);
	assert_int_equal(fclose(f), 0);
	assert_true(gzlen > 18 && (uint8_t)gz[0] == 0x1f && (uint8_t)gz[1] == 0x8b);
	raw = gunzip((const uint8_t *)gz, gzlen, &len);
	free(gz);
	memset(p, 0, sizeof(*p));
	r.p = raw;
	r.end = raw + len;
	while (rd_field(&r, &field, &v, &sub))
		rd_profile_field(p, field, v, &sub);
	free(raw);
}

static void prof_free(struct prof *p)
{
	size_t i;

	for (i = 0; i < p->nstrs; i++)
		free(p->strs[i]);
	free(p->strs);
	free(p->samples);
	free(p->locs);
	free(p->funcs);
}

static const char *prof_str(const struct prof *p, uint64_t i)
{
	assert_true(i < p->nstrs);
	return p->strs[i];
}

static const struct pfunc *prof_func(const struct prof *p, uint64_t id)
{
	size_t i;

	for (i = 0; i < p->nfuncs; i++)
		if (p->funcs[i].id == id)
			return &p->funcs[i];
	fail_msg("no function %lu", (unsigned long)id);
	return NULL;
}

/* The function a location id stands for. */
static const struct pfunc *prof_loc_func(const struct prof *p, uint64_t id)
{
	size_t i;

	assert_true(id != 0);
	for (i = 0; i < p->nlocs; i++) {
		if (p->locs[i].id == id) {
			assert_int_equal(p->locs[i].nlines, 1);
			return prof_func(p, p->locs[i].function_id);
		}
	}
	fail_msg("no location %lu", (unsigned long)id);
	return NULL;
}

/* Ids unique and non-zero; one Location and one Function per frame used. */
static void prof_check_ids(const struct prof *p)
{
	size_t i, j;

	assert_int_equal(p->nlocs, p->nfuncs);
	for (i = 0; i < p->nlocs; i++) {
		assert_true(p->locs[i].id != 0 && p->funcs[i].id != 0);
		for (j = 0; j < i; j++) {
			assert_true(p->locs[i].id != p->locs[j].id);
			assert_true(p->funcs[i].id != p->funcs[j].id);
			assert_string_not_equal(prof_str(p, p->funcs[i].name),
						prof_str(p, p->funcs[j].name));
		}
	}
}

/* The sample's frames leaf first must be stack k's names root first, reversed. */
static bool sample_is(const struct prof *p, const struct psample *ps, const struct stackset *s,
		      const struct stk *k)
{
	size_t i;

	if (ps->nlocs != k->nframes)
		return false;
	for (i = 0; i < ps->nlocs; i++) {
		const char *want = s->names[k->frames[k->nframes - 1 - i]];

		if (strcmp(prof_str(p, prof_loc_func(p, ps->locs[i])->name), want))
			return false;
	}
	return true;
}

static void test_pprof(void **state)
{
	const uint64_t start = 1700000000123456789ULL, dur = 5000000000ULL;
	struct stackset s;
	struct prof p;
	uint64_t sum = 0;
	size_t i, j;

	stackset_init(&s, PERIOD_NS);
	add_names(&s, 2, 3, "job:build", "phase:link", "main", "ld", NULL);
	add_names(&s, 2, 5, "job:build", "phase:link", "main", NULL);
	add_names(&s, 0, 7, "main", "a;b", "leaf", NULL);
	add_names(&s, 0, 1, "main", "ld", NULL);
	snprintf(s.comment, sizeof(s.comment), "spiketrace: 7 lost events");
	prof_read(&p, &s, start, dur);

	assert_true(p.nstrs > 0);
	assert_string_equal(p.strs[0], "");
	assert_int_equal(p.nst, 2);
	assert_string_equal(prof_str(&p, p.st_type[0]), "samples");
	assert_string_equal(prof_str(&p, p.st_unit[0]), "count");
	assert_string_equal(prof_str(&p, p.st_type[1]), "cpu");
	assert_string_equal(prof_str(&p, p.st_unit[1]), "nanoseconds");
	assert_string_equal(prof_str(&p, p.pt_type), "cpu");
	assert_string_equal(prof_str(&p, p.pt_unit), "nanoseconds");
	assert_string_equal(prof_str(&p, p.default_st), "cpu");
	assert_int_equal(p.period, PERIOD_NS);
	assert_int_equal(p.time_nanos, start);
	assert_int_equal(p.duration_nanos, dur);
	/* What the profile lacks, as Profile.comment: a string, not a frame. */
	assert_int_equal(p.ncomments, 1);
	assert_string_equal(prof_str(&p, p.comment), "spiketrace: 7 lost events");
	/* main, ld, leaf, a;b, job:build, phase:link */
	assert_int_equal(p.nlocs, 6);
	prof_check_ids(&p);

	assert_int_equal(p.nsamples, s.n);
	for (i = 0; i < p.nsamples; i++) {
		const struct psample *ps = &p.samples[i];
		const struct stk *k = NULL;

		for (j = 0; j < s.n && !k; j++)
			if (sample_is(&p, ps, &s, &s.v[j]))
				k = &s.v[j];
		assert_non_null(k);
		assert_int_equal(ps->nvals, 2);
		assert_int_equal(ps->vals[0], k->count);
		assert_int_equal(ps->vals[1], k->count * PERIOD_NS);
		sum += ps->vals[0];
	}
	assert_int_equal(sum, s.total);

	for (i = 0; i < p.nfuncs; i++) {
		const char *name = prof_str(&p, p.funcs[i].name);
		const char *sys = prof_str(&p, p.funcs[i].system_name);

		if (!strncmp(name, "job:", 4) || !strncmp(name, "phase:", 6))
			assert_string_equal(sys, "cause");
		else
			assert_string_equal(sys, name);
	}
	prof_free(&p);
	stackset_free(&s);
}

static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

#define BIG_N 10000
#define BIG_DEPTH 24

struct ref_stk {
	uint32_t ids[BIG_DEPTH];
	uint32_t n, ncause;
};

static int ref_cmp(const void *a, const void *b)
{
	const struct ref_stk *x = a, *y = b;

	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	if (x->ncause != y->ncause)
		return x->ncause < y->ncause ? -1 : 1;
	return memcmp(x->ids, y->ids, x->n * sizeof(x->ids[0]));
}

/* Adds BIG_N random stacks (many repeated); returns the number of distinct ones. */
static size_t add_random(struct stackset *s, uint64_t *empty_count)
{
	struct ref_stk *ref = calloc(BIG_N, sizeof(*ref));
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	char name[32];
	size_t i, distinct = 0;

	assert_non_null(ref);
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), i % 7 ? "fn_%zu" : "fn;%zu\n", i);
		frame(s, name);
	}
	for (i = 0; i < BIG_N; i++) {
		struct ref_stk *r = &ref[i];
		uint64_t count = rng_next(&x) % 5 + 1;
		uint32_t j;

		/* Few shapes, so equal stacks do repeat. */
		r->n = (uint32_t)(rng_next(&x) % 6) * 4;
		r->ncause = r->n ? (uint32_t)(rng_next(&x) % 3) : 0;
		for (j = 0; j < r->n; j++)
			r->ids[j] = (uint32_t)(rng_next(&x) % (j < 4 ? 300 : 2));
		assert_int_equal(stackset_add(s, r->ids, r->n, r->ncause, count), 0);
		if (!r->n)
			*empty_count += count;
	}
	qsort(ref, BIG_N, sizeof(*ref), ref_cmp);
	for (i = 0; i < BIG_N; i++)
		distinct += !i || ref_cmp(&ref[i - 1], &ref[i]);
	free(ref);
	return distinct;
}

/* The sum of the counts at the end of each folded line. */
static uint64_t folded_sum(const char *text, size_t *lines)
{
	uint64_t sum = 0;
	const char *nl;

	*lines = 0;
	for (; (nl = strchr(text, '\n')); text = nl + 1) {
		const char *sp = nl;

		while (sp > text && sp[-1] != ' ')
			sp--;
		assert_true(sp > text && memchr(text, '\r', (size_t)(nl - text)) == NULL);
		sum += strtoull(sp, NULL, 10);
		(*lines)++;
	}
	assert_int_equal(*text, '\0');
	return sum;
}

static void test_large(void **state)
{
	struct stackset s;
	uint64_t empty = 0, sum = 0;
	struct prof p;
	size_t i, distinct, lines;
	char *text;

	stackset_init(&s, PERIOD_NS);
	distinct = add_random(&s, &empty);
	assert_int_equal(s.n, distinct);
	assert_true(distinct > 1000 && distinct < BIG_N);

	text = folded_text(&s);
	assert_int_equal(folded_sum(text, &lines), s.total - empty);
	assert_true(lines > 0 && lines < s.n);
	free(text);

	prof_read(&p, &s, 1, 2);
	prof_check_ids(&p);
	assert_int_equal(p.ncomments, 0); /* none set, none written */
	assert_int_equal(p.nsamples, s.n);
	for (i = 0; i < p.nsamples; i++) {
		assert_int_equal(p.samples[i].vals[1], p.samples[i].vals[0] * PERIOD_NS);
		sum += p.samples[i].vals[0];
	}
	assert_int_equal(sum, s.total);
	prof_free(&p);
	stackset_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_intern), cmocka_unit_test(test_merge),
		cmocka_unit_test(test_folded), cmocka_unit_test(test_write_errors),
		cmocka_unit_test(test_pprof),  cmocka_unit_test(test_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
