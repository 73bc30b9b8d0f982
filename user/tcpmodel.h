/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The TCP part of the cause model: connections from first transition to
 * close (a tcplife-style summary), aggregates per remote endpoint, every
 * reset with its idle time and age, the distribution of idle-before-reset
 * and where it clusters, and the exact transition counts from the kernel.
 */
#ifndef ST_TCPMODEL_H
#define ST_TCPMODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "hist.h"
#include "tcp.h"
#include "util.h"

#define TCP_ADDR_LEN 48
#define TCP_MAX_RESETS 100000 /* kept one by one; counted beyond */
#define TCP_MAX_CLOSED 1000 /* most recent closed connections kept */

/* A decoded record (ST_TCP_STATE or ST_TCP_RESET). */
struct tcp_event {
	uint64_t ts;
	uint64_t sk;
	bool reset; /* ST_TCP_RESET: old == new == the state then */
	uint32_t pid, netns;
	uint8_t family, old, new, flags; /* TCP_F_* */
	uint16_t lport, rport;
	char laddr[TCP_ADDR_LEN], raddr[TCP_ADDR_LEN];
	uint64_t ns_in_old, age_ns, idle_rx_ns, idle_tx_ns;
	uint64_t rx_bytes, tx_bytes;
	uint32_t retrans, reason;
	char comm[16];
};

/* Per remote endpoint. Outbound: raddr:rport. Inbound: raddr to our lport. */
struct tcp_remote {
	char raddr[TCP_ADDR_LEN];
	uint16_t rport; /* 0 for inbound: client ports are ephemeral */
	uint16_t lport; /* inbound: our service port; 0 for outbound */
	bool inbound;
	uint64_t connections; /* seen opening, or alive when we started */
	uint64_t closed;
	uint64_t resets_rx, resets_tx;
	uint64_t retrans, rx_bytes, tx_bytes; /* of its closed connections */
	uint32_t life_ms[HIST_BUCKETS]; /* lifetimes of closed connections we saw open */
	uint64_t life_n;
	uint32_t idle_ms[HIST_BUCKETS]; /* idle before its resets */
	uint64_t idle_n;
	struct tcp_remote *next;
};

/* Left with nothing: the placeholder of a child whose peer came with its next record. */
static inline bool tcp_remote_empty(const struct tcp_remote *r)
{
	return !r->connections && !r->closed && !r->resets_rx && !r->resets_tx;
}

/* A connection; kept while alive, then the last TCP_MAX_CLOSED closed ones. */
struct tcp_conn {
	uint64_t sk;
	uint32_t pid, netns;
	char comm[16];
	uint8_t family, state, flags; /* flags of its first record */
	uint16_t lport, rport;
	char laddr[TCP_ADDR_LEN], raddr[TCP_ADDR_LEN];
	uint64_t first_ts; /* first record */
	uint64_t open_ts; /* created (SYN_SENT / SYN_RECV seen), 0 if before us */
	uint64_t est_ts; /* reached ESTABLISHED, 0 if not seen */
	uint64_t close_ts; /* 0 while alive */
	bool end_unseen; /* no record showed its end: close_ts is when its address was reused */
	uint64_t rx_bytes, tx_bytes;
	uint32_t retrans;
	uint32_t resets_rx, resets_tx;
	struct tcp_remote *remote;
};

struct tcp_reset {
	uint64_t ts;
	bool sent;
	uint8_t family, state, flags;
	uint16_t lport, rport;
	char laddr[TCP_ADDR_LEN], raddr[TCP_ADDR_LEN];
	uint32_t pid, reason;
	char comm[16];
	uint64_t idle_rx_ns, idle_tx_ns, age_ns; /* valid per TCP_F_IDLE / TCP_F_AGE */
	uint64_t rx_bytes, tx_bytes;
};

/* Per process, for the cause model. */
struct tcp_proc {
	uint32_t pid;
	uint64_t connections;
	uint64_t resets_rx, resets_tx;
};

/* Resets after less idle are aborts or refusals amid traffic, not idle timeouts. */
#define TCP_IDLE_FLOOR_MS 1000

struct tcp_cluster {
	uint64_t idle_ms; /* the median of the cluster */
	uint64_t lo_ms, hi_ms; /* its extent */
	uint64_t n; /* resets in it */
	uint64_t total; /* resets idle TCP_IDLE_FLOOR_MS or more */
	uint64_t min_ms, max_ms; /* of those: none came before min_ms idle */
	uint64_t below; /* resets with less idle than the floor */
};

struct tcp_model {
	uint64_t records; /* transitions decoded */
	uint64_t gaps; /* records not starting in the state the socket's last one left it in */
	uint64_t ends_unseen; /* connections whose last transitions no record showed */
	bool have_counts; /* the kernel's exact counters were recorded */
	uint64_t trans[TCP_ST_NR * TCP_ST_NR]; /* exact, cumulative */
	uint64_t resets_rx, resets_tx, retrans; /* exact, cumulative */
	struct hmap live; /* sk -> tcp_conn */
	struct tcp_conn closed[TCP_MAX_CLOSED]; /* ring */
	uint64_t nclosed; /* ever closed; the ring holds the last ones */
	struct hmap remotes; /* hash -> tcp_remote */
	struct tcp_remote *rlist;
	size_t nremotes;
	struct tcp_reset *resets;
	size_t nresets, resets_cap;
	uint64_t resets_dropped; /* beyond TCP_MAX_RESETS */
	uint32_t idle_ms[HIST_BUCKETS]; /* idle before every reset */
	uint64_t idle_n;
	struct hmap procs; /* pid -> tcp_proc */
};

const char *tcp_state_name(unsigned int st); /* "ESTABLISHED", "?" when unknown */
/* Formats a record's address (network order bytes) as text. */
void tcp_addr_str(uint8_t family, const uint8_t *addr, char *out, size_t len);

void tcp_model_free(struct tcp_model *t);
void tcp_reset_from_event(struct tcp_reset *r, const struct tcp_event *e);
/* A transition or reset. Returns the connection it closed (valid until the next call) or NULL. */
const struct tcp_conn *tcp_model_event(struct tcp_model *t, const struct tcp_event *e);
void tcp_model_counts(struct tcp_model *t, const struct tcp_counts *c);
/* The live connection at sk ended unseen at ts: returns it closed, or NULL if none is live. */
const struct tcp_conn *tcp_model_gone(struct tcp_model *t, uint64_t sk, uint64_t ts);
/* Sums of the transition counters (exact when recorded, else the records). */
uint64_t tcp_model_transitions(const struct tcp_model *t);
uint64_t tcp_model_resets(const struct tcp_model *t, bool sent);
/* Ranks remotes: most resets, then most connections. */
void tcp_model_sort(struct tcp_model *t);
/*
 * Where idle-before-reset clusters: among resets idle at least
 * TCP_IDLE_FLOOR_MS, the largest set whose idle times lie within ±10 % of
 * their midpoint. Returns false when no reset is past the floor.
 */
bool tcp_reset_cluster(const struct tcp_model *t, struct tcp_cluster *c);
/* The i-th most recent closed connection, 0 = newest; NULL past the end. */
const struct tcp_conn *tcp_model_closed(const struct tcp_model *t, size_t i);

#endif
