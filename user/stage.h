/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Records of one drain of the ring buffers, put back in time order. Each
 * concern has its own ring, and libbpf reads them one after the other (the
 * ring that woke the reader first): without this, a mem ring's OOM kill
 * could reach the model before the proc ring's fork and exec of its victim,
 * which the model then did not know (seen in a loaded 6.12 guest).
 */
#ifndef ST_STAGE_H
#define ST_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct stage_ent {
	uint64_t ts, seq;
	size_t off;
};

struct stage {
	unsigned char *buf; /* the records, each 8-byte aligned */
	size_t len, cap;
	struct stage_ent *ents;
	size_t n, ncap;
	uint64_t seq;
};

/* A copy of record h (h->size bytes); -ENOMEM leaves the stage as it was. */
int stage_add(struct stage *s, const struct st_hdr *h);
/* Calls fn for each record by timestamp (ties: in the order added), then empties the stage. */
void stage_flush(struct stage *s, void (*fn)(void *ctx, const struct st_hdr *h), void *ctx);
void stage_free(struct stage *s);

#endif
