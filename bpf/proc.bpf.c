// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Process lifecycle on tracepoints only (no kprobes on our kernels):
 * exec, fork (processes, not threads) and exit of the last thread of a
 * group. Each event has a tp_btf variant (typed task pointers) and a
 * classic-tracepoint variant; userspace enables one per feature probe.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "proc.h"
#include "maps.bpf.h"

#define CLONE_THREAD 0x00010000

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline void fill_exec(struct proc_exec *e, struct task_struct *t)
{
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	unsigned long start = BPF_CORE_READ(mm, arg_start);
	unsigned long end = BPF_CORE_READ(mm, arg_end);
	__u32 len = end > start ? end - start : 0;

	e->pid = BPF_CORE_READ(t, tgid);
	e->ppid = BPF_CORE_READ(t, real_parent, tgid);
	e->uid = BPF_CORE_READ(t, cred, uid.val);
	e->start_ns = BPF_CORE_READ(t, group_leader, start_time);
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->memcg_id = st_task_memcg_id(t);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	if (len >= ST_ARGS_LEN)
		len = ST_ARGS_LEN - 1;
	/* The new image's argv is in place when this tracepoint fires. */
	if (bpf_probe_read_user(e->args, len & (ST_ARGS_LEN - 1), (void *)start)) {
		st_count_lost(ST_LOST_READ);
		len = 0;
	}
	e->args_len = len;
	/* Only the used part of args goes out. */
	e->h.size = offsetof(struct proc_exec, args) + (len & (ST_ARGS_LEN - 1));
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct proc_exec *e;

	if (!st_current_wanted())
		return 0;
	e = st_reserve(sizeof(*e), ST_PROC_EXEC);
	if (!e)
		return 0;
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));
	fill_exec(e, p);
	st_submit(e);
	return 0;
}

SEC("tp/sched/sched_process_exec")
int exec_tp(struct trace_event_raw_sched_process_exec *ctx)
{
	unsigned int off = ctx->__data_loc_filename & 0xFFFF;
	struct proc_exec *e;

	if (!st_current_wanted())
		return 0;
	e = st_reserve(sizeof(*e), ST_PROC_EXEC);
	if (!e)
		return 0;
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (void *)ctx + off);
	fill_exec(e, (void *)bpf_get_current_task());
	st_submit(e);
	return 0;
}

/* child is NULL on the classic path: the parent's cgroups stand in for it. */
static __always_inline void emit_fork(struct task_struct *child, __u32 pid, __u32 ppid,
				      __u64 start_ns)
{
	struct task_struct *cur = (void *)bpf_get_current_task();
	struct proc_fork *e;

	if (targ_tgid) {
		__u32 parent = bpf_get_current_pid_tgid() >> 32;
		__u8 one = 1;

		if (!bpf_map_lookup_elem(&followed, &parent))
			return;
		bpf_map_update_elem(&followed, &pid, &one, BPF_ANY);
	}
	if (!st_current_wanted())
		return;
	e = st_reserve(sizeof(*e), ST_PROC_FORK);
	if (!e)
		return;
	e->pid = pid;
	e->ppid = ppid;
	e->start_ns = start_ns;
	if (child) {
		/* clone3(CLONE_INTO_CGROUP) starts the child elsewhere than its parent */
		e->cgroup_id = BPF_CORE_READ(child, cgroups, dfl_cgrp, kn, id);
		e->memcg_id = st_task_memcg_id(child);
	} else {
		e->cgroup_id = bpf_get_current_cgroup_id();
		e->memcg_id = st_task_memcg_id(cur);
	}
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	st_submit(e);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(fork_btf, struct task_struct *parent, struct task_struct *child)
{
	__u32 pid = BPF_CORE_READ(child, pid);

	if (pid != BPF_CORE_READ(child, tgid))
		return 0; /* a thread */
	emit_fork(child, pid, BPF_CORE_READ(child, real_parent, tgid),
		  BPF_CORE_READ(child, start_time));
	return 0;
}

/* task_newtask carries clone_flags, which sched_process_fork's classic form lacks. */
SEC("tp/task/task_newtask")
int fork_tp(struct trace_event_raw_task_newtask *ctx)
{
	if (ctx->clone_flags & CLONE_THREAD)
		return 0;
	/* The child's start time is not visible here: 0 means unknown to the model. */
	emit_fork(NULL, ctx->pid, bpf_get_current_pid_tgid() >> 32, 0);
	return 0;
}

static __always_inline void emit_exit(struct task_struct *t)
{
	struct proc_exit *e;
	__u32 tgid = BPF_CORE_READ(t, tgid);

	/* A process exits when its last thread does; signal->live counts them. */
	if (BPF_CORE_READ(t, signal, live.counter) != 0)
		return;
	if (!st_current_wanted())
		goto out;
	e = st_reserve(sizeof(*e), ST_PROC_EXIT);
	if (!e)
		goto out;
	e->pid = tgid;
	e->exit_status = BPF_CORE_READ(t, exit_code);
	e->start_ns = BPF_CORE_READ(t, group_leader, start_time);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	st_submit(e);
out:
	if (targ_tgid)
		bpf_map_delete_elem(&followed, &tgid);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(exit_btf, struct task_struct *p)
{
	emit_exit(p);
	return 0;
}

SEC("tp/sched/sched_process_exit")
int exit_tp(void *ctx)
{
	emit_exit((void *)bpf_get_current_task());
	return 0;
}
