// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The view of `spiketrace top` (user/top.c) on a hand-built model: a
 * cron-like job whose daemon grows and is OOM-killed, four busy workers of
 * another job, and a job whose name carries an escape code. Two samples a
 * second apart; then what an operator relies on: 80 columns and 24 lines
 * (or fewer), frames drawn over the last one (cursor home, clear to end of
 * line, never a full clear), no escape code off a terminal nor from a
 * process's name, the rates of the interval, each sort key, the filter,
 * pausing and quitting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "concern.h"
#include "model.h"
#include "testmodel.h"
#include "top.h"

#define T0 (10 * SEC)
#define TS(s) (T0 + (uint64_t)((s)*SEC))
#define HOST_SAMPLES 200 /* two CPUs at 100 Hz for a second */
#define HOST_IDLE 50
#define CRON "/st-cron-42"
#define NOISY "/st-noisy-42"
#define EVIL "/evil\033[2J\033]0;owned\007.service"
#define MAXL 64

struct fixture {
	struct model *m;
	struct top_view *v;
};

static const uint32_t workers[] = { 200, 201, 202, 203 };

/* 0-1 s: every job starts; the baseline sample at 1 s. */
static void first_second(struct model *m)
{
	size_t i;

	tm_spawn(m, TS(0.1), 100, 1, "cron", CRON);
	tm_spawn(m, TS(0.2), 101, 100, "run-parts", CRON);
	tm_spawn(m, TS(0.3), 103, 101, "pkgd", CRON);
	tm_spawn(m, TS(0.3), 104, 101, "fwupd", CRON);
	tm_mem(m, TS(0.5), 103, 16000, 64 * MIB);
	tm_mem(m, TS(0.5), 104, 1000, 8 * MIB);
	tm_spawn(m, TS(0.2), 200, 1, "st-noisyjob", NOISY);
	for (i = 1; i < 4; i++)
		tm_spawn(m, TS(0.3), workers[i], 200, "st-worker", NOISY);
	for (i = 0; i < 4; i++)
		tm_mem(m, TS(0.5), workers[i], 100, 4 * MIB);
	tm_spawn(m, TS(0.4), 300, 1, "evil\033[2J", EVIL);
	tm_mem(m, TS(0.5), 300, 10, 1 * MIB);
	tm_cpu(m, TS(0.9), HOST_SAMPLES, HOST_IDLE, workers, 4, 10);
}

/* 1-2 s: the workers burn a CPU each; pkgd grows and is OOM-killed; fwupd holds 300 MiB. */
static void second_second(struct model *m)
{
	struct oom_kill k = { .ts = TS(1.6), .victim_pid = 103, .trigger_pid = 104 };

	tm_cpu(m, TS(1.9), HOST_SAMPLES, HOST_IDLE, workers, 4, 100);
	tm_mem(m, TS(1.5), 103, 50000, 192 * MIB);
	tm_mem(m, TS(1.5), 104, 3000, 300 * MIB);
	snprintf(k.victim_comm, sizeof(k.victim_comm), "pkgd");
	snprintf(k.trigger_comm, sizeof(k.trigger_comm), "fwupd");
	k.anon_rss = 190 * MIB;
	k.memcg = model_intern(m, CRON);
	model_oom(m, &k);
	model_exit(m, TS(1.6), 103, TS(0.3), 9, "pkgd");
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->m = model_new(T0);
	assert_non_null(f->m);
	f->m->start_real_ns = 1700000000ULL * SEC;
	f->v = top_view_new(f->m, 1.0, concern_proc.bit | concern_mem.bit | concern_cpu.bit);
	assert_non_null(f->v);
	first_second(f->m);
	top_view_sample(f->v, TS(1));
	second_second(f->m);
	top_view_sample(f->v, TS(2));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	top_view_free(f->v);
	model_free(f->m);
	free(f);
	return 0;
}

static char *render(struct fixture *f, unsigned int w, unsigned int h, bool tty)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	top_view_render(f->v, out, w, h, tty);
	assert_int_equal(fclose(out), 0);
	assert_non_null(buf);
	return buf;
}

/* Drops the escape codes the view writes: CSI sequences (ESC [ ... letter). */
static void strip_csi(char *s)
{
	char *d = s;

	while (*s) {
		if (s[0] == '\033' && s[1] == '[') {
			s += 2;
			while (*s && !(*s >= '@' && *s <= '~'))
				s++;
			if (*s)
				s++;
			continue;
		}
		*d++ = *s++;
	}
	*d = '\0';
}

/* The lines of a frame as they show, split at "\r\n" (tty) or "\n", into out. */
static size_t lines_of(char *text, bool tty, char out[][256], size_t max)
{
	const char *sep = tty ? "\r\n" : "\n";
	char *s = text, *e;
	size_t n = 0;

	if (tty)
		strip_csi(text);
	while (*s && n < max) {
		e = strstr(s, sep);
		if (e)
			*e = '\0';
		snprintf(out[n++], 256, "%s", s);
		if (!e)
			break;
		s = e + strlen(sep);
	}
	return n;
}

/* The index of the column titles' line. */
static size_t titles(char l[][256], size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strncmp(l[i], "CAUSE", 5))
			return i;
	fail_msg("no column titles");
	return 0;
}

static void first_word(const char *line, char *w, size_t len)
{
	snprintf(w, len, "%s", line);
	w[strcspn(w, " ")] = '\0';
}

static void test_fits_80x24_drawn_in_place(void **state)
{
	char *out = render(*state, 80, 24, true), l[MAXL][256];
	size_t n, i;

	assert_memory_equal(out, "\033[H", 3); /* home, not a clear */
	assert_null(strstr(out, "\033[2J"));
	assert_non_null(strstr(out, "\033[K"));
	/* the name's own escape codes were made harmless */
	assert_null(strstr(out, "\033]"));
	assert_null(strchr(out, '\007'));
	assert_non_null(strstr(out, "owned?.service"));
	n = lines_of(out, true, l, MAXL);
	assert_true(n <= 24);
	assert_true(n >= 20); /* the events keep the bottom lines */
	for (i = 0; i < n; i++) {
		assert_true(strlen(l[i]) <= 80);
		assert_null(strchr(l[i], '\033'));
	}
	assert_non_null(strstr(l[0], "spiketrace top"));
	assert_non_null(strstr(l[0], "cpu 75% busy")); /* 50 idle of 200 samples */
	assert_non_null(strstr(l[1], "sort: score"));
	assert_non_null(strstr(l[1], "keys:"));
	assert_non_null(strstr(l[n - 4], "LATEST EVENTS"));
	free(out);
}

static void test_small_terminal(void **state)
{
	char *out = render(*state, 40, 6, true), l[MAXL][256];
	size_t n = lines_of(out, true, l, MAXL), i;

	assert_true(n <= 6);
	for (i = 0; i < n; i++)
		assert_true(strlen(l[i]) <= 40);
	free(out);
}

static void test_plain_has_no_escapes(void **state)
{
	char *out = render(*state, 80, 0, false), l[MAXL][256];
	size_t n, i;

	assert_null(strchr(out, '\033'));
	n = lines_of(out, false, l, MAXL);
	for (i = 0; i < n; i++)
		assert_true(strlen(l[i]) <= 80);
	/* a timestamped block: the date too, for logs; no key help */
	assert_non_null(strstr(l[1], "spiketrace top  2023-11-"));
	assert_null(strstr(out, "keys:"));
	free(out);
}

/* The row of cause name, after the titles. */
static const char *row_of(char l[][256], size_t n, const char *name)
{
	size_t i;

	for (i = titles(l, n) + 1; i < n; i++)
		if (!strncmp(l[i], name, strlen(name)) && l[i][strlen(name)] == ' ')
			return l[i];
	return NULL;
}

static void test_rates_of_the_interval(void **state)
{
	char *out = render(*state, 80, 24, true), l[MAXL][256];
	size_t n = lines_of(out, true, l, MAXL);
	const char *noisy = row_of(l, n, "st-noisy-42"), *cron = row_of(l, n, "st-cron-42");
	char cause[64];
	double pct;

	assert_non_null(noisy);
	assert_non_null(cron);
	/* 4 workers x 100 samples x 10 ms in the 1 s interval: 400 % (not 440: the baseline) */
	assert_int_equal(sscanf(noisy, "%63s %lf", cause, &pct), 2);
	assert_true(pct > 399.9 && pct < 400.1);
	/* cron: (50000 - 16000) + (3000 - 1000) faults in the second, 300M held, 1 OOM kill */
	assert_non_null(strstr(cron, " 36k "));
	assert_non_null(strstr(cron, " 300M "));
	assert_non_null(strstr(cron, "   1 "));
	/* no tls, tcp: "-"; no scheduler view: RUN "-" */
	assert_non_null(strstr(cron, "     -      - "));
	free(out);
}

static double noisy_pct(struct fixture *f)
{
	char *out = render(f, 80, 24, true), l[MAXL][256], cause[64];
	size_t n = lines_of(out, true, l, MAXL);
	const char *noisy = row_of(l, n, "st-noisy-42");
	double pct = -1;

	assert_non_null(noisy);
	assert_int_equal(sscanf(noisy, "%63s %lf", cause, &pct), 2);
	free(out);
	return pct;
}

/*
 * A refresh out of step with the cpu concern's ticks (a key, a late loop)
 * divides the CPU they brought by the time between those ticks, not by the
 * wall time between refreshes: 0.3 s after the last one (no tick since) it
 * still says 400 %, not 0; 0.7 s later, with one more 1 s tick, 400 %, not
 * the 571 % that 4 CPU-s over 0.7 s would make.
 */
static void test_cpu_rate_follows_the_ticks(void **state)
{
	struct fixture *f = *state;
	double pct;

	top_view_sample(f->v, TS(2.3));
	pct = noisy_pct(f);
	assert_true(pct > 399.9 && pct < 400.1);
	tm_cpu(f->m, TS(2.9), HOST_SAMPLES, HOST_IDLE, workers, 4, 100);
	top_view_sample(f->v, TS(3.0));
	pct = noisy_pct(f);
	assert_true(pct > 399.9 && pct < 400.1);
}

static void test_sort_keys(void **state)
{
	struct fixture *f = *state;
	char *out, l[MAXL][256], w[64];
	size_t n, t;

	/* score: the cron job (OOM kill, growth, faults) over 4 busy CPUs */
	out = render(f, 80, 24, true);
	n = lines_of(out, true, l, MAXL);
	t = titles(l, n);
	first_word(l[t + 1], w, sizeof(w));
	assert_string_equal(w, "st-cron-42");
	assert_non_null(strstr(l[t], "CAUSE (*score)"));
	free(out);

	assert_int_equal(top_view_key(f->v, 'c'), 1);
	out = render(f, 80, 24, true);
	n = lines_of(out, true, l, MAXL);
	t = titles(l, n);
	first_word(l[t + 1], w, sizeof(w));
	assert_string_equal(w, "st-noisy-42");
	assert_non_null(strstr(l[1], "sort: cpu"));
	assert_non_null(strstr(l[t], "*CPU%"));
	free(out);

	assert_int_equal(top_view_key(f->v, 'm'), 1);
	out = render(f, 80, 24, true);
	n = lines_of(out, true, l, MAXL);
	t = titles(l, n);
	first_word(l[t + 1], w, sizeof(w));
	assert_string_equal(w, "st-cron-42"); /* 300M, then 16M, then 1M */
	first_word(l[t + 2], w, sizeof(w));
	assert_string_equal(w, "st-noisy-42");
	assert_non_null(strstr(l[1], "sort: mem"));
	assert_non_null(strstr(l[t], "*RSS"));
	assert_null(strstr(l[t], "*CPU%"));
	free(out);

	assert_int_equal(top_view_key(f->v, 'a'), 1);
	out = render(f, 80, 24, false);
	assert_non_null(strstr(out, "sort: total"));
	free(out);
	assert_int_equal(top_view_key(f->v, 's'), 1);
	assert_int_equal(top_view_key(f->v, 'x'), 0);
	assert_int_equal(top_view_key(f->v, 'q'), -1);
}

static void test_filter(void **state)
{
	struct fixture *f = *state;
	char *out, l[MAXL][256];
	size_t n;

	assert_int_equal(top_view_key(f->v, '3'), 1); /* tls: nobody */
	out = render(f, 80, 24, true);
	n = lines_of(out, true, l, MAXL);
	assert_non_null(strstr(l[1], "filter: tls"));
	assert_null(row_of(l, n, "st-cron-42"));
	assert_non_null(strstr(l[titles(l, n) + 1], "(no cause active"));
	free(out);
	assert_int_equal(top_view_key(f->v, '5'), 1); /* and cpu: the workers */
	out = render(f, 80, 24, true);
	n = lines_of(out, true, l, MAXL);
	assert_non_null(strstr(l[1], "filter: tls,cpu"));
	assert_non_null(row_of(l, n, "st-noisy-42"));
	assert_null(row_of(l, n, "st-cron-42"));
	free(out);
	assert_int_equal(top_view_key(f->v, '0'), 1);
	out = render(f, 80, 24, true);
	n = lines_of(out, true, l, MAXL);
	assert_non_null(strstr(l[1], "filter: all"));
	assert_non_null(row_of(l, n, "st-cron-42"));
	free(out);
}

static void test_events(void **state)
{
	char *out = render(*state, 80, 24, true), l[MAXL][256];
	size_t n = lines_of(out, true, l, MAXL), i, oom = 0, execs = 0;

	for (i = n - 3; i < n; i++) {
		oom += strstr(l[i], " oom ") && strstr(l[i], "st-cron-42") &&
		       strstr(l[i], "pkgd[103] anon 190M, allocating fwupd[104]");
		execs += !!strstr(l[i], " exec ");
	}
	assert_int_equal(oom, 1);
	assert_true(execs >= 1);
	free(out);
	/* OOM kills in red on a terminal */
	out = render(*state, 80, 24, true);
	assert_non_null(strstr(out, "\033[31m"));
	free(out);
}

static void test_pause(void **state)
{
	struct fixture *f = *state;
	char *out;

	assert_int_equal(top_view_key(f->v, 'p'), 1);
	out = render(f, 80, 24, true);
	assert_non_null(strstr(out, "PAUSED"));
	free(out);
	assert_int_equal(top_view_key(f->v, ' '), 1);
	out = render(f, 80, 24, true);
	assert_null(strstr(out, "PAUSED"));
	free(out);
}

/* A cause whose processes are all gone and that did nothing in the interval: only under a. */
static void test_gone_causes(void **state)
{
	struct fixture *f = *state;
	char *out, l[MAXL][256];
	size_t n, i;

	for (i = 0; i < 4; i++)
		model_exit(f->m, TS(2.5), workers[i], TS(0.3), 0, "st-worker");
	top_view_sample(f->v, TS(3)); /* they left in this interval: listed */
	out = render(f, 80, 24, true);
	n = lines_of(out, true, l, MAXL);
	assert_non_null(row_of(l, n, "st-noisy-42"));
	free(out);
	top_view_sample(f->v, TS(4)); /* gone, idle */
	out = render(f, 80, 24, true);
	n = lines_of(out, true, l, MAXL);
	assert_null(row_of(l, n, "st-noisy-42"));
	assert_non_null(row_of(l, n, "st-cron-42")); /* fwupd still holds its memory */
	free(out);
	assert_int_equal(top_view_key(f->v, 'a'), 1);
	out = render(f, 80, 24, true);
	n = lines_of(out, true, l, MAXL);
	assert_non_null(row_of(l, n, "st-noisy-42"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fits_80x24_drawn_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_terminal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_has_no_escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rates_of_the_interval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpu_rate_follows_the_ticks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sort_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gone_causes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
