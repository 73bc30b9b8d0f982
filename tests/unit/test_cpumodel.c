// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The CPU part of the cause model (user/cpumodel.c) without BPF: records
 * are built in memory exactly as user/cpu.c emits them (variable length:
 * a named stack, the sample deltas of a second, the scheduler's view) and
 * fed to model_cpu_stack/model_cpu_samples/model_cpu_sched.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "concern.h"
#include "cpu.h"
#include "cpumodel.h"
#include "model.h"
#include "report.h"
#include "stacks.h"
#include "testmodel.h"
#include "tls.h"

#define T0 (10 * SEC)
/* s seconds after the start of the recording */
#define TS(s) (T0 + (uint64_t)((s)*SEC))

#define NAMES(...) (const char *const[]){ __VA_ARGS__ }, ARRAY_SIZE(NAMES_(__VA_ARGS__))
#define NAMES_(...) ((const char *const[]){ __VA_ARGS__ })
#define ENTS(...) (const struct cpu_sample_ent[]){ __VA_ARGS__ }, ARRAY_SIZE(ENTS_(__VA_ARGS__))
#define ENTS_(...) ((const struct cpu_sample_ent[]){ __VA_ARGS__ })
#define SCHED(...) (const struct cpu_sched_ent[]){ __VA_ARGS__ }, ARRAY_SIZE(SCHED_(__VA_ARGS__))
#define SCHED_(...) ((const struct cpu_sched_ent[]){ __VA_ARGS__ })

/* One entry of a samples record: count samples of pid with tag and stack. */
#define SMP(pid_, tag_, stack_, count_)                                            \
	{                                                                          \
		.pid = (pid_), .tag = (tag_), .stack = (stack_), .count = (count_) \
	}
/* Entries of a sched record. */
#define CG(id_, n_)                                                        \
	{                                                                  \
		.id = (id_), .kind = CPU_CONC_CGROUP, .max_runnable = (n_) \
	}
#define MEMCG(id_, n_)                                                    \
	{                                                                 \
		.id = (id_), .kind = CPU_CONC_MEMCG, .max_runnable = (n_) \
	}
#define TGID(pid_, n_)                                                    \
	{                                                                 \
		.id = (pid_), .kind = CPU_CONC_TGID, .max_runnable = (n_) \
	}
#define DELAY(pid_, n_, ns_, count_, max_)                                                    \
	{                                                                                     \
		.id = (pid_), .kind = CPU_CONC_TGID, .max_runnable = (n_), .delay_ns = (ns_), \
		.delays = (count_), .max_delay_ns = (max_)                                    \
	}

#define assert_near(a, b) assert_near_eps(a, b, 1e-9)

static struct model *new_model(void **state)
{
	return tm_model_in(state, T0, concern_cpu.bit);
}

/*
 * A process that execs at ts (forked first from ppid when the model knows
 * it): comm, cgroup2 and v1 memory paths interned through the exec info.
 */
static struct proc *proc_at(struct model *m, uint64_t ts, uint32_t pid, uint32_t ppid,
			    const char *comm, const char *cg_v2, const char *cg_mem)
{
	return tm_exec(m, ts, pid, ppid, 1000, comm, "/usr/bin/prog", cg_v2, cg_mem);
}

static struct proc *proc_new(struct model *m, uint32_t pid, uint32_t ppid, const char *comm)
{
	return proc_at(m, T0 + 1000, pid, ppid, comm, NULL, NULL);
}

/*
 * A stack record as user/cpu.c makes it: nframes NUL-terminated names
 * root first (the last nkernel are kernel frames, "_[k]"), len their bytes.
 * *size is the whole record. Freed by the caller.
 */
static struct cpu_stack_rec *stack_make(uint32_t id, uint16_t nkernel, uint32_t flags,
					const char *const *names, size_t n, size_t *size)
{
	struct cpu_stack_rec *r;
	size_t len = 0, i;

	for (i = 0; i < n; i++)
		len += strlen(names[i]) + 1;
	r = calloc(1, sizeof(*r) + len + 1);
	assert_non_null(r);
	for (i = 0; i < n; i++) {
		memcpy(r->names + r->len, names[i], strlen(names[i]) + 1);
		r->len += (uint32_t)strlen(names[i]) + 1;
	}
	r->id = id;
	r->nframes = (uint16_t)n;
	r->nkernel = nkernel;
	r->flags = flags;
	r->h = (struct st_hdr){ .type = ST_CPU_STACK,
				.size = (uint16_t)(sizeof(*r) + r->len),
				.ts = T0 };
	*size = sizeof(*r) + r->len;
	return r;
}

static void stack_flags(struct model *m, uint32_t id, uint16_t nkernel, uint32_t flags,
			const char *const *names, size_t n)
{
	size_t size;
	struct cpu_stack_rec *r = stack_make(id, nkernel, flags, names, n, &size);

	model_cpu_stack(m, r, size);
	free(r);
}

static void stack(struct model *m, uint32_t id, uint16_t nkernel, const char *const *names,
		  size_t n)
{
	stack_flags(m, id, nkernel, 0, names, n);
}

/* A samples record at ts without the host's totals. */
static void samples(struct model *m, uint64_t ts, const struct cpu_sample_ent *e, size_t n)
{
	tm_cpu_samples(m, ts, 0, 0, e, n);
}

static void sched(struct model *m, uint64_t ts, const struct cpu_sched_ent *e, size_t n)
{
	size_t size = sizeof(struct cpu_sched_rec) + n * sizeof(*e);
	struct cpu_sched_rec *r = calloc(1, size);

	assert_non_null(r);
	r->h = (struct st_hdr){ .type = ST_CPU_SCHED, .size = (uint16_t)size, .ts = ts };
	r->n = (uint32_t)n;
	if (n)
		memcpy(r->e, e, n * sizeof(*e));
	model_cpu_sched(m, r, size);
	free(r);
}

static const struct cpu_stack *stack_get(struct model *m, uint32_t id)
{
	return m->cpu ? hmap_get(&m->cpu->stacks, id) : NULL;
}

/* The stack whose frames joined by ';' are text, or NULL. */
static const struct stk *stk_find(const struct stackset *s, const char *text)
{
	char buf[4096];
	size_t i, off;
	uint32_t k;

	for (i = 0; i < s->n; i++) {
		buf[0] = 0;
		for (k = 0, off = 0; k < s->v[i].nframes && off < sizeof(buf); k++)
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s", k ? ";" : "",
						s->names[s->v[i].frames[k]]);
		if (!strcmp(buf, text))
			return &s->v[i];
	}
	return NULL;
}

static void expect_stk(const struct stackset *s, const char *text, uint64_t count, uint32_t ncause)
{
	const struct stk *k = stk_find(s, text);

	if (!k)
		fail_msg("no stack '%s' in the profile", text);
	if (k->count != count || k->ncause != ncause)
		fail_msg("stack '%s': count %llu ncause %u, expected %llu and %u", text,
			 (unsigned long long)k->count, k->ncause, (unsigned long long)count,
			 ncause);
}

static uint64_t stk_sum(const struct stackset *s)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < s->n; i++)
		sum += s->v[i].count;
	return sum;
}

/* 1. CPU seconds per process and per job; unknown pids; host totals. */
static void test_cpu_seconds(void **state)
{
	struct model *m = new_model(state);
	struct proc *w, *h, *db;
	struct cpu_model *c;
	struct job *j;

	w = proc_new(m, 10, 1, "worker");
	h = proc_new(m, 11, 10, "helper"); /* child of worker: same lineage job */
	db = proc_new(m, 20, 1, "db");
	assert_null(m->cpu);
	assert_near(cpu_proc_s(m, w), 0);

	tm_cpu_samples(
		m, TS(1), 400, 100,
		ENTS(SMP(10, 0, 0, 30), SMP(11, 0, 0, 20), SMP(20, 0, 0, 5), SMP(999, 0, 0, 7)));
	tm_cpu_samples(m, TS(2), 400, 300, ENTS(SMP(10, 0, 0, 10), SMP(20, 0, 0, 5)));
	tm_cpu_samples(m, TS(3), 200, 0, ENTS(SMP(999, 0, 0, 1), SMP(10, 0, 0, 1)));
	c = m->cpu;
	assert_non_null(c);
	assert_int_equal(c->period_ns, PERIOD);
	assert_int_equal(c->samples, 1000);
	assert_int_equal(c->idle, 400);
	assert_int_equal(c->unknown, 8);
	assert_int_equal(c->profiled, 71);
	assert_int_equal(c->nostack, 71);
	assert_int_equal(c->truncated, 0);
	/* host busy, cumulative, one point per record */
	assert_int_equal(c->host.n, 3);
	assert_int_equal(c->host.v[0].ts, TS(1));
	assert_int_equal(c->host.v[0].v, 300);
	assert_int_equal(c->host.v[1].v, 400);
	assert_int_equal(c->host.v[2].v, 600);
	assert_true(w->cpu_seen && h->cpu_seen && db->cpu_seen);

	assert_near(cpu_proc_s(m, w), 0.41);
	assert_near(cpu_proc_s(m, h), 0.20);
	assert_near(cpu_proc_s(m, db), 0.10);

	model_finalize(m, TS(4));
	assert_near(tm_job_named(m, "worker[10]")->cpu_s, 0.61);
	assert_near(tm_job_named(m, "db[20]")->cpu_s, 0.10);
	assert_int_equal(tm_job_named(m, "worker[10]")->nprocs, 2);
	/* the unknown pid's samples are in no job */
	for (j = m->jobs; j; j = j->next) {
		size_t i;

		for (i = 0; i < j->nprocs; i++)
			assert_int_not_equal(j->procs[i]->pid, 999);
	}
	assert_near(tm_job_named(m, "worker[10]")->cpu_s + tm_job_named(m, "db[20]")->cpu_s,
		    (double)c->profiled * PERIOD / 1e9);
	/* the CPU metric ranks the busier job first */
	assert_string_equal(m->jobs->name, "worker[10]");
}

/* A record without period keeps the last one; a process never sampled has none. */
static void test_cpu_seconds_period(void **state)
{
	struct model *m = new_model(state);
	struct proc *a = proc_new(m, 10, 1, "a"), *b = proc_new(m, 11, 1, "b");
	struct cpu_samples_rec *r = calloc(1, sizeof(*r) + sizeof(r->e[0]));

	assert_non_null(r);
	samples(m, TS(1), ENTS(SMP(10, 0, 0, 3)));
	r->h = (struct st_hdr){ .type = ST_CPU_SAMPLES, .size = sizeof(*r) + sizeof(r->e[0]) };
	r->h.ts = TS(2);
	r->n = 1;
	r->e[0] = (struct cpu_sample_ent)SMP(10, 0, 0, 2);
	model_cpu_samples(m, r, sizeof(*r) + sizeof(r->e[0]));
	free(r);
	assert_int_equal(m->cpu->period_ns, PERIOD);
	assert_near(cpu_proc_s(m, a), 0.05);
	assert_near(cpu_proc_s(m, b), 0);
	/* no samples at all: no host point */
	assert_int_equal(m->cpu->host.n, 0);
	model_finalize(m, TS(3));
	assert_near(tm_job_named(m, "a[10]")->cpu_s, 0.05);
}

/* 2. The profile: job, phase, comm, then the code, root first. */
static void build_profile(struct model *m)
{
	proc_new(m, 10, 1, "nginx");
	proc_new(m, 20, 1, "pgbench");
	stack(m, 1, 0, NAMES("main", "ssl_accept", "ECDH_compute_key"));
	stack(m, 2, 2, NAMES("main", "memset", "asm_exc_page_fault_[k]", "exc_page_fault_[k]"));
	stack(m, 3, 0, NAMES("main", "loop"));
	stack(m, 4, 2, NAMES("main", "write", "entry_SYSCALL_64_[k]", "do_syscall_64_[k]"));
	/* a user frame named like a fault handler is not a kernel frame */
	stack(m, 5, 1, NAMES("main", "handle_mm_fault", "schedule_[k]"));
	samples(m, TS(1),
		ENTS(SMP(10, TLS_PH_KX, 1, 5), SMP(10, TLS_PH_SIG, 1, 4), SMP(10, TLS_PH_RNG, 1, 3),
		     SMP(10, TLS_PH_HANDSHAKE, 3, 2), SMP(10, 0, 2, 6), SMP(10, 0, 3, 7),
		     SMP(10, 0, 0, 8),
		     /* only the low byte is the TLS phase */
		     SMP(10, 0x1200 | TLS_PH_KX, 1, 1), SMP(20, 0, 4, 9), SMP(20, 0, 5, 1),
		     /* a TLS phase wins over a page fault */
		     SMP(20, TLS_PH_KX, 2, 1)));
	samples(m, TS(2), ENTS(SMP(20, 0, 4, 1), SMP(10, 0, 3, 3)));
	model_finalize(m, TS(3));
}

static void test_profile(void **state)
{
	struct model *m = new_model(state);
	struct stackset s, one;
	size_t i;

	build_profile(m);
	assert_true(stack_get(m, 2)->fault);
	assert_false(stack_get(m, 4)->fault);
	assert_false(stack_get(m, 5)->fault);
	assert_int_equal(stack_get(m, 2)->nkernel, 2);
	assert_string_equal(cpu_phase_name(TLS_PH_KX, NULL), "tls:key_exchange");
	assert_string_equal(cpu_phase_name(TLS_PH_SIG, NULL), "tls:signature");
	assert_string_equal(cpu_phase_name(TLS_PH_RNG, NULL), "tls:rng");
	assert_string_equal(cpu_phase_name(TLS_PH_HANDSHAKE, NULL), "tls:handshake");
	assert_string_equal(cpu_phase_name(0, stack_get(m, 2)), "page_fault");
	assert_string_equal(cpu_phase_name(TLS_PH_SIG, stack_get(m, 2)), "tls:signature");
	assert_null(cpu_phase_name(0, stack_get(m, 1)));
	assert_null(cpu_phase_name(0, NULL));
	assert_null(cpu_phase_name(TLS_PH_NONE | 0xff00, NULL));

	stackset_init(&s, 0);
	assert_int_equal(model_profile(m, NULL, &s), 0);
	assert_int_equal(s.period_ns, PERIOD);
	expect_stk(&s, "nginx[10];tls:key_exchange;nginx;main;ssl_accept;ECDH_compute_key", 6, 3);
	expect_stk(&s, "nginx[10];tls:signature;nginx;main;ssl_accept;ECDH_compute_key", 4, 3);
	expect_stk(&s, "nginx[10];tls:rng;nginx;main;ssl_accept;ECDH_compute_key", 3, 3);
	expect_stk(&s, "nginx[10];tls:handshake;nginx;main;loop", 2, 3);
	expect_stk(&s,
		   "nginx[10];page_fault;nginx;main;memset;asm_exc_page_fault_[k];"
		   "exc_page_fault_[k]",
		   6, 3);
	expect_stk(&s, "nginx[10];nginx;main;loop", 10, 2);
	expect_stk(&s, "nginx[10];nginx;[no stack]", 8, 2);
	expect_stk(&s, "pgbench[20];pgbench;main;write;entry_SYSCALL_64_[k];do_syscall_64_[k]", 10,
		   2);
	expect_stk(&s, "pgbench[20];pgbench;main;handle_mm_fault;schedule_[k]", 1, 2);
	expect_stk(&s,
		   "pgbench[20];tls:key_exchange;pgbench;main;memset;asm_exc_page_fault_[k];"
		   "exc_page_fault_[k]",
		   1, 3);
	assert_int_equal(s.n, 10);
	assert_int_equal(s.total, 51);
	assert_int_equal(s.total, stk_sum(&s));
	assert_int_equal(s.total, m->cpu->profiled);
	assert_int_equal(m->cpu->nostack, 8);

	/* one job only */
	stackset_init(&one, 0);
	assert_int_equal(model_profile(m, tm_job_named(m, "pgbench[20]"), &one), 0);
	assert_int_equal(one.n, 3);
	assert_int_equal(one.total, 12);
	for (i = 0; i < one.n; i++)
		assert_string_equal(one.names[one.v[i].frames[0]], "pgbench[20]");
	stackset_free(&one);
	stackset_free(&s);
}

/* No CPU record at all: an empty profile, no error. */
static void test_profile_empty(void **state)
{
	struct model *m = new_model(state);
	struct stackset s;

	proc_new(m, 10, 1, "idle");
	model_finalize(m, TS(1));
	stackset_init(&s, 0);
	assert_int_equal(model_profile(m, NULL, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(s.total, 0);
	stackset_free(&s);
	assert_near(tm_job_named(m, "idle[10]")->cpu_s, 0);
	assert_near(tm_job_named(m, "idle[10]")->run_delay_s, 0);
}

/* 3. Folded text: exact lines, counts summing to the profiled samples. */
static void test_folded(void **state)
{
	struct model *m = new_model(state);
	char *buf = NULL, *line, *save = NULL;
	size_t size = 0;
	uint64_t sum = 0;
	FILE *f;

	proc_new(m, 10, 1, "app");
	proc_new(m, 20, 1, "db");
	proc_new(m, 30, 1, "a;b");
	stack(m, 1, 0, NAMES("main", "work"));
	stack(m, 2, 1, NAMES("main", "work", "copy_user_[k]"));
	samples(m, TS(1),
		ENTS(SMP(10, TLS_PH_KX, 1, 3), SMP(10, 0, 1, 2), SMP(10, 0, 0, 1), SMP(20, 0, 2, 4),
		     SMP(30, 0, 1, 5)));
	samples(m, TS(2), ENTS(SMP(10, 0, 1, 1), SMP(77, 0, 1, 100)));
	model_finalize(m, TS(3));

	f = open_memstream(&buf, &size);
	assert_non_null(f);
	assert_int_equal(report_folded(m, f), 0);
	fclose(f);
	assert_string_equal(buf, "a:b[30];a:b;main;work 5\n"
				 "app[10];app;[no stack] 1\n"
				 "app[10];app;main;work 3\n"
				 "app[10];tls:key_exchange;app;main;work 3\n"
				 "db[20];db;main;work;copy_user_[k] 4\n");
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *sp = strrchr(line, ' ');

		assert_non_null(sp);
		sum += strtoull(sp + 1, NULL, 10);
	}
	assert_int_equal(sum, m->cpu->profiled);
	assert_int_equal(sum, 16);
	assert_int_equal(m->cpu->unknown, 100);
	free(buf);
}

/* 4a/4b. A cgroup2 job: its group's count, its sub-cgroups summed at the same instant. */
static void build_noisy(struct model *m)
{
	proc_at(m, TS(0.5), 100, 1, "noisy", "/noisy", NULL);
	proc_at(m, TS(0.5), 101, 100, "noisy", "/noisy", NULL);
	proc_at(m, TS(0.5), 200, 1, "other", "/noisyother", NULL);
	model_cgroup_set(m, CG_V2, 50, "/noisy");
	model_cgroup_set(m, CG_V2, 51, "/noisy/sub");
	model_cgroup_set(m, CG_V2, 52, "/noisyother");
	/* processes' own counts: a cgroup job does not use them */
	sched(m, TS(1), SCHED(CG(50, 3), CG(52, 100), TGID(100, 20), TGID(101, 20)));
	sched(m, TS(2), SCHED(CG(50, 8)));
	sched(m, TS(3), SCHED(CG(50, 5)));
}

static void test_conc_cgroup(void **state)
{
	struct model *m = new_model(state);
	struct job *j;
	double v[4];

	build_noisy(m);
	model_finalize(m, TS(4));
	j = tm_job_named(m, "noisy");
	assert_string_equal(j->cgroup, "/noisy");
	assert_int_equal(j->nprocs, 2);
	assert_true(m->cpu->sched);
	assert_int_equal(j->max_concurrency, 8);
	assert_int_equal(tm_job_named(m, "noisyother")->max_concurrency, 100);

	/* a record at ts covers the second before it */
	model_series_conc(m, j, 1, v, 4);
	assert_near(v[0], 3);
	assert_near(v[1], 8);
	assert_near(v[2], 5);
	assert_near(v[3], 0);
	model_series_conc(m, j, 2, v, 2);
	assert_near(v[0], 8);
	assert_near(v[1], 5);
}

static void test_conc_cgroup_children(void **state)
{
	struct model *m = new_model(state);
	struct job *j;
	double v[4];

	build_noisy(m);
	/* "/noisyother" is not below "/noisy": only "/noisy/sub" adds */
	sched(m, TS(3), SCHED(CG(51, 4), CG(52, 1)));
	sched(m, TS(4), SCHED(CG(51, 2), CG(52, 50)));
	model_finalize(m, TS(5));
	j = tm_job_named(m, "noisy");
	assert_int_equal(j->max_concurrency, 9);
	model_series_conc(m, j, 1, v, 4);
	assert_near(v[0], 3);
	assert_near(v[1], 8);
	assert_near(v[2], 9);
	assert_near(v[3], 2);
	assert_int_equal(tm_job_named(m, "noisyother")->max_concurrency, 100);
}

/* 4c. Hybrid host: the job is a v1 memory cgroup, counted by CPU_CONC_MEMCG. */
static void test_conc_memcg(void **state)
{
	struct model *m = new_model(state);
	struct job *j;
	double v[3];

	proc_at(m, TS(0.5), 300, 1, "api", "/", "/process_api/x");
	proc_at(m, TS(0.5), 301, 300, "api", NULL, "/process_api/x");
	model_cgroup_set(m, CG_V2, 1, "/");
	model_cgroup_set(m, CG_MEM, 70, "/process_api/x");
	model_cgroup_set(m, CG_MEM, 71, "/process_api/x/y");
	model_cgroup_set(m, CG_MEM, 72, "/process_api/xy");
	/* the same id in the other hierarchy is another group */
	model_cgroup_set(m, CG_V2, 70, "/other");
	sched(m, TS(1), SCHED(CG(1, 50), MEMCG(70, 4), CG(70, 40), MEMCG(72, 30)));
	sched(m, TS(2), SCHED(MEMCG(70, 6), MEMCG(71, 1), CG(1, 60)));
	model_finalize(m, TS(3));
	j = tm_job_named(m, "x");
	assert_string_equal(j->cgroup, "/process_api/x");
	assert_int_equal(j->nprocs, 2);
	assert_int_equal(j->max_concurrency, 7);
	model_series_conc(m, j, 1, v, 3);
	assert_near(v[0], 4);
	assert_near(v[1], 7);
	assert_near(v[2], 0);
}

/* 4d. A lineage job: the sum of its processes' peaks at equal times. */
static void test_conc_lineage(void **state)
{
	struct model *m = new_model(state);
	struct job *j;
	double v[4];

	proc_at(m, TS(0.5), 400, 1, "build", NULL, NULL);
	proc_at(m, TS(0.5), 401, 400, "cc", NULL, NULL);
	proc_at(m, TS(0.5), 402, 400, "cc", NULL, NULL);
	proc_at(m, TS(0.5), 500, 1, "other", NULL, NULL);
	sched(m, TS(1), SCHED(TGID(400, 1), TGID(401, 2), TGID(500, 50)));
	sched(m, TS(2), SCHED(TGID(400, 1), TGID(401, 3), TGID(402, 2)));
	sched(m, TS(3), SCHED(TGID(402, 4), TGID(500, 7)));
	model_finalize(m, TS(4));
	j = tm_job_named(m, "build[400]");
	assert_int_equal(j->nprocs, 3);
	assert_null(j->cgroup);
	assert_int_equal(j->max_concurrency, 6);
	assert_int_equal(tm_job_named(m, "other[500]")->max_concurrency, 50);
	model_series_conc(m, j, 1, v, 4);
	assert_near(v[0], 3);
	assert_near(v[1], 6);
	assert_near(v[2], 4);
	assert_near(v[3], 0);
}

/*
 * Regression: a lineage job keeps the cgroup of the process that asked for
 * it in j->cgroup, also when that cgroup is shared (a login session, the
 * root). BPF counts every cgroup2 group; the session's count must not be
 * used for the lineage jobs in it, but the sum of the job's processes'
 * peaks (docs/causes.md, docs/cpu.md).
 */
static void test_conc_lineage_shared_cgroup(void **state)
{
	static const char session[] = "/user.slice/user-1000.slice/session-3.scope";
	struct model *m = new_model(state);
	double v[2];

	proc_at(m, TS(0.5), 600, 1, "make", session, NULL);
	proc_at(m, TS(0.5), 601, 600, "cc", session, NULL);
	proc_at(m, TS(0.5), 700, 1, "vim", session, NULL);
	proc_at(m, TS(0.5), 800, 1, "rootd", "/", NULL);
	model_cgroup_set(m, CG_V2, 1, "/");
	model_cgroup_set(m, CG_V2, 80, session);
	/* the session's count is the sum of both jobs and more */
	sched(m, TS(1),
	      SCHED(CG(80, 9), CG(1, 20), TGID(600, 1), TGID(601, 1), TGID(700, 1), TGID(800, 2)));
	model_finalize(m, TS(2));
	assert_string_equal(tm_job_named(m, "make[600]")->cgroup, session);
	assert_int_equal(tm_job_named(m, "make[600]")->max_concurrency, 2);
	assert_int_equal(tm_job_named(m, "vim[700]")->max_concurrency, 1);
	assert_int_equal(tm_job_named(m, "rootd[800]")->max_concurrency, 2);
	model_series_conc(m, tm_job_named(m, "make[600]"), 1, v, 2);
	assert_near(v[0], 2);
}

/* 4e. Without the scheduler view: the processes alive at once. */
static void test_conc_no_sched(void **state)
{
	struct model *m = new_model(state);
	double v[2];

	proc_at(m, TS(0.5), 400, 1, "build", NULL, NULL);
	proc_at(m, TS(0.6), 401, 400, "cc", NULL, NULL);
	proc_at(m, TS(0.9), 402, 400, "cc", NULL, NULL);
	model_exit(m, TS(0.8), 401, TS(0.6), 0, "cc");
	proc_at(m, TS(0.5), 100, 1, "noisy", "/noisy", NULL);
	model_cgroup_set(m, CG_V2, 50, "/noisy");
	samples(m, TS(1), ENTS(SMP(400, 0, 0, 5), SMP(402, 0, 0, 5), SMP(100, 0, 0, 1)));
	model_finalize(m, TS(2));
	assert_false(m->cpu->sched);
	assert_int_equal(tm_job_named(m, "build[400]")->max_concurrency, 2);
	assert_int_equal(tm_job_named(m, "noisy")->max_concurrency, 1);
	model_series_conc(m, tm_job_named(m, "build[400]"), 1, v, 2);
	assert_near(v[0], 0);
	assert_near(v[1], 0);
}

/* 5. Run-queue delay: cumulative per process, the last value wins; summed per job. */
static void test_run_delay(void **state)
{
	struct model *m = new_model(state);
	const struct cpu_proc *cp;
	struct proc *a, *b;
	struct job *j;

	a = proc_at(m, TS(0.5), 10, 1, "svc", NULL, NULL);
	b = proc_at(m, TS(0.5), 11, 10, "svc", NULL, NULL);
	proc_at(m, TS(0.5), 20, 1, "noisy", NULL, NULL);
	sched(m, TS(1),
	      SCHED(DELAY(10, 1, 100000000, 10, 30000000), DELAY(11, 2, 50000000, 5, 20000000),
		    DELAY(20, 4, 900000000, 90, 1000000), DELAY(999, 1, 1, 1, 1)));
	sched(m, TS(2), SCHED(DELAY(10, 0, 300000000, 25, 40000000)));
	sched(m, TS(3), SCHED(DELAY(11, 1, 250000000, 12, 60000000)));
	model_finalize(m, TS(4));
	cp = hmap_get(&m->cpu->procs, (uintptr_t)a);
	assert_non_null(cp);
	assert_true(cp->has_sched);
	assert_int_equal(cp->delay_ns, 300000000);
	assert_int_equal(cp->delays, 25);
	assert_int_equal(cp->max_delay_ns, 40000000);
	assert_int_equal(cp->max_runnable, 1);
	/* a zero peak adds no point to the series */
	assert_int_equal(cp->run.n, 1);
	cp = hmap_get(&m->cpu->procs, (uintptr_t)b);
	assert_non_null(cp);
	assert_int_equal(cp->delay_ns, 250000000);
	assert_int_equal(cp->max_delay_ns, 60000000);
	assert_int_equal(cp->max_runnable, 2);
	j = tm_job_named(m, "svc[10]");
	assert_near(j->run_delay_s, 0.55);
	assert_near(tm_job_named(m, "noisy[20]")->run_delay_s, 0.9);
	assert_near(j->cpu_s, 0);
	/* later and smaller (the agent forgot it and started over): still the last */
	sched(m, TS(4), SCHED(DELAY(10, 1, 20000000, 2, 20000000)));
	model_finalize(m, TS(5));
	assert_near(tm_job_named(m, "svc[10]")->run_delay_s, 0.27);
}

/* 6. Cut, duplicate and undefined stacks; records whose n says more than they hold. */
static void test_stack_cut(void **state)
{
	struct model *m = new_model(state);
	const struct cpu_stack *st;
	struct cpu_stack_rec *r;
	struct stackset s;
	size_t size;

	proc_new(m, 10, 1, "app");
	/* names of 4 frames, len covering the first two */
	r = stack_make(1, 0, 0, NAMES("main", "run", "work", "leaf"), &size);
	r->len = (uint32_t)strlen("main") + 1 + (uint32_t)strlen("run") + 1;
	model_cpu_stack(m, r, sizeof(*r) + r->len);
	free(r);
	st = stack_get(m, 1);
	assert_non_null(st);
	assert_int_equal(st->nframes, 2);
	assert_string_equal(st->frames[0], "main");
	assert_string_equal(st->frames[1], "run");
	assert_null(st->frames[2]);

	/* no names at all: a stack without frames */
	r = stack_make(2, 1, 0, NAMES("main", "x_[k]"), &size);
	r->len = 0;
	model_cpu_stack(m, r, sizeof(*r));
	free(r);
	st = stack_get(m, 2);
	assert_non_null(st);
	assert_int_equal(st->nframes, 0);
	assert_int_equal(st->nkernel, 0);

	/* more kernel frames claimed than frames: clamped */
	stack(m, 3, 9, NAMES("a_[k]", "exc_page_fault_[k]"));
	st = stack_get(m, 3);
	assert_int_equal(st->nframes, 2);
	assert_int_equal(st->nkernel, 2);
	assert_true(st->fault);

	/* the record ends before the names it says it has: refused whole */
	r = stack_make(4, 0, 0, NAMES("main", "lost"), &size);
	model_cpu_stack(m, r, size - 3);
	free(r);
	assert_null(stack_get(m, 4));
	/* id 0 is "no stack": never defined */
	stack(m, 0, 0, NAMES("zero"));
	assert_null(stack_get(m, 0));

	samples(m, TS(1), ENTS(SMP(10, 0, 1, 2), SMP(10, 0, 2, 3), SMP(10, 0, 4, 4)));
	model_finalize(m, TS(2));
	stackset_init(&s, 0);
	assert_int_equal(model_profile(m, NULL, &s), 0);
	expect_stk(&s, "app[10];app;main;run", 2, 2);
	expect_stk(&s, "app[10];app", 3, 2);
	expect_stk(&s, "app[10];app;[no stack]", 4, 2);
	assert_int_equal(s.total, 9);
	assert_int_equal(m->cpu->nostack, 4);
	stackset_free(&s);
}

/*
 * Regression: the kernel frames are the last ones, so a cut record loses
 * them first; nkernel must be reduced by the frames lost (not clamped to
 * the frames kept), or user frames are taken for kernel ones (a page_fault
 * phase from a user function's name).
 */
static void test_stack_cut_kernel(void **state)
{
	struct model *m = new_model(state);
	const struct cpu_stack *st;
	struct cpu_stack_rec *r;
	size_t size;

	r = stack_make(1, 2, 0, NAMES("main", "handle_mm_fault_cb", "sys_read_[k]", "x_[k]"),
		       &size);
	r->len = (uint32_t)strlen("main") + 1 + (uint32_t)strlen("handle_mm_fault_cb") + 1;
	model_cpu_stack(m, r, sizeof(*r) + r->len);
	free(r);
	st = stack_get(m, 1);
	assert_non_null(st);
	assert_int_equal(st->nframes, 2);
	assert_int_equal(st->nkernel, 0);
	assert_false(st->fault);
}

static void test_stack_duplicate(void **state)
{
	struct model *m = new_model(state);
	struct stackset s;

	proc_new(m, 10, 1, "app");
	stack_flags(m, 7, 0, CPU_STK_TRUNCATED, NAMES("[unwind stopped]", "first"));
	stack(m, 7, 0, NAMES("second", "other", "frames"));
	assert_int_equal(m->cpu->stacks.len, 1);
	assert_int_equal(stack_get(m, 7)->nframes, 2);
	assert_string_equal(stack_get(m, 7)->frames[1], "first");
	assert_int_equal(stack_get(m, 7)->flags, CPU_STK_TRUNCATED);
	/* a stack id never defined is no stack */
	samples(m, TS(1), ENTS(SMP(10, 0, 7, 3), SMP(10, 0, 42, 2), SMP(10, 0, 0, 1)));
	assert_int_equal(m->cpu->truncated, 3);
	assert_int_equal(m->cpu->nostack, 3);
	model_finalize(m, TS(2));
	stackset_init(&s, 0);
	assert_int_equal(model_profile(m, NULL, &s), 0);
	expect_stk(&s, "app[10];app;[unwind stopped];first", 3, 2);
	expect_stk(&s, "app[10];app;[no stack]", 3, 2);
	assert_int_equal(s.n, 2);
	stackset_free(&s);
}

static void test_samples_clamped(void **state)
{
	struct model *m = new_model(state);
	struct cpu_samples_rec *r = calloc(1, sizeof(*r) + 5 * sizeof(r->e[0]));
	struct cpu_sched_rec *q = calloc(1, sizeof(*q) + 3 * sizeof(q->e[0]));
	struct proc *a;
	int i;

	assert_non_null(r);
	assert_non_null(q);
	a = proc_new(m, 10, 1, "app");
	proc_new(m, 11, 1, "other");
	r->h = (struct st_hdr){ .type = ST_CPU_SAMPLES, .ts = TS(1) };
	r->period_ns = PERIOD;
	r->samples = 10;
	for (i = 0; i < 5; i++)
		r->e[i] = (struct cpu_sample_ent)SMP(i < 2 ? 10 : 11, 0, 0, 1000);
	r->e[0].count = 2;
	r->e[1].count = 3;
	/* n says 5, the record holds 2 (and part of a third) */
	r->n = 5;
	r->h.size = (uint16_t)(sizeof(*r) + 2 * sizeof(r->e[0]) + 4);
	model_cpu_samples(m, r, r->h.size);
	assert_int_equal(m->cpu->profiled, 5);
	assert_int_equal(m->cpu->samples, 10);
	/* n says 1, the record holds 5: n wins */
	r->h.ts = TS(2);
	r->n = 1;
	r->h.size = (uint16_t)(sizeof(*r) + 5 * sizeof(r->e[0]));
	model_cpu_samples(m, r, r->h.size);
	assert_int_equal(m->cpu->profiled, 7);
	/* an empty record: host totals only */
	r->n = 0;
	r->h.ts = TS(3);
	model_cpu_samples(m, r, sizeof(*r));
	assert_int_equal(m->cpu->samples, 30);
	assert_int_equal(m->cpu->profiled, 7);
	assert_near(cpu_proc_s(m, a), 0.07);
	assert_near(cpu_proc_s(m, model_find(m, 11)), 0);

	/* the same for the scheduler view */
	q->h = (struct st_hdr){ .type = ST_CPU_SCHED, .ts = TS(1) };
	q->n = 3;
	q->e[0] = (struct cpu_sched_ent)TGID(10, 2);
	q->e[1] = (struct cpu_sched_ent)TGID(11, 99);
	q->e[2] = (struct cpu_sched_ent)TGID(11, 99);
	model_cpu_sched(m, q, sizeof(*q) + sizeof(q->e[0]));
	free(q);
	free(r);
	model_finalize(m, TS(4));
	assert_int_equal(tm_job_named(m, "app[10]")->max_concurrency, 2);
	/* other[11]'s entries were past the record's end */
	assert_int_equal(tm_job_named(m, "other[11]")->max_concurrency, 0);
}

/*
 * Regression: a stack record (from a recording) may name up to 65535
 * frames; the model keeps at most CPU_STACK_FRAMES_MAX, so building the
 * profile never writes past its id buffer. Run in a child so an overflow
 * cannot take the suite down.
 */
static int deep_stack_child(void)
{
	enum { DEEP = 600 };
	static const char *names[DEEP];
	struct model *m = model_new(T0);
	struct stackset s;
	size_t i, size;
	struct cpu_stack_rec *r;
	int rc = 0;

	if (!m)
		return 3;
	for (i = 0; i < DEEP; i++)
		names[i] = "f";
	proc_new(m, 10, 1, "deep");
	r = stack_make(1, 0, 0, names, DEEP, &size);
	model_cpu_stack(m, r, size);
	free(r);
	samples(m, TS(1), ENTS(SMP(10, 0, 1, 5)));
	model_finalize(m, TS(2));
	stackset_init(&s, 0);
	if (model_profile(m, NULL, &s))
		rc = 1;
	for (i = 0; i < s.n; i++)
		if (s.v[i].nframes > 2 * CPU_MAX_DEPTH + 8)
			rc = 2;
	if (s.total != 5)
		rc = 1;
	stackset_free(&s);
	model_free(m);
	return rc;
}

static void test_stack_too_deep(void **state)
{
	pid_t pid;
	int st = 0;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		/* cmocka's handlers would carry on with the suite in the child */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		signal(SIGILL, SIG_DFL);
		signal(SIGFPE, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		alarm(5); /* a corrupt heap may also hang it */
		_exit(deep_stack_child());
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st))
		fail_msg("profiling a 600-frame stack killed the child (signal %d)",
			 WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	if (WEXITSTATUS(st) == 2)
		fail_msg("a 600-frame stack went into the profile whole (ids buffer overrun)");
	if (WEXITSTATUS(st))
		fail_msg("profiling a 600-frame stack: child exit %d (error, samples lost, or "
			 "a sanitizer report above)",
			 WEXITSTATUS(st));
}

/* 7. CPU seconds per bucket from the cumulative samples. */
static void test_series_cpu(void **state)
{
	struct model *m = new_model(state);
	struct job *j;
	double v[5];

	proc_new(m, 10, 1, "app");
	proc_new(m, 11, 10, "app");
	proc_new(m, 20, 1, "other");
	stack(m, 1, 0, NAMES("a"));
	stack(m, 2, 0, NAMES("b"));
	/* two entries of one process in a record: one point */
	samples(m, TS(1), ENTS(SMP(10, 0, 1, 3), SMP(10, 0, 2, 2), SMP(11, 0, 0, 5)));
	samples(m, TS(2), ENTS(SMP(10, 0, 1, 20), SMP(20, 0, 0, 50)));
	samples(m, TS(4), ENTS(SMP(11, 0, 0, 10)));
	samples(m, TS(4.5), ENTS(SMP(11, 0, 0, 1)));
	model_finalize(m, TS(5));
	j = tm_job_named(m, "app[10]");
	assert_near(j->cpu_s, 0.41);
	model_series_cpu(m, j, 1, v, 5);
	assert_near(v[0], 0.10);
	assert_near(v[1], 0.20);
	assert_near(v[2], 0);
	assert_near(v[3], 0.10);
	assert_near(v[4], 0.01);
	assert_near(v[0] + v[1] + v[2] + v[3] + v[4], j->cpu_s);
	model_series_cpu(m, j, 2, v, 3);
	assert_near(v[0], 0.30);
	assert_near(v[1], 0.10);
	assert_near(v[2], 0.01);
	model_series_cpu(m, tm_job_named(m, "other[20]"), 1, v, 3);
	assert_near(v[0], 0);
	assert_near(v[1], 0.5);
	assert_near(v[2], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_cpu_seconds, tm_teardown),
		cmocka_unit_test_teardown(test_cpu_seconds_period, tm_teardown),
		cmocka_unit_test_teardown(test_profile, tm_teardown),
		cmocka_unit_test_teardown(test_profile_empty, tm_teardown),
		cmocka_unit_test_teardown(test_folded, tm_teardown),
		cmocka_unit_test_teardown(test_conc_cgroup, tm_teardown),
		cmocka_unit_test_teardown(test_conc_cgroup_children, tm_teardown),
		cmocka_unit_test_teardown(test_conc_memcg, tm_teardown),
		cmocka_unit_test_teardown(test_conc_lineage, tm_teardown),
		cmocka_unit_test_teardown(test_conc_lineage_shared_cgroup, tm_teardown),
		cmocka_unit_test_teardown(test_conc_no_sched, tm_teardown),
		cmocka_unit_test_teardown(test_run_delay, tm_teardown),
		cmocka_unit_test_teardown(test_stack_cut, tm_teardown),
		cmocka_unit_test_teardown(test_stack_cut_kernel, tm_teardown),
		cmocka_unit_test_teardown(test_stack_duplicate, tm_teardown),
		cmocka_unit_test_teardown(test_samples_clamped, tm_teardown),
		cmocka_unit_test_teardown(test_stack_too_deep, tm_teardown),
		cmocka_unit_test_teardown(test_series_cpu, tm_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
