/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The CPU part of the cause model: named stacks, samples per process, tag
 * and stack, per-second CPU of each process, and the scheduler's view
 * (runnable threads per cgroup and process, run-queue delay per process).
 * Profiles are built from it with the cause frames first: job, phase,
 * process name, then the code.
 */
#ifndef ST_CPUMODEL_H
#define ST_CPUMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu.h"
#include "util.h"

struct model;
struct proc;
struct job;
struct stackset;

struct cpu_stack {
	uint32_t id;
	uint16_t nframes, nkernel;
	uint32_t flags; /* CPU_STK_* */
	bool fault; /* kernel frames of a page fault */
	char **frames; /* root first, into buf */
	char *buf;
};

/* A value at a time: cumulative samples, or the most runnable in a second. */
struct cpu_pt {
	uint64_t ts;
	uint64_t v;
};

struct cpu_series {
	struct cpu_pt *v;
	size_t n, cap;
};

struct cpu_proc {
	struct proc *p;
	uint64_t samples;
	struct cpu_series cum; /* cumulative samples at each record */
	struct cpu_series run; /* most runnable threads, per second */
	uint64_t delay_ns, delays, max_delay_ns; /* run-queue waits, cumulative */
	uint32_t max_runnable;
	bool has_sched;
};

struct cpu_cg {
	uint64_t id;
	uint32_t max_runnable;
	struct cpu_series run;
};

struct cpu_prof {
	struct proc *p;
	uint32_t tag, stack;
	uint64_t count;
	struct cpu_prof *next;
};

struct cpu_model {
	uint64_t period_ns;
	uint64_t samples, idle; /* host: every sample, and those of the idle task */
	uint64_t profiled; /* samples of processes we know */
	uint64_t unknown; /* samples of processes the model never saw */
	uint64_t nostack; /* samples without a stack */
	uint64_t truncated; /* samples whose user stack stopped early */
	uint64_t lost_stacks; /* samples the stack map had no room for (counted, no stack) */
	struct hmap stacks; /* id -> struct cpu_stack */
	struct hmap procs; /* struct proc * -> struct cpu_proc */
	struct hmap cgs[2]; /* per enum cg_hier: cgroup id -> struct cpu_cg */
	struct hmap prof; /* hash -> chain of struct cpu_prof */
	struct cpu_series host; /* cumulative non-idle samples, per record */
	uint64_t tick_ts; /* the last samples record's time: what live rates are over */
	bool sched; /* the scheduler view was recorded */
};

void cpu_model_free(struct cpu_model *c);

void model_cpu_stack(struct model *m, const struct cpu_stack_rec *r, size_t len);
void model_cpu_samples(struct model *m, const struct cpu_samples_rec *r, size_t len);
void model_cpu_sched(struct model *m, const struct cpu_sched_rec *r, size_t len);

/* CPU seconds of a process / job (0 without the cpu concern). */
double cpu_proc_s(const struct model *m, const struct proc *p);
/*
 * Fills j->cpu_s, j->run_delay_s and, when the scheduler view was recorded,
 * j->max_concurrency (most runnable threads at once: of its cgroup2 group
 * when it is one, else the sum over its processes' peaks each second, an
 * upper bound when peaks of different processes fall apart in a second).
 */
void cpu_job(struct model *m, struct job *j);
/* CPU seconds of job j per bucket. */
void model_series_cpu(const struct model *m, const struct job *j, double interval_s, double *v,
		      size_t nb);
/* Runnable threads of job j per bucket (the most in any second of it). */
void model_series_conc(const struct model *m, const struct job *j, double interval_s, double *v,
		       size_t nb);
/*
 * The profile of job only (every job when NULL) into s, whose period is
 * set: frames "job;phase;comm;code..." (the phase only when tagged:
 * tls:key_exchange, tls:signature, tls:rng, tls:handshake, page_fault).
 * 0 or -ENOMEM.
 */
int model_profile(struct model *m, const struct job *only, struct stackset *s);
/* The phase name of a tag and stack, NULL when none. */
const char *cpu_phase_name(uint32_t tag, const struct cpu_stack *st);

#endif
