/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A CPU profile as every output reads it: named frames interned once, and
 * stacks (root first, leaf last) with a sample count each. The model builds
 * it from the recording with the cause frames first (job, phase, process);
 * folded text, pprof and the HTML flame graph are views of it.
 */
#ifndef ST_STACKS_H
#define ST_STACKS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util.h"

struct stk {
	uint32_t *frames; /* ids into stackset.names, root first */
	uint32_t nframes;
	uint32_t ncause; /* the first ncause frames are cause frames, not code */
	uint64_t count; /* samples */
};

struct stackset {
	char **names; /* frame id -> name */
	size_t nnames, names_cap;
	struct hmap names_by_hash; /* st_hash_str -> chain (struct stk_name *) */
	struct stk *v;
	size_t n, cap;
	struct hmap stks_by_hash; /* hash of the id list -> chain */
	uint64_t period_ns; /* CPU time one sample stands for */
	uint64_t total; /* sum of counts */
	char comment[128]; /* pprof's Profile.comment when set (what the profile lacks) */
};

void stackset_init(struct stackset *s, uint64_t period_ns);
void stackset_free(struct stackset *s);
/* The id of a frame name, interning it; UINT32_MAX when out of memory. */
uint32_t stackset_frame(struct stackset *s, const char *name);
/*
 * Adds count samples to the stack ids[0..n) (root first), merging with an
 * equal stack; the first ncause ids are cause frames. 0, -ENOMEM, or -EINVAL for an unknown id or
 * ncause > n.
 */
int stackset_add(struct stackset *s, const uint32_t *ids, size_t n, size_t ncause, uint64_t count);

/*
 * Brendan Gregg's collapsed format, one "a;b;c N" line per stack, sorted by
 * the frame text so equal prefixes are adjacent. ';' or a newline inside a
 * name are written as ':' and ' ' so a name never splits a frame. 0 or -errno.
 */
int folded_write(FILE *out, const struct stackset *s);

/*
 * A gzipped profile.proto (github.com/google/pprof/proto/profile.proto):
 * sample types "samples"/"count" and "cpu"/"nanoseconds", one Location and
 * Function per distinct frame name (no addresses: frames are already
 * named), time_nanos = start_real_ns, duration_nanos, period = period_ns of
 * "cpu"/"nanoseconds". Cause frames become ordinary functions with
 * system_name "cause". 0 or -errno.
 */
int pprof_write(FILE *out, const struct stackset *s, uint64_t start_real_ns, uint64_t duration_ns);

#endif
