// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Calibration programs: userspace loads each alone to learn what this
 * kernel can do (tp_btf, fentry, kprobe), instead of trusting versions.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sched_process_fork")
int BPF_PROG(probe_tp_btf, struct task_struct *parent, struct task_struct *child)
{
	return 0;
}

SEC("fentry/do_exit")
int BPF_PROG(probe_fentry, long code)
{
	return 0;
}

SEC("kprobe/do_exit")
int BPF_KPROBE(probe_kprobe, long code)
{
	return 0;
}
