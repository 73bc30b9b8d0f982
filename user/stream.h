/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Streaming output of model events (`spiketrace proc`, ...): text or JSON lines. */
#ifndef ST_STREAM_H
#define ST_STREAM_H

#include <stdbool.h>
#include <stdio.h>

#include "model.h"

struct stream {
	FILE *out;
	bool json;
	bool header_done;
	struct model *m;
	bool procs; /* print exec/exit lines */
	bool tls; /* print handshake lines */
	bool tcp; /* print transition, reset and close lines */
	double interval_s; /* mem table period */
	uint64_t next_table;
	uint64_t last_table;
	struct hmap prev_faults; /* job -> page faults at the last table */
	struct hmap prev_cpu; /* job -> CPU microseconds + 1 at the last table */
	struct hmap prev_net; /* job -> struct net_prev: its bytes at the last table */
};

/* A model listener (model_listen(m, stream_event, &stream)). */
void stream_event(void *ctx, const struct mev *ev);
/* A spine tick callback: the periodic per-job memory table. */
void stream_mem_tick(void *ctx, uint64_t now);
/*
 * Whether a periodic table is due at now (every interval_s): if so, the
 * model is finalized and *elapsed is the time since the last table.
 */
bool stream_table_due(struct stream *s, uint64_t now, double *elapsed);
/* A spine tick callback: the periodic per-job CPU table (user/stream_cpu.c). */
void stream_cpu_tick(void *ctx, uint64_t now);
/* A spine tick callback: the periodic per-job network table (user/stream_net.c). */
void stream_net_tick(void *ctx, uint64_t now);
void stream_free(struct stream *s);
/* Writes the lineage comms of p, root first, joined by sep. */
void stream_lineage(FILE *out, struct model *m, struct proc *p, const char *sep);

#endif
