// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `report --format text`: what an operator reads first (docs/report.md).
 * The verdict (which cause dominated when), the ranked causes with the
 * evidence that ranks them, the notable events, a sparkline timeline, then
 * each concern's details. Every line fits 100 columns; colour only on a
 * terminal that wants it (not with NO_COLOR, TERM=dumb or without a TTY).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "concern.h"
#include "cpumodel.h"
#include "report.h"
#include "tcpmodel.h"
#include "windows.h"

#define WIDTH 100
#define TOP_CAUSES 8
#define MAX_VERDICT 6 /* lines: the cause ranked first stays in the first 15 */
#define VERDICT_EV 46 /* columns for a window's evidence */
#define MAX_WINDOWS 64
#define MAX_NOTES 20
#define TL_ROWS 8
#define TL_COLS 61 /* model_interval_s() makes at most 61 buckets */
#define TL_BARS 29 /* where the bars start: " " name(20) " " metric(6) "|" */

#define SGR_BOLD "\033[1m"
#define SGR_RED "\033[31m"
#define SGR_OFF "\033[0m"

struct tx {
	struct model *m;
	FILE *out;
	bool colour;
	const struct job *top; /* the cause ranked first: bold */
	double max[RM_NR]; /* each ranking metric's largest value of any cause */
};

/* https://no-color.org: NO_COLOR set and not empty means none; so do TERM=dumb and pipes. */
static bool want_colour(FILE *out)
{
	const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");

	if ((nc && *nc) || !term || !strcmp(term, "dumb"))
		return false;
	return isatty(fileno(out));
}

/* The escape code when colour is on and cond holds, else "". */
static const char *sgr(const struct tx *t, bool cond, const char *code)
{
	return t->colour && cond ? code : "";
}

/* Appends ", s" (or s first) to buf when it still fits in len - 1 characters. */
static void join(char *buf, size_t len, const char *s)
{
	size_t n = strlen(buf);

	if (n + strlen(s) + (n ? 2 : 0) < len)
		snprintf(buf + n, len - n, "%s%s", n ? ", " : "", s);
}

/* Lineage from the oldest ancestor down to the job's deepest process, left-trimmed. */
static void lineage_line(FILE *out, struct model *m, const struct job *j)
{
	const struct proc *chain[64];
	struct proc *leaf = job_deepest(j);
	char buf[1024], *s;
	size_t n, i, off = 0, room = WIDTH - 14;

	if (!leaf)
		return;
	n = model_lineage(m, leaf, chain, 64);
	buf[0] = '\0';
	for (i = 0; i < n && off < sizeof(buf); i++)
		off += snprintf(buf + off, sizeof(buf) - off, "%s%s", i ? " > " : "",
				chain[i]->comm);
	s = buf;
	if (strlen(s) > room) {
		s += strlen(s) - room + 3;
		fprintf(out, "    lineage: ...%s\n", s);
	} else {
		fprintf(out, "    lineage: %s\n", s);
	}
}

static void header(struct model *m, FILE *out, const char *source)
{
	char when[64] = "?";
	time_t t = (time_t)(m->start_real_ns / 1000000000ULL);
	struct tm tm;

	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	fprintf(out, "spiketrace report: %.80s\n", source);
	fprintf(out, "host %.40s, kernel %.40s\n", m->host, m->kernel);
	fprintf(out, "recorded %s for %.1f s, %llu lost events\n", when, model_time_s(m, m->t_end),
		(unsigned long long)model_lost(m));
	if (m->cut_short)
		fprintf(out, "INCOMPLETE: %.88s\n", m->cut_reason);
}

/* ---- VERDICT: the top cause of each window ---------------------------------------------- */

/* A window metric in plain words: "7.6 CPU-s", "RSS +256M". */
static void win_words(enum win_metric k, double v, char *buf, size_t len)
{
	char h[16];

	switch (k) {
	case WM_CPU:
		snprintf(buf, len, "%.1f CPU-s", v);
		break;
	case WM_RUNNABLE:
		snprintf(buf, len,
			 v == 1 ? "%.0f thread runnable" : "%.0f threads runnable at once", v);
		break;
	case WM_GROWTH:
		snprintf(buf, len, "RSS +%s", report_bytes_d(v, h, sizeof(h)));
		break;
	case WM_FAULTS:
		snprintf(buf, len, "%.0f page faults", v);
		break;
	case WM_OOM:
		snprintf(buf, len, "%.0f OOM kill%s", v, v == 1 ? "" : "s");
		break;
	case WM_TLS:
		snprintf(buf, len, "%.0f TLS handshakes", v);
		break;
	case WM_RESETS:
		snprintf(buf, len, "%.0f TCP resets", v);
		break;
	case WM_NET:
		snprintf(buf, len, "network %s", report_bytes_d(v, h, sizeof(h)));
		break;
	default:
		snprintf(buf, len, "%.0f exec%s", v, v == 1 ? "" : "s");
		break;
	}
}

/* "OOM kill (pkgd)", "2 OOM kills (pkgd, fwupd)": the window's victims of its job. */
static void oom_words(const struct model *m, const struct window *w, char *buf, size_t len)
{
	double iv = model_interval_s(m);
	char names[64] = "";
	size_t i, b;

	for (i = 0; i < m->nooms; i++) {
		const struct oom_kill *k = &m->ooms[i];

		b = (size_t)(model_time_s(m, k->ts) / iv);
		if (k->victim && k->victim->job == w->job && b >= w->first && b <= w->last)
			join(names, sizeof(names), k->victim_comm);
	}
	if (w->oom_kills == 1)
		snprintf(buf, len, "OOM kill (%s)", names);
	else
		snprintf(buf, len, "%u OOM kills (%s)", w->oom_kills, names);
}

/* What a window shows: its OOM kills, then the metrics that add most to its score (three). */
static void win_evidence(const struct model *m, const struct window *w, char *buf, size_t len)
{
	bool used[WM_NR] = { false };
	char s[64];
	int n, k, best;

	buf[0] = '\0';
	if (w->oom_kills) {
		oom_words(m, w, s, sizeof(s));
		join(buf, len, s);
	}
	used[WM_OOM] = true;
	for (n = 0; n < 3; n++) {
		for (best = -1, k = 0; k < WM_NR; k++)
			if (!used[k] && w->parts[k] > 0 && w->values[k] > 0 &&
			    (best < 0 || w->parts[k] > w->parts[best]))
				best = k;
		if (best < 0)
			break;
		used[best] = true;
		win_words(best, w->values[best], s, sizeof(s));
		join(buf, len, s);
	}
}

/* Marks in show[] the MAX_VERDICT - 1 windows with the most score (all when they fit). */
static void pick_windows(const struct window *v, size_t n, bool *show)
{
	size_t i, k, best;

	for (i = 0; i < n; i++)
		show[i] = n <= MAX_VERDICT;
	for (k = 0; n > MAX_VERDICT && k < MAX_VERDICT - 1; k++) {
		for (best = n, i = 0; i < n; i++)
			if (!show[i] && (best == n || v[i].score > v[best].score))
				best = i;
		show[best] = true;
	}
}

static void verdict(struct tx *t)
{
	struct window v[MAX_WINDOWS];
	size_t n = model_windows(t->m, v, MAX_WINDOWS), i;
	bool show[MAX_WINDOWS];
	char ev[VERDICT_EV + 1], when[32];

	fprintf(t->out, "\nVERDICT (the top cause of each stretch of time and its share of the "
			"activity there)\n");
	if (!n) {
		fprintf(t->out, " (no activity recorded)\n");
		return;
	}
	pick_windows(v, n, show);
	for (i = 0; i < n; i++) {
		bool bold = v[i].job == t->top, red = v[i].oom_kills > 0;

		if (!show[i])
			continue;
		win_evidence(t->m, &v[i], ev, sizeof(ev));
		/* 5 characters a time: 0.1 s steps below 1000 s, whole seconds up to 27 h */
		snprintf(when, sizeof(when),
			 v[i].end_s < 999.95 ? "%5.1f-%5.1f s" : "%5.0f-%5.0f s", v[i].start_s,
			 v[i].end_s);
		fprintf(t->out, " %.13s  %s%-30.30s%s %3.0f%%  %s%s%s\n", when,
			sgr(t, bold, SGR_BOLD), v[i].job->name, sgr(t, bold, SGR_OFF),
			100 * v[i].share, sgr(t, red, SGR_RED), ev, sgr(t, red, SGR_OFF));
	}
	if (n > MAX_VERDICT)
		fprintf(t->out,
			" ... %zu lesser windows left out (report --format json: timeline.windows)\n",
			n - (MAX_VERDICT - 1));
}

/* ---- TOP CAUSES with their evidence ------------------------------------------------------ */

/* What ranking metric k adds to job j's score (docs/causes.md#ranking). */
static double part_of(const struct tx *t, const struct job *j, enum rank_metric k)
{
	return t->max[k] > 0 ? rank_weights[k] * job_rank_value(j, k) / t->max[k] : 0;
}

/* A ranking metric of a cause in plain words; "" when it says nothing. */
static void rank_words(const struct tx *t, const struct job *j, enum rank_metric k, char *buf,
		       size_t len)
{
	bool sched = t->m->cpu && t->m->cpu->sched;
	char h[16], h2[16];

	buf[0] = '\0';
	if (k == RM_CPU && j->cpu_s > 0)
		snprintf(buf, len, "%.2f CPU-s", j->cpu_s);
	else if (k == RM_CONC && j->max_concurrency > 1)
		snprintf(buf, len, "%u %s at once", j->max_concurrency,
			 sched ? "threads runnable" : "processes");
	else if (k == RM_GROWTH && j->rss_growth)
		snprintf(buf, len, "+%s RSS", report_bytes(j->rss_growth, h, sizeof(h)));
	else if (k == RM_PEAK && j->rss_peak && j->rss_growth * 10 < j->rss_peak * 9)
		snprintf(buf, len, "peak RSS %s", report_bytes(j->rss_peak, h, sizeof(h)));
	else if (k == RM_FAULTS && j->page_faults)
		snprintf(buf, len, "%llu page faults", (unsigned long long)j->page_faults);
	else if (k == RM_OOM && j->oom_kills)
		snprintf(buf, len, "%u OOM kill%s", j->oom_kills, j->oom_kills == 1 ? "" : "s");
	else if (k == RM_TLS_CPU && j->tls_handshakes)
		snprintf(buf, len, "%llu TLS handshakes (%.2f CPU-s)",
			 (unsigned long long)j->tls_handshakes, j->tls_cpu_s);
	else if (k == RM_RESETS && j->tcp_resets)
		snprintf(buf, len, "%llu TCP resets", (unsigned long long)j->tcp_resets);
	else if (k == RM_EXECS && j->execs)
		snprintf(buf, len, "%u exec%s", j->execs, j->execs == 1 ? "" : "s");
	else if (k == RM_NET && j->net_rx && j->net_tx)
		snprintf(buf, len, "network %s in, %s out", report_bytes(j->net_rx, h, sizeof(h)),
			 report_bytes(j->net_tx, h2, sizeof(h2)));
	else if (k == RM_NET && (j->net_rx || j->net_tx))
		snprintf(buf, len, "network %s %s",
			 report_bytes(j->net_rx ? j->net_rx : j->net_tx, h, sizeof(h)),
			 j->net_rx ? "in" : "out");
}

/* "    evidence: 7.51 CPU-s, 8 threads runnable at once": what adds most to its score first. */
static void evidence_line(const struct tx *t, const struct job *j)
{
	bool used[RM_NR] = { false };
	char buf[WIDTH - 13] = "", s[64];
	int k, best;

	for (;;) {
		for (best = -1, k = 0; k < RM_NR; k++)
			if (!used[k] && (best < 0 || part_of(t, j, k) > part_of(t, j, best)))
				best = k;
		if (best < 0)
			break;
		used[best] = true;
		rank_words(t, j, best, s, sizeof(s));
		if (*s)
			join(buf, sizeof(buf), s);
	}
	if (*buf)
		fprintf(t->out, "    evidence: %s\n", buf);
}

static void causes(struct tx *t)
{
	struct model *m = t->m;
	bool mem = m->concerns & concern_by_name("mem")->bit;
	bool cpu = m->concerns & concern_cpu.bit;
	bool net = m->concerns & concern_net.bit;
	const struct job *j;
	char a[16], b[16], c[16];
	int rank = 0;

	fprintf(t->out, "\nTOP CAUSES (ranked by score, docs/causes.md)\n");
	fprintf(t->out, " %-3s %-27s %5s %5s %4s", "#", "CAUSE", "PROCS", "EXECS", "CONC");
	if (cpu)
		fprintf(t->out, " %7s", "CPU-S");
	if (mem)
		fprintf(t->out, " %8s %8s %6s %3s", "RSS-PEAK", "GROWTH", "FAULTS", "OOM");
	if (net)
		fprintf(t->out, " %6s %6s", "NET-RX", "NET-TX");
	fputc('\n', t->out);
	for (j = m->jobs; j && j->nprocs && rank < TOP_CAUSES; j = j->next) {
		bool bold = j == t->top;

		fprintf(t->out, " %-3d %s%-27.27s%s %5zu %5u %4u", ++rank, sgr(t, bold, SGR_BOLD),
			j->name, sgr(t, bold, SGR_OFF), j->nprocs, j->execs, j->max_concurrency);
		if (cpu)
			fprintf(t->out, " %7.2f", j->cpu_s);
		if (mem)
			fprintf(t->out, " %8s %8s %6s %3u", report_bytes(j->rss_peak, a, sizeof(a)),
				report_bytes(j->rss_growth, b, sizeof(b)),
				report_count((double)j->page_faults, c, sizeof(c)), j->oom_kills);
		if (net)
			fprintf(t->out, " %6s %6s", report_bytes(j->net_rx, a, sizeof(a)),
				report_bytes(j->net_tx, b, sizeof(b)));
		fputc('\n', t->out);
		evidence_line(t, j);
		if (j->cgroup)
			fprintf(t->out, "    cgroup:  %.86s\n", j->cgroup);
		lineage_line(t->out, m, j);
	}
	if (!rank)
		fprintf(t->out, " (no process activity recorded)\n");
}

/* ---- NOTABLE EVENTS ---------------------------------------------------------------------- */

enum note_kind { NOTE_OOM, NOTE_EXIT, NOTE_EXEC, NOTE_RESETS, NOTE_TRIGGER };

struct note {
	uint64_t ts;
	enum note_kind kind;
	const struct job *job;
	char detail[96];
	size_t n; /* exits folded into this one (same cause and words) */
	size_t order; /* ties keep the order they were added in */
};

struct notes {
	struct note *v;
	size_t n, cap;
};

static void note_add(struct notes *ns, uint64_t ts, enum note_kind k, const struct job *j,
		     const char *detail)
{
	size_t cap = ns->cap ? 2 * ns->cap : 64;
	struct note *v;

	if (ns->n == ns->cap) {
		v = realloc(ns->v, cap * sizeof(*v));
		if (!v)
			return; /* the line is left out */
		ns->v = v;
		ns->cap = cap;
	}
	ns->v[ns->n] = (struct note){ .ts = ts, .kind = k, .job = j, .n = 1, .order = ns->n };
	st_strlcpy(ns->v[ns->n].detail, detail, sizeof(ns->v[ns->n].detail));
	ns->n++;
}

static int note_cmp(const void *a, const void *b)
{
	const struct note *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->order < y->order ? -1 : 1;
}

/* Which notes stay when there are too many: OOM kills and triggers, resets, execs, exits. */
static int note_prio_cmp(const void *a, const void *b)
{
	static const int prio[] = {
		[NOTE_OOM] = 0,	 [NOTE_TRIGGER] = 0, [NOTE_RESETS] = 1,
		[NOTE_EXEC] = 2, [NOTE_EXIT] = 3,
	};
	const struct note *x = a, *y = b;

	if (prio[x->kind] != prio[y->kind])
		return prio[x->kind] - prio[y->kind];
	return note_cmp(a, b);
}

static bool top_cause(const struct model *m, const struct job *j)
{
	const struct job *r;
	int rank = 0;

	for (r = m->jobs; r && r->nprocs && rank < TL_ROWS; r = r->next, rank++)
		if (r == j)
			return true;
	return false;
}

/*
 * From the marks: triggers, exits by a signal or a non-zero code (not of OOM
 * victims: their kill says it), the first exec of each top cause.
 */
static void notes_from_marks(const struct model *m, struct notes *ns)
{
	struct hmap firsts;
	size_t i;

	hmap_init(&firsts);
	for (i = 0; i < m->nmarks; i++) {
		const struct mark *mk = &m->marks[i];
		const struct job *j = mk->p ? mk->p->job : NULL;

		if (mk->kind == MARK_TRIGGER)
			note_add(ns, mk->ts, NOTE_TRIGGER, j, mk->detail);
		else if (mk->kind == MARK_EXIT && mk->p && proc_exit_code(mk->p) > 0 &&
			 !mk->p->oom_killed)
			note_add(ns, mk->ts, NOTE_EXIT, j, mk->detail);
		else if (mk->kind == MARK_EXEC && j && top_cause(m, j) &&
			 !hmap_get(&firsts, (uintptr_t)j) &&
			 !hmap_put(&firsts, (uintptr_t)j, (void *)j))
			note_add(ns, mk->ts, NOTE_EXEC, j, mk->detail);
	}
	hmap_free(&firsts);
}

/* Every OOM kill: victim, its anonymous RSS, and who was allocating. */
static void note_ooms(const struct model *m, struct notes *ns)
{
	char d[128], a[16];
	size_t i;

	for (i = 0; i < m->nooms; i++) {
		const struct oom_kill *k = &m->ooms[i];

		snprintf(d, sizeof(d), "killed %s[%u] (anon %s), allocating: %s[%u]",
			 k->victim_comm, k->victim_pid, report_bytes(k->anon_rss, a, sizeof(a)),
			 k->trigger_comm, k->trigger_pid);
		note_add(ns, k->ts, NOTE_OOM, k->victim ? k->victim->job : NULL, d);
	}
}

/* One line for the resets that cluster at one idle time (docs/tcp.md), at the first of them. */
static void note_resets(const struct model *m, struct notes *ns)
{
	const struct tcp_model *t = m->tcp;
	struct tcp_cluster c;
	char d[128];
	size_t i;

	if (!t || !tcp_reset_cluster(t, &c) || c.n < 2)
		return;
	snprintf(d, sizeof(d), "%llu TCP resets after %llu.%llu-%llu.%llu s idle: an idle timeout?",
		 (unsigned long long)c.n, (unsigned long long)c.lo_ms / 1000,
		 (unsigned long long)c.lo_ms % 1000 / 100, (unsigned long long)c.hi_ms / 1000,
		 (unsigned long long)c.hi_ms % 1000 / 100);
	for (i = 0; i < t->nresets; i++) {
		const struct tcp_reset *r = &t->resets[i];
		uint64_t ms = r->idle_rx_ns / 1000000;
		struct proc *p;

		if (!(r->flags & TCP_F_IDLE) || ms < c.lo_ms || ms > c.hi_ms)
			continue;
		p = r->pid ? model_find(m, r->pid) : NULL;
		note_add(ns, r->ts, NOTE_RESETS, p ? p->job : NULL, d);
		return;
	}
}

/* Folds runs of exits with the same cause and words (8 workers killed at once) into one. */
static void fold_exits(struct notes *ns)
{
	size_t i, n = 0;

	for (i = 0; i < ns->n; i++) {
		struct note *last = n ? &ns->v[n - 1] : NULL;

		if (last && last->kind == NOTE_EXIT && ns->v[i].kind == NOTE_EXIT &&
		    last->job == ns->v[i].job && !strcmp(last->detail, ns->v[i].detail)) {
			last->n++;
			continue;
		}
		ns->v[n++] = ns->v[i];
	}
	ns->n = n;
}

static void notable(struct tx *t)
{
	static const char *const kinds[] = { "oom", "exit", "exec", "resets", "trigger" };
	struct notes ns = { 0 };
	size_t i, left = 0;
	char what[160];

	notes_from_marks(t->m, &ns);
	note_ooms(t->m, &ns);
	note_resets(t->m, &ns);
	if (ns.n)
		qsort(ns.v, ns.n, sizeof(*ns.v), note_cmp);
	fold_exits(&ns);
	if (ns.n > MAX_NOTES) {
		/* the most telling ones, then back in time order */
		qsort(ns.v, ns.n, sizeof(*ns.v), note_prio_cmp);
		left = ns.n - MAX_NOTES;
		ns.n = MAX_NOTES;
		qsort(ns.v, ns.n, sizeof(*ns.v), note_cmp);
	}
	fprintf(t->out, "\nNOTABLE EVENTS (time order: OOM kills, failed exits, first execs, "
			"reset clusters)\n");
	for (i = 0; i < ns.n; i++) {
		const struct note *e = &ns.v[i];
		bool red = e->kind == NOTE_OOM;

		if (e->kind == NOTE_EXEC)
			snprintf(what, sizeof(what), "first exec: %s", e->detail);
		else if (e->n > 1)
			snprintf(what, sizeof(what), "%s (%zu processes)", e->detail, e->n);
		else
			snprintf(what, sizeof(what), "%s", e->detail);
		fprintf(t->out, " %8.3f  %-7s %-22.22s %s%.58s%s\n", model_time_s(t->m, e->ts),
			kinds[e->kind], e->job ? e->job->name : "-", sgr(t, red, SGR_RED), what,
			sgr(t, red, SGR_OFF));
	}
	if (left)
		fprintf(t->out, " ... %zu more (report --format json has every mark)\n", left);
	if (!ns.n)
		fprintf(t->out, " (none)\n");
	free(ns.v);
}

/* ---- TIMELINE: one sparkline per top cause ----------------------------------------------- */

/* The label of a row's series. */
static const char *const tl_names[RS_NR] = {
	[RS_CPU] = "cpu_s",	[RS_RSS_HELD] = "rss",	[RS_FAULTS] = "faults",
	[RS_TLS] = "tls_hs",	[RS_TCP] = "resets",	[RS_EXECS] = "execs",
	[RS_RUNNABLE] = "conc", [RS_NET_RX] = "net_in", [RS_NET_TX] = "net_out",
};

/* The largest of v[nb]. */
static double vmax(const double *v, size_t nb)
{
	double max = 0;
	size_t i;

	for (i = 0; i < nb; i++)
		max = v[i] > max ? v[i] : max;
	return max;
}

/*
 * The series a cause's row shows, into v: of the ranking metrics that add
 * to its score, the one that adds most (ties: this order) and has something
 * to draw; else execs, else runnable threads (a level that says less than
 * the CPU behind it). *max is its largest value.
 */
static enum report_series tl_pick(const struct tx *t, const struct job *j, double iv, double *v,
				  double *tmp, size_t nb, double *max)
{
	static const struct {
		enum rank_metric k;
		enum report_series s;
	} order[] = { { RM_CPU, RS_CPU },	  { RM_OOM, RS_RSS_HELD },
		      { RM_GROWTH, RS_RSS_HELD }, { RM_PEAK, RS_RSS_HELD },
		      { RM_FAULTS, RS_FAULTS },	  { RM_TLS_CPU, RS_TLS },
		      { RM_RESETS, RS_TCP },	  { RM_EXECS, RS_EXECS },
		      { RM_NET, RS_NET_RX },	  { RM_NET, RS_NET_TX } };
	static const enum report_series last[] = { RS_EXECS, RS_RUNNABLE };
	bool tried[ARRAY_SIZE(order)] = { false };
	size_t i, best;

	for (;;) {
		for (best = ARRAY_SIZE(order), i = 0; i < ARRAY_SIZE(order); i++)
			if (!tried[i] && part_of(t, j, order[i].k) > 0 &&
			    (best == ARRAY_SIZE(order) ||
			     part_of(t, j, order[i].k) > part_of(t, j, order[best].k)))
				best = i;
		if (best == ARRAY_SIZE(order))
			break;
		tried[best] = true;
		report_series(t->m, order[best].s, j, iv, v, tmp, nb);
		*max = vmax(v, nb);
		if (*max > 0)
			return order[best].s;
	}
	for (i = 0; i < ARRAY_SIZE(last); i++) {
		report_series(t->m, last[i], j, iv, v, tmp, nb);
		*max = vmax(v, nb);
		if (*max > 0)
			break;
	}
	return last[i < ARRAY_SIZE(last) ? i : 0];
}

static const char *tl_max(enum report_series s, double v, char *buf, size_t len)
{
	if (s == RS_RSS_HELD || s == RS_NET_RX || s == RS_NET_TX)
		return report_bytes_d(v, buf, len);
	if (s == RS_CPU) {
		snprintf(buf, len, "%.2f", v);
		return buf;
	}
	return report_count(v, buf, len);
}

/* Under a row: '!' under each interval with an OOM kill of the cause. */
static void tl_ooms(const struct tx *t, const struct job *j, double iv, size_t nb)
{
	char line[TL_COLS + 1];
	bool any = false;
	size_t i, b;

	memset(line, ' ', nb);
	line[nb] = '\0';
	for (i = 0; i < t->m->nooms; i++) {
		const struct oom_kill *k = &t->m->ooms[i];

		b = (size_t)(model_time_s(t->m, k->ts) / iv);
		if (k->victim && k->victim->job == j && b < nb) {
			line[b] = '!';
			any = true;
		}
	}
	while (nb && line[nb - 1] == ' ')
		line[--nb] = '\0';
	if (any)
		fprintf(t->out, " %-20s %-6s %s%s%s\n", "", "", sgr(t, true, SGR_RED), line,
			sgr(t, true, SGR_OFF));
}

/* The row of cause j; false when it has nothing to draw. */
static bool tl_row(const struct tx *t, const struct job *j, double iv, double *v, double *tmp,
		   size_t nb)
{
	static const char *const blocks[] = { " ",	"\u2581", "\u2582", "\u2583", "\u2584",
					      "\u2585", "\u2586", "\u2587", "\u2588" };
	bool bold = j == t->top;
	enum report_series s;
	double max;
	char mx[16];
	size_t i;

	s = tl_pick(t, j, iv, v, tmp, nb, &max);
	if (max <= 0)
		return false; /* nothing to draw */
	fprintf(t->out, " %s%-20.20s%s %-6s|", sgr(t, bold, SGR_BOLD), j->name,
		sgr(t, bold, SGR_OFF), tl_names[s]);
	for (i = 0; i < nb; i++)
		fputs(blocks[max > 0 && v[i] > 0 ? 1 + (int)(v[i] / max * 7.999) : 0], t->out);
	fprintf(t->out, "| %s\n", tl_max(s, max, mx, sizeof(mx)));
	tl_ooms(t, j, iv, nb);
	return true;
}

/* Seconds under the columns, every 10 intervals. */
static void tl_axis(FILE *out, double iv, size_t nb)
{
	char line[WIDTH + 1], lab[16];
	size_t i, n;

	memset(line, ' ', sizeof(line) - 1);
	line[WIDTH] = '\0';
	for (i = 0; i < nb; i += 10) {
		n = (size_t)snprintf(lab, sizeof(lab), "%gs", (double)i * iv);
		if (TL_BARS + i + n <= WIDTH)
			memcpy(line + TL_BARS + i, lab, n);
	}
	for (n = WIDTH; n && line[n - 1] == ' ';)
		line[--n] = '\0';
	fprintf(out, "%s\n", line);
}

static void timeline(struct tx *t)
{
	double iv = model_interval_s(t->m), *v, *tmp;
	size_t nb = model_nbuckets(t->m, iv);
	const struct job *j;
	int rows = 0;

	if (nb > TL_COLS)
		nb = TL_COLS;
	v = calloc(nb, sizeof(*v));
	tmp = calloc(nb, sizeof(*tmp));
	fprintf(t->out,
		"\nTIMELINE (%g s a column, each row scaled to its max at the right; "
		"! = OOM kill)\n",
		iv);
	for (j = t->m->jobs; v && tmp && j && j->nprocs && rows < TL_ROWS; j = j->next)
		rows += tl_row(t, j, iv, v, tmp, nb);
	if (rows)
		tl_axis(t->out, iv, nb);
	else
		fprintf(t->out, " (no causes)\n");
	free(v);
	free(tmp);
}

/* ---- details ----------------------------------------------------------------------------- */

static void ooms(struct tx *t)
{
	struct model *m = t->m;
	char a[16], f[16], s[16], v[16];
	size_t i;

	if (!m->nooms)
		return;
	fprintf(t->out, "\n%sOOM KILLS%s\n", sgr(t, true, SGR_RED), sgr(t, true, SGR_OFF));
	for (i = 0; i < m->nooms; i++) {
		const struct oom_kill *k = &m->ooms[i];

		fprintf(t->out, " %9.3f  %s[%u] in %.28s, cause %.24s\n", model_time_s(m, k->ts),
			k->victim_comm, k->victim_pid, k->memcg ? k->memcg : "?",
			k->victim && k->victim->job ? k->victim->job->name : "?");
		fprintf(t->out,
			"    rss anon %s file %s shmem %s, total-vm %s; allocating: %s[%u]\n",
			report_bytes(k->anon_rss, a, sizeof(a)),
			report_bytes(k->file_rss, f, sizeof(f)),
			report_bytes(k->shmem_rss, s, sizeof(s)),
			report_bytes(k->total_vm, v, sizeof(v)), k->trigger_comm, k->trigger_pid);
	}
}

static void tx_init(struct tx *t, struct model *m, FILE *out)
{
	const struct job *j;
	int k;

	memset(t, 0, sizeof(*t));
	t->m = m;
	t->out = out;
	t->colour = want_colour(out);
	t->top = m->jobs && m->jobs->nprocs ? m->jobs : NULL;
	for (j = m->jobs; j && j->nprocs; j = j->next)
		for (k = 0; k < RM_NR; k++)
			if (job_rank_value(j, k) > t->max[k])
				t->max[k] = job_rank_value(j, k);
}

void report_text(struct model *m, FILE *out, const char *source)
{
	struct tx t;

	tx_init(&t, m, out);
	header(m, out, source);
	verdict(&t);
	causes(&t);
	notable(&t);
	timeline(&t);
	ooms(&t);
	report_text_cpu(m, out);
	report_text_tls(m, out);
	report_text_tcp(m, out);
	if (!report_has(m, "tcp") && report_has(m, "net")) {
		fprintf(out, "\nNETWORK (docs/net.md)\n");
		report_text_net_talkers(m, out);
	}
}
