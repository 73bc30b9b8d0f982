/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The Prometheus side of `spiketrace serve` (docs/serve.md): serve's own
 * counters, kept apart from the model so that every exported counter only
 * ever grows and every label has a bounded set of values, and the text
 * exposition (format 0.0.4), a pure function of that state.
 *
 * A bounded label (cause, comm, memcg) takes at most cap distinct values.
 * Values enter in the order they are fed (serve feeds causes in ranking
 * order) the first time they have something to show, and stay for good;
 * once the set is full, everything else is summed into "other" at the
 * moment each increment happens. Each source (a job, a TLS process) is fed
 * its cumulative values; the state keeps the most it has seen of each and
 * adds only the growth, so a source that shrinks never takes a counter back.
 */
#ifndef ST_METRICS_H
#define ST_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util.h"

#define MX_CAP 20 /* distinct values of a bounded label, "other" aside */
#define MX_OTHER "other"
#define MX_TCP_ST 16 /* TCP_ST_NR: transitions are an MX_TCP_ST² matrix */

/* Which families are exposed (the concerns that run). */
enum {
	MXF_CPU = 1 << 0, /* cause CPU; with MXF_TLS, TLS CPU by phase */
	MXF_MEM = 1 << 1, /* cause page faults and RSS, OOM kills */
	MXF_TLS = 1 << 2, /* TLS handshakes */
	MXF_TCP = 1 << 3, /* TCP resets and transitions */
	MXF_NET = 1 << 4, /* cause network bytes */
};

/* Columns of the cause group; RSS is a gauge, the others are counters. */
enum { MX_C_CPU, MX_C_FAULTS, MX_C_RSS, MX_C_NET_RX, MX_C_NET_TX, MX_C_NR };
/* Columns of the TLS group (per comm). */
enum { MX_T_FULL, MX_T_RESUMED, MX_T_KX, MX_T_SIG, MX_T_RNG, MX_T_OTHER, MX_T_NR };

/* One bounded label and its values: row i is names[i], row cap is "other". */
struct mx_group {
	size_t cap;
	size_t ncols;
	unsigned int gauges; /* bit per gauge column: set anew by each update */
	char **names; /* sticky label values, in order of entry */
	size_t n;
	double *vals; /* (cap + 1) rows of ncols */
	bool other_used; /* something went to "other": its row is exposed */
	struct hmap srcs; /* hash of a source key -> chain of struct mx_src */
	size_t nsrcs;
};

struct metrics {
	unsigned int families; /* MXF_* */
	struct mx_group causes; /* MX_C_* */
	struct mx_group tls; /* MX_T_* */
	struct mx_group oom; /* one column: kills */
	double tcp_trans[MX_TCP_ST * MX_TCP_ST]; /* [from * MX_TCP_ST + to] */
	const char *tcp_names[MX_TCP_ST]; /* state names, NULL: not exposed */
	double resets_rx, resets_tx;
	double lost;
	size_t ooms_seen; /* OOM kills of the model already counted */
};

/* 0 or -ENOMEM; cap is the bound of each label (MX_CAP unless testing). */
int mx_init(struct metrics *mx, unsigned int families, size_t cap);
void mx_free(struct metrics *mx);

/* An update starts: gauges restart from 0. */
void mx_begin(struct metrics *mx);
/* A job's cumulative CPU seconds and page faults, and its RSS now. 0 or -ENOMEM. */
/* A cause's cumulative values, v[MX_C_NR]. 0 or -ENOMEM. */
int mx_cause_all(struct metrics *mx, const char *key, const char *name, const double *v);
/* The same without network bytes. */
int mx_cause(struct metrics *mx, const char *key, const char *name, double cpu_s, double faults,
	     double rss);
/* A TLS process's cumulative counts and CPU seconds by phase (MX_T_*). 0 or -ENOMEM. */
int mx_tls(struct metrics *mx, const char *key, const char *comm, const double *v);
/* One OOM kill in memcg (NULL: unknown). 0 or -ENOMEM. */
int mx_oom(struct metrics *mx, const char *memcg);
/* The kernel's cumulative TCP counters: trans[from * MX_TCP_ST + to]. */
void mx_tcp(struct metrics *mx, const uint64_t *trans, uint64_t resets_rx, uint64_t resets_tx);
void mx_lost(struct metrics *mx, uint64_t lost);

struct model;
/*
 * One update from a live model that was just finalized: causes in ranking
 * order, TLS processes, new OOM kills, TCP counters, lost events. 0 or -ENOMEM
 * (what could be counted was).
 */
int mx_update(struct metrics *mx, struct model *m);

/* The exposition, text format 0.0.4. 0, or -EIO when f failed. */
int mx_write(const struct metrics *mx, FILE *f);
/* A label value, escaped (\\, \", \n); invalid UTF-8 bytes become '?'. */
void mx_escape(FILE *f, const char *s);

#endif
