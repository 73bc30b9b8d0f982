/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The network-volume part of the cause model: bytes received and sent per
 * process over time (so per job and per timeline bucket), and per TCP peer
 * (the top talkers).
 */
#ifndef ST_NETMODEL_H
#define ST_NETMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net.h"
#include "util.h"

struct model;
struct proc;
struct job;

/* Bytes moved in the second before ts. */
struct net_pt {
	uint64_t ts;
	uint64_t rx, tx;
};

struct net_proc {
	struct proc *p;
	uint64_t rx, tx;
	struct net_pt *v;
	size_t n, cap;
};

struct net_peer {
	uint8_t family;
	bool inbound;
	uint16_t port; /* inbound: our port; outbound: the peer's */
	char addr[48];
	uint64_t rx, tx;
};

struct net_model {
	enum net_source source;
	uint64_t total_rx, total_tx; /* every wanted byte, the kernel's own count */
	uint64_t mapfull; /* sockets the kernel's map had no room for */
	uint64_t attributed_rx, attributed_tx; /* bytes of processes the model knows */
	uint64_t unknown_rx, unknown_tx; /* bytes of processes it never saw */
	struct hmap procs; /* struct proc * -> struct net_proc */
	struct hmap peers; /* hash -> struct net_peer */
	struct net_peer **ranked; /* by rx + tx, after net_model_sort */
	size_t npeers;
};

void model_net_bytes(struct model *m, const struct net_bytes_rec *r, size_t len);
void model_net_peers(struct model *m, const struct net_peers_rec *r, size_t len);
/* The hmap key of a peer: family, direction, port and address (pad must be 0). */
uint64_t net_peer_hash(const struct net_peer_ent *e);
void net_model_free(struct net_model *n);
/* Sets j->net_rx/net_tx from its processes. */
void net_job(struct model *m, struct job *j);
/* Ranks the peers (m->net->ranked); called by model_finalize. */
void net_model_sort(struct net_model *n);
/* Bytes received and sent by job j's processes per bucket. */
void model_series_net(const struct model *m, const struct job *j, double interval_s, double *rx,
		      double *tx, size_t nb);
/* "net" was recorded and says where its counts came from: "sock_length", "tcp_counters". */
const char *net_source_name(enum net_source s);

#endif
