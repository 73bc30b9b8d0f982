/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Map layouts and records of the CPU concern (bpf/cpu.bpf.c, user/cpu.c).
 * Samples are counted in the kernel by (process, cause tag, stacks); the
 * agent reads the counts each second, names the stacks and records them.
 */
#ifndef SPIKETRACE_CPU_H
#define SPIKETRACE_CPU_H

#include "common.h"

#define CPU_MAX_DEPTH 127 /* frames per stack: the kernel's sysctl default */
/* Frames of a named stack at most: user, an "[unwind stopped]" mark, kernel. */
#define CPU_STACK_FRAMES_MAX (2 * CPU_MAX_DEPTH + 1)

/*
 * The cause tag of a sample: what other concerns say the thread was doing.
 * Low byte: the TLS phase (enum tls_phase in tls.h) from the TLS uprobes.
 */
#define CPU_TAG_TLS(t) ((t)&0xff)

/* Key of the in-kernel sample counts (cpu_samples map). */
struct cpu_key {
	__u32 tgid;
	__u32 tag;
	__s32 ustack; /* stack map id, or -errno when the stack was not taken */
	__s32 kstack;
};

/* Counters (cpu_cnt, per CPU). */
enum cpu_cnt {
	CPU_CNT_SAMPLES = 0, /* all samples, idle included: the host's clock */
	CPU_CNT_IDLE = 1, /* the idle task was running */
	CPU_CNT_USTACK_ERR = 2, /* no user stack (kernel thread, or a fault) */
	CPU_CNT_KSTACK_ERR = 3,
	CPU_CNT_COLLISION = 4, /* stack map bucket held another stack */
	CPU_CNT_STACKS_FULL = 5, /* stack map full */
	CPU_CNT_NR = 8,
};

/* Runnable-thread counts: per cgroup2 group, per process, per v1 memory cgroup. */
enum cpu_conc_kind {
	CPU_CONC_CGROUP = 0,
	CPU_CONC_TGID = 1,
	CPU_CONC_MEMCG = 2, /* jobs of hybrid hosts live in the v1 memory hierarchy */
};

struct cpu_conc_key {
	__u64 id; /* cgroup2 id or tgid */
	__u32 kind;
	__u32 pad;
};

struct cpu_conc {
	__s64 cur; /* runnable or running threads now */
};

/* Run-queue delay of a process: wakeup or preemption to running again. */
struct cpu_delay {
	__u64 total_ns;
	__u64 count;
	__u64 max_ns;
};

/* A thread we count as runnable (cpu_rq map), with where it was counted. */
struct cpu_rq {
	__u64 cgid;
	__u64 memcg;
	__u32 tgid;
	__u32 pad;
};

enum {
	ST_CPU_PID = 0x0501, /* BPF: a process was sampled for the first time */
	ST_CPU_STACK = 0x0502, /* userspace: a named stack, interned */
	ST_CPU_SAMPLES = 0x0503, /* userspace: sample deltas of one second */
	ST_CPU_SCHED = 0x0504, /* userspace: concurrency and run delay */
};

struct cpu_pid_rec {
	struct st_hdr h;
	__u32 pid;
	__u32 pad;
};

/*
 * A stack: id (userspace's, unique within a recording), then nframes
 * NUL-terminated names, root first. The last nkernel frames are kernel
 * code; flags say how the user part ended.
 */
#define CPU_STK_TRUNCATED 0x1 /* the user unwind stopped early (no frame pointers) */

struct cpu_stack_rec {
	struct st_hdr h;
	__u32 id;
	__u16 nframes;
	__u16 nkernel;
	__u32 flags;
	__u32 len; /* bytes of names that follow */
	char names[];
};

#define CPU_STACK_REC_MAX 60000

struct cpu_sample_ent {
	__u32 pid;
	__u32 tag;
	__u32 stack; /* cpu_stack_rec.id; 0 = no stack */
	__u32 count; /* samples in this second */
};

#define CPU_SAMPLES_MAX 2048

struct cpu_samples_rec {
	struct st_hdr h;
	__u64 period_ns;
	__u64 samples; /* all samples this second, idle included (host CPU busy) */
	__u64 idle;
	__u64 lost_stacks; /* samples whose stack the stack map could not hold */
	__u32 n;
	__u32 pad;
	struct cpu_sample_ent e[];
};

struct cpu_sched_ent {
	__u64 id; /* cgroup2 id, tgid or v1 memory cgroup id */
	__u32 kind; /* enum cpu_conc_kind */
	__u32 max_runnable; /* most runnable threads at once this second */
	__u64 delay_ns; /* cumulative run-queue delay (tgid entries) */
	__u64 delays; /* cumulative count of waits */
	__u64 max_delay_ns; /* longest wait seen so far */
};

#define CPU_SCHED_MAX 1024

struct cpu_sched_rec {
	struct st_hdr h;
	__u32 n;
	__u32 pad;
	struct cpu_sched_ent e[];
};

#endif
