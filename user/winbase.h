/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What a flight-recorder window starts from (docs/flight.md). Some records
 * carry counters cumulative since tracing started: page faults and reclaim
 * per process (ST_MEM_SNAP), TLS CPU samples per process (ST_TLS_CPU),
 * run-queue delay per process (ST_CPU_SCHED), the kernel's TCP counters
 * (ST_TCP_COUNTS) and the drop counters (REC_LOST). A recording cut out of
 * an hours-long run must count from its own start, so the values of the
 * frames that left the window are kept here (wb_absorb) and subtracted from
 * the frames a dump writes (wb_rebase). Exits forget their process.
 */
#ifndef ST_WINBASE_H
#define ST_WINBASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcp.h"
#include "tls.h"
#include "util.h"

struct winbase {
	struct hmap mem; /* pid -> struct wb_mem */
	struct hmap tls; /* pid -> struct wb_tls */
	struct hmap sched; /* tgid -> struct wb_sched */
	struct hmap dead; /* pid -> exit time + 1: its late snapshots are ignored */
	bool have_tcp, have_lost;
	uint64_t tcp_trans[TCP_ST_NR * TCP_ST_NR];
	uint64_t tcp_resets_rx, tcp_resets_tx, tcp_retrans;
	uint64_t lost_bpf, lost_user;
};

void wb_init(struct winbase *b);
void wb_free(struct winbase *b);
/* dst (initialized, emptied first) becomes a copy of src. 0 or -ENOMEM. */
int wb_copy(struct winbase *dst, const struct winbase *src);
/* A frame left the window: its cumulative values become the baseline. */
void wb_absorb(struct winbase *b, uint32_t type, const void *payload, uint32_t len);
/*
 * The frame relative to the baseline: returns payload itself when nothing
 * changes, else out (len bytes, the caller's) holding the rebased copy.
 * A counter below its baseline belongs to a new process with a reused pid:
 * its baseline is dropped. Exits in the stream forget their pid.
 */
const void *wb_rebase(struct winbase *b, uint32_t type, const void *payload, uint32_t len,
		      void *out);
/*
 * Processes whose exit was never seen (lost, or outside a -p/-c filter):
 * those alive() says are gone count as exited now (forgotten WB_DEAD_NS on).
 */
void wb_reap(struct winbase *b, bool (*alive)(uint32_t pid), uint64_t now);
/* Entries held, for the memory statistics. */
size_t wb_entries(const struct winbase *b);

#endif
