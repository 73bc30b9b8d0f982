/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the unit tests of the model and of what reads it (windows, reports,
 * top) build models with: processes seeded or exec'd, CPU sample records
 * and memory snapshots, fed as the concerns decode them; a model that lives
 * in a fixture's *state; doubles compared within a tolerance. Include after
 * <cmocka.h>.
 */
#ifndef ST_TESTMODEL_H
#define ST_TESTMODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "concern.h"
#include "cpu.h"
#include "cpumodel.h"
#include "model.h"

#define SEC 1000000000ULL
#define MIB (1024ULL * 1024)
#define PERIOD 10000000ULL /* 10 ms a CPU sample: 100 Hz */

/* ---- a model in a fixture's state ---- */

/*
 * A new model starting at t0 that recorded the concerns whose bits are
 * set, in *state (the model there before is freed), so a failing assertion
 * leaks nothing: the teardown, tm_teardown() or the test's own, frees it.
 */
static inline struct model *tm_model_in(void **state, uint64_t t0, unsigned int recorded)
{
	struct model *m;

	model_free(*state);
	*state = m = model_new(t0);
	assert_non_null(m);
	m->concerns = recorded;
	return m;
}

static inline int tm_teardown(void **state)
{
	model_free(*state);
	*state = NULL;
	return 0;
}

/*
 * A model of a whole recording on host: every concern recorded, kernel
 * 6.1.0, started at 2023-11-14 22:13:20 UTC (t0 on the monotonic clock).
 */
static inline struct model *tm_recording(uint64_t t0, const char *host)
{
	struct model *m = model_new(t0);
	size_t i;

	assert_non_null(m);
	for (i = 0; i < nconcerns; i++)
		m->concerns |= concerns[i]->bit;
	snprintf(m->host, sizeof(m->host), "%s", host);
	snprintf(m->kernel, sizeof(m->kernel), "6.1.0");
	m->start_real_ns = 1700000000ULL * 1000000000ULL;
	return m;
}

/* ---- processes ---- */

/*
 * A process seeded at ts as the recorder reads /proc when it starts: its
 * executable path (comm its last component), cgroup2 path cg, memory
 * cgroup "/".
 */
static inline void tm_seed(struct model *m, uint64_t ts, uint32_t pid, uint32_t ppid,
			   const char *path, const char *cg)
{
	const char *base = strrchr(path, '/');
	const char *comm = base ? base + 1 : path;
	struct rec_proc_seed s;

	memset(&s, 0, sizeof(s));
	s.ts = ts;
	s.pid = pid;
	s.ppid = ppid;
	memcpy(s.comm, comm, strnlen(comm, sizeof(s.comm)));
	snprintf(s.filename, sizeof(s.filename), "%s", path);
	snprintf(s.cg_v2, sizeof(s.cg_v2), "%s", cg);
	snprintf(s.cg_mem, sizeof(s.cg_mem), "/");
	model_seed(m, &s);
}

/*
 * pid execs filename (NULL: /usr/bin/comm) at ts as uid, with comm as its
 * one argument, in cgroup2 path cg_v2 and v1 memory cgroup cg_mem (NULL:
 * not known); forked from ppid first, at ts, when the model knows ppid.
 */
static inline struct proc *tm_exec(struct model *m, uint64_t ts, uint32_t pid, uint32_t ppid,
				   uint32_t uid, const char *comm, const char *filename,
				   const char *cg_v2, const char *cg_mem)
{
	struct proc *parent = model_find(m, ppid);
	char path[64];
	struct exec_info x = { .ts = ts,
			       .pid = pid,
			       .ppid = ppid,
			       .uid = uid,
			       .start_ns = ts,
			       .comm = comm,
			       .filename = filename ? filename : path,
			       .args = comm,
			       .args_len = (uint32_t)strlen(comm) + 1,
			       .cg_v2 = cg_v2,
			       .cg_mem = cg_mem };

	snprintf(path, sizeof(path), "/usr/bin/%s", comm);
	if (parent)
		model_fork(m, ts, pid, ppid, ts, parent->comm, cg_v2, cg_mem);
	model_exec(m, &x);
	assert_non_null(model_find(m, pid));
	return model_find(m, pid);
}

/* tm_exec() as root of /usr/bin/comm, in cgroup2 path cg. */
static inline struct proc *tm_spawn(struct model *m, uint64_t ts, uint32_t pid, uint32_t ppid,
				    const char *comm, const char *cg)
{
	return tm_exec(m, ts, pid, ppid, 0, comm, NULL, cg, NULL);
}

/*
 * A memory snapshot of pid at ts: cumulative faults, current RSS (all
 * anonymous); its peak the most RSS reported so far.
 */
static inline void tm_mem(struct model *m, uint64_t ts, uint32_t pid, uint64_t faults, uint64_t rss)
{
	struct proc *p = model_find(m, pid);
	struct memstat st = { .faults = faults, .rss = rss, .rss_anon = rss, .seen = true };

	st.rss_peak = p && p->mem.rss_peak > rss ? p->mem.rss_peak : rss;
	model_mem(m, ts, pid, &st);
}

/* ---- CPU ---- */

/*
 * A samples record at ts, as user/cpu.c emits one a second: the host took
 * samples samples (PERIOD each), idle of them idle; then the entries e[n].
 */
static inline void tm_cpu_samples(struct model *m, uint64_t ts, uint64_t samples, uint64_t idle,
				  const struct cpu_sample_ent *e, size_t n)
{
	size_t size = sizeof(struct cpu_samples_rec) + n * sizeof(*e);
	struct cpu_samples_rec *r = calloc(1, size);

	assert_non_null(r);
	r->h = (struct st_hdr){ .type = ST_CPU_SAMPLES, .size = (uint16_t)size, .ts = ts };
	r->period_ns = PERIOD;
	r->samples = samples;
	r->idle = idle;
	r->n = (uint32_t)n;
	if (n)
		memcpy(r->e, e, n * sizeof(*e));
	model_cpu_samples(m, r, size);
	free(r);
}

/* tm_cpu_samples() where each of pids[n] ran count samples, on no known stack. */
static inline void tm_cpu(struct model *m, uint64_t ts, uint64_t samples, uint64_t idle,
			  const uint32_t *pids, size_t n, uint32_t count)
{
	struct cpu_sample_ent *e = calloc(n ? n : 1, sizeof(*e));
	size_t i;

	assert_non_null(e);
	for (i = 0; i < n; i++)
		e[i] = (struct cpu_sample_ent){ .pid = pids[i], .count = count };
	tm_cpu_samples(m, ts, samples, idle, e, n);
	free(e);
}

/* ---- doubles ---- */

/* The job of that name after model_finalize(); fails the test when absent. */
static inline struct job *tm_job_named(struct model *m, const char *name)
{
	struct job *j;

	for (j = m->jobs; j; j = j->next)
		if (!strcmp(j->name, name))
			return j;
	fail_msg("no job named '%s'", name);
	return NULL;
}

static inline bool tm_near(double a, double b, double eps)
{
	return a - b < eps && b - a < eps;
}

#define assert_near_eps(a, b, eps)                                        \
	do {                                                              \
		double a_ = (a), b_ = (b);                                \
		if (!tm_near(a_, b_, (eps)))                              \
			fail_msg("%s = %.9f, expected %.9f", #a, a_, b_); \
	} while (0)

#endif
