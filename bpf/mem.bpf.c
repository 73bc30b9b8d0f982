// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Memory on tracepoints only: OOM kills as records; page faults, RSS by
 * type with its peak, and reclaim stalls aggregated per process in maps
 * that userspace reads each second. A fault costs one per-CPU increment,
 * never a ring-buffer record.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "mem.h"
/* This concern's ring buffer: OOM kills only; faults and RSS are counted in maps. */
#define ST_RING_BYTES (256 << 10)
#include "maps.bpf.h"
#include "core_fixes.bpf.h"

#define MAX_PROCS 32768
#define PAGE_SHIFT 12

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* tgid -> page faults, per CPU: no atomics on the fault path. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MAX_PROCS);
	__type(key, __u32);
	__type(value, __u64);
} faults SEC(".maps");

/* tgid -> RSS, its peak, reclaim stalls. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PROCS);
	__type(key, __u32);
	__type(value, struct mem_stat);
} procmem SEC(".maps");

/* thread -> reclaim start */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} reclaim_start SEC(".maps");

static __always_inline void count_fault(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 *n, one = 1;

	if (!st_current_wanted())
		return;
	n = bpf_map_lookup_elem(&faults, &tgid);
	if (n) {
		*n += 1;
		return;
	}
	if (bpf_map_update_elem(&faults, &tgid, &one, BPF_NOEXIST)) {
		n = bpf_map_lookup_elem(&faults, &tgid); /* raced with another CPU */
		if (n)
			*n += 1;
		else
			st_count_lost(ST_LOST_MAPFULL);
	}
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(fault_btf, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	count_fault();
	return 0;
}

SEC("tp/exceptions/page_fault_user")
int fault_tp(void *ctx)
{
	count_fault();
	return 0;
}

static __always_inline struct mem_stat *stat_of(__u32 tgid)
{
	struct mem_stat *s = bpf_map_lookup_elem(&procmem, &tgid), zero = {};

	if (s)
		return s;
	bpf_map_update_elem(&procmem, &tgid, &zero, BPF_NOEXIST);
	s = bpf_map_lookup_elem(&procmem, &tgid);
	if (!s)
		st_count_lost(ST_LOST_MAPFULL);
	return s;
}

static __always_inline void rss_update(int member, __u64 bytes)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct mem_stat *s;
	__u64 total;

	if (member < 0 || member >= MEM_RSS_NR || !st_current_wanted())
		return;
	s = stat_of(tgid);
	if (!s)
		return;
	s->rss[member & (MEM_RSS_NR - 1)] = bytes;
	total = s->rss[MEM_RSS_FILE] + s->rss[MEM_RSS_ANON] + s->rss[MEM_RSS_SHMEM];
	if (total > s->rss_peak)
		s->rss_peak = total;
}

/*
 * Only changes to the current task's own mm are attributed: those are the
 * ones a process causes (others are the reaper or a remote access).
 */
SEC("tp_btf/rss_stat")
int BPF_PROG(rss_btf, struct mm_struct *mm, int member)
{
	struct task_struct *t = (void *)bpf_get_current_task();

	if (BPF_CORE_READ(t, mm) != mm)
		return 0;
	/* All four from the mm: a new entry (or a new image after exec) is whole. */
	rss_update(MEM_RSS_FILE, (__u64)st_mm_counter(mm, MEM_RSS_FILE) << PAGE_SHIFT);
	rss_update(MEM_RSS_SHMEM, (__u64)st_mm_counter(mm, MEM_RSS_SHMEM) << PAGE_SHIFT);
	rss_update(MEM_RSS_ANON, (__u64)st_mm_counter(mm, MEM_RSS_ANON) << PAGE_SHIFT);
	return 0;
}

SEC("tp/kmem/rss_stat")
int rss_tp(struct trace_event_raw_rss_stat *ctx)
{
	if (!ctx->curr)
		return 0;
	rss_update(ctx->member, ctx->size > 0 ? ctx->size : 0);
	return 0;
}

static __always_inline void reclaim_begin(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_ns();

	if (st_current_wanted())
		bpf_map_update_elem(&reclaim_start, &tid, &now, BPF_ANY);
}

static __always_inline void reclaim_end(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__u64 *start = bpf_map_lookup_elem(&reclaim_start, &tid);
	struct mem_stat *s;
	__u64 delta;

	if (!start)
		return;
	delta = bpf_ktime_get_ns() - *start;
	bpf_map_delete_elem(&reclaim_start, &tid);
	s = stat_of(id >> 32);
	if (!s)
		return;
	__sync_fetch_and_add(&s->reclaim_ns, delta);
	__sync_fetch_and_add(&s->reclaims, 1);
}

SEC("tp_btf/mm_vmscan_direct_reclaim_begin")
int BPF_PROG(dr_begin_btf)
{
	reclaim_begin();
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_end")
int BPF_PROG(dr_end_btf)
{
	reclaim_end();
	return 0;
}

SEC("tp/vmscan/mm_vmscan_direct_reclaim_begin")
int dr_begin_tp(void *ctx)
{
	reclaim_begin();
	return 0;
}

SEC("tp/vmscan/mm_vmscan_direct_reclaim_end")
int dr_end_tp(void *ctx)
{
	reclaim_end();
	return 0;
}

/* A memory cgroup at its limit reclaims through these instead. */
SEC("tp_btf/mm_vmscan_memcg_reclaim_begin")
int BPF_PROG(mr_begin_btf)
{
	reclaim_begin();
	return 0;
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_end")
int BPF_PROG(mr_end_btf)
{
	reclaim_end();
	return 0;
}

SEC("tp/vmscan/mm_vmscan_memcg_reclaim_begin")
int mr_begin_tp(void *ctx)
{
	reclaim_begin();
	return 0;
}

SEC("tp/vmscan/mm_vmscan_memcg_reclaim_end")
int mr_end_tp(void *ctx)
{
	reclaim_end();
	return 0;
}

static __always_inline struct mem_oom *oom_reserve(void)
{
	return st_reserve(sizeof(struct mem_oom), ST_MEM_OOM);
}

static __always_inline void oom_trigger(struct mem_oom *e)
{
	e->trigger_pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(e->trigger_comm, sizeof(e->trigger_comm));
}

/* OOM kills are never filtered: one on the box matters whoever caused it. */
SEC("tp_btf/mark_victim")
int BPF_PROG(oom_btf, struct task_struct *victim, uid_t uid)
{
	struct mm_struct *mm = BPF_CORE_READ(victim, mm);
	struct mem_oom *e = oom_reserve();

	if (!e)
		return 0;
	e->victim_pid = BPF_CORE_READ(victim, tgid);
	e->uid = uid;
	e->oom_score_adj = BPF_CORE_READ(victim, signal, oom_score_adj);
	e->total_vm = BPF_CORE_READ(mm, total_vm) << PAGE_SHIFT;
	e->anon_rss = (__u64)st_mm_counter(mm, MEM_RSS_ANON) << PAGE_SHIFT;
	e->file_rss = (__u64)st_mm_counter(mm, MEM_RSS_FILE) << PAGE_SHIFT;
	e->shmem_rss = (__u64)st_mm_counter(mm, MEM_RSS_SHMEM) << PAGE_SHIFT;
	e->pgtables = (__u64)BPF_CORE_READ(mm, pgtables_bytes.counter);
	e->memcg_id = st_task_memcg_id(victim);
	e->cgroup_id = BPF_CORE_READ(victim, cgroups, dfl_cgrp, kn, id);
	BPF_CORE_READ_STR_INTO(&e->victim_comm, victim, comm);
	oom_trigger(e);
	st_submit(e);
	return 0;
}

/* Classic form: sizes in kB as the kernel's own OOM report prints them. */
SEC("tp/oom/mark_victim")
int oom_tp(struct trace_event_raw_mark_victim *ctx)
{
	struct mem_oom *e = oom_reserve();

	if (!e)
		return 0;
	e->victim_pid = ctx->pid;
	if (bpf_core_field_exists(ctx->anon_rss)) {
		e->uid = ctx->uid;
		e->oom_score_adj = ctx->oom_score_adj;
		e->total_vm = (__u64)ctx->total_vm << 10;
		e->anon_rss = (__u64)ctx->anon_rss << 10;
		e->file_rss = (__u64)ctx->file_rss << 10;
		e->shmem_rss = (__u64)ctx->shmem_rss << 10;
		e->pgtables = (__u64)ctx->pgtables << 10;
	}
	oom_trigger(e);
	st_submit(e);
	return 0;
}
