// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Network volume: bytes received and sent per socket and process, counted
 * in the kernel (a map entry per socket and process, read by userspace once
 * a second), never a record per call.
 *
 * Where the kernel has sock:sock_recv_length and sock:sock_send_length
 * (6.3+), every recvmsg/sendmsg of an IPv4/IPv6 TCP or UDP socket is counted
 * in the caller's own syscall, so "current" is the process that moved the
 * bytes. Older kernels fall back to the TCP socket's own counters
 * (bytes_received, bytes_acked), read on every segment that arrives
 * (tcp:tcp_probe, 4.16+) and at each state change; that path runs in
 * softirq, so the owner comes from the tcp concern's socket map (shared).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#include "net.h"
/* This concern's ring buffer: no records: every byte is counted in maps. */
#define ST_RING_BYTES (4096)
#include "maps.bpf.h"
#include "tcp_socks.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define MSG_PEEK 2

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* resized by userspace before load */
	__type(key, struct net_sock_key);
	__type(value, struct net_sock);
} net_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct net_cnt_val);
} net_counts SEC(".maps");

static __always_inline void cnt_add(__u32 idx, __u64 v)
{
	__u32 zero = 0;
	struct net_cnt_val *c = bpf_map_lookup_elem(&net_counts, &zero);

	barrier_var(idx);
	if (c && idx < NET_CNT_NR)
		c->n[idx] += v;
}

static __always_inline void peer_of(const struct sock *sk, struct net_sock *s)
{
	s->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	s->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	s->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (s->family == AF_INET6)
		BPF_CORE_READ_INTO(&s->raddr, sk, __sk_common.skc_v6_daddr);
	else
		BPF_CORE_READ_INTO((__u32 *)s->raddr, sk, __sk_common.skc_daddr);
}

/* The entry of (sk, tgid); made at first sight with what is known of the owner then. */
static __always_inline struct net_sock *sock_entry(const struct sock *sk, __u32 tgid, bool tcp,
						   const struct tcp_owner *o)
{
	struct net_sock_key k = { .sk = (__u64)sk, .tgid = tgid };
	struct net_sock *s = bpf_map_lookup_elem(&net_socks, &k);
	struct net_sock fresh = {};

	if (s)
		return s;
	if (o) {
		fresh.flags = owner_wanted(o) ? NET_S_WANTED : 0;
		fresh.cgroup_id = o->cgroup_id;
		__builtin_memcpy(fresh.comm, o->comm, sizeof(fresh.comm));
	} else if (tgid) {
		fresh.flags = st_current_wanted() ? NET_S_WANTED : 0;
		fresh.cgroup_id = bpf_get_current_cgroup_id();
		bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
	} else {
		/* A socket whose owner nobody saw: counted only without filters. */
		fresh.flags = targ_tgid || targ_cgid || targ_memcg ? 0 : NET_S_WANTED;
	}
	if (tcp) {
		__u64 key = (__u64)sk;
		struct sk_info *si = bpf_map_lookup_elem(&tcp_socks, &key);

		fresh.flags |= NET_S_TCP;
		if (si && (si->flags & TCP_F_ROLE_KNOWN))
			fresh.flags |= NET_S_ROLE | (si->flags & TCP_F_PASSIVE ? NET_S_PASSIVE : 0);
	}
	peer_of(sk, &fresh);
	bpf_map_update_elem(&net_socks, &k, &fresh, BPF_NOEXIST);
	s = bpf_map_lookup_elem(&net_socks, &k);
	if (!s)
		cnt_add(NET_CNT_MAPFULL, 1);
	return s;
}

static __always_inline int on_len(const struct sock *sk, __u16 family, __u16 proto, int ret,
				  int flags, bool rx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct net_sock *s;

	if (ret <= 0 || !sk || (rx && (flags & MSG_PEEK)))
		return 0;
	if ((family != AF_INET && family != AF_INET6) ||
	    (proto != IPPROTO_TCP && proto != IPPROTO_UDP))
		return 0;
	cnt_add(rx ? NET_CNT_RX_CALLS : NET_CNT_TX_CALLS, 1);
	s = sock_entry(sk, tgid, proto == IPPROTO_TCP, NULL);
	if (s && !(s->flags & NET_S_WANTED))
		return 0;
	if (!s && !st_current_wanted())
		return 0;
	cnt_add(rx ? NET_CNT_RX_BYTES : NET_CNT_TX_BYTES, ret);
	if (!s)
		return 0;
	if (rx)
		__sync_fetch_and_add(&s->rx, ret);
	else
		__sync_fetch_and_add(&s->tx, ret);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(recv_btf, struct sock *sk, int ret, int flags)
{
	return on_len(sk, BPF_CORE_READ(sk, __sk_common.skc_family), BPF_CORE_READ(sk, sk_protocol),
		      ret, flags, true);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(send_btf, struct sock *sk, int ret, int flags)
{
	return on_len(sk, BPF_CORE_READ(sk, __sk_common.skc_family), BPF_CORE_READ(sk, sk_protocol),
		      ret, flags, false);
}

/* The classic events carry family and protocol: no socket read to filter. */
SEC("tp/sock/sock_recv_length")
int recv_tp(struct trace_event_raw_sock_msg_length *ctx)
{
	return on_len(ctx->sk, ctx->family, ctx->protocol, ctx->ret, ctx->flags, true);
}

SEC("tp/sock/sock_send_length")
int send_tp(struct trace_event_raw_sock_msg_length *ctx)
{
	return on_len(ctx->sk, ctx->family, ctx->protocol, ctx->ret, ctx->flags, false);
}

/*
 * The fallback: what the socket's counters moved since we last looked, for
 * the owner the tcp concern knows. The first look only takes the counters
 * as the base: bytes from before the recording are not ours to count.
 */
static __always_inline int on_counters(const struct sock *sk)
{
	const struct tcp_sock *tp = (const void *)sk;
	__u64 key = (__u64)sk, rx, tx, drx, dtx;
	struct sk_info *si = bpf_map_lookup_elem(&tcp_socks, &key);
	const struct tcp_owner *o = si && (si->flags & TCP_F_OWNER) ? &si->o : NULL;
	struct net_sock *s = sock_entry(sk, o ? o->tgid : 0, true, o);

	rx = BPF_CORE_READ(tp, bytes_received);
	tx = BPF_CORE_READ(tp, bytes_acked);
	if (!s)
		return 0;
	if (!(s->flags & NET_S_BASE)) {
		s->base_rx = rx;
		s->base_tx = tx;
		s->flags |= NET_S_BASE;
		return 0;
	}
	drx = rx - s->base_rx;
	dtx = tx - s->base_tx;
	s->base_rx = rx;
	s->base_tx = tx;
	if (!(s->flags & NET_S_WANTED) || (!drx && !dtx))
		return 0;
	/* Serialised by the socket lock: plain adds are enough. */
	s->rx += drx;
	s->tx += dtx;
	cnt_add(NET_CNT_RX_BYTES, drx);
	cnt_add(NET_CNT_TX_BYTES, dtx);
	return 0;
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(probe_btf, struct sock *sk, struct sk_buff *skb)
{
	return on_counters(sk);
}

SEC("tp/tcp/tcp_probe")
int probe_tp(struct trace_event_raw_tcp_probe *ctx)
{
	/* skaddr joined the event in 6.x; without it the classic event cannot name the socket. */
	if (!bpf_core_field_exists(ctx->skaddr))
		return 0;
	return on_counters(BPF_CORE_READ(ctx, skaddr));
}

/* The last bytes of a connection arrive with its FIN: flush at every state change. */
static __always_inline int on_state(const struct sock *sk, int old)
{
	/* Request and time-wait sockets have no counters. */
	if (old == TCP_ST_NEW_SYN_RECV || old == TCP_ST_TIME_WAIT || old == TCP_ST_LISTEN ||
	    old == TCP_ST_SYN_SENT || old == TCP_ST_CLOSE)
		return 0;
	return on_counters(sk);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(state_btf, const struct sock *sk, const int oldstate, const int newstate)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	return on_state(sk, oldstate);
}

SEC("tp/sock/inet_sock_set_state")
int state_tp(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	return on_state(ctx->skaddr, ctx->oldstate);
}
