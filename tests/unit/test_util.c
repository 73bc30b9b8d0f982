// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define NKEYS 10000
#define NCOLL 24

/* Values are derived from keys so a lookup proves it found the right slot. */
static void *val_of(uint64_t k)
{
	return (void *)(uintptr_t)(k * 2 + 1);
}

/* A copy of the map's hash, used only to build keys that share a home slot. */
static uint64_t mix(uint64_t k)
{
	k ^= k >> 30;
	k *= 0xbf58476d1ce4e5b9ULL;
	k ^= k >> 27;
	k *= 0x94d049bb133111ebULL;
	k ^= k >> 31;
	return k;
}

static void test_hmap_empty_and_zero_key(void **state)
{
	struct hmap m;
	size_t it = 0;
	uint64_t k;
	void *v;

	hmap_init(&m);
	assert_null(hmap_get(&m, 1));
	assert_null(hmap_del(&m, 1));
	assert_false(hmap_next(&m, &it, &k, &v));

	assert_int_equal(hmap_put(&m, 0, val_of(0)), -EINVAL);
	assert_int_equal(m.len, 0);
	assert_int_equal(hmap_put(&m, 7, val_of(7)), 0);
	assert_int_equal(hmap_put(&m, 0, val_of(0)), -EINVAL);
	assert_null(hmap_get(&m, 0));
	assert_null(hmap_del(&m, 0));
	assert_int_equal(m.len, 1);
	assert_ptr_equal(hmap_get(&m, 7), val_of(7));

	/* replacing keeps one entry */
	assert_int_equal(hmap_put(&m, 7, val_of(8)), 0);
	assert_int_equal(m.len, 1);
	assert_ptr_equal(hmap_get(&m, 7), val_of(8));
	assert_ptr_equal(hmap_del(&m, 7), val_of(8));
	assert_int_equal(m.len, 0);
	assert_null(hmap_get(&m, 7));
	assert_null(hmap_del(&m, 7));

	/* large keys are keys like any other */
	assert_int_equal(hmap_put(&m, UINT64_MAX, val_of(3)), 0);
	assert_ptr_equal(hmap_get(&m, UINT64_MAX), val_of(3));
	hmap_free(&m);
	assert_null(m.keys);
	assert_int_equal(m.cap, 0);
	assert_null(hmap_get(&m, UINT64_MAX));
	hmap_free(&m); /* twice is fine */
}

static bool deleted_key(uint64_t k)
{
	return k % 3 == 0 || (k > 4000 && k < 4100);
}

static void test_hmap_many(void **state)
{
	uint64_t coll[NCOLL], k;
	bool coll_deleted[NCOLL] = { false };
	size_t i, n, it, cap, home, expect_len;
	unsigned char *seen;
	struct hmap m;
	void *v;

	hmap_init(&m);
	for (k = 1; k <= NKEYS; k++)
		assert_int_equal(hmap_put(&m, k, val_of(k)), 0);
	assert_int_equal(m.len, NKEYS);
	assert_true(m.len * 4 <= m.cap * 3);
	for (k = 1; k <= NKEYS; k++)
		assert_ptr_equal(hmap_get(&m, k), val_of(k));
	assert_null(hmap_get(&m, NKEYS + 1));

	/*
	 * A long probe run: keys beyond NKEYS that all hash to the home slot
	 * of key 1 (with this map's hash; with another they are just keys).
	 */
	cap = m.cap;
	home = mix(1) & (cap - 1);
	for (n = 0, k = NKEYS + 1; n < NCOLL; k++)
		if ((mix(k) & (cap - 1)) == home)
			coll[n++] = k;
	for (i = 0; i < NCOLL; i++)
		assert_int_equal(hmap_put(&m, coll[i], val_of(coll[i])), 0);
	assert_int_equal(m.cap, cap); /* no regrowth: the run is still there */
	assert_int_equal(m.len, NKEYS + NCOLL);

	/* Delete in the middle of the run, its head (key 1) and a third of the rest. */
	for (i = 3; i < NCOLL; i += 4) {
		assert_ptr_equal(hmap_del(&m, coll[i]), val_of(coll[i]));
		coll_deleted[i] = true;
	}
	expect_len = NKEYS + NCOLL - NCOLL / 4;
	for (k = 1; k <= NKEYS; k++) {
		if (!deleted_key(k) && k != 1)
			continue;
		assert_ptr_equal(hmap_del(&m, k), val_of(k));
		expect_len--;
	}
	assert_int_equal(m.len, expect_len);

	for (k = 1; k <= NKEYS; k++) {
		if (deleted_key(k) || k == 1) {
			if (hmap_get(&m, k))
				fail_msg("deleted key %llu still found", (unsigned long long)k);
			assert_null(hmap_del(&m, k));
		} else if (hmap_get(&m, k) != val_of(k)) {
			fail_msg("key %llu lost", (unsigned long long)k);
		}
	}
	for (i = 0; i < NCOLL; i++) {
		if (coll_deleted[i])
			assert_null(hmap_get(&m, coll[i]));
		else
			assert_ptr_equal(hmap_get(&m, coll[i]), val_of(coll[i]));
	}

	/* Iteration visits every remaining key exactly once, with its value. */
	seen = calloc(NKEYS + 1, 1);
	assert_non_null(seen);
	n = 0;
	it = 0;
	while (hmap_next(&m, &it, &k, &v)) {
		assert_ptr_equal(v, val_of(k));
		n++;
		if (k <= NKEYS) {
			assert_false(deleted_key(k) || k == 1);
			assert_int_equal(seen[k], 0);
			seen[k] = 1;
			continue;
		}
		for (i = 0; i < NCOLL && coll[i] != k; i++)
			;
		assert_true(i < NCOLL);
		assert_false(coll_deleted[i]);
		coll_deleted[i] = true; /* a second visit would fail above */
	}
	assert_int_equal(n, expect_len);
	for (k = 2; k <= NKEYS; k++)
		assert_int_equal(seen[k], !deleted_key(k));
	free(seen);

	/* Re-insert the deleted ones: the map is still consistent. */
	for (k = 1; k <= NKEYS; k++)
		if (deleted_key(k) || k == 1)
			assert_int_equal(hmap_put(&m, k, val_of(k)), 0);
	for (k = 1; k <= NKEYS; k++)
		assert_ptr_equal(hmap_get(&m, k), val_of(k));
	hmap_free(&m);
}

static void test_hmap_next_without_outputs(void **state)
{
	struct hmap m;
	size_t it = 0, n = 0;

	hmap_init(&m);
	assert_int_equal(hmap_put(&m, 10, val_of(10)), 0);
	assert_int_equal(hmap_put(&m, 20, val_of(20)), 0);
	assert_int_equal(hmap_put(&m, 30, val_of(30)), 0);
	while (hmap_next(&m, &it, NULL, NULL))
		n++;
	assert_int_equal(n, 3);
	/* an exhausted iterator stays exhausted */
	assert_false(hmap_next(&m, &it, NULL, NULL));
	hmap_free(&m);
}

/* A new zeroed value at its key; the zero key is refused with nothing allocated. */
static void test_hmap_put_new(void **state)
{
	struct hmap m;
	uint64_t *v;

	hmap_init(&m);
	v = hmap_put_new(&m, 7, 64);
	assert_non_null(v);
	assert_ptr_equal(hmap_get(&m, 7), v);
	assert_int_equal(v[0] | v[7], 0);
	assert_null(hmap_put_new(&m, 0, 16));
	assert_int_equal(m.len, 1);
	free(hmap_del(&m, 7));
	hmap_free(&m);
}

static void test_parse_u64(void **state)
{
	uint64_t v = 12345;

	assert_int_equal(st_parse_u64("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(st_parse_u64("10", 0, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(st_parse_u64("007", 0, 10, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(st_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);

	v = 42;
	assert_int_equal(st_parse_u64("11", 0, 10, &v), -EINVAL);
	assert_int_equal(st_parse_u64("0", 1, 10, &v), -EINVAL);
	assert_int_equal(st_parse_u64("18446744073709551616", 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(st_parse_u64("99999999999999999999999", 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(st_parse_u64("", 0, 10, &v), -EINVAL);
	assert_int_equal(st_parse_u64(NULL, 0, 10, &v), -EINVAL);
	assert_int_equal(st_parse_u64("-1", 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(st_parse_u64("-0", 0, 10, &v), -EINVAL);
	assert_int_equal(st_parse_u64("+5", 0, 10, &v), -EINVAL);
	assert_int_equal(st_parse_u64(" 5", 0, 10, &v), -EINVAL);
	assert_int_equal(st_parse_u64("5 ", 0, 10, &v), -EINVAL);
	assert_int_equal(st_parse_u64("5x", 0, 10, &v), -EINVAL);
	assert_int_equal(st_parse_u64("0x5", 0, 10, &v), -EINVAL);
	assert_int_equal(st_parse_u64("1.0", 0, 10, &v), -EINVAL);
	assert_int_equal(v, 42); /* untouched on error */
}

/*
 * Documented as a non-negative decimal: strtoull skips any leading
 * whitespace and then accepts a '-', so a tab or newline before the sign
 * slips past the check for ' ' and '-' and "-1" wraps to UINT64_MAX.
 */
static void test_parse_u64_whitespace_sign(void **state)
{
	uint64_t v = 42;

	assert_int_equal(st_parse_u64("\t-1", 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(st_parse_u64("\n-5", 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(v, 42);
}

static void test_parse_secs(void **state)
{
	double d = 9;

	assert_int_equal(st_parse_secs("2.5", 0.001, 10, &d), 0);
	assert_true(d == 2.5);
	assert_int_equal(st_parse_secs(".5", 0.001, 10, &d), 0);
	assert_true(d == 0.5);
	assert_int_equal(st_parse_secs("3", 0.001, 10, &d), 0);
	assert_true(d == 3.0);
	/* bounds are inclusive */
	assert_int_equal(st_parse_secs("0.1", 0.1, 3600, &d), 0);
	assert_true(d == 0.1);
	assert_int_equal(st_parse_secs("3600", 0.1, 3600, &d), 0);
	assert_true(d == 3600.0);
	assert_int_equal(st_parse_secs("0", 0, 1, &d), 0);
	assert_true(d == 0.0);

	d = 9;
	assert_int_equal(st_parse_secs("0", 0.001, 10, &d), -EINVAL);
	assert_int_equal(st_parse_secs("0.0009", 0.001, 10, &d), -EINVAL);
	assert_int_equal(st_parse_secs("10.5", 0.001, 10, &d), -EINVAL);
	assert_int_equal(st_parse_secs("3600.01", 0.1, 3600, &d), -EINVAL);
	assert_int_equal(st_parse_secs("-1", 0, 10, &d), -EINVAL);
	assert_int_equal(st_parse_secs("+1", 0, 10, &d), -EINVAL);
	assert_int_equal(st_parse_secs(" 1", 0, 10, &d), -EINVAL);
	assert_int_equal(st_parse_secs("1 ", 0, 10, &d), -EINVAL);
	assert_int_equal(st_parse_secs("1s", 0, 10, &d), -EINVAL);
	/* plain decimal only: no exponent, hex, or inf */
	assert_int_equal(st_parse_secs("1e1", 0.001, 100, &d), -EINVAL);
	assert_int_equal(st_parse_secs("0x10", 0, 100, &d), -EINVAL);
	assert_int_equal(st_parse_secs("inf", 0, 100, &d), -EINVAL);
	assert_int_equal(st_parse_secs("abc", 0, 10, &d), -EINVAL);
	assert_int_equal(st_parse_secs("", 0, 10, &d), -EINVAL);
	assert_int_equal(st_parse_secs(NULL, 0, 10, &d), -EINVAL);
	assert_int_equal(st_parse_secs("inf", 0, 1e300, &d), -EINVAL);
	assert_int_equal(st_parse_secs("infinity", 0, 1e300, &d), -EINVAL);
	assert_int_equal(st_parse_secs("nan", 0, 1e300, &d), -EINVAL);
	assert_int_equal(st_parse_secs("1e999", 0, 1e300, &d), -EINVAL);
	assert_true(d == 9); /* untouched on error */
}

static void test_strlcpy(void **state)
{
	char buf[8];

	memset(buf, 'X', sizeof(buf));
	assert_int_equal(st_strlcpy(buf, "abc", sizeof(buf)), 3);
	assert_string_equal(buf, "abc");

	/* exactly fits: 7 characters and the NUL */
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(st_strlcpy(buf, "abcdefg", sizeof(buf)), 7);
	assert_string_equal(buf, "abcdefg");

	/* truncated, still terminated, returns the full length */
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(st_strlcpy(buf, "abcdefghijkl", sizeof(buf)), 12);
	assert_string_equal(buf, "abcdefg");
	assert_int_equal(buf[7], '\0');

	/* size 1: only the NUL */
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(st_strlcpy(buf, "abc", 1), 3);
	assert_int_equal(buf[0], '\0');
	assert_int_equal(buf[1], 'X');

	/* size 0 writes nothing */
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(st_strlcpy(buf, "abc", 0), 3);
	assert_int_equal(buf[0], 'X');

	assert_int_equal(st_strlcpy(buf, "", sizeof(buf)), 0);
	assert_string_equal(buf, "");
}

static void test_strfix(void **state)
{
	/* a kernel comm-like array, full, no NUL anywhere */
	const char full[4] = { 'a', 'b', 'c', 'd' };
	const char holed[6] = { 'x', 'y', '\0', 'z', 'z', 'z' };
	char dst[16];

	memset(dst, 'X', sizeof(dst));
	st_strfix(dst, sizeof(dst), full, sizeof(full));
	assert_string_equal(dst, "abcd");

	/* destination shorter than the source: truncated and terminated */
	memset(dst, 'X', sizeof(dst));
	st_strfix(dst, 3, full, sizeof(full));
	assert_string_equal(dst, "ab");
	assert_int_equal(dst[3], 'X');

	/* exactly srclen + 1 */
	memset(dst, 'X', sizeof(dst));
	st_strfix(dst, 5, full, sizeof(full));
	assert_string_equal(dst, "abcd");

	/* stops at an embedded NUL */
	memset(dst, 'X', sizeof(dst));
	st_strfix(dst, sizeof(dst), holed, sizeof(holed));
	assert_string_equal(dst, "xy");

	/* srclen 0: empty */
	memset(dst, 'X', sizeof(dst));
	st_strfix(dst, sizeof(dst), full, 0);
	assert_string_equal(dst, "");
}

static void test_clocks(void **state)
{
	uint64_t a = now_mono_ns(), b = now_mono_ns();
	uint64_t r = now_real_ns();

	assert_true(a > 0);
	assert_true(b >= a);
	/* after 2020-01-01 in ns since the epoch */
	assert_true(r > 1577836800ULL * 1000000000ULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hmap_empty_and_zero_key),
		cmocka_unit_test(test_hmap_many),
		cmocka_unit_test(test_hmap_next_without_outputs),
		cmocka_unit_test(test_hmap_put_new),
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_parse_u64_whitespace_sign),
		cmocka_unit_test(test_parse_secs),
		cmocka_unit_test(test_strlcpy),
		cmocka_unit_test(test_strfix),
		cmocka_unit_test(test_clocks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
