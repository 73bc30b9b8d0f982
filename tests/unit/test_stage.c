// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The drain's staging: records from several rings come back by timestamp,
 * ties in arrival order, each whole (sizes that are not multiples of 8,
 * enough of them to grow both buffers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stage.h"

struct rec {
	struct st_hdr h;
	uint32_t id;
	unsigned char pad[19]; /* 39 bytes: sizes not a multiple of 8 */
};

struct seen {
	uint64_t ts[5000];
	uint32_t id[5000];
	size_t n;
	int bad;
};

static void take(void *ctx, const struct st_hdr *h)
{
	struct seen *s = ctx;
	const struct rec *r = (const void *)h;
	size_t i;

	for (i = 0; i < sizeof(r->pad); i++)
		s->bad |= r->pad[i] != (unsigned char)(r->id + i);
	s->bad |= h->size != offsetof(struct rec, pad) + sizeof(r->pad);
	s->ts[s->n] = h->ts;
	s->id[s->n++] = r->id;
}

static void add(struct stage *st, uint64_t ts, uint32_t id)
{
	struct rec r = { .h = { .type = 1, .ts = ts }, .id = id };
	size_t i;

	r.h.size = offsetof(struct rec, pad) + sizeof(r.pad);
	for (i = 0; i < sizeof(r.pad); i++)
		r.pad[i] = (unsigned char)(id + i);
	assert_int_equal(stage_add(st, &r.h), 0);
}

/* Two "rings" read one after the other: the second's older records go first. */
static void test_two_rings_interleave_by_time(void **state)
{
	struct stage st = { 0 };
	struct seen *s = calloc(1, sizeof(*s));
	size_t i;

	(void)state;
	assert_non_null(s);
	for (i = 0; i < 2000; i++) /* the mem ring: odd times */
		add(&st, 2 * i + 1, (uint32_t)(10000 + i));
	for (i = 0; i < 2000; i++) /* the proc ring: even times */
		add(&st, 2 * i, (uint32_t)i);
	stage_flush(&st, take, s);
	assert_int_equal(s->n, 4000);
	assert_int_equal(s->bad, 0);
	for (i = 0; i < 4000; i++)
		assert_int_equal(s->ts[i], i);
	assert_int_equal(s->id[0], 0); /* the fork before ... */
	assert_int_equal(s->id[1], 10000); /* ... the OOM kill that names its pid */
	/* Emptied: a second drain starts from nothing. */
	s->n = 0;
	add(&st, 7, 1);
	stage_flush(&st, take, s);
	assert_int_equal(s->n, 1);
	stage_free(&st);
	free(s);
}

static void test_equal_times_keep_arrival_order(void **state)
{
	struct stage st = { 0 };
	struct seen *s = calloc(1, sizeof(*s));
	uint32_t i;

	(void)state;
	assert_non_null(s);
	for (i = 0; i < 100; i++)
		add(&st, i % 2 ? 5 : 3, i);
	stage_flush(&st, take, s);
	assert_int_equal(s->n, 100);
	for (i = 0; i < 50; i++) {
		assert_int_equal(s->id[i], 2 * i); /* the ts 3 ones, as added */
		assert_int_equal(s->id[50 + i], 2 * i + 1);
	}
	stage_free(&st);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_rings_interleave_by_time),
		cmocka_unit_test(test_equal_times_keep_arrival_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
