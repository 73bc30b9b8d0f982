// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The top cause per window (user/windows.c) on hand-built models: processes
 * exec'd into their own cgroups (one job each), CPU sample records, memory
 * snapshots and OOM kills fed as the concerns decode them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "concern.h"
#include "model.h"
#include "testmodel.h"
#include "windows.h"

#define T0 (10 * SEC)
/* s seconds after the start of the recording */
#define TS(s) (T0 + (uint64_t)((s)*SEC))
#define EPS 1e-6
#define assert_near(a, b) assert_near_eps(a, b, EPS)

static struct model *new_model(void **state)
{
	return tm_model_in(state, T0,
			   concern_by_name("proc")->bit | concern_by_name("mem")->bit |
				   concern_cpu.bit);
}

/* A process exec'd at s into cgroup cg (its job is the cgroup's last component). */
static void spawn(struct model *m, double s, uint32_t pid, const char *comm, const char *cg)
{
	tm_exec(m, TS(s), pid, 1, 1000, comm, "/usr/bin/prog", cg, NULL);
}

/* count CPU samples (10 ms each) of pid in the second before s. */
static void cpu(struct model *m, double s, uint32_t pid, uint32_t count)
{
	tm_cpu(m, TS(s), 0, 0, &pid, 1, count);
}

static void oom(struct model *m, double s, uint32_t victim, const char *comm, uint32_t trigger)
{
	struct oom_kill k = { .ts = TS(s), .victim_pid = victim, .trigger_pid = trigger };

	snprintf(k.victim_comm, sizeof(k.victim_comm), "%s", comm);
	snprintf(k.trigger_comm, sizeof(k.trigger_comm), "%s", comm);
	k.anon_rss = 200 * MIB;
	model_oom(m, &k);
	model_exit(m, TS(s) + 1000, victim, model_find(m, victim)->start_ns, 9, comm);
}

static size_t windows(struct model *m, double end_s, struct window *w, size_t max)
{
	model_finalize(m, TS(end_s));
	return model_windows(m, w, max);
}

static void expect_window(const struct window *w, const char *job, double start, double end)
{
	if (strcmp(w->job->name, job) || !tm_near(w->start_s, start, EPS) ||
	    !tm_near(w->end_s, end, EPS))
		fail_msg("window %s %.1f-%.1f, expected %s %.1f-%.1f", w->job->name, w->start_s,
			 w->end_s, job, start, end);
}

/* Two jobs, one busy in the first half, the other in the second: two windows. */
static void test_two_halves(void **state)
{
	struct model *m = new_model(state);
	struct window w[8];
	int s;

	spawn(m, 0.1, 10, "a", "/job-a");
	spawn(m, 5.1, 20, "b", "/job-b");
	for (s = 0; s < 10; s++)
		cpu(m, s + 0.5, s < 5 ? 10 : 20, s < 5 ? 50 : 80);
	assert_int_equal(windows(m, 10, w, 8), 2);
	expect_window(&w[0], "job-a", 0, 5);
	expect_window(&w[1], "job-b", 5, 10);
	assert_int_equal(w[0].first, 0);
	assert_int_equal(w[0].last, 4);
	assert_int_equal(w[1].first, 5);
	/* bucket 10 starts at the end of the recording and holds nothing */
	assert_int_equal(w[1].last, 9);
	assert_int_equal(w[0].metric, WM_CPU);
	assert_string_equal(win_metric_name(w[0].metric), "cpu_s");
	assert_near(w[0].value, 2.5);
	assert_near(w[1].value, 4.0);
	assert_near(w[0].values[WM_EXECS], 1);
	/* alone in their halves: all of the activity */
	assert_near(w[0].share, 1);
	assert_near(w[1].share, 1);
	assert_int_equal(w[0].oom_kills, 0);
	/* a smaller out[] keeps the first windows */
	assert_int_equal(model_windows(m, w, 1), 1);
	expect_window(&w[0], "job-a", 0, 5);
}

/*
 * An OOM kill's bucket goes to the victim's job even when another job would
 * outscore it there (CPU, faults, growth and an exec: 6 against 3), and it
 * is not absorbed as a flicker although it sits between two windows of that
 * other job.
 */
static void test_oom_goes_to_victim(void **state)
{
	struct model *m = new_model(state);
	struct window w[8];
	int s;

	spawn(m, 0.1, 10, "busy", "/job-busy");
	spawn(m, 0.2, 20, "pkgd", "/job-cron");
	for (s = 0; s < 10; s++)
		cpu(m, s + 0.5, 10, 100);
	tm_mem(m, TS(4.5), 10, 1000, 100 * MIB);
	spawn(m, 4.6, 11, "helper", "/job-busy");
	oom(m, 4.7, 20, "pkgd", 20);
	assert_int_equal(windows(m, 10, w, 8), 3);
	expect_window(&w[0], "job-busy", 0, 4);
	expect_window(&w[1], "job-cron", 4, 5);
	expect_window(&w[2], "job-busy", 5, 10);
	assert_int_equal(w[1].oom_kills, 1);
	assert_int_equal(w[1].metric, WM_OOM);
	assert_string_equal(win_metric_name(w[1].metric), "oom_kills");
	assert_near(w[1].value, 1);
	assert_true(w[1].share > 0 && w[1].share < 0.5);
	assert_int_equal(w[0].oom_kills + w[2].oom_kills, 0);
}

/* One bucket of another job between two windows of one job is absorbed; two are not. */
static void test_flicker(void **state)
{
	struct model *m = new_model(state);
	struct window w[8];
	int s;

	spawn(m, 0.1, 10, "a", "/job-a");
	spawn(m, 0.2, 20, "b", "/job-b");
	for (s = 0; s < 10; s++)
		cpu(m, s + 0.5, 10, 50);
	cpu(m, 3.6, 20, 90); /* bucket 3: b outdoes a */
	assert_int_equal(windows(m, 10, w, 8), 1);
	expect_window(&w[0], "job-a", 0, 10);
	/* the window counts a's own figures in the absorbed bucket */
	assert_near(w[0].values[WM_CPU], 5.0);
	assert_true(w[0].share < 1);

	m = new_model(state);
	spawn(m, 0.1, 10, "a", "/job-a");
	spawn(m, 0.2, 20, "b", "/job-b");
	for (s = 0; s < 10; s++)
		cpu(m, s + 0.5, 10, 50);
	cpu(m, 3.6, 20, 90);
	cpu(m, 4.6, 20, 90); /* buckets 3 and 4: b holds two */
	assert_int_equal(windows(m, 10, w, 8), 3);
	expect_window(&w[0], "job-a", 0, 3);
	expect_window(&w[1], "job-b", 3, 5);
	expect_window(&w[2], "job-a", 5, 10);
	assert_near(w[1].value, 1.8);
}

/* A quiet bucket inside a job's stretch is absorbed too; two quiet ones split it. */
static void test_quiet_gaps(void **state)
{
	struct model *m = new_model(state);
	struct window w[8];
	int s;

	spawn(m, 0.1, 10, "a", "/job-a");
	for (s = 0; s < 10; s++)
		if (s != 4)
			cpu(m, s + 0.5, 10, 50);
	assert_int_equal(windows(m, 10, w, 8), 1);
	expect_window(&w[0], "job-a", 0, 10);

	m = new_model(state);
	spawn(m, 0.1, 10, "a", "/job-a");
	for (s = 0; s < 10; s++)
		if (s != 4 && s != 5)
			cpu(m, s + 0.5, 10, 50);
	assert_int_equal(windows(m, 10, w, 8), 2);
	expect_window(&w[0], "job-a", 0, 4);
	expect_window(&w[1], "job-a", 6, 10);
}

/*
 * RSS growth per bucket: a seeded process's RSS before it was first sampled
 * is what it had, not 0, so its first sample is no growth; a process that
 * starts while recording grows from 0.
 */
static void test_growth(void **state)
{
	struct model *m = new_model(state);
	struct rec_proc_seed sd = { .ts = T0, .pid = 30, .ppid = 1 };
	struct window w[8];

	snprintf(sd.comm, sizeof(sd.comm), "java");
	snprintf(sd.cg_v2, sizeof(sd.cg_v2), "/job-java");
	model_seed(m, &sd);
	tm_mem(m, TS(2.5), 30, 10, 1024 * MIB);
	tm_mem(m, TS(6.5), 30, 20, 1280 * MIB);
	assert_int_equal(windows(m, 10, w, 8), 2);
	expect_window(&w[0], "job-java", 2, 3);
	expect_window(&w[1], "job-java", 6, 7);
	assert_near(w[0].values[WM_GROWTH], 0);
	assert_near(w[0].values[WM_FAULTS], 10);
	assert_near(w[1].values[WM_GROWTH], 256.0 * MIB);
	assert_int_equal(w[1].metric, WM_GROWTH);
	assert_string_equal(win_metric_name(w[1].metric), "rss_growth_bytes");

	m = new_model(state);
	spawn(m, 0.1, 10, "eater", "/job-eat");
	tm_mem(m, TS(1.5), 10, 100, 64 * MIB);
	tm_mem(m, TS(2.5), 10, 200, 192 * MIB);
	assert_int_equal(windows(m, 4, w, 8), 1);
	expect_window(&w[0], "job-eat", 0, 3);
	assert_near(w[0].values[WM_GROWTH], 192.0 * MIB);
}

/*
 * What a job holds at once counts every sample and exit, not only interval
 * ends: a process that peaks and is killed inside one interval still grew.
 */
static void test_rss_held(void **state)
{
	struct model *m = new_model(state);
	double hi[4], end[4];
	struct window w[4];

	spawn(m, 0.1, 10, "pkgd", "/job-cron");
	spawn(m, 0.1, 11, "fwupd", "/job-cron");
	tm_mem(m, TS(0.5), 10, 100, 64 * MIB);
	tm_mem(m, TS(1.3), 10, 300, 192 * MIB);
	tm_mem(m, TS(1.4), 11, 50, 40 * MIB);
	oom(m, 1.5, 10, "pkgd", 11); /* pkgd exits just after */
	tm_mem(m, TS(2.2), 11, 90, 100 * MIB);
	model_exit(m, TS(2.6), 11, model_find(m, 11)->start_ns, 0, "fwupd");
	assert_int_equal(windows(m, 4, w, 4), 1);
	assert_near(model_series_rss_held(m, m->jobs, 1, hi, end, 4), 0);
	assert_near(hi[0], 64.0 * MIB);
	assert_near(end[0], 64.0 * MIB);
	assert_near(hi[1], 232.0 * MIB); /* both at 1.4 s */
	assert_near(end[1], 40.0 * MIB);
	assert_near(hi[2], 100.0 * MIB);
	assert_near(end[2], 0);
	assert_near(hi[3], 0);
	expect_window(&w[0], "job-cron", 0, 3);
	assert_near(w[0].values[WM_GROWTH], 232.0 * MIB);
	assert_int_equal(w[0].oom_kills, 1);
}

/* Nothing happened: no window, even with a job (a seeded process that only exited). */
static void test_no_activity(void **state)
{
	struct model *m = new_model(state);
	struct rec_proc_seed sd = { .ts = T0, .pid = 30, .ppid = 1 };
	struct window w[4];

	assert_int_equal(windows(m, 10, w, 4), 0);

	m = new_model(state);
	snprintf(sd.comm, sizeof(sd.comm), "idle");
	snprintf(sd.cg_v2, sizeof(sd.cg_v2), "/job-idle");
	model_seed(m, &sd);
	model_exit(m, TS(3), 30, 0, 0, "idle");
	model_finalize(m, TS(10));
	assert_non_null(m->jobs);
	assert_int_equal(m->jobs->nprocs, 1);
	assert_int_equal(model_windows(m, w, 4), 0);
	assert_int_equal(model_windows(m, w, 0), 0);
	assert_string_equal(win_metric_name(WM_NR), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_two_halves, tm_teardown),
		cmocka_unit_test_teardown(test_oom_goes_to_victim, tm_teardown),
		cmocka_unit_test_teardown(test_flicker, tm_teardown),
		cmocka_unit_test_teardown(test_quiet_gaps, tm_teardown),
		cmocka_unit_test_teardown(test_growth, tm_teardown),
		cmocka_unit_test_teardown(test_rss_held, tm_teardown),
		cmocka_unit_test_teardown(test_no_activity, tm_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
