/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What every concern's BPF object has: one ring buffer for records, a
 * per-CPU drop counter, and the target filters (-p, -c) as rodata so the
 * verifier removes them when unused.
 */
#ifndef ST_MAPS_BPF_H
#define ST_MAPS_BPF_H

#include "common.h"

/* A concern with few records defines a smaller ring before including this. */
#ifndef ST_RING_BYTES
#define ST_RING_BYTES ST_RINGBUF_BYTES
#endif

#define ST_MAX_FOLLOW 65536

const volatile __u32 targ_tgid = 0; /* -p: this process and its descendants */
const volatile __u64 targ_cgid = 0; /* -c on cgroup2: this cgroup or below */
const volatile __u32 targ_cg_level = 0; /* its level in the hierarchy */
const volatile __u64 targ_memcg = 0; /* -c on the v1 memory hierarchy */
const volatile __u32 self_tgid = 0; /* spiketrace itself (and children): never a cause */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, ST_RING_BYTES); /* --ringbuf-kb resizes it before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_LOST_MAX);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* tgids followed for -p; seeded by userspace, grown at fork, shared by concerns. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_MAX_FOLLOW);
	__type(key, __u32);
	__type(value, __u8);
} followed SEC(".maps");

/*
 * The reader is woken only once this many bytes wait (userspace sets an
 * eighth of the ring); below that its 100 ms poll drains them. A wakeup
 * from inside a program costs microseconds (an IPI, a context switch): one
 * per exec or TCP transition was most of what tracing cost (bench/bpfcost.py).
 */
const volatile __u64 wakeup_bytes = 0;

/*
 * Submits a record from st_reserve(), waking the reader as above: once, by
 * the record that takes what waits past the threshold. A reader that is
 * behind is not woken again by every record after it (each wakeup would cost
 * as much as when it was idle), and its 100 ms poll finds them anyway.
 */
static __always_inline void st_submit(void *rec)
{
	__u64 avail, size = ((struct st_hdr *)rec)->size + 8; /* the ring's own header */
	__u64 flags = 0; /* the kernel's own choice when no threshold is set */

	if (wakeup_bytes) {
		avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA); /* this record included */
		flags = avail >= wakeup_bytes && avail < wakeup_bytes + size ? BPF_RB_FORCE_WAKEUP :
									       BPF_RB_NO_WAKEUP;
	}
	bpf_ringbuf_submit(rec, flags);
}

static __always_inline void st_count_lost(__u32 why)
{
	__u64 *n = bpf_map_lookup_elem(&lost, &why);

	if (n)
		*n += 1;
}

/* Reserves a record and fills its header; counts the drop when full. */
static __always_inline void *st_reserve(__u32 size, __u16 type)
{
	struct st_hdr *h = bpf_ringbuf_reserve(&events, size, 0);

	if (!h) {
		st_count_lost(ST_LOST_RINGBUF);
		return NULL;
	}
	h->type = type;
	h->size = size;
	h->cpu = bpf_get_smp_processor_id();
	h->ts = bpf_ktime_get_ns();
	return h;
}

/* The v1 memory cgroup's id of a task (its v2 id on a pure v2 system). */
static __always_inline __u64 st_task_memcg_id(struct task_struct *t)
{
	struct cgroup_subsys_state *css;
	int id;

	if (!bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id))
		return 0;
	id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	if (id < 0 || id >= CGROUP_SUBSYS_COUNT)
		return 0;
	css = BPF_CORE_READ(t, cgroups, subsys[id]);
	return BPF_CORE_READ(css, cgroup, kn, id);
}

static __always_inline bool st_memcg_under(struct task_struct *t)
{
	struct cgroup_subsys_state *css;
	int id, i;

	id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	if (id < 0 || id >= CGROUP_SUBSYS_COUNT)
		return false;
	css = BPF_CORE_READ(t, cgroups, subsys[id]);
	/* Bounded walk up the css tree: the target or any ancestor matches. */
	for (i = 0; i < 16 && css; i++) {
		if (BPF_CORE_READ(css, cgroup, kn, id) == targ_memcg)
			return true;
		css = BPF_CORE_READ(css, parent);
	}
	return false;
}

/* Whether the current task passes the -p / -c filters. */
static __always_inline bool st_current_wanted(void)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	/* Nor are the helpers it runs (ldconfig -p to find OpenSSL). */
	if (tgid == self_tgid || BPF_CORE_READ(t, real_parent, tgid) == self_tgid)
		return false;
	if (targ_tgid && !bpf_map_lookup_elem(&followed, &tgid))
		return false;
	if (targ_cgid && bpf_get_current_ancestor_cgroup_id(targ_cg_level) != targ_cgid)
		return false;
	if (targ_memcg && !st_memcg_under(t))
		return false;
	return true;
}

#endif
