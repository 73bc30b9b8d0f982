/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Records of the net concern (bpf/net.bpf.c, user/net.c): bytes received and
 * sent per process and per TCP peer, counted in the kernel per socket and
 * read by userspace once a second; no record per send or receive.
 */
#ifndef SPIKETRACE_NET_H
#define SPIKETRACE_NET_H

#include "common.h"

enum {
	ST_NET_BYTES = 0x0601, /* userspace: per-process byte deltas of one second */
	ST_NET_PEERS = 0x0602, /* userspace: per-TCP-peer byte deltas of one second */
};

/* Where the byte counts come from (struct net_bytes_rec.source). */
enum net_source {
	NET_SRC_NONE,
	NET_SRC_SOCK_LEN, /* sock:sock_{recv,send}_length (6.3+): TCP and UDP */
	NET_SRC_TCP_PROBE, /* tcp:tcp_probe + state changes: TCP socket counters */
};

/* One socket as used by one process (a socket shared after fork has one per tgid). */
struct net_sock_key {
	__u64 sk; /* the kernel's socket address; never leaves the map */
	__u32 tgid;
	__u32 pad;
};

/* struct net_sock.flags */
enum net_sock_flag {
	NET_S_WANTED = 1 << 0, /* its process passes -p/-c: counted */
	NET_S_TCP = 1 << 1, /* a TCP socket: the peer fields are meaningful */
	NET_S_BASE = 1 << 2, /* tcp_probe: base_rx/base_tx hold the counters last seen */
	NET_S_ROLE = 1 << 3, /* the tcp concern saw how the connection began */
	NET_S_PASSIVE = 1 << 4, /* with NET_S_ROLE: accepted (inbound), else connected */
};

struct net_sock {
	__u64 rx, tx; /* payload bytes, since we first saw it */
	__u64 base_rx, base_tx; /* tcp_probe: the socket's own counters at the last look */
	__u64 cgroup_id; /* the process's cgroup2 id at first sight */
	__u8 flags;
	__u8 family;
	__u16 lport, rport; /* host order */
	__u8 pad[2];
	__u8 raddr[16]; /* IPv4 in the first 4 bytes */
	char comm[ST_COMM_LEN];
};

/* Per-CPU counters (one array slot). */
enum net_cnt {
	NET_CNT_RX_CALLS,
	NET_CNT_TX_CALLS,
	NET_CNT_RX_BYTES, /* every counted byte, whatever happens to the per-socket map */
	NET_CNT_TX_BYTES,
	NET_CNT_MAPFULL, /* a socket the map had no room for: its bytes are only in the totals */
	NET_CNT_NR,
};

struct net_cnt_val {
	__u64 n[NET_CNT_NR];
};

struct net_bytes_ent {
	__u32 pid;
	__u32 pad;
	__u64 rx, tx; /* bytes in the second that ended at h.ts */
	__u64 cgroup_id;
	char comm[ST_COMM_LEN];
};

struct net_bytes_rec {
	struct st_hdr h;
	__u32 source; /* enum net_source */
	__u32 n;
	__u64 total_rx, total_tx; /* cumulative, every wanted byte (NET_CNT_*_BYTES) */
	__u64 mapfull; /* cumulative NET_CNT_MAPFULL */
	struct net_bytes_ent e[];
};

/* A TCP peer: inbound connections by client address and our port, outbound by address:port. */
struct net_peer_ent {
	__u8 family;
	__u8 inbound;
	__u16 port; /* inbound: our (local) port; outbound: the remote port */
	__u32 pad;
	__u8 addr[16];
	__u64 rx, tx;
};

struct net_peers_rec {
	struct st_hdr h;
	__u32 n;
	__u32 pad;
	struct net_peer_ent e[];
};

#endif
