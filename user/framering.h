/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The flight recorder's memory (docs/flight.md): recording frames in
 * arrival order, each stamped, in blocks of FR_BLOCK bytes mapped from the
 * kernel. Pruned by age from the oldest end, bounded by bytes: when a new
 * block would pass the cap, the oldest block goes first. A callback sees
 * every frame that leaves (pruned or evicted), so what the window no longer
 * holds can be summed up (user/winbase.h).
 */
#ifndef ST_FRAMERING_H
#define ST_FRAMERING_H

#include <stddef.h>
#include <stdint.h>

#define FR_BLOCK (1u << 20)

struct fr_frame {
	uint64_t stamp; /* CLOCK_MONOTONIC ns when it arrived */
	uint32_t type; /* enum rec_frame_type */
	uint32_t len; /* payload bytes */
	unsigned char data[]; /* padded to 8 bytes */
};

struct fr_block;
struct framering;

/* Called for each frame that leaves; evicted says it left before its time. */
typedef void (*fr_gone_cb)(void *ctx, const struct fr_frame *f, int evicted);

struct fr_iter {
	const struct fr_block *b;
	size_t off;
};

/* cap: most bytes mapped at once (at least two blocks). NULL without memory. */
struct framering *fr_new(size_t cap, fr_gone_cb gone, void *ctx);
void fr_free(struct framering *r);
/* Appends a copy of the frame. 0, or -ENOMEM (the frame is not kept). */
int fr_push(struct framering *r, uint64_t stamp, uint32_t type, const void *payload, uint32_t len);
/* Drops every frame stamped before `before`, oldest first. */
void fr_prune(struct framering *r, uint64_t before);
/* The first frame stamped at or after `from` (NULL: none); then fr_next. */
const struct fr_frame *fr_first(const struct framering *r, uint64_t from, struct fr_iter *it);
const struct fr_frame *fr_next(const struct framering *r, struct fr_iter *it);

struct fr_stats {
	size_t mapped; /* bytes mapped, the spare block included */
	size_t blocks;
	uint64_t frames; /* frames held */
	uint64_t bytes; /* bytes of frames held (headers and padding included) */
	uint64_t oldest; /* stamp of the oldest frame held, 0 when empty */
	uint64_t evicted; /* frames dropped by the cap before their time, ever */
	uint64_t last_evicted; /* stamp of the newest such frame, 0 if none */
	uint64_t nomem; /* frames not kept for lack of memory, ever */
};

void fr_stats(const struct framering *r, struct fr_stats *s);

#endif
