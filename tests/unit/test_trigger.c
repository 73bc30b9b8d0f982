// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "trigger.h"

static struct trigger parse_ok(const char *expr)
{
	struct trigger t;
	char err[256] = "";

	if (trigger_parse(expr, &t, err, sizeof(err)))
		fail_msg("'%s' should parse: %s", expr, err);
	return t;
}

/* The error line for expr, which must not parse. */
static const char *parse_err(const char *expr)
{
	static char err[384];
	struct trigger t;

	err[0] = '\0';
	assert_int_equal(trigger_parse(expr, &t, err, sizeof(err)), -1);
	assert_non_null(strchr(err, ' ')); /* a sentence, not empty */
	assert_null(strchr(err, '\n')); /* one line */
	return err;
}

static void test_parse_valid(void **state)
{
	struct trigger t;

	(void)state;
	t = parse_ok("oom");
	assert_int_equal(t.kind, TRIG_OOM);
	assert_string_equal(t.label, "oom");
	t = parse_ok("cpu>80");
	assert_int_equal(t.kind, TRIG_CPU);
	assert_true(t.threshold == 80);
	assert_string_equal(t.label, "cpu");
	t = parse_ok(" CPU > 92.5 ");
	assert_int_equal(t.kind, TRIG_CPU);
	assert_true(t.threshold == 92.5);
	t = parse_ok("cpu>0");
	assert_true(t.threshold == 0);
	t = parse_ok("handshakes>1000");
	assert_int_equal(t.kind, TRIG_HANDSHAKES);
	assert_true(t.threshold == 1000);
	assert_string_equal(t.label, "handshakes");
	t = parse_ok("resets>0");
	assert_int_equal(t.kind, TRIG_RESETS);
	assert_true(t.threshold == 0);
	t = parse_ok("psi-mem>10");
	assert_int_equal(t.kind, TRIG_PSI_MEM);
	assert_string_equal(t.label, "psi-mem");
	t = parse_ok("exec=fwupd");
	assert_int_equal(t.kind, TRIG_EXEC);
	assert_string_equal(t.name, "fwupd");
	assert_string_equal(t.label, "exec-fwupd");
	assert_true(t.armed);
}

/* A name goes into file names: only safe characters, bounded. */
static void test_parse_exec_label(void **state)
{
	char name[300];
	struct trigger t;

	(void)state;
	t = parse_ok("exec=my prog;rm *");
	assert_string_equal(t.name, "my prog;rm *");
	assert_string_equal(t.label, "exec-my_prog_rm__");
	memcpy(name, "exec=", 5);
	memset(name + 5, 'a', 255);
	name[5 + 255] = '\0';
	t = parse_ok(name);
	assert_int_equal(strlen(t.name), 255);
	assert_int_equal(strlen(t.label), sizeof(t.label) - 1);
	assert_memory_equal(t.label, "exec-aaaa", 9);
}

static void test_parse_invalid(void **state)
{
	char expr[320];

	(void)state;
	assert_string_equal(parse_err("cpu>abc"),
			    "cpu>PCT needs a percentage (a number), got 'abc'");
	assert_string_equal(parse_err("cpu>150"),
			    "cpu>PCT needs a percentage below 100, got '150'");
	assert_non_null(strstr(parse_err("cpu>100"), "below 100"));
	assert_non_null(strstr(parse_err("cpu>-5"), "got '-5'"));
	assert_non_null(strstr(parse_err("cpu>"), "got ''"));
	assert_non_null(strstr(parse_err("cpu>1e3"), "got '1e3'"));
	assert_non_null(strstr(parse_err("nope"), "unknown trigger 'nope'"));
	assert_non_null(strstr(parse_err("nope"), "exec=NAME"));
	assert_non_null(strstr(parse_err("cpu"), "cpu>PCT"));
	assert_non_null(strstr(parse_err("cpu>=80"), "cpu>PCT"));
	assert_non_null(strstr(parse_err("cpu<80"), "cpu>PCT"));
	assert_non_null(strstr(parse_err("oom>1"), "takes no value"));
	assert_non_null(strstr(parse_err("handshakes>-1"), "handshakes>N"));
	assert_non_null(strstr(parse_err("handshakes>lots"), "got 'lots'"));
	assert_non_null(strstr(parse_err("resets>99999999999"), "at most"));
	assert_non_null(strstr(parse_err("exec="), "needs a process name"));
	assert_non_null(strstr(parse_err("exec=/usr/bin/x"), "without '/'"));
	assert_non_null(strstr(parse_err("exec>x"), "exec=NAME"));
	assert_non_null(strstr(parse_err("exec=a\tb"), "control character"));
	assert_non_null(strstr(parse_err(""), "empty"));
	assert_non_null(strstr(parse_err("   "), "empty"));
	memset(expr, 'x', sizeof(expr) - 1);
	memcpy(expr, "exec=", 5);
	expr[sizeof(expr) - 1] = '\0';
	assert_non_null(strstr(parse_err(expr), "too long"));
	memset(expr, 'x', 5 + 256);
	memcpy(expr, "exec=", 5);
	expr[5 + 256] = '\0';
	assert_non_null(strstr(parse_err(expr), "at most 255"));
}

static void test_concern(void **state)
{
	struct trigger t;

	(void)state;
	t = parse_ok("oom");
	assert_string_equal(trigger_concern(&t), "mem");
	t = parse_ok("cpu>1");
	assert_string_equal(trigger_concern(&t), "cpu");
	t = parse_ok("handshakes>1");
	assert_string_equal(trigger_concern(&t), "tls");
	t = parse_ok("resets>1");
	assert_string_equal(trigger_concern(&t), "tcp");
	t = parse_ok("exec=x");
	assert_string_equal(trigger_concern(&t), "proc");
	t = parse_ok("psi-mem>1");
	assert_null(trigger_concern(&t));
}

static void test_eval_oom(void **state)
{
	struct trigger t = parse_ok("oom");
	struct trig_oom k[2] = { { .pid = 42, .comm = "fwupd", .ts = 7 },
				 { .pid = 43, .comm = "pkgd", .ts = 8 } };
	struct trig_sample s = { 0 };
	struct trig_fire f;

	(void)state;
	assert_false(trigger_eval(&t, &s, &f));
	s.ooms = k;
	s.nooms = 1;
	assert_true(trigger_eval(&t, &s, &f));
	assert_int_equal(f.pid, 42);
	assert_int_equal(f.ts, 7);
	assert_string_equal(f.detail, "OOM kill of fwupd[42]");
	/* Each new kill fires again: events are not levels. */
	s.nooms = 2;
	assert_true(trigger_eval(&t, &s, &f));
	assert_string_equal(f.detail, "OOM kill of fwupd[42] (+1 more)");
}

static void test_eval_exec(void **state)
{
	struct trigger t = parse_ok("exec=fwupd");
	struct trig_exec e[3] = { { .pid = 1, .comm = "sh", .base = "sh" },
				  { .pid = 2, .comm = "fwupd-helper", .base = "fwupd-helper" },
				  { .pid = 3, .comm = "fw", .base = "fwupd", .ts = 99 } };
	struct trig_sample s = { .execs = e, .nexecs = 2 };
	struct trig_fire f;

	(void)state;
	assert_false(trigger_eval(&t, &s, &f)); /* not a prefix match */
	s.nexecs = 3;
	assert_true(trigger_eval(&t, &s, &f)); /* the executable's name counts too */
	assert_int_equal(f.pid, 3);
	assert_int_equal(f.ts, 99);
	assert_string_equal(f.detail, "exec of fwupd[3]");
	e[2].base = NULL;
	e[2].comm = "fwupd";
	assert_true(trigger_eval(&t, &s, &f));
}

/* Levels fire when they go above, then only after falling back. */
static void test_eval_level(void **state)
{
	struct trigger t = parse_ok("cpu>80");
	struct trig_sample s = { .cpu_ok = true, .cpu_pct = 50 };
	struct trig_fire f;

	(void)state;
	assert_false(trigger_eval(&t, &s, &f));
	s.cpu_pct = 80; /* above, not at */
	assert_false(trigger_eval(&t, &s, &f));
	s.cpu_pct = 93.25;
	assert_true(trigger_eval(&t, &s, &f));
	assert_int_equal(f.pid, 0);
	assert_int_equal(f.ts, 0);
	assert_string_equal(f.detail, "host CPU 93.2% above 80%");
	s.cpu_pct = 99;
	assert_false(trigger_eval(&t, &s, &f)); /* still above: once */
	s.cpu_ok = false; /* not measured: neither fires nor re-arms */
	s.cpu_pct = 10;
	assert_false(trigger_eval(&t, &s, &f));
	s.cpu_ok = true;
	s.cpu_pct = 95;
	assert_false(trigger_eval(&t, &s, &f));
	s.cpu_pct = 40;
	assert_false(trigger_eval(&t, &s, &f));
	s.cpu_pct = 81;
	assert_true(trigger_eval(&t, &s, &f));
}

static void test_eval_rates(void **state)
{
	struct trigger hs = parse_ok("handshakes>100"), rs = parse_ok("resets>0"),
		       psi = parse_ok("psi-mem>20");
	struct trig_sample s = { 0 };
	struct trig_fire f;

	(void)state;
	assert_false(trigger_eval(&hs, &s, &f)); /* no TLS model yet */
	s.hs_ok = true;
	s.hs_per_s = 100;
	assert_false(trigger_eval(&hs, &s, &f));
	s.hs_per_s = 850;
	assert_true(trigger_eval(&hs, &s, &f));
	assert_string_equal(f.detail, "TLS handshakes 850.0/s above 100/s");
	s.resets_ok = true;
	s.resets_per_s = 1;
	assert_true(trigger_eval(&rs, &s, &f));
	assert_string_equal(f.detail, "TCP resets 1.0/s above 0/s");
	s.psi_ok = true;
	s.psi_mem = 20.5;
	assert_true(trigger_eval(&psi, &s, &f));
	assert_string_equal(f.detail, "memory pressure 20.5% above 20%");
	/* The cpu trigger ignores the other measures. */
	hs = parse_ok("cpu>1");
	assert_false(trigger_eval(&hs, &s, &f));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),   cmocka_unit_test(test_parse_exec_label),
		cmocka_unit_test(test_parse_invalid), cmocka_unit_test(test_concern),
		cmocka_unit_test(test_eval_oom),      cmocka_unit_test(test_eval_exec),
		cmocka_unit_test(test_eval_level),    cmocka_unit_test(test_eval_rates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
