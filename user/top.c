// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `spiketrace top` (docs/top.md): the ranked causes, refreshed in place
 * every -i seconds, like top(1). Two halves. The view turns the model into
 * rows (rates over the last interval, per cause) and rows into lines; it
 * knows nothing of terminals (tests/unit/test_top.c drives it). The terminal
 * side draws each frame over the last one on the alternate screen (cursor
 * home, each line then clear-to-end-of-line, never a full clear), reads keys
 * in raw mode and puts the terminal back on every way out. Without a
 * terminal on stdout: the same table as plain timestamped blocks, for logs.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "concern.h"
#include "cpumodel.h"
#include "live.h"
#include "log.h"
#include "model.h"
#include "opts.h"
#include "report.h"
#include "spine.h"
#include "tcpmodel.h"
#include "tlsmodel.h"
#include "top.h"

const char top_usage[] =
	"Usage: spiketrace top [-i SECS] [--only LIST] [-p PID] [-c CGROUP] [-d SECS] [-F HZ]\n"
	"A live view of the ranked causes, refreshed in place like top: CPU, RSS and\n"
	"its growth, page faults/s, TLS handshakes/s (full/resumed), TCP resets/s, OOM\n"
	"kills, runnable threads, and the latest notable events. Fits 80x24.\n"
	"\n"
	"  -i SECS        refresh period (default 1; the counters move once a second)\n"
	"  --only LIST    concerns to trace: proc,mem,tls,tcp,cpu (default: all)\n"
	"  -F HZ          CPU sampling rate (default 99)\n"
	"  -d SECS        stop after SECS (default: q, SIGINT or SIGTERM)\n"
	"  -p PID, -c CGROUP  only that process tree / cgroup\n"
	"\n"
	"Keys: c m f h r  sort by CPU, memory (RSS), faults/s, handshakes/s, resets/s\n"
	"      s          sort by score: the ranking's weights over the last interval\n"
	"                 (default; ties in the order of a)\n"
	"      a          sort by score since start (total: the ranking of report)\n"
	"      p, space   pause the screen (tracing goes on); again to resume\n"
	"      1-5        show only causes active in proc, mem, tls, tcp, cpu\n"
	"                 (toggles; several add up; 0 shows every cause again)\n"
	"      q          quit\n"
	"Without a terminal on stdout: a plain timestamped table every -i seconds.\n"
	"\n"
	"Examples:\n"
	"  spiketrace top\n"
	"  spiketrace top -i 2 --only proc,mem,cpu\n"
	"  spiketrace top -d 60 > top.log\n";

#define SEC 1000000000ULL
#define LINE_W 512 /* the widest line drawn */
#define MAX_H 500 /* the most lines a frame has */
#define PLAIN_W 80
#define PLAIN_ROWS 20
#define HEAD_LINES 3 /* title, state, column titles */
#define EVENT_LINES 3
#define NEVENTS 16 /* kept, the newest */
#define EXEC_TOP 3 /* a first exec is notable for the causes ranked this high since start */
#define RESET_BURST 5 /* TCP resets on the host in one interval that make an event */
#define COLS_W 61 /* the figures after CAUSE, with their spaces */
#define CAUSE_MIN 10
#define CAUSE_MAX 60
#define EV_JOB_W 16 /* the cause in an event line */

/* ---- The view: model -> rows -> lines --------------------------------------------------- */

enum top_sort {
	SORT_SCORE,
	SORT_CPU,
	SORT_MEM,
	SORT_FAULTS,
	SORT_HS,
	SORT_RESETS,
	SORT_TOTAL,
	SORT_NET
};

static const char *const sort_names[] = { "score",	"cpu",	  "mem",  "faults",
					  "handshakes", "resets", "total" };

/*
 * What a cause did in the last interval, scored like the ranking with its
 * weights (user/model.c) the way user/windows.c scores a timeline bucket:
 * each as a share of the most any cause did in the interval (but never of
 * less than WIN_FLOOR of the most in any interval so far), weighted, summed.
 */
enum top_metric {
	TM_CPU,
	TM_RUN,
	TM_GROWTH,
	TM_FAULTS,
	TM_OOM,
	TM_TLS,
	TM_RESETS,
	TM_EXECS,
	TM_NET,
	TM_NR
};

static const enum rank_metric tm_rank[TM_NR] = {
	[TM_CPU] = RM_CPU,	 [TM_RUN] = RM_CONC,	[TM_GROWTH] = RM_GROWTH,
	[TM_FAULTS] = RM_FAULTS, [TM_OOM] = RM_OOM,	[TM_TLS] = RM_TLS_CPU,
	[TM_RESETS] = RM_RESETS, [TM_EXECS] = RM_EXECS, [TM_NET] = RM_NET,
};

#define WIN_FLOOR 0.1 /* as user/windows.c: a quiet interval's crumbs do not score like a spike */

struct top_row {
	struct job *job;
	size_t rank; /* place in the model's ranking, 0 first */
	double cpu_pct, flt_s, hs_full_s, hs_res_s, rst_s, net_s;
	uint64_t rss, growth;
	uint32_t ooms;
	int run; /* most threads runnable at once in the interval; -1 unknown */
	unsigned int active; /* concerns it did something in since the start (bits) */
	bool gone; /* no process left, none left in the interval, nothing done: listed by a only */
	double x[TM_NR]; /* what it did in the interval */
	double score; /* x scored */
	double key; /* the sort value */
};

/* A job's counters at the last sample. */
struct top_prev {
	double cpu_s, run_delay_s;
	double cpu_pct; /* shown again while no new samples came */
	uint64_t faults, hs_full, hs_res, resets, tls, rss, net;
	uint32_t execs, ooms;
};

struct top_event {
	uint64_t ts, seq;
	char kind[8];
	char job[64];
	char text[160];
};

struct top_view {
	struct model *m;
	double interval_s;
	unsigned int have; /* concerns that run (bits) */
	enum top_sort sort;
	unsigned int filter; /* concern bits; 0 = every cause */
	bool paused;
	bool resample; /* resumed: wants fresh figures now */
	uint64_t last; /* time of the last sample, 0 before the first */
	uint64_t next; /* when the next one is due */
	double elapsed_s; /* what the last sample's rates are over */
	/*
	 * What its CPU figures are over: the time between the cpu concern's
	 * ticks that brought them (0: none since), not elapsed_s, which a
	 * refresh out of step with those ticks (a key, a late loop) would
	 * make too short or too long.
	 */
	double cpu_el;
	uint64_t cpu_ts; /* the cpu tick the last sample saw */
	struct top_row *rows;
	size_t nrows, cap;
	struct hmap prev; /* job -> struct top_prev */
	struct hmap announced; /* job -> itself: its first exec made an event */
	double gmax[TM_NR]; /* the most of each any cause did in any interval */
	double host_busy; /* %, < 0 unknown */
	uint64_t host_samples, host_idle, host_resets;
	size_t nooms; /* OOM kills already made events */
	struct top_event ev[NEVENTS]; /* in time order */
	size_t nev;
	uint64_t seq; /* events made */
	uint64_t printed; /* the last event printed (plain output) */
};

struct top_view *top_view_new(struct model *m, double interval_s, unsigned int have)
{
	struct top_view *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->m = m;
	v->interval_s = interval_s;
	v->have = have;
	v->host_busy = -1;
	hmap_init(&v->prev);
	hmap_init(&v->announced);
	return v;
}

void top_view_free(struct top_view *v)
{
	size_t i = 0;
	uint64_t k;
	void *p;

	if (!v)
		return;
	while (hmap_next(&v->prev, &i, &k, &p))
		free(p);
	hmap_free(&v->prev);
	hmap_free(&v->announced);
	free(v->rows);
	free(v);
}

static bool has(const struct top_view *v, const struct concern *c)
{
	return v->have & c->bit;
}

/* Printable ASCII only: names come from processes, and a name is no escape code. */
static void clean(char *dst, size_t len, const char *src)
{
	size_t i = 0;

	if (!len)
		return;
	for (; src && src[i] && i + 1 < len; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
	}
	dst[i] = '\0';
}

static void hs_counts(const struct model *m, const struct job *j, uint64_t *full, uint64_t *res)
{
	size_t i;

	*full = *res = 0;
	for (i = 0; m->tls && i < j->nprocs; i++) {
		const struct tls_proc *t =
			j->procs[i]->tls_hs ? hmap_get(&m->tls->procs, j->procs[i]->pid) : NULL;

		if (t) {
			*full += t->full;
			*res += t->resumed;
		}
	}
}

/*
 * The most threads of j runnable at once in the seconds the last interval
 * covers; 0 without a CPU sample or a wait for one in it (the series span
 * the whole run: read only for causes that ran).
 */
static int runnable(const struct model *m, const struct job *j, const struct top_prev *p,
		    uint64_t now, double el)
{
	uint64_t at = now > m->t0 + SEC / 2 ? now - SEC / 2 - m->t0 : 0;
	size_t hi = (size_t)(at / SEC), k = el > 1 ? (size_t)(el + 0.5) : 1, lo, b;
	double *s, best = 0;

	if (!m->cpu || !m->cpu->sched)
		return -1;
	if (j->cpu_s <= p->cpu_s && j->run_delay_s <= p->run_delay_s)
		return 0;
	s = calloc(hi + 1, sizeof(*s));
	if (!s)
		return -1;
	model_series_conc(m, j, 1.0, s, hi + 1);
	lo = hi + 1 > k ? hi + 1 - k : 0;
	for (b = lo; b <= hi; b++)
		if (s[b] > best)
			best = s[b];
	free(s);
	return (int)best;
}

static unsigned int active_in(const struct job *j)
{
	unsigned int c = 0;

	if (j->execs)
		c |= concern_proc.bit;
	if (j->page_faults || j->rss_growth || j->oom_kills)
		c |= concern_mem.bit;
	if (j->tls_handshakes)
		c |= concern_tls.bit;
	if (j->tcp_connections || j->tcp_resets)
		c |= concern_tcp.bit;
	if (j->cpu_s > 0 || j->run_delay_s > 0)
		c |= concern_cpu.bit;
	if (j->net_rx || j->net_tx)
		c |= concern_net.bit;
	return c;
}

/* No process left, none left in the interval (since), nothing done in it. */
static bool gone(const struct job *j, const struct top_row *r, uint64_t since)
{
	size_t i;
	int k;

	for (i = 0; i < j->nprocs; i++)
		if (!j->procs[i]->exited || j->procs[i]->exit_ns > since)
			return false;
	for (k = 0; k < TM_NR; k++)
		if (r->x[k] > 0)
			return false;
	return true;
}

static double rate(uint64_t now, uint64_t before, double el)
{
	return now > before && el > 0 ? (double)(now - before) / el : 0;
}

static struct top_row *row_new(struct top_view *v)
{
	size_t cap = v->cap ? v->cap * 2 : 64;
	struct top_row *r;

	if (v->nrows == v->cap) {
		r = realloc(v->rows, cap * sizeof(*r));
		if (!r)
			return NULL;
		v->rows = r;
		v->cap = cap;
	}
	return memset(&v->rows[v->nrows++], 0, sizeof(*r));
}

/* Job j's row: its rates since the last sample, el seconds ago. */
static void row_add(struct top_view *v, struct job *j, size_t rank, uint64_t now, double el)
{
	struct top_prev *p = hmap_get(&v->prev, (uintptr_t)j);
	struct top_row *r = row_new(v);
	uint64_t full, res;

	if (!p) {
		p = hmap_put_new(&v->prev, (uintptr_t)j, sizeof(*p));
		if (!p) {
			if (r)
				v->nrows--;
			return;
		}
	}
	hs_counts(v->m, j, &full, &res);
	if (r) {
		*r = (struct top_row){ .job = j, .rank = rank, .ooms = j->oom_kills };
		r->cpu_pct = !v->cpu_el		 ? p->cpu_pct :
			     j->cpu_s > p->cpu_s ? 100 * (j->cpu_s - p->cpu_s) / v->cpu_el :
						   0;
		r->flt_s = rate(j->page_faults, p->faults, el);
		r->hs_full_s = rate(full, p->hs_full, el);
		r->hs_res_s = rate(res, p->hs_res, el);
		r->rst_s = rate(j->tcp_resets, p->resets, el);
		r->net_s = rate(j->net_rx + j->net_tx, p->net, el);
		r->rss = job_rss_now(j);
		r->growth = j->rss_growth;
		r->run = has(v, &concern_cpu) ? runnable(v->m, j, p, now, el) : -1;
		r->active = active_in(j);
		r->x[TM_CPU] = j->cpu_s > p->cpu_s ? j->cpu_s - p->cpu_s : 0;
		r->x[TM_RUN] = r->run > 0 ? r->run : 0;
		r->x[TM_GROWTH] = r->rss > p->rss ? (double)(r->rss - p->rss) : 0;
		r->x[TM_FAULTS] = rate(j->page_faults, p->faults, 1);
		r->x[TM_OOM] = j->oom_kills > p->ooms ? j->oom_kills - p->ooms : 0;
		r->x[TM_TLS] = rate(j->tls_handshakes, p->tls, 1);
		r->x[TM_RESETS] = rate(j->tcp_resets, p->resets, 1);
		r->x[TM_EXECS] = j->execs > p->execs ? j->execs - p->execs : 0;
		r->x[TM_NET] = rate(j->net_rx + j->net_tx, p->net, 1);
		r->gone = gone(j, r, v->last);
	}
	*p = (struct top_prev){ .cpu_s = v->cpu_el || !r ? j->cpu_s : p->cpu_s,
				.cpu_pct = r ? r->cpu_pct : 0,
				.run_delay_s = j->run_delay_s,
				.faults = j->page_faults,
				.hs_full = full,
				.hs_res = res,
				.resets = j->tcp_resets,
				.tls = j->tls_handshakes,
				.rss = job_rss_now(j),
				.execs = j->execs,
				.ooms = j->oom_kills,
				.net = j->net_rx + j->net_tx };
}

static void score_rows(struct top_view *v)
{
	double max[TM_NR] = { 0 }, d;
	size_t i;
	int k;

	for (i = 0; i < v->nrows; i++)
		for (k = 0; k < TM_NR; k++)
			if (v->rows[i].x[k] > max[k])
				max[k] = v->rows[i].x[k];
	for (k = 0; k < TM_NR; k++)
		if (max[k] > v->gmax[k])
			v->gmax[k] = max[k];
	for (i = 0; i < v->nrows; i++) {
		v->rows[i].score = 0;
		for (k = 0; k < TM_NR; k++) {
			d = max[k] > WIN_FLOOR * v->gmax[k] ? max[k] : WIN_FLOOR * v->gmax[k];
			if (d > 0)
				v->rows[i].score += rank_weights[tm_rank[k]] * v->rows[i].x[k] / d;
		}
	}
}

static void cpu_elapsed(struct top_view *v)
{
	uint64_t since = v->cpu_ts ? v->cpu_ts : v->m->t0, now = v->m->cpu ? v->m->cpu->tick_ts : 0;

	v->cpu_el = now > since ? (double)(now - since) / 1e9 : 0;
	if (now > since)
		v->cpu_ts = now;
}

static void host_cpu(struct top_view *v)
{
	const struct cpu_model *c = v->m->cpu;
	uint64_t ds, di;

	if (!c || !v->cpu_el)
		return; /* no tick since: the last figure stands */
	ds = c->samples - v->host_samples;
	di = c->idle - v->host_idle;
	v->host_busy = ds ? 100.0 * (double)(ds > di ? ds - di : 0) / (double)ds : 0;
	v->host_samples = c->samples;
	v->host_idle = c->idle;
}

/*
 * A name in at most w columns (w < len), printable: its end when it is
 * longer, after "..", since a unit's or a container's name is at the end.
 */
static void tail(const char *name, size_t w, char *buf, size_t len)
{
	char s[256];
	size_t n;

	clean(s, sizeof(s), name);
	n = strlen(s);
	if (n <= w || w < 3)
		snprintf(buf, len, "%.*s", (int)w, s);
	else
		snprintf(buf, len, "..%s", s + n - (w - 2));
}

/* Adds an event in time order; past NEVENTS the oldest goes. */
static void event_add(struct top_view *v, uint64_t ts, const char *kind, const struct job *j,
		      const char *text)
{
	struct top_event e = { .ts = ts, .seq = ++v->seq };
	size_t i;

	clean(e.kind, sizeof(e.kind), kind);
	tail(j ? j->name : "-", EV_JOB_W, e.job, sizeof(e.job));
	clean(e.text, sizeof(e.text), text);
	if (v->nev == NEVENTS) {
		if (ts < v->ev[0].ts)
			return;
		memmove(&v->ev[0], &v->ev[1], (NEVENTS - 1) * sizeof(e));
		v->nev--;
	}
	for (i = v->nev; i > 0 && v->ev[i - 1].ts > ts; i--)
		v->ev[i] = v->ev[i - 1];
	v->ev[i] = e;
	v->nev++;
}

/* Bytes for people in at most 5 characters (report_bytes()), but 0 as the other columns' 0. */
static const char *bytes(uint64_t b, char *buf, size_t len)
{
	if (b)
		return report_bytes(b, buf, len);
	snprintf(buf, len, "0");
	return buf;
}

static void note_ooms(struct top_view *v)
{
	char text[160], a[16];

	for (; v->nooms < v->m->nooms; v->nooms++) {
		const struct oom_kill *k = &v->m->ooms[v->nooms];
		struct job *j = k->victim ? model_job_of(v->m, k->victim) : NULL;

		snprintf(text, sizeof(text), "%s[%u] anon %s, allocating %s[%u]", k->victim_comm,
			 k->victim_pid, bytes(k->anon_rss, a, sizeof(a)), k->trigger_comm,
			 k->trigger_pid);
		event_add(v, k->ts, "oom", j, text);
	}
}

/* A burst: RESET_BURST or more resets on the host in the interval. */
static void note_resets(struct top_view *v, uint64_t now)
{
	const struct tcp_model *t = v->m->tcp;
	const struct top_row *most = NULL;
	uint64_t total, n;
	char text[160];
	size_t i;

	if (!t)
		return;
	total = tcp_model_resets(t, false) + tcp_model_resets(t, true);
	n = total - v->host_resets;
	v->host_resets = total;
	if (n < RESET_BURST)
		return;
	for (i = 0; i < v->nrows; i++)
		if (v->rows[i].rst_s > 0 && (!most || v->rows[i].rst_s > most->rst_s))
			most = &v->rows[i];
	snprintf(text, sizeof(text), "%llu TCP resets in %.0f s", (unsigned long long)n,
		 v->elapsed_s);
	event_add(v, now, "resets", most ? most->job : NULL, text);
}

/* The first exec of a cause ranked in the first EXEC_TOP since start, once per cause. */
static void note_exec(struct top_view *v, struct job *j)
{
	const struct proc *first = NULL;
	char text[160];
	size_t i;

	if (hmap_get(&v->announced, (uintptr_t)j))
		return;
	for (i = 0; i < j->nprocs; i++)
		if (j->procs[i]->execs && (!first || j->procs[i]->seen_ns < first->seen_ns))
			first = j->procs[i];
	if (!first || hmap_put(&v->announced, (uintptr_t)j, j))
		return;
	if (first->parent)
		snprintf(text, sizeof(text), "%s[%u], parent %s[%u]", first->comm, first->pid,
			 first->parent->comm, first->parent->pid);
	else
		snprintf(text, sizeof(text), "%s[%u]", first->comm, first->pid);
	event_add(v, first->seen_ns ? first->seen_ns : v->last, "exec", j, text);
}

static void note_events(struct top_view *v, uint64_t now)
{
	size_t i;

	note_ooms(v);
	note_resets(v, now);
	for (i = 0; i < v->nrows; i++)
		if (v->rows[i].rank < EXEC_TOP)
			note_exec(v, v->rows[i].job);
}

static double sort_key(const struct top_row *r, enum top_sort s)
{
	switch (s) {
	case SORT_CPU:
		return r->cpu_pct;
	case SORT_MEM:
		return (double)r->rss;
	case SORT_FAULTS:
		return r->flt_s;
	case SORT_HS:
		return r->hs_full_s + r->hs_res_s;
	case SORT_RESETS:
		return r->rst_s;
	case SORT_NET:
		return r->net_s;
	case SORT_SCORE:
		return r->score;
	default:
		return -(double)r->rank;
	}
}

static int row_cmp(const void *a, const void *b)
{
	const struct top_row *x = a, *y = b;

	if (x->key != y->key)
		return x->key > y->key ? -1 : 1;
	return x->rank < y->rank ? -1 : x->rank > y->rank;
}

static void sort_rows(struct top_view *v)
{
	size_t i;

	for (i = 0; i < v->nrows; i++)
		v->rows[i].key = sort_key(&v->rows[i], v->sort);
	if (v->nrows)
		qsort(v->rows, v->nrows, sizeof(*v->rows), row_cmp);
}

/* New figures: finalizes the model at now, rates over the time since the last sample. */
void top_view_sample(struct top_view *v, uint64_t now)
{
	uint64_t since = v->last ? v->last : v->m->t0;
	struct job *j;
	size_t rank = 0;

	v->elapsed_s = now > since ? (double)(now - since) / 1e9 : 0;
	cpu_elapsed(v);
	model_finalize(v->m, now);
	host_cpu(v);
	v->nrows = 0;
	for (j = v->m->jobs; j && j->nprocs; j = j->next)
		row_add(v, j, rank++, now, v->elapsed_s);
	v->last = now;
	score_rows(v);
	note_events(v, now);
	sort_rows(v);
}

/* A key: 1 when the screen needs drawing again, -1 to quit, 0 for nothing. */
int top_view_key(struct top_view *v, int key)
{
	static const char sorts[] = "scmfhran"; /* enum top_sort */
	const char *s = key > 0 && key < 128 ? strchr(sorts, tolower(key)) : NULL;

	if (key == 'q' || key == 'Q')
		return -1;
	if (s && *s) {
		v->sort = (enum top_sort)(s - sorts);
		sort_rows(v);
		return 1;
	}
	if (key == 'p' || key == 'P' || key == ' ') {
		v->paused = !v->paused;
		v->resample = !v->paused;
		return 1;
	}
	if (key >= '1' && key <= '0' + (int)nconcerns) {
		v->filter ^= concerns[key - '1']->bit;
		return 1;
	}
	if (key == '0') {
		v->filter = 0;
		return 1;
	}
	return 0;
}

/* ---- Lines ------------------------------------------------------------------------------- */

enum attr { A_NONE, A_TITLE, A_REVERSE, A_RED };

static const char *const attr_on[] = { "", "\033[1m", "\033[7m", "\033[31m" };

/* Where lines go: at most w columns each, at most h of them (0: no limit). */
struct pen {
	FILE *out;
	bool tty;
	size_t w, h, n;
	size_t last_len;
};

static void pen_line(struct pen *p, enum attr a, const char *s)
{
	size_t len = strnlen(s, p->w);

	if (p->h && p->n >= p->h)
		return; /* rows past the terminal's height are not drawn */
	if (!p->tty) {
		fprintf(p->out, "%.*s\n", (int)len, s);
		p->n++;
		return;
	}
	if (p->n)
		fputs("\r\n", p->out);
	fprintf(p->out, "%s%.*s%s", attr_on[a], (int)len, s, a ? "\033[0m" : "");
	/* A full line needs no clearing (and at the last column it would clear its last cell). */
	if (len < p->w)
		fputs("\033[K", p->out);
	p->last_len = len;
	p->n++;
}

static void pen_end(struct pen *p)
{
	if (!p->tty || (p->h && p->n >= p->h))
		return;
	/* Clears what an earlier, longer frame left below. */
	fputs(p->last_len < p->w ? "\033[J" : "\r\n\033[J", p->out);
}

static void wall(const struct model *m, uint64_t ts, const char *fmt, char *buf, size_t len)
{
	time_t t = (time_t)((m->start_real_ns + (ts > m->t0 ? ts - m->t0 : 0)) / SEC);
	struct tm tm;

	if (!localtime_r(&t, &tm) || !strftime(buf, len, fmt, &tm))
		snprintf(buf, len, "?");
}

static void title_line(struct top_view *v, struct pen *p)
{
	const struct model *m = v->m;
	uint64_t at = v->last ? v->last : m->t0, up = (at - m->t0) / SEC;
	char when[32], busy[16], line[LINE_W];

	wall(m, at, p->tty ? "%H:%M:%S" : "%Y-%m-%d %H:%M:%S", when, sizeof(when));
	if (v->host_busy >= 0)
		snprintf(busy, sizeof(busy), "%.0f%%", v->host_busy);
	else
		snprintf(busy, sizeof(busy), "-");
	snprintf(line, sizeof(line),
		 "spiketrace top  %s  up %llu:%02llu:%02llu  cpu %s busy  lost %llu%s", when,
		 (unsigned long long)(up / 3600), (unsigned long long)(up / 60 % 60),
		 (unsigned long long)(up % 60), busy, (unsigned long long)model_lost(m),
		 v->paused ? "  PAUSED" : "");
	pen_line(p, A_TITLE, line);
}

static void state_line(struct top_view *v, struct pen *p)
{
	char line[LINE_W], f[64] = "";
	size_t i;

	for (i = 0; i < nconcerns; i++)
		if (v->filter & concerns[i]->bit)
			snprintf(f + strlen(f), sizeof(f) - strlen(f), "%s%s", f[0] ? "," : "",
				 concerns[i]->name);
	snprintf(line, sizeof(line), "sort: %s  filter: %s%s", sort_names[v->sort],
		 f[0] ? f : "all",
		 p->tty ? "  keys: cmfhrnsa sort, p pause, 1-6 filter, q quit" : "");
	pen_line(p, A_NONE, line);
}

static size_t cause_width(size_t w)
{
	size_t cw = w > COLS_W + CAUSE_MIN ? w - COLS_W : CAUSE_MIN;

	return cw > CAUSE_MAX ? CAUSE_MAX : cw;
}

/* A column title, marked '*' when the table is sorted by it. */
static const char *title(const struct top_view *v, enum top_sort s, const char *name, char *buf,
			 size_t len)
{
	snprintf(buf, len, "%s%s", v->sort == s ? "*" : "", name);
	return buf;
}

static void column_titles(struct top_view *v, struct pen *p)
{
	char line[LINE_W], t[6][16];
	size_t cw = cause_width(p->w);
	const char *cause = "CAUSE";

	if (cw >= 14 && v->sort == SORT_SCORE)
		cause = "CAUSE (*score)";
	else if (cw >= 14 && v->sort == SORT_TOTAL)
		cause = "CAUSE (*total)";
	snprintf(line, sizeof(line), "%-*s %6s %6s %6s %6s %9s %6s %6s %3s %4s", (int)cw, cause,
		 title(v, SORT_CPU, "CPU%", t[0], sizeof(t[0])),
		 title(v, SORT_MEM, "RSS", t[1], sizeof(t[1])), "GROWTH",
		 title(v, SORT_FAULTS, "FLT/s", t[2], sizeof(t[2])),
		 title(v, SORT_HS, "HS/s", t[3], sizeof(t[3])),
		 title(v, SORT_RESETS, "RST/s", t[4], sizeof(t[4])),
		 title(v, SORT_NET, "NET/s", t[5], sizeof(t[5])), "OOM", "RUN");
	if (p->tty) /* a bar across the screen */
		snprintf(line + strlen(line), sizeof(line) - strlen(line), "%*s",
			 (int)(p->w > strlen(line) ? p->w - strlen(line) : 0), "");
	pen_line(p, p->tty ? A_REVERSE : A_NONE, line);
}

/* The cause's name in w columns: its end when it is longer (a unit's name is at the end). */

static void row_line(struct top_view *v, struct pen *p, const struct top_row *r)
{
	bool mem = has(v, &concern_mem), cpu = has(v, &concern_cpu);
	bool tls = has(v, &concern_tls), tcp = has(v, &concern_tcp), net = has(v, &concern_net);
	char line[LINE_W], cause[CAUSE_MAX + 4], c[9][16], hs[24], a[8], b[8];
	size_t cw = cause_width(p->w);

	tail(r->job->name, cw, cause, sizeof(cause));
	snprintf(c[0], sizeof(c[0]), r->cpu_pct < 999.95 ? "%.1f" : "%.0f", r->cpu_pct);
	snprintf(hs, sizeof(hs), "%s/%s", report_count(r->hs_full_s, a, sizeof(a)),
		 report_count(r->hs_res_s, b, sizeof(b)));
	snprintf(c[6], sizeof(c[6]), "%u", r->ooms > 999 ? 999 : r->ooms);
	snprintf(c[7], sizeof(c[7]), "%d", r->run);
	snprintf(line, sizeof(line), "%-*s %6s %6s %6s %6s %9s %6s %6s %3s %4s", (int)cw, cause,
		 cpu ? c[0] : "-", mem ? bytes(r->rss, c[1], sizeof(c[1])) : "-",
		 mem ? bytes(r->growth, c[2], sizeof(c[2])) : "-",
		 mem ? report_count(r->flt_s, c[3], sizeof(c[3])) : "-", tls ? hs : "-",
		 tcp ? report_count(r->rst_s, c[5], sizeof(c[5])) : "-",
		 net ? bytes((uint64_t)r->net_s, c[8], sizeof(c[8])) : "-", mem ? c[6] : "-",
		 r->run >= 0 ? c[7] : "-");
	pen_line(p, A_NONE, line);
}

static void event_line(struct top_view *v, struct pen *p, const struct top_event *e)
{
	char line[LINE_W], when[16];

	wall(v->m, e->ts, "%H:%M:%S", when, sizeof(when));
	snprintf(line, sizeof(line), "%s %-6s %-*s %s", when, e->kind, EV_JOB_W, e->job, e->text);
	pen_line(p, !strcmp(e->kind, "oom") && p->tty ? A_RED : A_NONE, line);
}

/* Listed: not gone (unless sorted by total) and active in a concern of the filter. */
static bool listed(const struct top_view *v, const struct top_row *r)
{
	return (!r->gone || v->sort == SORT_TOTAL) && (!v->filter || (r->active & v->filter));
}

static size_t shown(const struct top_view *v)
{
	size_t i, n = 0;

	for (i = 0; i < v->nrows; i++)
		n += listed(v, &v->rows[i]);
	return n;
}

static const char *empty_note(const struct top_view *v)
{
	if (!v->last)
		return "(collecting the first interval)";
	if (v->filter)
		return "(no cause active in the concerns of the filter: 0 shows all)";
	return "(no cause active now: a lists every cause seen)";
}

static void rows(struct top_view *v, struct pen *p, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < v->nrows && n < max; i++) {
		if (!listed(v, &v->rows[i]))
			continue;
		row_line(v, p, &v->rows[i]);
		n++;
	}
	if (!n)
		pen_line(p, A_NONE, empty_note(v));
	else if (!p->tty && shown(v) > n)
		fprintf(p->out, "... %zu more causes\n", shown(v) - n);
}

/* The latest EVENT_LINES events, oldest first. */
static void latest_events(struct top_view *v, struct pen *p)
{
	size_t i = v->nev > EVENT_LINES ? v->nev - EVENT_LINES : 0;

	pen_line(p, A_TITLE, "LATEST EVENTS (OOM kills, reset bursts, first execs of top causes)");
	if (!v->nev)
		pen_line(p, A_NONE, "(none yet)");
	for (; i < v->nev; i++)
		event_line(v, p, &v->ev[i]);
}

/* Plain output: the events made since the last block. */
static void new_events(struct top_view *v, struct pen *p)
{
	bool title = false;
	size_t i;

	for (i = 0; i < v->nev; i++) {
		if (v->ev[i].seq <= v->printed)
			continue;
		if (!title)
			pen_line(p, A_NONE, "EVENTS (since the last block)");
		title = true;
		event_line(v, p, &v->ev[i]);
	}
	v->printed = v->seq;
}

/*
 * One frame into out: lines of at most width columns. On a terminal (tty):
 * drawn over the last frame from the cursor's home, at most height lines,
 * the events at the bottom; else a plain block, no escape codes at all.
 */
void top_view_render(struct top_view *v, FILE *out, unsigned int width, unsigned int height,
		     bool tty)
{
	struct pen p = { .out = out, .tty = tty, .w = width, .h = tty ? height : 0 };
	bool events;
	size_t room;

	if (p.w >= LINE_W)
		p.w = LINE_W - 1;
	if (tty && (!p.h || p.h > MAX_H))
		p.h = p.h ? MAX_H : 24;
	if (tty)
		fputs("\033[H", out);
	else
		fputc('\n', out);
	title_line(v, &p);
	state_line(v, &p);
	column_titles(v, &p);
	if (!tty) {
		rows(v, &p, PLAIN_ROWS);
		new_events(v, &p);
		return;
	}
	/* the events keep the bottom lines (a blank, a title, EVENT_LINES) when 2 rows fit too */
	events = p.h >= HEAD_LINES + 2 + 2 + EVENT_LINES;
	if (events)
		room = p.h - HEAD_LINES - 2 - EVENT_LINES;
	else
		room = p.h > HEAD_LINES ? p.h - HEAD_LINES : 0;
	rows(v, &p, room);
	if (events) {
		while (p.n < p.h - EVENT_LINES - 1)
			pen_line(&p, A_NONE, "");
		latest_events(v, &p);
	}
	pen_end(&p);
}

/* ---- The terminal ------------------------------------------------------------------------ */

static const char screen_on[] = "\033[?1049h\033[?25l"; /* alternate screen, no cursor */
static const char screen_off[] = "\033[0m\033[?25h\033[?1049l";

/* What to put back; read by signal handlers and atexit, so global. */
static struct {
	bool raw, screen, atexit_done;
	struct termios saved, rawmode;
	int err_fd; /* the real stderr while messages are held back, else -1 */
	FILE *err_tmp; /* where they are held */
	volatile sig_atomic_t cont; /* resumed after a stop: draw again */
} term = { .err_fd = -1 };

/* Async-signal-safe. */
static void write_all(int fd, const char *s, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Puts the terminal back as it was (async-signal-safe). */
static void term_leave(void)
{
	if (term.screen)
		write_all(STDOUT_FILENO, screen_off, sizeof(screen_off) - 1);
	if (term.raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &term.saved);
}

/* Takes it again after a stop (async-signal-safe). */
static void term_retake(void)
{
	if (term.raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &term.rawmode);
	if (term.screen)
		write_all(STDOUT_FILENO, screen_on, sizeof(screen_on) - 1);
}

static void on_tstp(int sig);

static void catch_tstp(void)
{
	struct sigaction sa = { .sa_handler = on_tstp };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTSTP, &sa, NULL);
}

/* Ctrl-Z: the shell gets its terminal back, then we stop. */
static void on_tstp(int sig)
{
	int e = errno;

	term_leave();
	signal(sig, SIG_DFL);
	raise(sig); /* pending until this handler returns */
	errno = e;
}

static void on_cont(int sig)
{
	int e = errno;

	(void)sig;
	term_retake();
	catch_tstp();
	term.cont = 1;
	errno = e;
}

static void on_hup(int sig)
{
	st_exiting = sig;
}

/* Messages printed while the screen is up would tear it: held back, shown after. */
static void hold_stderr(void)
{
	if (!isatty(STDERR_FILENO))
		return;
	fflush(stderr);
	term.err_tmp = tmpfile();
	term.err_fd = term.err_tmp ? dup(STDERR_FILENO) : -1;
	if (term.err_fd < 0 || dup2(fileno(term.err_tmp), STDERR_FILENO) < 0) {
		if (term.err_fd >= 0)
			close(term.err_fd);
		if (term.err_tmp)
			fclose(term.err_tmp);
		term.err_fd = -1;
		term.err_tmp = NULL;
	}
}

static void release_stderr(void)
{
	char buf[4096];
	size_t n;

	if (term.err_fd < 0)
		return;
	fflush(stderr);
	dup2(term.err_fd, STDERR_FILENO);
	close(term.err_fd);
	term.err_fd = -1;
	rewind(term.err_tmp);
	while ((n = fread(buf, 1, sizeof(buf), term.err_tmp)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(term.err_tmp);
	term.err_tmp = NULL;
}

/* Every way out comes here (and atexit): idempotent. */
static void term_restore(void)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	if (!term.screen && !term.raw && term.err_fd < 0)
		return;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGTSTP, &dfl, NULL);
	sigaction(SIGCONT, &dfl, NULL);
	fflush(stdout);
	term_leave();
	term.screen = term.raw = false;
	release_stderr();
}

static void term_take(bool keys)
{
	struct sigaction sa = { .sa_handler = on_cont };

	if (keys && !tcgetattr(STDIN_FILENO, &term.saved)) {
		term.rawmode = term.saved;
		/* key by key, no echo; VMIN = VTIME = 0: a read never waits */
		term.rawmode.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		term.rawmode.c_cc[VMIN] = 0;
		term.rawmode.c_cc[VTIME] = 0;
		term.raw = !tcsetattr(STDIN_FILENO, TCSANOW, &term.rawmode);
	}
	if (!term.atexit_done)
		term.atexit_done = !atexit(term_restore);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCONT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	catch_tstp();
	hold_stderr();
	fflush(stdout);
	write_all(STDOUT_FILENO, screen_on, sizeof(screen_on) - 1);
	term.screen = true;
}

/* ---- The command ------------------------------------------------------------------------- */

struct top {
	struct top_view *v;
	bool tty, keys;
	bool stopped; /* the loop ended: draw nothing more */
	int quit; /* 1: asked to; 2: the output failed */
	int out_err;
	unsigned int w, h;
};

static void winsize(struct top *t)
{
	struct winsize ws;

	t->w = 80;
	t->h = 24;
	if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col && ws.ws_row) {
		t->w = ws.ws_col;
		t->h = ws.ws_row;
	}
}

static void draw(struct top *t)
{
	if (t->stopped || t->quit)
		return;
	top_view_render(t->v, stdout, t->tty ? t->w : PLAIN_W, t->h, t->tty);
	if (fflush(stdout) || ferror(stdout)) {
		t->out_err = errno;
		t->quit = 2;
	}
}

static void top_tick(void *ctx, uint64_t now)
{
	struct top *t = ctx;
	uint64_t period = (uint64_t)(t->v ? t->v->interval_s * 1e9 : 0);

	if (!t->v || t->stopped)
		return;
	/* half a tick of slack: ticks come each second, give or take */
	if (now + SEC / 2 < t->v->next)
		return;
	t->v->next += period;
	if (t->v->next < now)
		t->v->next = now + period;
	if (t->v->paused)
		return; /* figures are taken again when it resumes */
	top_view_sample(t->v, now);
	draw(t);
}

static void keys(struct top *t, uint64_t now)
{
	unsigned char buf[64];
	ssize_t n, i;
	int r, again = 0;

	n = read(STDIN_FILENO, buf, sizeof(buf));
	for (i = 0; i < n; i++) {
		if (buf[i] == 0x1b)
			break; /* an escape sequence (arrows, ...): none is ours */
		r = top_view_key(t->v, buf[i]);
		if (r < 0) {
			t->quit = 1;
			return;
		}
		again |= r;
	}
	if (t->v->resample) {
		t->v->resample = false;
		top_view_sample(t->v, now);
		t->v->next = now + (uint64_t)(t->v->interval_s * 1e9);
	}
	if (again)
		draw(t);
}

static int top_poll(void *ctx, uint64_t now)
{
	struct top *t = ctx;
	unsigned int w = t->w, h = t->h;

	if (t->tty) {
		winsize(t);
		if (t->keys)
			keys(t, now);
		if (term.cont || w != t->w || h != t->h) {
			term.cont = 0;
			draw(t);
		}
	}
	return t->quit;
}

static unsigned int running(struct spine *sp)
{
	unsigned int have = 0;
	size_t i;

	for (i = 0; i < nconcerns; i++)
		if (spine_inst_of(sp, concerns[i]))
			have |= concerns[i]->bit;
	return have;
}

/* Started: the view, a first sample (the baseline of the first rates), the loop. */
static int top_run(struct top *t, struct spine *sp, struct model *m, double interval_s)
{
	char desc[256];

	m->concerns = running(sp);
	t->v = top_view_new(m, interval_s, m->concerns);
	if (!t->v) {
		log_err("out of memory");
		return 1;
	}
	spine_describe(sp, desc, sizeof(desc));
	fprintf(stderr, "spiketrace: tracing %s (%s)\n", desc,
		t->keys ? "q to quit" : "Ctrl-C to stop");
	top_view_sample(t->v, now_mono_ns());
	t->v->next = t->v->last + (uint64_t)(interval_s * 1e9);
	if (t->tty) {
		setvbuf(stdout, NULL, _IOFBF, 1 << 16); /* a frame in one write */
		winsize(t);
		term_take(t->keys);
		draw(t);
	}
	return spine_run(sp);
}

int top_main(struct options *o)
{
	struct top t = { .tty = isatty(STDOUT_FILENO) };
	double interval_s = o->interval > 0 ? o->interval : 1;
	struct spine sp = { 0 };
	struct model *m;
	int rc;

	if (spine_preflight(o, &sp.feat))
		return 1;
	t.keys = t.tty && isatty(STDIN_FILENO);
	m = model_new(now_mono_ns());
	if (!m) {
		log_err("out of memory");
		return 1;
	}
	m->start_real_ns = now_real_ns();
	sp.tick_cb = top_tick;
	sp.tick_ctx = &t;
	sp.poll_cb = top_poll;
	sp.poll_ctx = &t;
	rc = spine_start(&sp, o, m, NULL);
	if (!rc)
		rc = top_run(&t, &sp, m, interval_s);
	t.stopped = true;
	term_restore();
	spine_stop(&sp);
	if (t.quit == 2 && t.out_err != EPIPE) {
		log_err("writing the screen failed: %s", strerror(t.out_err));
		rc = 1;
	}
	if (st_exiting)
		log_dbg("stopped by signal %d", (int)st_exiting);
	top_view_free(t.v);
	model_free(m);
	return rc;
}
