// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "concern.h"
#include "log.h"
#include "opts.h"

#define ALL_OPTS 0x1fffu
#define USAGE "usage: spiketrace test [options]\n"

/*
 * Runs opts_parse on a NULL-terminated list of arguments (argv[0] is the
 * subcommand). The strings are literals, so whatever getopt keeps pointing
 * to stays valid; the argv array itself is copied because getopt permutes it.
 */
static int parse(unsigned int allowed, struct options *o, char *const *args)
{
	char *argv[16];
	int argc = 0;

	while (args[argc]) {
		assert_true(argc < 15);
		argv[argc] = args[argc];
		argc++;
	}
	argv[argc] = NULL;
	memset(o, 0, sizeof(*o));
	return opts_parse(argc, argv, allowed, USAGE, o);
}

#define PARSE(allowed, o, ...) parse(allowed, o, (char *const[]){ __VA_ARGS__, NULL })

static void test_no_options(void **state)
{
	struct options o;

	assert_int_equal(PARSE(ALL_OPTS, &o, "record"), 0);
	assert_string_equal(o.cmd, "record");
	assert_true(o.duration == 0);
	assert_null(o.input);
	assert_null(o.output);
	assert_int_equal(o.concerns, 0);
	assert_int_equal(o.pid, 0);
}

static void test_duration(void **state)
{
	struct options o;

	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "-d", "2.5"), 0);
	assert_true(o.duration == 2.5);
	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "--duration", "7"), 0);
	assert_true(o.duration == 7.0);
	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "--duration=0.25"), 0);
	assert_true(o.duration == 0.25);
	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "-d3"), 0);
	assert_true(o.duration == 3.0);

	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "-d", "-1"), 2);
	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "-d", "abc"), 2);
	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "-d", "0"), 2);
	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "-d", "2.5s"), 2);
	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "-d", ""), 2);
	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "-d", "inf"), 2);
	/* missing value */
	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "-d"), 2);
	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "--duration"), 2);
}

static void test_pid(void **state)
{
	struct options o;

	assert_int_equal(PARSE(OPT_PID, &o, "proc", "-p", "123"), 0);
	assert_int_equal(o.pid, 123);
	assert_int_equal(PARSE(OPT_PID, &o, "proc", "--pid", "4194304"), 0);
	assert_int_equal(o.pid, 4194304);

	assert_int_equal(PARSE(OPT_PID, &o, "proc", "-p", "abc"), 2);
	assert_int_equal(PARSE(OPT_PID, &o, "proc", "-p", "0"), 2);
	assert_int_equal(PARSE(OPT_PID, &o, "proc", "-p", "-5"), 2);
	/* beyond pid_t (and a u32 that would wrap to 0 or 1) */
	assert_int_equal(PARSE(OPT_PID, &o, "proc", "-p", "2147483648"), 2);
	assert_int_equal(PARSE(OPT_PID, &o, "proc", "-p", "4294967296"), 2);
	assert_int_equal(PARSE(OPT_PID, &o, "proc", "-p", "4294967297"), 2);
	assert_int_equal(PARSE(OPT_PID, &o, "proc", "-p", "12x"), 2);
}

static void test_freq(void **state)
{
	struct options o;

	assert_int_equal(PARSE(OPT_FREQ, &o, "record", "-F", "99"), 0);
	assert_int_equal(o.freq, 99);
	assert_int_equal(PARSE(OPT_FREQ, &o, "record", "--freq", "10000"), 0);
	assert_int_equal(o.freq, 10000);
	assert_int_equal(PARSE(OPT_FREQ, &o, "record", "-F", "0"), 2);
	assert_int_equal(PARSE(OPT_FREQ, &o, "record", "-F", "10001"), 2);
	assert_int_equal(PARSE(OPT_FREQ, &o, "record", "-F", "1000000"), 2);
}

static void test_interval(void **state)
{
	struct options o;

	assert_int_equal(PARSE(OPT_INTERVAL, &o, "top", "-i", "0.5"), 0);
	assert_true(o.interval == 0.5);
	assert_int_equal(PARSE(OPT_INTERVAL, &o, "top", "-i", "0.05"), 2);
	assert_int_equal(PARSE(OPT_INTERVAL, &o, "top", "-i", "3601"), 2);
}

static void test_only(void **state)
{
	struct options o;

	assert_true(concern_proc.bit != 0);
	assert_int_equal(PARSE(OPT_ONLY, &o, "record", "--only", "proc"), 0);
	assert_int_equal(o.concerns, concern_proc.bit);
	assert_int_equal(PARSE(OPT_ONLY, &o, "record", "--only=proc,proc"), 0);
	assert_int_equal(o.concerns, concern_proc.bit);
	assert_int_equal(PARSE(OPT_ONLY, &o, "record", "--only", "nosuch"), 2);
	assert_int_equal(PARSE(OPT_ONLY, &o, "record", "--only", "proc,nosuch"), 2);
	assert_int_equal(PARSE(OPT_ONLY, &o, "record", "--only", ""), 2);
	assert_int_equal(PARSE(OPT_ONLY, &o, "record", "--only"), 2);
}

static void test_ringbuf(void **state)
{
	struct options o;

	assert_int_equal(PARSE(OPT_RINGBUF, &o, "record", "--ringbuf-kb", "64"), 0);
	assert_int_equal(o.ringbuf_kb, 64);
	assert_int_equal(PARSE(OPT_RINGBUF, &o, "record", "--ringbuf-kb", "4"), 0);
	assert_int_equal(o.ringbuf_kb, 4);
	assert_int_equal(PARSE(OPT_RINGBUF, &o, "record", "--ringbuf-kb", "1048576"), 0);
	assert_int_equal(o.ringbuf_kb, 1048576);
	assert_int_equal(PARSE(OPT_RINGBUF, &o, "record", "--ringbuf-kb", "100"), 2);
	assert_int_equal(PARSE(OPT_RINGBUF, &o, "record", "--ringbuf-kb", "2"), 2);
	assert_int_equal(PARSE(OPT_RINGBUF, &o, "record", "--ringbuf-kb", "0"), 2);
	assert_int_equal(PARSE(OPT_RINGBUF, &o, "record", "--ringbuf-kb", "2097152"), 2);
}

static void test_strings(void **state)
{
	struct options o;

	assert_int_equal(PARSE(ALL_OPTS, &o, "report", "-o", "out.json", "--format", "json", "-c",
			       "/system.slice/x.service", "--listen", "127.0.0.1:9000", "--btf",
			       "/tmp/vmlinux.btf", "--json"),
			 0);
	assert_string_equal(o.output, "out.json");
	assert_string_equal(o.format, "json");
	assert_string_equal(o.cgroup, "/system.slice/x.service");
	assert_string_equal(o.listen, "127.0.0.1:9000");
	assert_string_equal(o.btf_path, "/tmp/vmlinux.btf");
	assert_true(o.json);
	assert_int_equal(PARSE(OPT_OUTPUT, &o, "record", "-o", ""), 2);
}

static void test_not_allowed(void **state)
{
	struct options o;
	unsigned int all_but_freq = ALL_OPTS & ~(unsigned int)OPT_FREQ;

	assert_int_equal(PARSE(all_but_freq, &o, "top", "-F", "99"), 2);
	assert_int_equal(o.freq, 0);
	assert_int_equal(PARSE(OPT_DURATION, &o, "proc", "-p", "1"), 2);
	assert_int_equal(PARSE(OPT_DURATION, &o, "proc", "--json"), 2);
	assert_int_equal(PARSE(OPT_DURATION, &o, "proc", "--only", "proc"), 2);
	assert_int_equal(PARSE(OPT_DURATION, &o, "proc", "--ringbuf-kb", "64"), 2);
	assert_int_equal(PARSE(OPT_DURATION, &o, "proc", "-o", "x"), 2);
	assert_int_equal(PARSE(OPT_JSON, &o, "proc", "-d", "1"), 2);
	/* an allowed option after a refused one does not rescue it */
	assert_int_equal(PARSE(OPT_DURATION, &o, "proc", "-d", "1", "-F", "99"), 2);
}

static void test_unknown(void **state)
{
	struct options o;

	assert_int_equal(PARSE(ALL_OPTS, &o, "record", "--bogus"), 2);
	assert_int_equal(PARSE(ALL_OPTS, &o, "record", "--bogus=1"), 2);
	assert_int_equal(PARSE(ALL_OPTS, &o, "record", "-x"), 2);
	assert_int_equal(PARSE(ALL_OPTS, &o, "record", "-d", "1", "--bogus"), 2);
	/* a no-argument option given one */
	assert_int_equal(PARSE(ALL_OPTS, &o, "record", "--json=yes"), 2);
}

static void test_positional(void **state)
{
	struct options o;
	unsigned int report = OPT_INPUT | OPT_FORMAT | OPT_OUTPUT;

	assert_int_equal(PARSE(report, &o, "report", "rec.st"), 0);
	assert_string_equal(o.input, "rec.st");

	/* the file may come before the options */
	assert_int_equal(PARSE(report, &o, "report", "rec.st", "--format", "json"), 0);
	assert_string_equal(o.input, "rec.st");
	assert_string_equal(o.format, "json");
	assert_int_equal(PARSE(report, &o, "report", "-o", "x.json", "rec.st", "--format", "text"),
			 0);
	assert_string_equal(o.input, "rec.st");
	assert_string_equal(o.output, "x.json");
	assert_string_equal(o.format, "text");

	/* after "--" a name starting with '-' is the file */
	assert_int_equal(PARSE(report, &o, "report", "--", "-odd.st"), 0);
	assert_string_equal(o.input, "-odd.st");
	assert_null(o.output);

	/* only one file, and only where a file is taken */
	assert_int_equal(PARSE(report, &o, "report", "a.st", "b.st"), 2);
	assert_int_equal(PARSE(report, &o, "report", "a.st", "--format", "json", "b.st"), 2);
	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "a.st"), 2);
	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "-d", "1", "extra"), 2);
}

static void test_help_and_verbose(void **state)
{
	struct options o;
	int v = st_verbose;

	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "-h"), -1);
	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "--help"), -1);
	/* help wins even where the rest would be refused */
	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "--help", "--bogus"), -1);

	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "-v", "-v"), 0);
	assert_int_equal(st_verbose, v + 2);
	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "-vv", "-d", "1"), 0);
	assert_int_equal(st_verbose, v + 4);
	assert_true(o.duration == 1.0);
	st_verbose = v;
}

/* Repeated calls start from scratch: the same arguments give the same result. */
static void test_repeatable(void **state)
{
	struct options o;
	int i;

	for (i = 0; i < 3; i++) {
		assert_int_equal(
			PARSE(OPT_INPUT | OPT_FORMAT, &o, "report", "f.st", "--format", "json"), 0);
		assert_string_equal(o.input, "f.st");
		assert_string_equal(o.format, "json");
		assert_int_equal(PARSE(OPT_DURATION, &o, "record", "-d", "abc"), 2);
	}
}

/*
 * A call that stops in the middle of a group of short options ("-hv": help
 * is printed at 'h') leaves glibc's getopt pointing at the rest of the
 * group. opts_parse resets only optind = 1, which glibc does not treat as a
 * restart (optind = 0 does), so the next call first parses the stale "v"
 * from the previous argv and then skips its own first argument.
 */
static void test_no_state_leak_after_group(void **state)
{
	struct options o;
	int v = st_verbose;

	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "-hv"), -1);
	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "-d", "1"), 0);
	assert_true(o.duration == 1.0);
	assert_int_equal(st_verbose, v);
	st_verbose = v;

	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "-xv"), 2);
	assert_int_equal(PARSE(OPT_DURATION, &o, "record", "-d", "2"), 0);
	assert_true(o.duration == 2.0);
	assert_int_equal(st_verbose, v);
	st_verbose = v;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_options),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_pid),
		cmocka_unit_test(test_freq),
		cmocka_unit_test(test_interval),
		cmocka_unit_test(test_only),
		cmocka_unit_test(test_ringbuf),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_not_allowed),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_positional),
		cmocka_unit_test(test_help_and_verbose),
		cmocka_unit_test(test_repeatable),
		cmocka_unit_test(test_no_state_leak_after_group),
	};

	/* usage goes to stdout: keep the test log readable */
	fflush(stdout);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
