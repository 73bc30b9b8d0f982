// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "testmodel.h"

#define T0 5000000000ULL
/* ms after the start of the recording, in CLOCK_MONOTONIC ns */
#define T(ms) (T0 + (uint64_t)(ms)*1000000ULL)
#define ROOT "/"

/*
 * The model under test lives in *state and the teardown frees it, so a
 * failing assertion (which leaves the test early) leaks nothing.
 */
static struct model *new_model(void **state)
{
	model_free(*state);
	*state = model_new(T0);
	assert_non_null(*state);
	return *state;
}

static int teardown(void **state)
{
	alarm(0); /* test_cycle_does_not_hang may have left early */
	signal(SIGALRM, SIG_DFL);
	model_free(*state);
	*state = NULL;
	return 0;
}

/* Fills a seed record as the recorder reads /proc at start. */
static void seed(struct model *m, uint32_t pid, uint32_t ppid, const char *comm, bool kthread,
		 const char *cg_v2, const char *cg_mem)
{
	struct rec_proc_seed s;
	int n;

	memset(&s, 0, sizeof(s));
	s.ts = T0;
	s.pid = pid;
	s.ppid = ppid;
	s.uid = 0;
	s.kthread = kthread;
	/* a full 16-byte comm has no NUL: the model must cope */
	memcpy(s.comm, comm, strnlen(comm, sizeof(s.comm)));
	if (!kthread) {
		snprintf(s.filename, sizeof(s.filename), "/usr/bin/%s", comm);
		n = snprintf(s.args, sizeof(s.args), "%s", comm);
		s.args_len = (uint32_t)n + 1;
	}
	snprintf(s.cg_v2, sizeof(s.cg_v2), "%s", cg_v2 ? cg_v2 : "");
	snprintf(s.cg_mem, sizeof(s.cg_mem), "%s", cg_mem ? cg_mem : "");
	model_seed(m, &s);
}

/* A fork seen while recording; the task starts at ts. */
static struct proc *fork_(struct model *m, uint64_t ts, uint32_t pid, uint32_t ppid,
			  const char *comm, const char *cg_v2, const char *cg_mem)
{
	model_fork(m, ts, pid, ppid, ts, comm, cg_v2, cg_mem);
	return model_find(m, pid);
}

static void exec_args(struct model *m, uint64_t ts, uint32_t pid, const char *path,
		      const char *args, uint32_t args_len)
{
	struct proc *p = model_find(m, pid);
	const char *base = strrchr(path, '/');
	struct exec_info e = {
		.ts = ts,
		.pid = pid,
		.ppid = p ? p->ppid : 1,
		.uid = 1000,
		.start_ns = p ? p->start_ns : ts,
		.comm = base ? base + 1 : path,
		.filename = path,
		.args = args,
		.args_len = args_len,
		.cg_v2 = p ? p->cg_v2 : NULL,
		.cg_mem = p ? p->cg_mem : NULL,
	};

	model_exec(m, &e);
}

static void exec_(struct model *m, uint64_t ts, uint32_t pid, const char *path)
{
	exec_args(m, ts, pid, path, "a\0b\0", 4);
}

/* fork + exec, the usual way a job starts something */
static struct proc *spawn(struct model *m, uint64_t ts, uint32_t pid, uint32_t ppid,
			  const char *path, const char *cg_v2, const char *cg_mem)
{
	struct proc *parent = model_find(m, ppid);

	fork_(m, ts, pid, ppid, parent ? parent->comm : "?", cg_v2, cg_mem);
	exec_(m, ts + 1000, pid, path);
	return model_find(m, pid);
}

static void exit_(struct model *m, uint64_t ts, uint32_t pid, uint32_t status)
{
	struct proc *p = model_find(m, pid);

	model_exit(m, ts, pid, p ? p->start_ns : 0, status, p ? p->comm : "?");
}

static bool job_has(const struct job *j, const struct proc *p)
{
	size_t i;

	for (i = 0; i < j->nprocs; i++)
		if (j->procs[i] == p)
			return true;
	return false;
}

/* The job's processes are exactly these pids. */
static void expect_pids(struct model *m, const struct job *j, const uint32_t *pids, size_t n)
{
	size_t i;

	assert_int_equal(j->nprocs, n);
	for (i = 0; i < n; i++) {
		struct proc *p = model_find(m, pids[i]);

		assert_non_null(p);
		if (!job_has(j, p))
			fail_msg("pid %u not in job %s", pids[i], j->name);
		assert_ptr_equal(p->job, j);
	}
}

static void expect_lineage(struct model *m, uint32_t pid, const char *const *comms, size_t n)
{
	const struct proc *out[64];
	size_t got, i;

	got = model_lineage(m, model_find(m, pid), out, 64);
	assert_int_equal(got, n);
	for (i = 0; i < n; i++)
		assert_string_equal(out[i]->comm, comms[i]);
	assert_ptr_equal(out[n - 1], model_find(m, pid));
}

/* cron -> run-parts -> apt -> {pkgd, fwupd}, cron seeded under systemd */
static void build_cron_tree(struct model *m)
{
	seed(m, 1, 0, "systemd", false, "/init.scope", ROOT);
	seed(m, 100, 1, "cron", false, "/system.slice/cron.service", ROOT);
	spawn(m, T(10), 200, 100, "/bin/run-parts", "/system.slice/cron.service", ROOT);
	spawn(m, T(20), 300, 200, "/usr/bin/apt", "/system.slice/cron.service", ROOT);
	spawn(m, T(30), 400, 300, "/usr/lib/apt/pkgd", "/system.slice/cron.service", ROOT);
	spawn(m, T(31), 401, 300, "/usr/libexec/fwupd", "/system.slice/cron.service", ROOT);
}

static void test_lineage_cron_tree(void **state)
{
	static const char *const pkgd[] = { "systemd", "cron", "run-parts", "apt", "pkgd" };
	static const char *const fwupd[] = { "systemd", "cron", "run-parts", "apt", "fwupd" };
	static const char *const cron[] = { "systemd", "cron" };
	struct model *m = new_model(state);
	const struct proc *out[64];
	struct job *j;

	build_cron_tree(m);
	assert_int_equal(m->nprocs, 6);
	expect_lineage(m, 400, pkgd, 5);
	expect_lineage(m, 401, fwupd, 5);
	expect_lineage(m, 100, cron, 2);
	expect_lineage(m, 1, cron, 1);
	/* the lineage walks the parent pointers of the model */
	assert_ptr_equal(model_find(m, 400)->parent, model_find(m, 300));
	assert_ptr_equal(model_find(m, 200)->parent, model_find(m, 100));
	assert_ptr_equal(model_find(m, 100)->parent, model_find(m, 1));
	assert_null(model_find(m, 1)->parent);

	/* limited output keeps the process last and its nearest ancestors */
	assert_int_equal(model_lineage(m, model_find(m, 400), out, 2), 2);
	assert_ptr_equal(out[0], model_find(m, 300));
	assert_ptr_equal(out[1], model_find(m, 400));
	assert_int_equal(model_lineage(m, NULL, out, 64), 0);

	/* exits do not break it */
	exit_(m, T(40), 400, 0);
	exit_(m, T(41), 401, 0);
	exit_(m, T(42), 300, 0);
	exit_(m, T(43), 200, 0);
	model_finalize(m, T(100));
	expect_lineage(m, 400, pkgd, 5);
	expect_lineage(m, 401, fwupd, 5);

	/* cron.service holds the launcher: run-parts (child of cron) is the job */
	j = tm_job_named(m, "run-parts[200]");
	expect_pids(m, j, (const uint32_t[]){ 200, 300, 400, 401 }, 4);
	assert_ptr_equal(j->root, model_find(m, 200));
	assert_int_equal(j->execs, 4);
	assert_int_equal(j->max_concurrency, 4);
	assert_false(j->kernel);
	assert_ptr_equal(m->jobs, j);
	assert_null(j->next); /* systemd and cron did nothing: not causes */
}

static void test_seed_links_lazily(void **state)
{
	static const char *const want[] = { "systemd", "supervisor", "worker" };
	struct model *m = new_model(state);
	struct proc *w, *s;

	/* child first, then parent, then grandparent */
	seed(m, 50, 60, "worker", false, ROOT, NULL);
	seed(m, 60, 1, "supervisor", false, ROOT, NULL);
	seed(m, 1, 0, "systemd", false, "/init.scope", NULL);
	w = model_find(m, 50);
	s = model_find(m, 60);
	assert_non_null(w);
	assert_non_null(s);
	assert_true(w->seeded);
	assert_null(w->parent);
	assert_int_equal(w->ppid, 60);
	assert_string_equal(w->filename, "/usr/bin/worker");
	assert_int_equal(w->args_len, strlen("worker") + 1);
	assert_memory_equal(w->args, "worker", strlen("worker") + 1);
	assert_string_equal(w->cg_v2, "/");
	assert_null(w->cg_mem);
	assert_int_equal(w->start_ns, 0);
	assert_int_equal(w->seen_ns, 0);
	assert_false(proc_active(w));

	expect_lineage(m, 50, want, 3);
	assert_ptr_equal(w->parent, s);

	/* a seed for a pid already known from an event is ignored */
	fork_(m, T(5), 70, 60, "supervisor", ROOT, NULL);
	seed(m, 70, 60, "stale", false, ROOT, NULL);
	assert_int_equal(m->nprocs, 4);
	assert_false(model_find(m, 70)->seeded);
	assert_string_equal(model_find(m, 70)->comm, "supervisor");
	assert_ptr_equal(model_find(m, 70)->parent, s);

	/* a 16-byte comm without a NUL is cut to 15 characters */
	seed(m, 80, 1, "abcdefghijklmnopq", false, ROOT, NULL);
	assert_string_equal(model_find(m, 80)->comm, "abcdefghijklmno");
}

/*
 * A cron job in its own memory cgroup (cgroup v1 hybrid: cg_v2 is "/"):
 * one job named after the cgroup, the launcher sh inside it included.
 */
static void test_cgroup_job_and_concurrency(void **state)
{
	struct model *m = new_model(state);
	struct job *a, *b;
	uint32_t pid;

	seed(m, 1, 0, "systemd", false, "/init.scope", ROOT);
	seed(m, 100, 1, "cron", false, ROOT, ROOT);

	/* /st-cron-1: sh, then 4 workers alive together, then 3 in a row */
	fork_(m, T(100), 200, 100, "cron", ROOT, "/st-cron-1");
	exec_args(m, T(101), 200, "/bin/sh", "sh\0-c\0job\0", 10);
	for (pid = 201; pid <= 204; pid++)
		spawn(m, T(200 + (pid - 201) * 10), pid, 200, "/usr/bin/worker", ROOT,
		      "/st-cron-1");
	for (pid = 201; pid <= 204; pid++)
		exit_(m, T(500 + pid - 201), pid, 0);
	spawn(m, T(600), 205, 200, "/usr/bin/step", ROOT, "/st-cron-1");
	exit_(m, T(650), 205, 0);
	spawn(m, T(650), 206, 200, "/usr/bin/step", ROOT, "/st-cron-1");
	exit_(m, T(700), 206, 0);
	spawn(m, T(700), 207, 200, "/usr/bin/step", ROOT, "/st-cron-1");
	exit_(m, T(750), 207, 0);
	exit_(m, T(900), 200, 0);

	/* /st-cron-2: started by cron one after the other, never overlapping */
	spawn(m, T(100), 300, 100, "/usr/bin/backup", ROOT, "/st-cron-2");
	exit_(m, T(150), 300, 0);
	/* starts the instant the previous one exits: still one at a time */
	spawn(m, T(150), 301, 100, "/usr/bin/backup", ROOT, "/st-cron-2");
	exit_(m, T(200), 301, 0);
	spawn(m, T(300), 302, 100, "/usr/bin/backup", ROOT, "/st-cron-2");
	exit_(m, T(400), 302, 1 << 8);

	model_finalize(m, T(1000));
	assert_int_equal(m->t_end, T(1000));

	a = tm_job_named(m, "st-cron-1");
	assert_non_null(a->cgroup);
	assert_string_equal(a->cgroup, "/st-cron-1");
	expect_pids(m, a, (const uint32_t[]){ 200, 201, 202, 203, 204, 205, 206, 207 }, 8);
	assert_int_equal(a->execs, 8);
	assert_non_null(a->root);
	assert_int_equal(a->root->pid, 200);
	assert_int_equal(a->max_concurrency, 5);
	assert_false(a->kernel);

	b = tm_job_named(m, "st-cron-2");
	assert_string_equal(b->cgroup, "/st-cron-2");
	expect_pids(m, b, (const uint32_t[]){ 300, 301, 302 }, 3);
	assert_int_equal(b->execs, 3);
	assert_int_equal(b->root->pid, 300);
	assert_int_equal(b->max_concurrency, 1);

	/* ranked: more execs and more concurrency first; cron itself is no cause */
	assert_ptr_equal(m->jobs, a);
	assert_ptr_equal(a->next, b);
	assert_null(b->next);
	assert_true(a->score > b->score);
}

/* Shell children in the root cgroup: one job per child of the launcher. */
static void test_lineage_jobs_under_launcher(void **state)
{
	struct model *m = new_model(state);
	struct job *mk, *xa, *sl, *sub, *gr;

	seed(m, 1, 0, "systemd", false, "/init.scope", ROOT);
	seed(m, 500, 1, "bash", false, ROOT, ROOT);

	spawn(m, T(10), 600, 500, "/usr/bin/make", ROOT, ROOT);
	spawn(m, T(20), 601, 600, "/usr/bin/cc", ROOT, ROOT);
	spawn(m, T(30), 602, 601, "/usr/bin/as", ROOT, ROOT);
	exit_(m, T(40), 602, 0);
	exit_(m, T(41), 601, 0);
	exit_(m, T(60), 600, 2 << 8);

	spawn(m, T(100), 700, 500, "/bin/sleep", ROOT, ROOT);
	exit_(m, T(110), 700, 0);

	spawn(m, T(200), 701, 500, "/usr/bin/xargs", ROOT, ROOT);
	spawn(m, T(201), 702, 701, "/bin/grep", ROOT, ROOT);
	exit_(m, T(210), 702, 0);
	exit_(m, T(211), 701, 0);

	/* a subshell (still "bash", a launcher) starts its own jobs */
	fork_(m, T(300), 703, 500, "bash", ROOT, ROOT);
	spawn(m, T(301), 704, 703, "/bin/grep", ROOT, ROOT);
	exit_(m, T(310), 704, 0);
	exit_(m, T(311), 703, 0);

	model_finalize(m, T(1000));
	mk = tm_job_named(m, "make[600]");
	xa = tm_job_named(m, "xargs[701]");
	sl = tm_job_named(m, "sleep[700]");
	sub = tm_job_named(m, "bash[703]");
	gr = tm_job_named(m, "grep[704]");

	expect_pids(m, mk, (const uint32_t[]){ 600, 601, 602 }, 3);
	assert_ptr_equal(mk->root, model_find(m, 600));
	assert_int_equal(mk->execs, 3);
	assert_int_equal(mk->max_concurrency, 3);
	assert_string_equal(mk->cgroup, "/");

	expect_pids(m, xa, (const uint32_t[]){ 701, 702 }, 2);
	assert_ptr_equal(xa->root, model_find(m, 701));
	assert_int_equal(xa->execs, 2);
	assert_int_equal(xa->max_concurrency, 2);

	expect_pids(m, sl, (const uint32_t[]){ 700 }, 1);
	assert_ptr_equal(sl->root, model_find(m, 700));
	assert_int_equal(sl->execs, 1);
	assert_int_equal(sl->max_concurrency, 1);

	expect_pids(m, sub, (const uint32_t[]){ 703 }, 1);
	assert_int_equal(sub->execs, 0);
	expect_pids(m, gr, (const uint32_t[]){ 704 }, 1);
	assert_ptr_equal(gr->root, model_find(m, 704));

	/* by execs, then (equal score) by name, the job with no exec last */
	assert_ptr_equal(m->jobs, mk);
	assert_ptr_equal(mk->next, xa);
	assert_ptr_equal(xa->next, gr);
	assert_ptr_equal(gr->next, sl);
	assert_true(gr->score == sl->score);
	assert_ptr_equal(sl->next, sub);
	assert_null(sub->next);
	assert_int_equal(m->njobs, 5);
	/* the launcher is in no job of its own */
	assert_null(model_find(m, 500)->job);
}

static void test_kernel_threads(void **state)
{
	struct model *m = new_model(state);
	struct proc *kw, *ksw;
	struct job *j, *idle;

	/* kthreadd not flagged: children of pid 2 are kernel threads anyway */
	seed(m, 2, 0, "kthreadd", false, ROOT, ROOT);
	seed(m, 30, 2, "kworker/1:2", true, ROOT, ROOT);
	seed(m, 31, 2, "kswapd0", true, ROOT, ROOT);
	/* flagged, parent unknown */
	seed(m, 32, 0, "kworker/0:0H", true, ROOT, ROOT);
	seed(m, 40, 1, "nginx", false, "/system.slice/nginx.service", ROOT);

	kw = fork_(m, T(10), 900, 2, "kworker/u8:3", ROOT, ROOT);
	assert_non_null(kw);
	assert_true(kw->kthread);
	exit_(m, T(20), 30, 0);
	exit_(m, T(25), 32, 0);
	exit_(m, T(30), 900, 0);

	/* asked before the end: idle, so not counted as a cause */
	ksw = model_find(m, 31);
	idle = model_job_of(m, ksw);
	assert_non_null(idle);
	assert_string_equal(idle->name, "[kswapd]");
	assert_true(idle->kernel);
	assert_non_null(model_job_of(m, model_find(m, 40)));

	/* and a user-space job with an exec, which outranks the kworkers */
	spawn(m, T(40), 1000, 40, "/usr/sbin/logrotate", "/system.slice/nginx.service", ROOT);

	model_finalize(m, T(100));
	j = tm_job_named(m, "[kworker]");
	assert_true(j->kernel);
	assert_null(j->cgroup);
	expect_pids(m, j, (const uint32_t[]){ 30, 32, 900 }, 3);
	assert_int_equal(j->execs, 0);
	assert_int_equal(j->max_concurrency, 3);

	assert_string_equal(m->jobs->name, "nginx.service");
	assert_int_equal(m->jobs->nprocs, 1);
	assert_ptr_equal(m->jobs->procs[0], model_find(m, 1000));
	assert_ptr_equal(m->jobs->next, j);
	assert_ptr_equal(j->next, idle);
	assert_int_equal(idle->nprocs, 0);
	assert_null(idle->next);
	assert_int_equal(m->njobs, 3);
}

static void test_ranking_ties_and_idle(void **state)
{
	struct model *m = new_model(state);
	struct job *j;

	seed(m, 1, 0, "systemd", false, "/init.scope", ROOT);
	/* seeded, idle, asked for: the job exists but is not a cause */
	seed(m, 10, 1, "postgres", false, "/system.slice/postgresql.service", ROOT);
	assert_string_equal(model_job_of(m, model_find(m, 10))->name, "postgresql.service");

	/* equal in everything: by name */
	spawn(m, T(10), 20, 1, "/bin/true", "/st-b", ROOT);
	spawn(m, T(10), 21, 1, "/bin/true", "/st-a", ROOT);
	/* one process exec'ing 6 times beats 3 at once with one exec each */
	spawn(m, T(20), 30, 1, "/bin/sh", "/st-many", ROOT);
	exec_(m, T(21), 30, "/bin/a");
	exec_(m, T(22), 30, "/bin/b");
	exec_(m, T(23), 30, "/bin/c");
	exec_(m, T(24), 30, "/bin/d");
	exec_(m, T(25), 30, "/bin/e");
	spawn(m, T(20), 40, 1, "/bin/w", "/st-wide", ROOT);
	spawn(m, T(20), 41, 1, "/bin/w", "/st-wide", ROOT);
	spawn(m, T(20), 42, 1, "/bin/w", "/st-wide", ROOT);

	model_finalize(m, T(100));
	j = m->jobs;
	assert_string_equal(j->name, "st-many");
	assert_int_equal(j->execs, 6);
	assert_int_equal(j->max_concurrency, 1);
	assert_string_equal(model_find(m, 30)->comm, "e");
	j = j->next;
	assert_string_equal(j->name, "st-wide");
	assert_int_equal(j->execs, 3);
	assert_int_equal(j->max_concurrency, 3);
	j = j->next;
	assert_string_equal(j->name, "st-a");
	j = j->next;
	assert_string_equal(j->name, "st-b");
	assert_true(j->score == m->jobs->next->next->score);
	j = j->next;
	assert_string_equal(j->name, "postgresql.service");
	assert_int_equal(j->nprocs, 0);
	assert_null(j->next);

	/* finalizing again gives the same ranking and counts */
	model_finalize(m, T(100));
	assert_string_equal(m->jobs->name, "st-many");
	assert_int_equal(m->jobs->execs, 6);
	assert_int_equal(m->jobs->nprocs, 1);
	assert_string_equal(m->jobs->next->name, "st-wide");
	assert_int_equal(m->jobs->next->nprocs, 3);
}

static void test_pid_reuse(void **state)
{
	struct model *m = new_model(state);
	struct proc *old, *cur, *lost;

	seed(m, 1, 0, "systemd", false, "/init.scope", ROOT);
	old = spawn(m, T(10), 4242, 1, "/usr/bin/first", ROOT, ROOT);
	exit_(m, T(20), 4242, 3 << 8);
	assert_int_equal(m->nprocs, 2);

	model_fork(m, T(30), 4242, 1, T(30), "systemd", ROOT, ROOT);
	cur = model_find(m, 4242);
	assert_int_equal(m->nprocs, 3);
	assert_ptr_not_equal(cur, old);
	assert_false(cur->exited);
	assert_int_equal(cur->start_ns, T(30));
	assert_int_equal(cur->seen_ns, T(30));
	assert_int_equal(cur->execs, 0);
	assert_true(old->exited);
	assert_int_equal(old->exit_ns, T(20));
	assert_int_equal(proc_exit_code(old), 3);
	assert_string_equal(old->comm, "first");
	assert_int_equal(old->execs, 1);

	/* a repeated fork of the same task is the same process */
	model_fork(m, T(31), 4242, 1, T(30), "systemd", ROOT, ROOT);
	assert_ptr_equal(model_find(m, 4242), cur);
	assert_int_equal(m->nprocs, 3);

	/* the exit of cur was lost: a new task start ends it */
	exec_(m, T(40), 4242, "/usr/bin/second");
	assert_ptr_equal(model_find(m, 4242), cur);
	model_fork(m, T(50), 4242, 1, T(50), "systemd", ROOT, ROOT);
	lost = cur;
	cur = model_find(m, 4242);
	assert_ptr_not_equal(cur, lost);
	assert_int_equal(m->nprocs, 4);
	assert_true(lost->exited);
	assert_int_equal(lost->exit_ns, T(50));
	assert_int_equal(proc_exit_code(lost), -1);
	assert_int_equal(proc_exit_signal(lost), 0);

	/* the list keeps all of them, in order of appearance */
	assert_ptr_equal(m->procs->next, old);
	assert_ptr_equal(old->next, lost);
	assert_ptr_equal(lost->next, cur);
	assert_null(cur->next);

	/* each holder of the pid is its own job */
	model_finalize(m, T(100));
	assert_ptr_not_equal(old->job, lost->job);
	assert_string_equal(old->job->name, "first[4242]");
	assert_string_equal(lost->job->name, "second[4242]");
}

static void test_exec_of_seeded(void **state)
{
	struct model *m = new_model(state);
	struct proc *p;

	seed(m, 1, 0, "systemd", false, "/init.scope", ROOT);
	seed(m, 300, 1, "bash", false, ROOT, "/st-x");
	p = model_find(m, 300);
	assert_false(proc_active(p));

	exec_args(m, T(5), 300, "/usr/bin/apt-get", "apt-get\0update\0", 15);
	assert_ptr_equal(model_find(m, 300), p);
	assert_int_equal(m->nprocs, 2);
	assert_string_equal(p->comm, "apt-get");
	assert_string_equal(p->filename, "/usr/bin/apt-get");
	assert_int_equal(p->args_len, 15);
	assert_memory_equal(p->args, "apt-get\0update\0", 15);
	assert_int_equal(p->execs, 1);
	assert_int_equal(p->uid, 1000);
	assert_true(p->seeded);
	assert_true(proc_active(p));
	assert_string_equal(p->cg_mem, "/st-x");

	exec_args(m, T(6), 300, "/usr/lib/apt/methods/http", "http\0", 5);
	assert_int_equal(p->execs, 2);
	assert_string_equal(p->comm, "http");
	assert_int_equal(p->args_len, 5);
	assert_memory_equal(p->args, "http\0", 5);

	model_finalize(m, T(10));
	assert_string_equal(m->jobs->name, "st-x");
	assert_int_equal(m->jobs->execs, 2);
	assert_ptr_equal(m->jobs->root, p);
}

static void test_exit_codes(void **state)
{
	struct model *m = new_model(state);
	struct proc *a, *b, *c, *d;

	seed(m, 1, 0, "systemd", false, "/init.scope", ROOT);
	a = spawn(m, T(1), 10, 1, "/bin/a", ROOT, ROOT);
	b = spawn(m, T(1), 11, 1, "/bin/b", ROOT, ROOT);
	c = spawn(m, T(1), 12, 1, "/bin/c", ROOT, ROOT);
	d = spawn(m, T(1), 13, 1, "/bin/d", ROOT, ROOT);
	assert_int_equal(proc_exit_code(a), -1);
	assert_int_equal(proc_exit_signal(a), 0);

	exit_(m, T(2), 10, 3 << 8);
	exit_(m, T(2), 11, SIGKILL);
	exit_(m, T(2), 12, 0x80 | SIGSEGV); /* core dumped */
	exit_(m, T(2), 13, 0);
	assert_true(a->exited);
	assert_int_equal(a->exit_ns, T(2));
	assert_int_equal(proc_exit_code(a), 3);
	assert_int_equal(proc_exit_signal(a), 0);
	assert_int_equal(proc_exit_code(b), 137);
	assert_int_equal(proc_exit_signal(b), 9);
	assert_int_equal(proc_exit_code(c), 139);
	assert_int_equal(proc_exit_signal(c), SIGSEGV);
	assert_int_equal(proc_exit_code(d), 0);

	/* an exit of a pid never seen still makes a process */
	model_exit(m, T(3), 77, T(0), 255 << 8, "ghost");
	assert_int_equal(m->nprocs, 6);
	assert_string_equal(model_find(m, 77)->comm, "ghost");
	assert_int_equal(model_find(m, 77)->start_ns, T(0));
	assert_int_equal(proc_exit_code(model_find(m, 77)), 255);
}

static void test_marks(void **state)
{
	struct model *m = new_model(state);

	seed(m, 1, 0, "systemd", false, "/init.scope", ROOT);
	spawn(m, T(1), 10, 1, "/usr/sbin/logrotate", ROOT, ROOT);
	spawn(m, T(2), 11, 10, "/bin/gzip", ROOT, ROOT);
	exit_(m, T(3), 11, 1 << 8);
	exit_(m, T(4), 10, SIGKILL);
	model_mark(m, T(5), 10, MARK_OOM, NULL);

	assert_int_equal(m->nmarks, 5);
	assert_ptr_equal(m->marks[0].p, model_find(m, 10));
	assert_ptr_equal(m->marks[1].p, model_find(m, 11));
	assert_ptr_equal(m->marks[2].p, model_find(m, 11));
	assert_ptr_equal(m->marks[3].p, model_find(m, 10));
	assert_int_equal(m->marks[0].kind, MARK_EXEC);
	assert_int_equal(m->marks[0].pid, 10);
	assert_int_equal(m->marks[0].ts, T(1) + 1000);
	assert_string_equal(m->marks[0].detail, "logrotate");
	assert_int_equal(m->marks[1].kind, MARK_EXEC);
	assert_int_equal(m->marks[1].pid, 11);
	assert_int_equal(m->marks[1].ts, T(2) + 1000);
	assert_string_equal(m->marks[1].detail, "gzip");
	assert_int_equal(m->marks[2].kind, MARK_EXIT);
	assert_int_equal(m->marks[2].pid, 11);
	assert_int_equal(m->marks[2].ts, T(3));
	assert_string_equal(m->marks[2].detail, "gzip exit 1");
	assert_int_equal(m->marks[3].kind, MARK_EXIT);
	assert_int_equal(m->marks[3].pid, 10);
	assert_int_equal(m->marks[3].ts, T(4));
	assert_string_equal(m->marks[3].detail, "logrotate killed by signal 9");
	assert_int_equal(m->marks[4].kind, MARK_OOM);
	assert_string_equal(m->marks[4].detail, "");

	/* many marks: the array grows and keeps them all */
	for (int i = 0; i < 1000; i++)
		model_mark(m, T(10) + i, 1000 + i, MARK_TRIGGER, "x");
	assert_int_equal(m->nmarks, 1005);
	assert_int_equal(m->marks[1004].pid, 1999);
	assert_int_equal(m->marks[1004].ts, T(10) + 999);
	assert_null(m->marks[1004].p); /* no such process */
	assert_string_equal(m->marks[0].detail, "logrotate");

	assert_true(model_time_s(m, T(1500)) == 1.5);
	assert_true(model_time_s(m, T0 - 1) == 0);
}

struct evlog {
	struct mev ev[16];
	uint32_t pid[16];
	int n;
};

static void on_event(void *ctx, const struct mev *ev)
{
	struct evlog *l = ctx;

	assert_true(l->n < 16);
	l->ev[l->n] = *ev;
	l->pid[l->n] = ev->p->pid;
	l->n++;
}

static void test_listener(void **state)
{
	struct model *m = new_model(state);
	struct evlog l = { .n = 0 };
	struct proc *p;

	seed(m, 1, 0, "systemd", false, "/init.scope", ROOT);
	model_listen(m, on_event, &l);
	seed(m, 5, 1, "quiet", false, ROOT, ROOT); /* seeds are not events */
	assert_int_equal(l.n, 0);

	p = fork_(m, T(1), 10, 1, "systemd", ROOT, ROOT);
	exec_(m, T(2), 10, "/bin/job");
	exit_(m, T(3), 10, 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.ev[0].kind, MEV_FORK);
	assert_int_equal(l.ev[0].ts, T(1));
	assert_int_equal(l.ev[1].kind, MEV_EXEC);
	assert_int_equal(l.ev[1].ts, T(2));
	assert_int_equal(l.ev[2].kind, MEV_EXIT);
	assert_int_equal(l.ev[2].ts, T(3));
	assert_ptr_equal(l.ev[0].p, p);
	assert_ptr_equal(l.ev[1].p, p);
	assert_ptr_equal(l.ev[2].p, p);
	assert_int_equal(l.pid[2], 10);

	model_listen(m, NULL, NULL);
	fork_(m, T(4), 11, 1, "systemd", ROOT, ROOT);
	assert_int_equal(l.n, 3);
}

static void test_intern_and_cgroups(void **state)
{
	struct model *m = new_model(state);
	char a[32], b[32];
	const char *x, *y, *first[200];
	int i;

	strcpy(a, "/system.slice/a.service");
	strcpy(b, "/system.slice/a.service");
	x = model_intern(m, a);
	y = model_intern(m, b);
	assert_non_null(x);
	assert_ptr_equal(x, y);
	assert_ptr_not_equal(x, a);
	assert_string_equal(x, a);
	assert_ptr_not_equal(model_intern(m, "/system.slice/b.service"), x);
	assert_null(model_intern(m, NULL));
	assert_ptr_equal(model_intern(m, ""), model_intern(m, ""));

	for (i = 0; i < 200; i++) {
		snprintf(a, sizeof(a), "/s/%d", i);
		first[i] = model_intern(m, a);
		assert_non_null(first[i]);
	}
	for (i = 0; i < 200; i++) {
		snprintf(a, sizeof(a), "/s/%d", i);
		assert_ptr_equal(model_intern(m, a), first[i]);
		assert_string_equal(first[i], a);
	}

	model_cgroup_set(m, CG_V2, 5, "/a");
	model_cgroup_set(m, CG_MEM, 5, "/b");
	model_cgroup_set(m, CG_MEM, 6, "/a");
	assert_string_equal(model_cgroup(m, CG_V2, 5), "/a");
	assert_string_equal(model_cgroup(m, CG_MEM, 5), "/b");
	/* interned: the same path in both hierarchies is one string */
	assert_ptr_equal(model_cgroup(m, CG_MEM, 6), model_cgroup(m, CG_V2, 5));
	assert_ptr_equal(model_cgroup(m, CG_V2, 5), model_intern(m, "/a"));
	assert_null(model_cgroup(m, CG_V2, 6));
	assert_null(model_cgroup(m, CG_MEM, 7));
	model_cgroup_set(m, CG_V2, 5, "/c");
	assert_string_equal(model_cgroup(m, CG_V2, 5), "/c");
	assert_string_equal(model_cgroup(m, CG_MEM, 5), "/b");
	/* id 0 and unknown hierarchies are ignored */
	model_cgroup_set(m, CG_V2, 0, "/zero");
	assert_null(model_cgroup(m, CG_V2, 0));
	model_cgroup_set(m, (enum cg_hier)2, 5, "/bad");
	assert_null(model_cgroup(m, (enum cg_hier)2, 5));
}

static void test_deepest_and_timeline(void **state)
{
	struct model *m = new_model(state);
	struct proc *d;
	struct job *j;
	double v[64];
	size_t nb, i;

	build_cron_tree(m);
	/* one more exec of apt 130 s in, and a deeper process under fwupd */
	exec_(m, T(130000), 300, "/usr/bin/apt-get");
	spawn(m, T(130500), 402, 401, "/usr/bin/gpgv", "/system.slice/cron.service", ROOT);
	/* an exec of the reused pid 200 belongs to another job */
	exit_(m, T(140000), 200, 0);
	spawn(m, T(140100), 200, 100, "/usr/bin/other", "/system.slice/cron.service", ROOT);
	model_finalize(m, T(150000));

	j = tm_job_named(m, "run-parts[200]");
	assert_int_equal(j->execs, 6);
	d = job_deepest(j);
	assert_non_null(d);
	assert_int_equal(d->pid, 402);
	assert_ptr_equal(job_deepest(tm_job_named(m, "other[200]")), model_find(m, 200));

	/* 150 s: 1 s buckets would be 150 columns; 4 s gives 38 */
	assert_true(model_interval_s(m) == 4.0);
	nb = model_nbuckets(m, 4.0);
	assert_int_equal(nb, 38);
	assert_true(nb <= sizeof(v) / sizeof(v[0]));
	model_series_execs(m, j, 4.0, v, nb);
	assert_true(v[0] == 4.0); /* run-parts, apt, pkgd, fwupd */
	assert_true(v[32] == 2.0); /* apt-get at 130 s, gpgv at 130.5 s */
	for (i = 1; i < nb; i++)
		if (i != 32 && v[i] != 0)
			fail_msg("bucket %zu has %g execs", i, v[i]);
	model_series_execs(m, tm_job_named(m, "other[200]"), 4.0, v, nb);
	assert_true(v[35] == 1.0);

	/* short recordings get 1 s buckets */
	m->t_end = T(59000);
	assert_true(model_interval_s(m) == 1.0);
	assert_int_equal(model_nbuckets(m, 1.0), 60);
}

static void on_alarm(int sig)
{
	static const char msg[] = "test_model: hung on a parent cycle\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(2);
}

static void test_cycle_does_not_hang(void **state)
{
	struct model *m = new_model(state);
	const struct proc *out[64];
	struct proc *a, *b, *c;
	size_t n;

	signal(SIGALRM, on_alarm);
	alarm(20);
	seed(m, 10, 11, "a", false, ROOT, ROOT);
	seed(m, 11, 10, "b", false, ROOT, ROOT);
	a = model_find(m, 10);
	b = model_find(m, 11);

	n = model_lineage(m, a, out, 64);
	assert_true(n >= 2 && n <= 64);
	assert_ptr_equal(out[n - 1], a);
	assert_ptr_equal(out[n - 2], b);
	assert_non_null(model_job_of(m, a));
	assert_non_null(model_job_of(m, b));

	c = spawn(m, T(1), 12, 10, "/bin/c", ROOT, ROOT);
	n = model_lineage(m, c, out, 64);
	assert_true(n <= 64);
	assert_ptr_equal(out[n - 1], c);
	assert_non_null(model_job_of(m, c));
	exit_(m, T(2), 10, 0);
	exit_(m, T(3), 11, 0);
	exit_(m, T(4), 12, 0);
	model_finalize(m, T(10));
	assert_non_null(m->jobs);
	assert_non_null(a->job);
	assert_non_null(b->job);
	assert_non_null(c->job);
	alarm(0);
	signal(SIGALRM, SIG_DFL);
}

/*
 * docs/causes.md: the root of a lineage job that has a cgroup is picked
 * among its active processes (parent not in the job, seeded first, then
 * earliest); without a cgroup it is the lineage root itself. So a make
 * started before the recording and only waiting (idle, not active) names
 * the job "make[600]" but is its root only when the cgroup is unknown.
 */
static void test_lineage_root_idle_seeded(void **state)
{
	const char *cgs[2] = { ROOT, NULL };
	int i;

	for (i = 0; i < 2; i++) {
		struct model *m = new_model(state);
		struct job *j;

		seed(m, 1, 0, "systemd", false, "/init.scope", cgs[i]);
		seed(m, 500, 1, "bash", false, cgs[i], cgs[i]);
		seed(m, 600, 500, "make", false, cgs[i], cgs[i]);
		spawn(m, T(30), 602, 600, "/usr/bin/cc", cgs[i], cgs[i]);
		exit_(m, T(40), 602, 0);
		spawn(m, T(10), 601, 600, "/usr/bin/cc", cgs[i], cgs[i]);
		exit_(m, T(20), 601, 0);
		model_finalize(m, T(100));

		j = tm_job_named(m, "make[600]");
		expect_pids(m, j, (const uint32_t[]){ 601, 602 }, 2);
		assert_int_equal(j->execs, 2);
		assert_int_equal(j->max_concurrency, 1);
		assert_non_null(j->root);
		if (cgs[i]) {
			assert_string_equal(j->cgroup, "/");
			assert_int_equal(j->root->pid, 601); /* the earliest start */
		} else {
			assert_null(j->cgroup);
			assert_int_equal(j->root->pid, 600);
		}
	}
}

/*
 * Known bugs: the tests named test_bug_* assert the behaviour the model
 * should have and fail with the code as it is (see the comments for why).
 */

/*
 * A seeded process is alive from the start of the recording (model.h:
 * seen_ns is "0 if seeded"; docs/causes.md: a process lives "from its fork
 * or first exec (the recording start for seeded processes)"). model_exec() sets seen_ns of a seeded process
 * to the time of its first exec, so job_concurrency() counts it alive only
 * from then: here sh (alive all along) and a worker that ran from 100 to
 * 200 ms were alive together, concurrency 2; the model says 1.
 */
static void test_bug_seeded_exec_keeps_start(void **state)
{
	struct model *m = new_model(state);
	struct proc *sh;
	struct job *j;

	seed(m, 1, 0, "systemd", false, "/init.scope", ROOT);
	seed(m, 200, 1, "sh", false, "/st-x", ROOT);
	sh = model_find(m, 200);
	spawn(m, T(100), 201, 200, "/usr/bin/worker", "/st-x", ROOT);
	exit_(m, T(200), 201, 0);
	exec_(m, T(500), 200, "/bin/run-parts");
	exit_(m, T(600), 200, 0);
	model_finalize(m, T(1000));

	j = tm_job_named(m, "st-x");
	expect_pids(m, j, (const uint32_t[]){ 200, 201 }, 2);
	assert_ptr_equal(j->root, sh);
	assert_int_equal(j->max_concurrency, 2);
	assert_int_equal(sh->seen_ns, 0);
}

/*
 * docs/causes.md: "A process's parent is the entry of its ppid that was
 * alive when the process was first seen". Seeded processes link to their
 * parent lazily, by looking up the pid in the live table. If the parent exits and its pid is reused before the
 * child is first asked about, the child links to the newcomer, a process
 * that started after it: here cc (seeded, child of make 10) ends up with
 * the lineage systemd -> newcomer -> cc instead of make -> cc.
 */
static void test_bug_lazy_parent_after_pid_reuse(void **state)
{
	struct model *m = new_model(state);
	const struct proc *out[64];
	struct proc *make, *newcomer, *cc;
	size_t n;

	seed(m, 1, 0, "systemd", false, "/init.scope", ROOT);
	seed(m, 10, 1, "make", false, ROOT, ROOT);
	seed(m, 20, 10, "cc", false, ROOT, ROOT);
	make = model_find(m, 10);
	cc = model_find(m, 20);
	exit_(m, T(5), 10, 0);
	newcomer = fork_(m, T(7), 10, 1, "systemd", ROOT, ROOT);
	assert_ptr_not_equal(newcomer, make);
	exit_(m, T(9), 20, 0);

	n = model_lineage(m, cc, out, 64);
	assert_ptr_not_equal(cc->parent, newcomer);
	assert_int_equal(n, 3);
	assert_ptr_equal(out[0], model_find(m, 1));
	assert_ptr_equal(out[1], make);
	assert_ptr_equal(out[2], cc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_lineage_cron_tree, teardown),
		cmocka_unit_test_teardown(test_seed_links_lazily, teardown),
		cmocka_unit_test_teardown(test_cgroup_job_and_concurrency, teardown),
		cmocka_unit_test_teardown(test_lineage_jobs_under_launcher, teardown),
		cmocka_unit_test_teardown(test_kernel_threads, teardown),
		cmocka_unit_test_teardown(test_ranking_ties_and_idle, teardown),
		cmocka_unit_test_teardown(test_pid_reuse, teardown),
		cmocka_unit_test_teardown(test_exec_of_seeded, teardown),
		cmocka_unit_test_teardown(test_exit_codes, teardown),
		cmocka_unit_test_teardown(test_marks, teardown),
		cmocka_unit_test_teardown(test_listener, teardown),
		cmocka_unit_test_teardown(test_intern_and_cgroups, teardown),
		cmocka_unit_test_teardown(test_cycle_does_not_hang, teardown),
		cmocka_unit_test_teardown(test_lineage_root_idle_seeded, teardown),
		cmocka_unit_test_teardown(test_deepest_and_timeline, teardown),
		cmocka_unit_test_teardown(test_bug_seeded_exec_keeps_start, teardown),
		cmocka_unit_test_teardown(test_bug_lazy_parent_after_pid_reuse, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
