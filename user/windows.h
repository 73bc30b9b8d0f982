/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Which cause dominated each stretch of a recording (docs/causes.md#windows):
 * every timeline bucket is scored like the ranking, with the same weights,
 * and consecutive buckets with the same top job make one window. Reads a
 * finalized model; knows nothing of output formats.
 */
#ifndef ST_WINDOWS_H
#define ST_WINDOWS_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* The per-bucket metrics a bucket is scored by (and a window's evidence names). */
enum win_metric {
	WM_CPU, /* cpu_s: CPU seconds (cpu concern) */
	WM_RUNNABLE, /* runnable: the most threads runnable at once (cpu) */
	WM_GROWTH, /* rss_growth_bytes: most RSS held over what was held before (mem) */
	WM_FAULTS, /* page_faults (mem) */
	WM_OOM, /* oom_kills: its processes the OOM killer chose (mem) */
	WM_TLS, /* tls_handshakes: completed (tls) */
	WM_RESETS, /* tcp_resets: received or sent (tcp) */
	WM_EXECS, /* execs */
	WM_NET, /* net_bytes: received + sent (net) */
	WM_NR,
};

struct window {
	double start_s, end_s; /* seconds since the recording started */
	size_t first, last; /* its timeline buckets, inclusive */
	struct job *job;
	double score; /* the job's bucket scores summed over the window */
	double share; /* score as a part of every job's, over the window: 0..1 */
	enum win_metric metric; /* the evidence: the heaviest of parts[] */
	double value; /* values[metric] */
	/*
	 * The job's metrics over the window: summed, but runnable is the most
	 * at once and rss_growth_bytes the most held at once in the window
	 * over what was held when it began.
	 */
	double values[WM_NR];
	/*
	 * What each metric weighs in the window: per bucket, its value as a
	 * share of the largest any job had in any bucket, times its ranking
	 * weight; summed. The evidence is the heaviest.
	 */
	double parts[WM_NR];
	uint32_t oom_kills; /* values[WM_OOM]: its processes OOM-killed in the window */
};

/*
 * The RSS job j held, summed over its processes at each memory sample and
 * exit (not only at interval ends): the most at once in each interval into
 * hi[nb], at each interval's end into end[nb]. Returns what it held at the
 * start. A seeded process holds its first reported RSS until then; one that
 * started while recording holds nothing until its first sample.
 */
double model_series_rss_held(const struct model *m, const struct job *j, double interval_s,
			     double *hi, double *end, size_t nb);
/* The key of a metric in the JSON report: "cpu_s", "oom_kills", ... */
const char *win_metric_name(enum win_metric k);
/*
 * The windows of a finalized model, in time order, into out[max]; returns
 * how many were stored (0 when nothing happened or memory ran out).
 */
size_t model_windows(struct model *m, struct window *out, size_t max);

#endif
