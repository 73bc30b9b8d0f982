// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "hist.h"

/* Every bucket's bounds and representative value map back to that bucket. */
static void test_buckets_roundtrip(void **state)
{
	unsigned int b;

	for (b = 0; b < HIST_BUCKETS; b++) {
		assert_int_equal(hist_bucket(hist_value(b)), b);
		assert_int_equal(hist_bucket(hist_lo(b)), b);
		if (b + 1 < HIST_BUCKETS)
			assert_int_equal(hist_bucket(hist_hi(b)), b + 1);
	}
	assert_int_equal(hist_bucket(0), 0);
	assert_int_equal(hist_bucket(15), 15);
	assert_int_equal(hist_bucket(16), 16);
	assert_int_equal(hist_bucket(UINT64_MAX), HIST_BUCKETS - 1);
}

/* Within 1/16 octave of the true value over the whole range. */
static void test_bucket_precision(void **state)
{
	uint64_t v;

	for (v = 1; v < (1ull << 31); v = v * 3 / 2 + 1) {
		double r = (double)hist_value(hist_bucket(v));

		assert_true(r >= v * (1 - 1.0 / 16) - 1 && r <= v * (1 + 1.0 / 16) + 1);
	}
}

static void test_quantiles(void **state)
{
	uint32_t h[HIST_BUCKETS] = { 0 };
	uint64_t i;

	assert_int_equal(hist_quantile(h, 0, 0.5), 0);
	for (i = 1; i <= 100; i++)
		h[hist_bucket(i * 100)]++;
	assert_true(hist_quantile(h, 100, 0.5) >= 4700 && hist_quantile(h, 100, 0.5) <= 5300);
	assert_true(hist_quantile(h, 100, 0.99) >= 9300 && hist_quantile(h, 100, 0.99) <= 10300);
	assert_true(hist_quantile(h, 100, 0) <= 103);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets_roundtrip),
		cmocka_unit_test(test_bucket_precision),
		cmocka_unit_test(test_quantiles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
