/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Records of the proc concern (bpf/proc.bpf.c, user/proc.c). */
#ifndef SPIKETRACE_PROC_H
#define SPIKETRACE_PROC_H

#include "common.h"

/*
 * A process is identified by (tgid, start_ns): pids are reused, the start
 * time (task->start_time, CLOCK_MONOTONIC) of the group leader is not.
 */
struct proc_exec {
	struct st_hdr h;
	__u32 pid; /* tgid */
	__u32 ppid;
	__u32 uid;
	__u32 args_len; /* bytes used in args, NUL-separated */
	__u64 start_ns;
	__u64 cgroup_id; /* cgroup v2 (default hierarchy) id */
	__u64 memcg_id; /* cgroup v1 memory hierarchy id, 0 if none */
	char comm[ST_COMM_LEN];
	char filename[ST_PATH_LEN];
	char args[ST_ARGS_LEN];
};

struct proc_fork {
	struct st_hdr h;
	__u32 pid; /* child tgid */
	__u32 ppid;
	__u64 start_ns;
	__u64 cgroup_id;
	__u64 memcg_id;
	char comm[ST_COMM_LEN];
};

struct proc_exit {
	struct st_hdr h;
	__u32 pid;
	__u32 exit_status; /* wait(2) status: code << 8 | signal */
	__u64 start_ns;
	char comm[ST_COMM_LEN];
};

#endif
