// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The top cause of each stretch of time (user/windows.h, docs/causes.md#windows). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cpumodel.h"
#include "netmodel.h"
#include "windows.h"

#define NONE ((size_t)-1)
/*
 * The noise floor, as a share of a metric's largest value in any bucket:
 * below it a value makes no bucket active and is scored against the floor,
 * not against the bucket's own maximum.
 */
#define WIN_FLOOR 0.1
/* Rows kept per job beside the metrics: RSS held, its most and at the end of each bucket. */
#define ROW_HI WM_NR
#define ROW_END (WM_NR + 1)
#define NROWS (WM_NR + 2)

static const char *const metric_names[WM_NR] = {
	[WM_CPU] = "cpu_s",	     [WM_RUNNABLE] = "runnable", [WM_GROWTH] = "rss_growth_bytes",
	[WM_FAULTS] = "page_faults", [WM_OOM] = "oom_kills",	 [WM_TLS] = "tls_handshakes",
	[WM_RESETS] = "tcp_resets",  [WM_EXECS] = "execs",	 [WM_NET] = "net_bytes",
};

/*
 * The ranking weight of each per-bucket metric (model.c's table). There is
 * no TLS CPU per bucket: completed handshakes stand for it.
 */
static const enum rank_metric rank_of[WM_NR] = {
	[WM_CPU] = RM_CPU,	 [WM_RUNNABLE] = RM_CONC, [WM_GROWTH] = RM_GROWTH,
	[WM_FAULTS] = RM_FAULTS, [WM_OOM] = RM_OOM,	  [WM_TLS] = RM_TLS_CPU,
	[WM_RESETS] = RM_RESETS, [WM_EXECS] = RM_EXECS,	  [WM_NET] = RM_NET,
};

const char *win_metric_name(enum win_metric k)
{
	return k < WM_NR ? metric_names[k] : "?";
}

struct wctx {
	struct model *m;
	double iv;
	size_t nb, nj;
	struct job **jobs; /* the active jobs, ranked */
	double *v; /* [nj][NROWS][nb]: each job's metrics per bucket, then ROW_HI, ROW_END */
	double *start; /* [nj]: RSS each job held when the recording started */
	double *max; /* [WM_NR][nb]: the largest value of any job */
	double gmax[WM_NR]; /* the largest value of any job in any bucket */
	double *total; /* [nb]: every job's score, summed */
};

/* A stretch of buckets with one top job. */
struct run {
	size_t job; /* index in jobs, NONE for a quiet stretch */
	size_t first, last;
	bool pinned; /* holds an OOM kill: never absorbed */
};

static double *row(const struct wctx *c, size_t j, int k)
{
	return c->v + (j * NROWS + k) * c->nb;
}

static double bmax(const struct wctx *c, enum win_metric k, size_t b)
{
	return c->max[k * c->nb + b];
}

double model_series_rss_held(const struct model *m, const struct job *j, double interval_s,
			     double *hi, double *end, size_t nb)
{
	uint64_t step = (uint64_t)(interval_s * 1e9);
	double start, total;
	size_t n, k = 0, b;
	struct rss_ev *v = job_rss_events(j, &n, &start);

	total = start;
	for (b = 0; b < nb; b++) {
		uint64_t t = m->t0 + (b + 1) * step;

		hi[b] = total;
		for (; v && k < n && v[k].ts <= t; k++) {
			total += v[k].delta;
			if (total > hi[b])
				hi[b] = total;
		}
		end[b] = total;
	}
	free(v);
	return start;
}

/*
 * Job ji's metrics per bucket. A concern that was not recorded has no data
 * (m->cpu, m->tls, m->tcp NULL, no mem samples, no OOM kills): its rows stay 0.
 */
static void fill(struct wctx *c, size_t ji, double *tmp)
{
	struct model *m = c->m;
	struct job *j = c->jobs[ji];
	size_t i, b;

	model_series_execs(m, j, c->iv, row(c, ji, WM_EXECS), c->nb);
	if (m->cpu) {
		model_series_cpu(m, j, c->iv, row(c, ji, WM_CPU), c->nb);
		model_series_conc(m, j, c->iv, row(c, ji, WM_RUNNABLE), c->nb);
	}
	model_series_mem(m, j, c->iv, row(c, ji, WM_FAULTS), tmp, c->nb);
	c->start[ji] =
		model_series_rss_held(m, j, c->iv, row(c, ji, ROW_HI), row(c, ji, ROW_END), c->nb);
	/* growth: the most held in the bucket over what was held when it began */
	for (b = 0; b < c->nb; b++) {
		double before = b ? row(c, ji, ROW_END)[b - 1] : c->start[ji];

		row(c, ji, WM_GROWTH)[b] =
			row(c, ji, ROW_HI)[b] > before ? row(c, ji, ROW_HI)[b] - before : 0;
	}
	if (m->tls)
		model_series_tls(m, j, c->iv, row(c, ji, WM_TLS), c->nb);
	if (m->tcp)
		model_series_tcp(m, j, c->iv, row(c, ji, WM_RESETS), c->nb);
	if (m->net) {
		model_series_net(m, j, c->iv, row(c, ji, WM_NET), tmp, c->nb);
		for (b = 0; b < c->nb; b++)
			row(c, ji, WM_NET)[b] += tmp[b];
	}
	for (i = 0; i < m->nooms; i++) {
		const struct oom_kill *k = &m->ooms[i];

		b = (size_t)(model_time_s(m, k->ts) / c->iv);
		if (k->victim && b < c->nb && model_job_of(m, k->victim) == j)
			row(c, ji, WM_OOM)[b]++;
	}
}

/*
 * Job j's score in bucket b, as score_jobs() scores a whole recording: each
 * metric as a share of the largest value of any job there, weighted, summed;
 * but never as a share of less than the noise floor. Without the floor, ten
 * milliseconds of CPU in a quiet second would score like a busy core.
 */
static double score(const struct wctx *c, size_t j, size_t b)
{
	double s = 0, d;
	int k;

	for (k = 0; k < WM_NR; k++) {
		d = bmax(c, k, b) > WIN_FLOOR * c->gmax[k] ? bmax(c, k, b) : WIN_FLOOR * c->gmax[k];
		if (d > 0)
			s += rank_weights[rank_of[k]] * row(c, j, k)[b] / d;
	}
	return s;
}

/*
 * Some job did something there: a metric reached the noise floor. Runnable
 * threads do not count: one is what any running process shows (it still
 * scores, the CPU it burns is the activity).
 */
static bool active(const struct wctx *c, size_t b)
{
	int k;

	for (k = 0; k < WM_NR; k++)
		if (k != WM_RUNNABLE && bmax(c, k, b) > 0 &&
		    bmax(c, k, b) >= WIN_FLOOR * c->gmax[k])
			return true;
	return false;
}

static void ctx_free(struct wctx *c)
{
	free(c->jobs);
	free(c->v);
	free(c->max);
	free(c->total);
	free(c->start);
}

/* The largest value of each metric per bucket and in any bucket; every job's score summed. */
static void maxima(struct wctx *c)
{
	size_t i, k, b;

	for (i = 0; i < c->nj; i++)
		for (k = 0; k < WM_NR; k++)
			for (b = 0; b < c->nb; b++)
				if (row(c, i, k)[b] > c->max[k * c->nb + b])
					c->max[k * c->nb + b] = row(c, i, k)[b];
	for (k = 0; k < WM_NR; k++)
		for (b = 0; b < c->nb; b++)
			if (bmax(c, k, b) > c->gmax[k])
				c->gmax[k] = bmax(c, k, b);
	for (i = 0; i < c->nj; i++)
		for (b = 0; b < c->nb; b++)
			c->total[b] += score(c, i, b);
}

/* Every job's metrics per bucket, their maxima and the score totals. 0 or -1. */
static int ctx_init(struct wctx *c, struct model *m)
{
	struct job *j;
	double *tmp;
	size_t i;

	c->m = m;
	c->iv = model_interval_s(m);
	c->nb = model_nbuckets(m, c->iv);
	for (j = m->jobs; j && j->nprocs; j = j->next)
		c->nj++;
	c->jobs = calloc(c->nj + 1, sizeof(*c->jobs));
	c->v = calloc(c->nj * NROWS * c->nb + 1, sizeof(*c->v));
	c->start = calloc(c->nj + 1, sizeof(*c->start));
	c->max = calloc(WM_NR * c->nb, sizeof(*c->max));
	c->total = calloc(c->nb, sizeof(*c->total));
	tmp = calloc(c->nb, sizeof(*tmp));
	if (!c->jobs || !c->v || !c->start || !c->max || !c->total || !tmp) {
		free(tmp);
		return -1;
	}
	for (i = 0, j = m->jobs; i < c->nj; i++, j = j->next)
		c->jobs[i] = j;
	for (i = 0; i < c->nj; i++)
		fill(c, i, tmp);
	free(tmp);
	maxima(c);
	return 0;
}

/*
 * The job that tops bucket b (ties: the higher ranked), NONE when no job did
 * anything there above the noise floor. A bucket with an OOM kill goes to
 * the job of the victims (the most of them, then the higher score) and is
 * pinned: the kill is the one event of its stretch that must not disappear
 * into another job's window.
 */
static struct run top_of(const struct wctx *c, size_t b)
{
	struct run r = { .job = NONE, .first = b, .last = b };
	double best = 0, s, ooms = bmax(c, WM_OOM, b);
	size_t j;

	if (!active(c, b))
		return r;
	r.pinned = ooms > 0;
	for (j = 0; j < c->nj; j++) {
		if (r.pinned && row(c, j, WM_OOM)[b] < ooms)
			continue;
		s = score(c, j, b);
		if (s > best) {
			best = s;
			r.job = j;
		}
	}
	return r;
}

/*
 * Appends run r to v[*n], merging it into the last run when that is the
 * same job (or quiet too). Flickers are absorbed: when the run before the
 * last is r's job and the last is one bucket long and holds no OOM kill
 * (another job topped it for a moment, or nothing happened), the three
 * become one run of r's job. Its window then counts that bucket with the
 * job's own figures there. A-B-A-B-A with one-bucket Bs becomes one A.
 */
static void push(struct run *v, size_t *n, struct run r)
{
	struct run *a, *mid;

	if (*n && v[*n - 1].job == r.job) {
		v[*n - 1].last = r.last;
		v[*n - 1].pinned |= r.pinned;
		return;
	}
	v[(*n)++] = r;
	if (*n < 3)
		return;
	a = &v[*n - 3];
	mid = &v[*n - 2];
	if (r.job == NONE || a->job != r.job || mid->first != mid->last || mid->pinned)
		return;
	a->last = r.last;
	a->pinned |= r.pinned;
	*n -= 2;
}

/*
 * A run of a job as a window: score, share, values, evidence. The evidence
 * weighs each metric against its largest value anywhere in the recording,
 * not in the bucket: in a bucket where the job is alone every metric it has
 * takes its full weight, and ten page faults would tie with a TLS storm.
 */
static void window_of(const struct wctx *c, const struct run *r, struct window *w)
{
	double mine = 0, all = 0, dur = model_time_s(c->m, c->m->t_end), held = 0, before;
	size_t b;
	int k;

	memset(w, 0, sizeof(*w));
	for (b = r->first; b <= r->last; b++) {
		mine += score(c, r->job, b);
		all += c->total[b];
		for (k = 0; k < WM_NR; k++) {
			double x = row(c, r->job, k)[b];

			if (c->gmax[k] > 0)
				w->parts[k] += rank_weights[rank_of[k]] * x / c->gmax[k];
			if (k != WM_RUNNABLE)
				w->values[k] += x;
			else if (x > w->values[k])
				w->values[k] = x;
		}
		if (row(c, r->job, ROW_HI)[b] > held)
			held = row(c, r->job, ROW_HI)[b];
	}
	/* growth over the window: the most held in it over what was held when it began */
	before = r->first ? row(c, r->job, ROW_END)[r->first - 1] : c->start[r->job];
	w->values[WM_GROWTH] = held > before ? held - before : 0;
	for (k = 1; k < WM_NR; k++)
		if (w->parts[k] > w->parts[w->metric])
			w->metric = k;
	w->value = w->values[w->metric];
	w->oom_kills = (uint32_t)w->values[WM_OOM];
	w->job = c->jobs[r->job];
	w->first = r->first;
	w->last = r->last;
	w->start_s = (double)r->first * c->iv;
	w->end_s = (double)(r->last + 1) * c->iv;
	if (w->end_s > dur)
		w->end_s = dur > w->start_s ? dur : w->start_s;
	w->score = mine;
	w->share = all > 0 ? mine / all : 0;
}

size_t model_windows(struct model *m, struct window *out, size_t max)
{
	struct wctx c = { 0 };
	struct run *runs = NULL;
	size_t n = 0, nw = 0, b, i;

	if (!max || !m->jobs || !m->jobs->nprocs)
		return 0;
	if (!ctx_init(&c, m))
		runs = calloc(c.nb, sizeof(*runs));
	for (b = 0; runs && b < c.nb; b++)
		push(runs, &n, top_of(&c, b));
	for (i = 0; i < n && nw < max; i++)
		if (runs[i].job != NONE)
			window_of(&c, &runs[i], &out[nw++]);
	free(runs);
	ctx_free(&c);
	return nw;
}
