/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The TLS concern's per-thread state, shared with the CPU sampler: the
 * sampler (bpf/cpu.bpf.c) reads the phase the TLS uprobes keep here and
 * counts CPU per TLS process and phase. Userspace gives the sampler's
 * object these very maps (bpf_map__reuse_fd) when both concerns run.
 */
#ifndef ST_TLS_MAPS_BPF_H
#define ST_TLS_MAPS_BPF_H

#include "tls.h"

#define PH_DEPTH 8

/* A thread inside an SSL call. */
struct thr {
	__u64 ssl;
	__u32 depth; /* nested SSL calls (SSL_accept -> SSL_do_handshake) */
	__u32 overflow; /* crypto calls deeper than PH_DEPTH */
	__u8 in_hs; /* the SSL is in a handshake */
	__u8 nph;
	__u8 ph[PH_DEPTH];
	__u8 pad[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct thr);
} threads SEC(".maps");

/* Processes that used OpenSSL while wanted: the sampler counts only them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u8);
} tls_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8192 * TLS_PH_NR);
	__type(key, struct tls_cpu_key);
	__type(value, __u64);
} tls_cpu SEC(".maps");

/* The TLS phase of thread tid now (TLS_PH_NONE outside handshakes). */
static __always_inline __u32 tls_thread_phase(__u32 tid)
{
	struct thr *th = bpf_map_lookup_elem(&threads, &tid);
	__u8 n;

	if (!th || !th->in_hs)
		return TLS_PH_NONE;
	n = th->nph;
	if (n > 0 && n <= PH_DEPTH)
		return th->ph[(n - 1) & (PH_DEPTH - 1)];
	return TLS_PH_HANDSHAKE;
}

/* Counts one sample of a TLS process in its phase. */
static __always_inline void tls_count_sample(__u32 tgid, __u32 phase)
{
	struct tls_cpu_key k = { .pid = tgid, .phase = phase };
	__u64 *v, one = 1;

	if (!bpf_map_lookup_elem(&tls_pids, &tgid))
		return;
	v = bpf_map_lookup_elem(&tls_cpu, &k);
	if (v)
		*v += 1;
	else if (bpf_map_update_elem(&tls_cpu, &k, &one, BPF_NOEXIST))
		st_count_lost(ST_LOST_MAPFULL);
}

#endif
