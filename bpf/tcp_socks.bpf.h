/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The tcp concern's per-socket state (owner, role, times), shared by fd with
 * the net concern: its tcp_probe fallback counts a socket's bytes for the
 * owner the tcp concern learnt (user/spine.c share_maps()).
 */
#ifndef ST_TCP_SOCKS_BPF_H
#define ST_TCP_SOCKS_BPF_H

#include "tcp.h"
#include "maps.bpf.h"

/* Per socket, from its first transition we see until it closes. */
struct sk_info {
	__u64 created_ns; /* 0: created before we looked */
	__u64 last_ns; /* entered its current state; 0: unknown */
	struct tcp_owner o;
	__u8 flags; /* TCP_F_OWNER, TCP_F_PASSIVE, TCP_F_ROLE_KNOWN */
	__u8 closed; /* reached CLOSE: kept for the reset that may follow */
	__u16 lport; /* the kernel clears it when the socket unhashes at CLOSE */
	__u8 pad[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct sk_info);
} tcp_socks SEC(".maps");

static __always_inline bool owner_wanted(const struct tcp_owner *o)
{
	__u32 tgid = o->tgid;

	if (!o->seeded)
		return o->wanted;
	/* Seeded before the -p set was complete: ask it now. -c needs the task. */
	if (tgid == self_tgid || targ_cgid || targ_memcg)
		return false;
	return !targ_tgid || bpf_map_lookup_elem(&followed, &tgid);
}

#endif
