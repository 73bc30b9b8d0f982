// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Captures everything a writer emits, up to and including json_free. */
struct cap {
	FILE *f;
	char *buf;
	size_t len;
	struct json_w *w;
};

static struct json_w *cap_begin(struct cap *c, bool pretty)
{
	memset(c, 0, sizeof(*c));
	c->f = open_memstream(&c->buf, &c->len);
	assert_non_null(c->f);
	c->w = json_new(c->f, pretty);
	assert_non_null(c->w);
	return c->w;
}

/* Ends the document and checks the exact bytes written. */
static void cap_expect(struct cap *c, const char *want)
{
	json_free(c->w);
	assert_int_equal(fclose(c->f), 0);
	assert_string_equal(c->buf, want);
	assert_int_equal(c->len, strlen(want));
	free(c->buf);
}

static void build_nested(struct json_w *w)
{
	json_obj_begin(w);
	json_kstr(w, "name", "x");
	json_key(w, "list");
	json_arr_begin(w);
	json_int(w, 1);
	json_obj_begin(w);
	json_kint(w, "a", -2);
	json_key(w, "inner");
	json_arr_begin(w);
	json_arr_begin(w);
	json_arr_end(w);
	json_obj_begin(w);
	json_obj_end(w);
	json_arr_end(w);
	json_obj_end(w);
	json_bool(w, true);
	json_arr_end(w);
	json_key(w, "empty");
	json_obj_begin(w);
	json_obj_end(w);
	json_knull(w, "z");
	json_obj_end(w);
}

static void test_nested_compact(void **state)
{
	struct cap c;

	build_nested(cap_begin(&c, false));
	cap_expect(&c, "{\"name\":\"x\",\"list\":[1,{\"a\":-2,\"inner\":[[],{}]},true],"
		       "\"empty\":{},\"z\":null}\n");
}

static void test_nested_pretty(void **state)
{
	struct cap c;

	build_nested(cap_begin(&c, true));
	cap_expect(&c, "{\n"
		       "  \"name\": \"x\",\n"
		       "  \"list\": [\n"
		       "    1,\n"
		       "    {\n"
		       "      \"a\": -2,\n"
		       "      \"inner\": [\n"
		       "        [],\n"
		       "        {}\n"
		       "      ]\n"
		       "    },\n"
		       "    true\n"
		       "  ],\n"
		       "  \"empty\": {},\n"
		       "  \"z\": null\n"
		       "}\n");
}

static void test_top_level_scalars(void **state)
{
	struct cap c;

	json_int(cap_begin(&c, true), 42);
	cap_expect(&c, "42\n");

	json_str(cap_begin(&c, false), "hi");
	cap_expect(&c, "\"hi\"\n");

	/* Nothing written: nothing at all, not even a newline. */
	cap_begin(&c, true);
	cap_expect(&c, "");

	/* Successive top-level values come out as JSON Lines. */
	cap_begin(&c, false);
	json_obj_begin(c.w);
	json_kint(c.w, "a", 1);
	json_obj_end(c.w);
	json_arr_begin(c.w);
	json_arr_end(c.w);
	cap_expect(&c, "{\"a\":1}\n[]\n");
}

static void test_scalars(void **state)
{
	struct cap c;
	struct json_w *w = cap_begin(&c, false);

	json_arr_begin(w);
	json_int(w, INT64_MIN);
	json_int(w, INT64_MAX);
	json_int(w, 0);
	json_uint(w, UINT64_MAX);
	json_bool(w, false);
	json_bool(w, true);
	json_null(w);
	json_str(w, NULL);
	json_strn(w, NULL, 4);
	json_str(w, "");
	json_arr_end(w);
	cap_expect(&c, "[-9223372036854775808,9223372036854775807,0,18446744073709551615,"
		       "false,true,null,null,null,\"\"]\n");
}

static void test_key_helpers(void **state)
{
	struct cap c;
	struct json_w *w = cap_begin(&c, false);

	json_obj_begin(w);
	json_kstr(w, "s", "v");
	json_kstr(w, "n", NULL);
	json_kint(w, "i", -7);
	json_kuint(w, "u", 7);
	json_kdouble(w, "d", 0.25);
	json_kbool(w, "b", true);
	json_knull(w, "x");
	json_kstr(w, "q\"k", "a");
	json_obj_end(w);
	cap_expect(&c, "{\"s\":\"v\",\"n\":null,\"i\":-7,\"u\":7,\"d\":0.25,\"b\":true,"
		       "\"x\":null,\"q\\\"k\":\"a\"}\n");
}

static void test_escaping(void **state)
{
	struct cap c;
	struct json_w *w = cap_begin(&c, false);

	json_arr_begin(w);
	json_str(w, "say \"hi\"");
	json_str(w, "C:\\dir\\");
	json_str(w, "a\nb\tc\rd\be\ff");
	json_str(w, "\x01\x1f\x7f/");
	json_str(w, "\x1b[0m");
	json_arr_end(w);
	/* DEL and '/' need no escape; all other controls are \u00XX. */
	cap_expect(&c, "[\"say \\\"hi\\\"\",\"C:\\\\dir\\\\\",\"a\\nb\\tc\\rd\\be\\ff\","
		       "\"\\u0001\\u001f\x7f/\",\"\\u001b[0m\"]\n");
}

static void test_utf8_valid_kept(void **state)
{
	struct cap c;
	struct json_w *w = cap_begin(&c, false);

	json_arr_begin(w);
	json_str(w, "caf\xc3\xa9"); /* é, 2 bytes */
	json_str(w, "\xe2\x82\xac 5"); /* €, 3 bytes */
	json_str(w, "\xf0\x9f\x98\x80"); /* U+1F600, 4 bytes */
	json_str(w, "\xf4\x8f\xbf\xbf"); /* U+10FFFF, the last code point */
	json_str(w, "\xed\x9f\xbf\xee\x80\x80"); /* just around the surrogates */
	json_arr_end(w);
	cap_expect(&c, "[\"caf\xc3\xa9\",\"\xe2\x82\xac 5\",\"\xf0\x9f\x98\x80\","
		       "\"\xf4\x8f\xbf\xbf\",\"\xed\x9f\xbf\xee\x80\x80\"]\n");
}

static void test_utf8_invalid_replaced(void **state)
{
	struct cap c;
	struct json_w *w = cap_begin(&c, false);

	json_arr_begin(w);
	json_str(w, "a\xff"
		    "b"); /* never valid */
	json_str(w, "\x80x"); /* lone continuation */
	json_str(w, "\xc0\xaf"); /* overlong '/' */
	json_str(w, "\xe0\x80\xaf"); /* overlong, 3 bytes */
	json_str(w, "\xed\xa0\x80"); /* UTF-16 surrogate */
	json_str(w, "\xf4\x90\x80\x80"); /* above U+10FFFF */
	json_str(w, "\xe2\x82"
		    "A"); /* truncated sequence mid-string */
	json_str(w, "z\xc3"); /* truncated at the end */
	json_str(w, "\xc3\xa9\xa9"); /* valid char then a stray byte */
	json_arr_end(w);
	cap_expect(&c, "[\"a\\ufffdb\",\"\\ufffdx\",\"\\ufffd\\ufffd\",\"\\ufffd\\ufffd\\ufffd\","
		       "\"\\ufffd\\ufffd\\ufffd\",\"\\ufffd\\ufffd\\ufffd\\ufffd\","
		       "\"\\ufffd\\ufffdA\",\"z\\ufffd\",\"\xc3\xa9\\ufffd\"]\n");
}

static void test_strn(void **state)
{
	struct cap c;
	struct json_w *w = cap_begin(&c, false);
	const char comm[4] = { 'a', 'b', 'c', 'd' }; /* no NUL, like a kernel comm */

	json_arr_begin(w);
	json_strn(w, "abcdef", 3);
	json_strn(w, "ab\0cd", 5); /* stops at NUL */
	json_strn(w, comm, sizeof(comm));
	json_strn(w, "x", 0);
	json_strn(w, "\xc3\xa9", 1); /* cut inside a character */
	json_arr_end(w);
	cap_expect(&c, "[\"abc\",\"ab\",\"abcd\",\"\",\"\\ufffd\"]\n");
}

static void test_doubles(void **state)
{
	struct cap c;
	struct json_w *w = cap_begin(&c, false);

	json_arr_begin(w);
	json_double(w, 1.5);
	json_double(w, 2.0);
	json_double(w, 0.000001);
	json_double(w, 0.0000001); /* below 6 decimals */
	json_double(w, 0.0);
	json_double(w, -0.0);
	json_double(w, -0.0000001);
	json_double(w, -2.25);
	json_double(w, 3.14159265);
	json_double(w, 0.1);
	json_double(w, 100.0);
	json_double(w, 1e20);
	json_double(w, NAN);
	json_double(w, INFINITY);
	json_double(w, -INFINITY);
	json_arr_end(w);
	cap_expect(&c, "[1.5,2,0.000001,0,0,0,0,-2.25,3.141593,0.1,100,100000000000000000000,"
		       "null,null,null]\n");
}

static void test_huge_double_no_exponent(void **state)
{
	struct cap c;
	size_t i;

	json_double(cap_begin(&c, false), 1.7976931348623157e308);
	json_free(c.w);
	assert_int_equal(fclose(c.f), 0);
	assert_int_equal(c.len, 310); /* 309 digits + newline */
	for (i = 0; i < 309; i++)
		assert_true(c.buf[i] >= '0' && c.buf[i] <= '9');
	assert_int_equal(c.buf[309], '\n');
	free(c.buf);
}

static void test_unclosed_is_closed(void **state)
{
	struct cap c;
	struct json_w *w = cap_begin(&c, false);

	/* A caller bailing out early still leaves parseable output. */
	json_obj_begin(w);
	json_key(w, "a");
	json_arr_begin(w);
	json_int(w, 1);
	json_obj_begin(w);
	json_key(w, "k");
	cap_expect(&c, "{\"a\":[1,{\"k\":null}]}\n");

	/* Unmatched ends are ignored rather than emitted. */
	w = cap_begin(&c, true);
	json_arr_begin(w);
	json_obj_end(w);
	json_arr_end(w);
	json_arr_end(w);
	cap_expect(&c, "[]\n");
}

static void test_deep_nesting(void **state)
{
	struct cap c;
	struct json_w *w = cap_begin(&c, false);
	char want[2 * 200 + 2];
	int i;

	for (i = 0; i < 200; i++)
		json_arr_begin(w);
	for (i = 0; i < 200; i++)
		json_arr_end(w);
	memset(want, '[', 200);
	memset(want + 200, ']', 200);
	want[400] = '\n';
	want[401] = '\0';
	cap_expect(&c, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nested_compact),
		cmocka_unit_test(test_nested_pretty),
		cmocka_unit_test(test_top_level_scalars),
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_key_helpers),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_utf8_valid_kept),
		cmocka_unit_test(test_utf8_invalid_replaced),
		cmocka_unit_test(test_strn),
		cmocka_unit_test(test_doubles),
		cmocka_unit_test(test_huge_double_no_exponent),
		cmocka_unit_test(test_unclosed_is_closed),
		cmocka_unit_test(test_deep_nesting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
