/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The view of `spiketrace top` (user/top.c): the model turned into rows
 * (rates over the last interval, per cause) and rows into lines. Knows
 * nothing of terminals; tests/unit/test_top.c drives it. live.h is the
 * interface of the command, this the interface of its view.
 */
#ifndef ST_TOP_H
#define ST_TOP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct model;
struct top_view;

/* A view of m, sampled every interval_s; have: the concerns that run (bits). NULL: no memory. */
struct top_view *top_view_new(struct model *m, double interval_s, unsigned int have);
void top_view_free(struct top_view *v);
/* New figures: finalizes the model at now, rates over the time since the last sample. */
void top_view_sample(struct top_view *v, uint64_t now);
/* A key: 1 when the screen needs drawing again, -1 to quit, 0 for nothing. */
int top_view_key(struct top_view *v, int key);
/*
 * One frame into out: lines of at most width columns. On a terminal (tty):
 * drawn over the last frame from the cursor's home, at most height lines,
 * the events at the bottom; else a plain block, no escape codes at all.
 */
void top_view_render(struct top_view *v, FILE *out, unsigned int width, unsigned int height,
		     bool tty);

#endif
