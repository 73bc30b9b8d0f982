/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Records of the tcp concern (bpf/tcp.bpf.c, user/tcp.c). */
#ifndef SPIKETRACE_TCP_H
#define SPIKETRACE_TCP_H

#include "common.h"

/* The kernel's TCP states (include/net/tcp_states.h); 0 is never used. */
enum tcp_st {
	TCP_ST_ESTABLISHED = 1,
	TCP_ST_SYN_SENT,
	TCP_ST_SYN_RECV,
	TCP_ST_FIN_WAIT1,
	TCP_ST_FIN_WAIT2,
	TCP_ST_TIME_WAIT,
	TCP_ST_CLOSE,
	TCP_ST_CLOSE_WAIT,
	TCP_ST_LAST_ACK,
	TCP_ST_LISTEN,
	TCP_ST_CLOSING,
	TCP_ST_NEW_SYN_RECV,
	TCP_ST_BOUND_INACTIVE,
	TCP_ST_NR = 16, /* the transition counters are a TCP_ST_NR² matrix */
};

/*
 * A transition that begins a socket's life: connect or listen after CLOSE,
 * or a listener's new child. Whatever was known of a socket at that address
 * belongs to an earlier one (bpf/tcp.bpf.c, user/tcpmodel.c).
 */
static inline int tcp_starts_life(unsigned int old, unsigned int new)
{
	return old == TCP_ST_CLOSE || (old == TCP_ST_LISTEN && new == TCP_ST_SYN_RECV);
}

/* struct tcp_rec.flags */
enum tcp_flag {
	TCP_F_OWNER = 1 << 0, /* pid/comm/cgroup name the socket's process */
	TCP_F_PASSIVE = 1 << 1, /* accepted (a child of a listener), else connected */
	TCP_F_ROLE_KNOWN = 1 << 2, /* we saw how it started: PASSIVE is meaningful */
	TCP_F_IDLE = 1 << 3, /* idle_rx_ns/idle_tx_ns are set (resets) */
	TCP_F_AGE = 1 << 4, /* age_ns is set: we saw the socket being created */
	TCP_F_IN_OLD = 1 << 5, /* ns_in_old is set: we saw it enter the old state */
	TCP_F_SENT = 1 << 6, /* ST_TCP_RESET: we sent it, else received */
	TCP_F_NOSOCK = 1 << 7, /* ST_TCP_RESET sent in reply, no socket: no owner */
};

/*
 * One record per state transition (ST_TCP_STATE) and per reset
 * (ST_TCP_RESET). The (salted) socket address identifies a connection
 * while it lives; addresses are network order, ports host order.
 */
struct tcp_rec {
	struct st_hdr h;
	__u64 skaddr; /* the socket's kernel address XOR a per-run secret */
	__u32 pid; /* tgid of the owner, 0 when unknown */
	__u32 netns; /* the socket's network namespace inode */
	__u8 family; /* AF_INET, AF_INET6 */
	__u8 old, new; /* transition; for a reset new = old = the state then */
	__u8 flags;
	__u16 lport, rport;
	__u8 laddr[16], raddr[16]; /* IPv4 in the first 4 bytes */
	__u64 ns_in_old; /* time spent in the old state */
	__u64 age_ns; /* since the socket was created (SYN_SENT/SYN_RECV) */
	__u64 idle_rx_ns; /* resets: since the last segment received */
	__u64 idle_tx_ns; /* resets: since the last data sent */
	__u64 rx_bytes, tx_bytes; /* bytes_received, bytes_acked so far */
	__u32 retrans; /* segments retransmitted (total_retrans) */
	__u32 reason; /* sent resets: enum sk_rst_reason where the kernel has it */
	__u64 cgroup_id; /* the owner's cgroup2 id, 0 when unknown */
	char comm[ST_COMM_LEN];
};

/* Who owns a listener or a connection seeded from /proc (BPF map values). */
struct tcp_owner {
	__u32 tgid;
	__u8 wanted; /* passes -p/-c */
	__u8 seeded; /* from /proc: the filters are checked when it is used */
	__u8 pad[2];
	__u64 cgroup_id;
	char comm[ST_COMM_LEN];
};

struct tcp_listen_key {
	__u32 netns;
	__u16 lport;
	__u16 pad;
};

/* A connection alive when the recording started. Zero the padding. */
struct tcp_tuple_key {
	__u32 netns;
	__u16 lport, rport;
	__u8 family;
	__u8 pad[3];
	__u8 laddr[16], raddr[16];
};

/* The per-CPU counters, one array slot: [old * TCP_ST_NR + new], then these. */
#define TCP_CNT_RESET_RX (TCP_ST_NR * TCP_ST_NR)
#define TCP_CNT_RESET_TX (TCP_CNT_RESET_RX + 1)
#define TCP_CNT_RETRANS (TCP_CNT_RESET_RX + 2)
#define TCP_CNT_NR (TCP_CNT_RESET_RX + 3)

struct tcp_cnt {
	__u64 n[TCP_CNT_NR];
};

/* Userspace-made each tick from the counters: exact even when records drop. */
struct tcp_counts {
	struct st_hdr h;
	__u64 trans[TCP_ST_NR * TCP_ST_NR]; /* cumulative, [old * TCP_ST_NR + new] */
	__u64 resets_rx, resets_tx;
	__u64 retrans;
};

/*
 * Userspace-made when a recording ends: the connection at skaddr (as in its
 * records) is gone from the kernel's tables, or only its time-wait socket
 * is left, though no record showed its end (docs/tcp.md, "Gaps").
 */
struct tcp_gone {
	struct st_hdr h;
	__u64 skaddr;
};

#endif
