/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The TLS part of the cause model: per process handshakes (full, resumed,
 * failed, renegotiations), their latency distribution and per-second
 * counts, CPU samples by handshake phase, per client address counts, and
 * the first TLS_HS_KEPT handshakes one by one (for timelines).
 */
#ifndef ST_TLSMODEL_H
#define ST_TLSMODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "hist.h"
#include "tls.h"
#include "util.h"

struct model;
struct proc;
struct job;

struct tls_event {
	uint64_t ts; /* completion (or failure) time */
	uint64_t start_ns;
	uint32_t pid, tid;
	uint32_t flags; /* TLS_F_* */
	uint32_t lib;
	char comm[16];
	char addr[48]; /* peer address, "" when unknown */
	uint16_t port;
};

#define TLS_HS_KEPT 20000 /* handshakes kept one by one, the first of a recording */

/* One handshake as it ended (a failed one included). */
struct tls_hs_ent {
	uint64_t ts; /* completion (or failure) time */
	uint64_t start_ns;
	uint32_t pid, tid;
	uint32_t flags; /* TLS_F_* */
	uint16_t port;
	char addr[48]; /* peer address, "" when unknown */
};

struct tls_proc {
	uint32_t pid;
	char comm[16];
	const char *lib; /* library of its first handshake */
	uint64_t handshakes; /* completed, renegotiations included */
	uint64_t full, resumed, failed, reneg;
	uint64_t lat_n;
	uint32_t lat[HIST_BUCKETS];
	uint64_t samples[TLS_PH_NR]; /* cumulative CPU samples by phase */
	uint64_t period_ns;
	uint32_t *per_s; /* completed handshakes per second of the recording */
	size_t nper_s;
	struct tls_proc *next;
};

struct tls_client {
	char addr[48];
	uint64_t handshakes, reneg, failed;
	struct tls_client *next;
};

struct tls_model {
	struct hmap procs; /* pid -> tls_proc */
	struct tls_proc *plist;
	size_t nprocs;
	struct hmap clients; /* hash of addr -> tls_client */
	struct tls_client *clist;
	size_t nclients;
	char *libs[256]; /* library index -> path */
	bool lib_static[256];
	struct tls_hs_ent *hs; /* in arrival order, at most TLS_HS_KEPT */
	size_t nhs, hs_cap;
	uint64_t hs_dropped; /* handshakes not kept: past TLS_HS_KEPT or no memory */
};

void tls_model_free(struct tls_model *t);
/*
 * A handshake ended; returns the process entry (NULL on allocation failure).
 * The first TLS_HS_KEPT are also kept in t->hs.
 */
struct tls_proc *tls_model_hs(struct tls_model *t, uint64_t t0, const struct tls_event *e);
void tls_model_cpu(struct tls_model *t, uint32_t pid, const uint64_t *samples, uint64_t period_ns);
void tls_model_lib(struct tls_model *t, uint32_t idx, const char *path, bool is_static);

/* The q-quantile (0..1) of a process's latencies in µs; 0 when empty. */
uint64_t tls_proc_lat_q(const struct tls_proc *p, double q);
double tls_proc_cpu_s(const struct tls_proc *p, unsigned int phase);
/* The busiest second: what "handshakes/s" means during the spike. */
uint32_t tls_proc_peak_rate(const struct tls_proc *p);
/* Sorts processes by handshakes and clients by handshakes + renegotiations. */
void tls_model_sort(struct tls_model *t);

#endif
