// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * TCP on tracepoints only: every state transition (sock:inet_sock_set_state)
 * with the time spent in the old state, resets received and sent with how
 * long the connection had been idle, and retransmits. tp_btf variants take
 * typed pointers; the classic ones take the socket address from the event
 * and read the same fields with CO-RE.
 *
 * Most transitions run in softirq context, where "current" is whoever was
 * interrupted, so a socket's owner is learnt only where the kernel runs in
 * the owner's own syscall: connect (-> SYN_SENT), listen (-> LISTEN) and
 * close/shutdown (-> FIN_WAIT1, -> LAST_ACK). Accepted sockets inherit the
 * owner of their listener; sockets older than the recording get theirs from
 * what userspace read in /proc (the seed maps).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#include "tcp.h"
#include "maps.bpf.h"
#include "tcp_socks.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

/* From /proc/config.gz or /boot/config-*; 0 when neither exists (no idle times). */
extern unsigned int CONFIG_HZ __kconfig __weak;

const volatile __u16 targ_port = 0; /* either side */
/* Records name a socket by its address XOR this per-run secret: no kernel pointer leaks. */
const volatile __u64 sk_salt = 0;
const volatile __u16 targ_lport = 0;
const volatile __u16 targ_rport = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct tcp_listen_key);
	__type(value, struct tcp_owner);
} listeners SEC(".maps");

/* Connections alive when the recording started, keyed by their tuple. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tcp_tuple_key);
	__type(value, struct tcp_owner);
} seeded SEC(".maps");

/* Exact counts whatever the ring buffer drops; one slot, read with one lookup a second. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcp_cnt);
} counts SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u32 zero = 0;
	struct tcp_cnt *c = bpf_map_lookup_elem(&counts, &zero);

	if (!c)
		return;
	/* One register for the check and the index, or the verifier sees no bound. */
	barrier_var(idx);
	if (idx < TCP_CNT_NR)
		c->n[idx] += 1;
}

static __always_inline bool any_filter(void)
{
	return targ_tgid || targ_cgid || targ_memcg;
}

static __always_inline void owner_current(struct tcp_owner *o)
{
	o->tgid = bpf_get_current_pid_tgid() >> 32;
	o->wanted = st_current_wanted();
	o->seeded = 0;
	o->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

static __always_inline __u32 sk_netns(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

static __always_inline void sk_tuple(const struct sock *sk, struct tcp_tuple_key *k)
{
	k->netns = sk_netns(sk);
	k->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	k->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	k->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (k->family == AF_INET6) {
		BPF_CORE_READ_INTO(&k->laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&k->raddr, sk, __sk_common.skc_v6_daddr);
	} else {
		BPF_CORE_READ_INTO((__u32 *)k->laddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)k->raddr, sk, __sk_common.skc_daddr);
	}
}

static __always_inline bool port_wanted(__u16 lport, __u16 rport)
{
	if (targ_port && lport != targ_port && rport != targ_port)
		return false;
	if (targ_lport && lport != targ_lport)
		return false;
	return !targ_rport || rport == targ_rport;
}

/* The owner a socket we have not seen yet inherits: its listener's, or its seed. */
static __always_inline void first_sight(const struct sock *sk, struct sk_info *si, int old, int new,
					__u64 now)
{
	struct tcp_listen_key lk = {};
	struct tcp_tuple_key tk = {};
	struct tcp_owner *o = NULL;

	if (old == TCP_ST_CLOSE && new == TCP_ST_SYN_SENT) {
		si->created_ns = now;
		si->flags = TCP_F_ROLE_KNOWN;
		return; /* the caller takes current as the owner */
	}
	/* A listener's child: LISTEN -> SYN_RECV when it is made. */
	if (new == TCP_ST_SYN_RECV || (old == TCP_ST_SYN_RECV && new == TCP_ST_ESTABLISHED)) {
		if (old == TCP_ST_LISTEN)
			si->created_ns = now;
		si->flags = TCP_F_ROLE_KNOWN | TCP_F_PASSIVE;
		lk.netns = sk_netns(sk);
		lk.lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		o = bpf_map_lookup_elem(&listeners, &lk);
	} else if (old == TCP_ST_LISTEN) {
		/* A listener older than us, closing. */
		lk.netns = sk_netns(sk);
		lk.lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		o = bpf_map_lookup_elem(&listeners, &lk);
	} else {
		sk_tuple(sk, &tk);
		o = bpf_map_lookup_elem(&seeded, &tk);
	}
	if (o) {
		si->o = *o;
		si->flags |= TCP_F_OWNER;
	}
}

static __always_inline __u64 jiffies_ns(__u32 delta)
{
	return CONFIG_HZ ? (__u64)delta * (1000000000ULL / CONFIG_HZ) : 0;
}

/* Fields of a full TCP socket: not of a request or time-wait socket. */
static __always_inline bool full_sock(int state)
{
	return state != TCP_ST_NEW_SYN_RECV && state != TCP_ST_TIME_WAIT;
}

/* tcp_fin() sets SOCK_DONE before any state change: the FIN is in bytes_received. */
static __always_inline bool fin_received(const struct sock *sk)
{
	int bit = bpf_core_enum_value(enum sock_flags, SOCK_DONE);

	return (BPF_CORE_READ(sk, __sk_common.skc_flags) >> bit) & 1;
}

static __always_inline void fill(struct tcp_rec *r, const struct sock *sk, const struct sk_info *si,
				 __u64 now)
{
	const struct tcp_sock *tp = (const void *)sk;
	struct tcp_tuple_key k = {};

	sk_tuple(sk, &k);
	if (si && !k.lport)
		k.lport = si->lport;
	/* Pointer XOR is refused: reload it from the record as a plain number first. */
	r->skaddr = (__u64)sk;
	*(volatile __u64 *)&r->skaddr ^= sk_salt;
	r->netns = k.netns;
	r->family = k.family;
	r->lport = k.lport;
	r->rport = k.rport;
	__builtin_memcpy(r->laddr, k.laddr, sizeof(r->laddr));
	__builtin_memcpy(r->raddr, k.raddr, sizeof(r->raddr));
	r->flags = si ? si->flags : 0;
	r->pid = 0;
	r->cgroup_id = 0;
	__builtin_memset(r->comm, 0, sizeof(r->comm));
	if (si && (si->flags & TCP_F_OWNER)) {
		r->pid = si->o.tgid;
		r->cgroup_id = si->o.cgroup_id;
		__builtin_memcpy(r->comm, si->o.comm, sizeof(r->comm));
	}
	r->age_ns = 0;
	if (si && si->created_ns) {
		r->age_ns = now - si->created_ns;
		r->flags |= TCP_F_AGE;
	}
	r->ns_in_old = 0;
	r->idle_rx_ns = r->idle_tx_ns = 0;
	r->rx_bytes = r->tx_bytes = 0;
	r->retrans = 0;
	r->reason = 0;
	/* Payload only: no FIN in rx; tx is data sent once (bytes_acked counts SYN and FIN). */
	if (full_sock(r->old)) {
		r->rx_bytes = BPF_CORE_READ(tp, bytes_received);
		if (fin_received(sk) && r->rx_bytes)
			r->rx_bytes--;
		r->tx_bytes = BPF_CORE_READ(tp, bytes_sent) - BPF_CORE_READ(tp, bytes_retrans);
		r->retrans = BPF_CORE_READ(tp, total_retrans);
	}
}

static __always_inline int on_state(const struct sock *sk, int old, int new)
{
	__u64 key = (__u64)sk, now = bpf_ktime_get_ns();
	struct sk_info *si, fresh = {};
	struct tcp_listen_key lk = {};
	struct tcp_rec *r;
	bool wanted;

	if (old <= 0 || old >= TCP_ST_NR || new <= 0 || new >= TCP_ST_NR)
		return 0;
	si = bpf_map_lookup_elem(&tcp_socks, &key);
	/*
	 * After CLOSE a socket only starts over (connects or listens again), and
	 * a new socket at a freed address must not inherit a stale entry: nor
	 * one whose CLOSE and destruction no program saw (docs/tcp.md, gaps).
	 */
	if (!si || si->closed || tcp_starts_life(old, new)) {
		first_sight(sk, &fresh, old, new, now);
		si = &fresh;
	}
	if (BPF_CORE_READ(sk, __sk_common.skc_num))
		si->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	/* In the owner's own syscall: connect, listen, close, shutdown. */
	if (new == TCP_ST_SYN_SENT || new == TCP_ST_LISTEN ||
	    (!(si->flags & TCP_F_OWNER) && (new == TCP_ST_FIN_WAIT1 || new == TCP_ST_LAST_ACK))) {
		owner_current(&si->o);
		si->flags |= TCP_F_OWNER;
	}
	if (new == TCP_ST_LISTEN || old == TCP_ST_LISTEN) {
		lk.netns = sk_netns(sk);
		lk.lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	}
	if (new == TCP_ST_LISTEN) {
		if (bpf_map_update_elem(&listeners, &lk, &si->o, BPF_ANY))
			st_count_lost(ST_LOST_MAPFULL);
	} else if (old == TCP_ST_LISTEN && new == TCP_ST_CLOSE) {
		struct tcp_owner *lo = bpf_map_lookup_elem(&listeners, &lk);

		/* SO_REUSEPORT: only the owner's own listener goes. */
		if (lo && lo->tgid == si->o.tgid)
			bpf_map_delete_elem(&listeners, &lk);
	}
	wanted = si->flags & TCP_F_OWNER ? owner_wanted(&si->o) : !any_filter();
	if (wanted)
		wanted =
			port_wanted(si->lport, bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport)));
	if (wanted) {
		count(old * TCP_ST_NR + new);
		r = st_reserve(sizeof(*r), ST_TCP_STATE);
		if (r) {
			r->old = old;
			r->new = new;
			fill(r, sk, si, now);
			if (si->last_ns) {
				r->ns_in_old = now - si->last_ns;
				r->flags |= TCP_F_IN_OLD;
			}
			st_submit(r);
		}
	}
	si->last_ns = now;
	si->closed = new == TCP_ST_CLOSE;
	/* Deleted when the socket is destroyed (or evicted, the map is an LRU). */
	if (si == &fresh)
		bpf_map_update_elem(&tcp_socks, &key, &fresh, BPF_ANY);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(state_btf, const struct sock *sk, const int oldstate, const int newstate)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	return on_state(sk, oldstate, newstate);
}

/* The classic event's layout is fixed since 4.16 (protocol was added there). */
struct state_ctx {
	__u64 pad;
	const void *skaddr;
	int oldstate, newstate;
	__u16 sport, dport, family, protocol;
};

SEC("tp/sock/inet_sock_set_state")
int state_tp(struct state_ctx *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	return on_state(ctx->skaddr, ctx->oldstate, ctx->newstate);
}

/* Idle as keepalive counts it: since the last segment received, data or ACK. */
static __always_inline void idle_times(struct tcp_rec *r, const struct sock *sk)
{
	const struct tcp_sock *tp = (const void *)sk;
	__u32 now = bpf_jiffies64(), rcv, lrcv, snd, d1, d2;

	if (!CONFIG_HZ || !full_sock(r->old) || r->old == TCP_ST_LISTEN)
		return;
	rcv = BPF_CORE_READ(tp, rcv_tstamp);
	lrcv = BPF_CORE_READ(tp, inet_conn.icsk_ack.lrcvtime);
	snd = BPF_CORE_READ(tp, lsndtime);
	d1 = now - rcv;
	d2 = now - lrcv;
	r->idle_rx_ns = jiffies_ns(d1 < d2 ? d1 : d2);
	r->idle_tx_ns = jiffies_ns(now - snd);
	r->flags |= TCP_F_IDLE;
}

/* Reads the addresses of a packet we answer with a reset (no socket for it). */
static __always_inline void fill_skb(struct tcp_rec *r, const struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th = BPF_CORE_READ(skb, transport_header);
	struct tcphdr t = {};
	__u8 ver = 0;

	bpf_probe_read_kernel(&ver, 1, head + nh);
	if (bpf_probe_read_kernel(&t, sizeof(t), head + th))
		st_count_lost(ST_LOST_READ);
	r->lport = bpf_ntohs(t.dest);
	r->rport = bpf_ntohs(t.source);
	if ((ver >> 4) == 6) {
		struct ipv6hdr ip6 = {};

		bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh);
		r->family = AF_INET6;
		__builtin_memcpy(r->laddr, &ip6.daddr, 16);
		__builtin_memcpy(r->raddr, &ip6.saddr, 16);
	} else {
		struct iphdr ip = {};

		bpf_probe_read_kernel(&ip, sizeof(ip), head + nh);
		r->family = AF_INET;
		__builtin_memcpy(r->laddr, &ip.daddr, 4);
		__builtin_memcpy(r->raddr, &ip.saddr, 4);
	}
}

static __always_inline int on_reset(const struct sock *sk, const struct sk_buff *skb, bool sent,
				    __u32 reason)
{
	__u64 key = (__u64)sk, now = bpf_ktime_get_ns();
	struct sk_info *si = sk ? bpf_map_lookup_elem(&tcp_socks, &key) : NULL;
	struct tcp_rec *r;
	bool wanted;

	if (si && (si->flags & TCP_F_OWNER))
		wanted = owner_wanted(&si->o);
	else
		wanted = !any_filter();
	if (!wanted)
		return 0;
	r = st_reserve(sizeof(*r), ST_TCP_RESET);
	if (!r) {
		count(sent ? TCP_CNT_RESET_TX : TCP_CNT_RESET_RX);
		return 0;
	}
	if (sk) {
		r->old = r->new = BPF_CORE_READ(sk, __sk_common.skc_state);
		fill(r, sk, si, now);
		idle_times(r, sk);
	} else {
		__builtin_memset(r, 0, sizeof(*r));
		r->h.type = ST_TCP_RESET;
		r->h.size = sizeof(*r);
		r->h.cpu = bpf_get_smp_processor_id();
		r->h.ts = now;
		r->flags = TCP_F_NOSOCK;
		if (skb)
			fill_skb(r, skb);
	}
	if (!port_wanted(r->lport, r->rport)) {
		bpf_ringbuf_discard(r, 0);
		return 0;
	}
	count(sent ? TCP_CNT_RESET_TX : TCP_CNT_RESET_RX);
	if (sent)
		r->flags |= TCP_F_SENT;
	r->reason = reason;
	st_submit(r);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(rst_rx_btf, struct sock *sk)
{
	return on_reset(sk, NULL, false, 0);
}

struct sk_ctx {
	__u64 pad;
	const void *skaddr;
};

SEC("tp/tcp/tcp_receive_reset")
int rst_rx_tp(struct sk_ctx *ctx)
{
	return on_reset(ctx->skaddr, NULL, false, 0);
}

/* The reason argument exists since 6.10; older kernels pass (sk, skb). */
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(rst_tx_btf, const struct sock *sk, const struct sk_buff *skb)
{
	return on_reset(sk, skb, true, 0);
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(rst_tx_btf_reason, const struct sock *sk, const struct sk_buff *skb, int reason)
{
	return on_reset(sk, skb, true, reason);
}

struct skb_ctx {
	__u64 pad;
	const void *skbaddr;
	const void *skaddr;
};

SEC("tp/tcp/tcp_send_reset")
int rst_tx_tp(struct skb_ctx *ctx)
{
	return on_reset(ctx->skaddr, ctx->skbaddr, true, 0);
}

static __always_inline int on_retrans(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct sk_info *si = bpf_map_lookup_elem(&tcp_socks, &key);

	if (si && (si->flags & TCP_F_OWNER) ? owner_wanted(&si->o) : !any_filter())
		count(TCP_CNT_RETRANS);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(retrans_btf, const struct sock *sk)
{
	return on_retrans(sk);
}

SEC("tp/tcp/tcp_retransmit_skb")
int retrans_tp(struct skb_ctx *ctx)
{
	return on_retrans(ctx->skaddr);
}

/* After the last transition and any reset of a closing socket. */
SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(destroy_btf, struct sock *sk)
{
	__u64 key = (__u64)sk;

	bpf_map_delete_elem(&tcp_socks, &key);
	return 0;
}

SEC("tp/tcp/tcp_destroy_sock")
int destroy_tp(struct sk_ctx *ctx)
{
	__u64 key = (__u64)ctx->skaddr;

	bpf_map_delete_elem(&tcp_socks, &key);
	return 0;
}
