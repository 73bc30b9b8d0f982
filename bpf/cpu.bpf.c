// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The CPU concern: a perf_event sampler and the scheduler's view.
 *
 * Each sample is counted in the kernel by (process, cause tag, user stack,
 * kernel stack), so the agent reads a few thousand counters a second
 * instead of one record per sample. The cause tag is the hook other
 * concerns use: the TLS uprobes keep a per-thread phase (tls_maps.bpf.h)
 * that lands in the tag. The same program also counts CPU per TLS process
 * and phase for the TLS concern, so one sampler serves both.
 *
 * The scheduler view counts runnable threads per cgroup and per process
 * (their peak each second is the concurrency) and the run-queue delay:
 * from wakeup or preemption to running again.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "core_fixes.bpf.h"
#include "cpu.h"
/* This concern's ring buffer: a record when a process is first sampled: rare. */
#define ST_RING_BYTES (256 << 10)
#include "maps.bpf.h"
#include "tls_maps.bpf.h"

#define EEXIST 17
#define ENOMEM 12

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile bool stacks_on = false; /* the cpu concern was asked for */
const volatile bool tls_on = false; /* the TLS concern runs: count its phases */

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, CPU_MAX_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, struct cpu_key);
	__type(value, __u64);
} cpu_samples SEC(".maps");

/* Processes already announced to userspace (which then reads their maps). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CPU_CNT_NR);
	__type(key, __u32);
	__type(value, __u64);
} cpu_cnt SEC(".maps");

/* Threads counted as runnable, and where. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct cpu_rq);
} rq SEC(".maps");

/* When each waiting thread became runnable. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} rq_since SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct cpu_conc_key);
	__type(value, struct cpu_conc);
} conc SEC(".maps");

/* Peak of conc since userspace last read (and deleted) it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct cpu_conc_key);
	__type(value, __s64);
} conc_max SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct cpu_delay);
} delay SEC(".maps");

static __always_inline void cnt(__u32 i)
{
	__u64 *n = bpf_map_lookup_elem(&cpu_cnt, &i);

	if (n)
		*n += 1;
}

static __always_inline void announce(__u32 tgid)
{
	struct cpu_pid_rec *r;
	__u8 one = 1;

	if (bpf_map_update_elem(&seen, &tgid, &one, BPF_NOEXIST))
		return; /* known already */
	r = st_reserve(sizeof(*r), ST_CPU_PID);
	if (!r)
		return;
	r->pid = tgid;
	r->pad = 0;
	st_submit(r);
}

static __always_inline __s32 stack_of(void *ctx, __u64 flags, __u32 err_cnt)
{
	long id = bpf_get_stackid(ctx, &stacks, flags);

	if (id >= 0)
		return id;
	if (id == -EEXIST)
		cnt(CPU_CNT_COLLISION);
	else if (id == -ENOMEM)
		cnt(CPU_CNT_STACKS_FULL);
	else
		cnt(err_cnt);
	return id;
}

SEC("perf_event")
int cpu_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), *v, one = 1;
	struct cpu_key k = { .tgid = id >> 32 };

	cnt(CPU_CNT_SAMPLES);
	if (!(__u32)id) {
		cnt(CPU_CNT_IDLE);
		return 0;
	}
	if (tls_on && k.tgid) {
		k.tag = tls_thread_phase((__u32)id);
		tls_count_sample(k.tgid, k.tag);
	}
	if (!stacks_on || !st_current_wanted())
		return 0;
	k.kstack = stack_of(ctx, 0, CPU_CNT_KSTACK_ERR);
	k.ustack = stack_of(ctx, BPF_F_USER_STACK, CPU_CNT_USTACK_ERR);
	v = bpf_map_lookup_elem(&cpu_samples, &k);
	if (v) {
		__sync_fetch_and_add(v, 1);
		return 0;
	}
	if (bpf_map_update_elem(&cpu_samples, &k, &one, BPF_NOEXIST)) {
		v = bpf_map_lookup_elem(&cpu_samples, &k); /* another CPU inserted it */
		if (v)
			__sync_fetch_and_add(v, 1);
		else
			st_count_lost(ST_LOST_MAPFULL);
	}
	announce(k.tgid);
	return 0;
}

/* A new image: announce the process again so userspace reads its new maps. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(cpu_exec, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);

	bpf_map_delete_elem(&seen, &tgid);
	return 0;
}

/* --- scheduler view --- */

#define PF_KTHREAD 0x00200000

/* User threads only: kernel threads are not any job's concurrency. */
static __always_inline bool sched_wanted(struct task_struct *t, __u32 tgid)
{
	if (!tgid || tgid == self_tgid || (BPF_CORE_READ(t, flags) & PF_KTHREAD))
		return false;
	return !targ_tgid || bpf_map_lookup_elem(&followed, &tgid);
}

static __always_inline __u64 task_cgid(struct task_struct *t)
{
	return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
}

static __always_inline void conc_add(__u64 kid, __u32 kind, __s64 d)
{
	struct cpu_conc_key key = { .id = kid, .kind = kind };
	struct cpu_conc *c = bpf_map_lookup_elem(&conc, &key), fresh = {};
	__s64 now, *mx;

	if (!c) {
		if (d < 0)
			return;
		bpf_map_update_elem(&conc, &key, &fresh, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&conc, &key);
		if (!c) {
			st_count_lost(ST_LOST_MAPFULL);
			return;
		}
	}
	now = __sync_fetch_and_add(&c->cur, d) + d;
	if (d < 0)
		return;
	mx = bpf_map_lookup_elem(&conc_max, &key);
	if (!mx)
		bpf_map_update_elem(&conc_max, &key, &now, BPF_NOEXIST);
	else if (now > *mx)
		*mx = now; /* a lost race costs one peak of one second, never a count */
}

/* The thread became runnable (or was found running): count it once. */
static __always_inline void rq_mark(struct task_struct *t)
{
	__u32 tid = BPF_CORE_READ(t, pid);
	struct cpu_rq r = { .tgid = BPF_CORE_READ(t, tgid) };

	if (!tid || !sched_wanted(t, r.tgid) || bpf_map_lookup_elem(&rq, &tid))
		return;
	r.cgid = task_cgid(t);
	/* The job rule (proc_cgroup()): cgroup2 unless at its root, then v1 memory. */
	r.memcg = r.cgid <= 1 ? st_task_memcg_id(t) : 0;
	if (bpf_map_update_elem(&rq, &tid, &r, BPF_NOEXIST))
		return;
	conc_add(r.cgid, CPU_CONC_CGROUP, 1);
	conc_add(r.tgid, CPU_CONC_TGID, 1);
	if (r.memcg && r.memcg != r.cgid)
		conc_add(r.memcg, CPU_CONC_MEMCG, 1);
}

static __always_inline void rq_unmark(__u32 tid)
{
	struct cpu_rq *r = bpf_map_lookup_elem(&rq, &tid);
	struct cpu_rq copy;

	if (!r)
		return;
	copy = *r;
	if (bpf_map_delete_elem(&rq, &tid))
		return; /* another CPU took it */
	conc_add(copy.cgid, CPU_CONC_CGROUP, -1);
	conc_add(copy.tgid, CPU_CONC_TGID, -1);
	if (copy.memcg && copy.memcg != copy.cgid)
		conc_add(copy.memcg, CPU_CONC_MEMCG, -1);
}

static __always_inline void wait_start(struct task_struct *t)
{
	__u32 tid = BPF_CORE_READ(t, pid);
	__u64 ts = bpf_ktime_get_ns();

	if (tid && sched_wanted(t, BPF_CORE_READ(t, tgid)))
		bpf_map_update_elem(&rq_since, &tid, &ts, BPF_ANY);
}

static __always_inline void wait_end(struct task_struct *t)
{
	__u32 tid = BPF_CORE_READ(t, pid), tgid;
	__u64 *since = bpf_map_lookup_elem(&rq_since, &tid), d;
	struct cpu_delay *dl, fresh = {};

	if (!since)
		return;
	d = bpf_ktime_get_ns() - *since;
	bpf_map_delete_elem(&rq_since, &tid);
	tgid = BPF_CORE_READ(t, tgid);
	dl = bpf_map_lookup_elem(&delay, &tgid);
	if (!dl) {
		bpf_map_update_elem(&delay, &tgid, &fresh, BPF_NOEXIST);
		dl = bpf_map_lookup_elem(&delay, &tgid);
		if (!dl) {
			st_count_lost(ST_LOST_MAPFULL);
			return;
		}
	}
	__sync_fetch_and_add(&dl->total_ns, d);
	__sync_fetch_and_add(&dl->count, 1);
	if (d > dl->max_ns)
		dl->max_ns = d;
}

static __always_inline void woken(struct task_struct *p)
{
	rq_mark(p);
	wait_start(p);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup, struct task_struct *p)
{
	woken(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new, struct task_struct *p)
{
	woken(p);
	return 0;
}

/* TASK_RUNNING is 0: a task switched out in that state was preempted. */
SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	unsigned int state = st_task_state(prev);

	if (preempt || !state)
		wait_start(prev); /* still runnable: waits for a CPU again */
	else
		rq_unmark(BPF_CORE_READ(prev, pid));
	rq_mark(next);
	wait_end(next);
	return 0;
}
