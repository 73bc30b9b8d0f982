/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Records and map values of the mem concern (bpf/mem.bpf.c, user/mem.c). */
#ifndef SPIKETRACE_MEM_H
#define SPIKETRACE_MEM_H

#include "common.h"

/* rss_stat members, as the kernel numbers them (MM_FILEPAGES, ...). */
enum mem_rss_member {
	MEM_RSS_FILE = 0,
	MEM_RSS_ANON = 1,
	MEM_RSS_SWAP = 2,
	MEM_RSS_SHMEM = 3,
	MEM_RSS_NR = 4,
};

/* Per process, in the `procmem` map: aggregated in the kernel, read each second. */
struct mem_stat {
	__u64 rss[MEM_RSS_NR]; /* bytes, last value the kernel reported */
	__u64 rss_peak; /* bytes, max of file + anon + shmem */
	__u64 reclaim_ns; /* time stalled in direct or memcg reclaim */
	__u64 reclaims;
};

/* One OOM kill: from oom:mark_victim, never dropped silently. */
struct mem_oom {
	struct st_hdr h;
	__u32 victim_pid;
	__u32 trigger_pid; /* the task running when the victim was chosen */
	__u32 uid;
	__s32 oom_score_adj;
	__u64 total_vm; /* bytes */
	__u64 anon_rss; /* bytes */
	__u64 file_rss; /* bytes */
	__u64 shmem_rss; /* bytes */
	__u64 pgtables; /* bytes */
	__u64 memcg_id; /* the victim's memory cgroup, 0 if unknown */
	__u64 cgroup_id; /* the victim's cgroup2 cgroup, 0 if unknown */
	char victim_comm[ST_COMM_LEN];
	char trigger_comm[ST_COMM_LEN];
};

/*
 * Written by userspace each second from the maps (not a BPF record): the
 * cumulative page faults and memory state of processes that changed.
 */
struct mem_snap_entry {
	__u32 pid;
	__u32 pad;
	__u64 faults;
	struct mem_stat st;
};

#define MEM_SNAP_MAX 64

struct mem_snap {
	struct st_hdr h;
	__u32 n;
	__u32 pad;
	struct mem_snap_entry e[MEM_SNAP_MAX];
};

#endif
