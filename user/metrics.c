// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* serve's counters with bounded labels, and their exposition (user/metrics.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "model.h"
#include "tcpmodel.h"
#include "tlsmodel.h"

_Static_assert(MX_TCP_ST == TCP_ST_NR, "MX_TCP_ST must match TCP_ST_NR");

#define MX_MAX_COLS 8

/* A source of cumulative values: the most of each column seen so far. */
struct mx_src {
	struct mx_src *next; /* same hash */
	char *key;
	double hw[MX_MAX_COLS];
};

static int group_init(struct mx_group *g, size_t cap, size_t ncols, unsigned int gauges)
{
	memset(g, 0, sizeof(*g));
	g->cap = cap;
	g->ncols = ncols;
	g->gauges = gauges;
	hmap_init(&g->srcs);
	g->names = calloc(cap ? cap : 1, sizeof(*g->names));
	g->vals = calloc((cap + 1) * ncols, sizeof(*g->vals));
	return g->names && g->vals ? 0 : -ENOMEM;
}

static void group_free(struct mx_group *g)
{
	struct mx_src *s, *sn;
	size_t it = 0, i;
	void *v;

	while (hmap_next(&g->srcs, &it, NULL, &v)) {
		for (s = v; s; s = sn) {
			sn = s->next;
			free(s->key);
			free(s);
		}
	}
	hmap_free(&g->srcs);
	for (i = 0; g->names && i < g->n; i++)
		free(g->names[i]);
	free(g->names);
	free(g->vals);
	memset(g, 0, sizeof(*g));
}

int mx_init(struct metrics *mx, unsigned int families, size_t cap)
{
	unsigned int st;
	int err;

	memset(mx, 0, sizeof(*mx));
	mx->families = families;
	err = group_init(&mx->causes, cap, MX_C_NR, 1u << MX_C_RSS);
	if (!err)
		err = group_init(&mx->tls, cap, MX_T_NR, 0);
	if (!err)
		err = group_init(&mx->oom, cap, 1, 0);
	for (st = 0; st < MX_TCP_ST; st++)
		mx->tcp_names[st] = strcmp(tcp_state_name(st), "?") ? tcp_state_name(st) : NULL;
	if (err)
		mx_free(mx);
	return err;
}

void mx_free(struct metrics *mx)
{
	group_free(&mx->causes);
	group_free(&mx->tls);
	group_free(&mx->oom);
}

static void group_begin(struct mx_group *g)
{
	size_t r, c;

	for (c = 0; c < g->ncols; c++)
		if (g->gauges & (1u << c))
			for (r = 0; r <= g->cap; r++)
				g->vals[r * g->ncols + c] = 0;
}

void mx_begin(struct metrics *mx)
{
	group_begin(&mx->causes);
	group_begin(&mx->tls);
	group_begin(&mx->oom);
}

/*
 * The row of a label value: its own when it has one or may take a free
 * one, else "other" (row cap). A value named "other" is the other row.
 */
static size_t group_row(struct mx_group *g, const char *name)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (!strcmp(g->names[i], name))
			return i;
	if (g->n == g->cap || !strcmp(name, MX_OTHER))
		return g->cap;
	g->names[g->n] = strdup(name);
	if (!g->names[g->n])
		return g->cap; /* no memory for the label: still counted, in "other" */
	return g->n++;
}

static void group_add(struct mx_group *g, const char *name, const double *d)
{
	size_t r = group_row(g, name), c;

	for (c = 0; c < g->ncols; c++)
		g->vals[r * g->ncols + c] += d[c];
	if (r == g->cap)
		g->other_used = true;
}

static struct mx_src *group_src(struct mx_group *g, const char *key)
{
	uint64_t h = st_hash_str(key);
	struct mx_src *head = hmap_get(&g->srcs, h), *s;

	for (s = head; s; s = s->next)
		if (!strcmp(s->key, key))
			return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->key = strdup(key);
	s->next = head;
	if (!s->key || hmap_put(&g->srcs, h, s)) {
		free(s->key);
		free(s);
		return NULL;
	}
	g->nsrcs++;
	return s;
}

/*
 * A source's cumulative values (gauges: its value now): counters grow by
 * what is new since the most seen, gauges add up, all into one row.
 */
static int group_feed(struct mx_group *g, const char *key, const char *name, const double *v)
{
	struct mx_src *s = group_src(g, key);
	double d[MX_MAX_COLS] = { 0 };
	bool show = false;
	size_t c;

	if (!s)
		return -ENOMEM;
	for (c = 0; c < g->ncols; c++) {
		if (g->gauges & (1u << c)) {
			d[c] = v[c] > 0 ? v[c] : 0;
		} else if (v[c] > s->hw[c]) {
			d[c] = v[c] - s->hw[c];
			s->hw[c] = v[c];
		}
		show |= d[c] > 0;
	}
	if (show)
		group_add(g, name, d);
	return 0;
}

int mx_cause_all(struct metrics *mx, const char *key, const char *name, const double *v)
{
	return group_feed(&mx->causes, key, name ? name : "?", v);
}

int mx_cause(struct metrics *mx, const char *key, const char *name, double cpu_s, double faults,
	     double rss)
{
	double v[MX_C_NR] = { 0 };

	v[MX_C_CPU] = cpu_s;
	v[MX_C_FAULTS] = faults;
	v[MX_C_RSS] = rss;
	return mx_cause_all(mx, key, name, v);
}

int mx_tls(struct metrics *mx, const char *key, const char *comm, const double *v)
{
	return group_feed(&mx->tls, key, comm && comm[0] ? comm : "?", v);
}

int mx_oom(struct metrics *mx, const char *memcg)
{
	const double one = 1;

	group_add(&mx->oom, memcg && memcg[0] ? memcg : "unknown", &one);
	return 0;
}

static void raise_to(double *have, double v)
{
	if (v > *have)
		*have = v;
}

void mx_tcp(struct metrics *mx, const uint64_t *trans, uint64_t resets_rx, uint64_t resets_tx)
{
	size_t i;

	for (i = 0; trans && i < ARRAY_SIZE(mx->tcp_trans); i++)
		raise_to(&mx->tcp_trans[i], (double)trans[i]);
	raise_to(&mx->resets_rx, (double)resets_rx);
	raise_to(&mx->resets_tx, (double)resets_tx);
}

void mx_lost(struct metrics *mx, uint64_t lost)
{
	raise_to(&mx->lost, (double)lost);
}

/* ---- from the model ---------------------------------------------------- */

static int update_causes(struct metrics *mx, struct model *m)
{
	const struct job *j;
	int err = 0;

	/* Ranked active jobs come first (model_finalize); idle ones after. */
	for (j = m->jobs; j && j->nprocs; j = j->next) {
		double v[MX_C_NR] = { 0 };

		v[MX_C_CPU] = j->cpu_s;
		v[MX_C_FAULTS] = (double)j->page_faults;
		v[MX_C_RSS] = (double)job_rss_now(j);
		v[MX_C_NET_RX] = (double)j->net_rx;
		v[MX_C_NET_TX] = (double)j->net_tx;
		if (mx_cause_all(mx, j->key, j->name, v))
			err = -ENOMEM;
	}
	return err;
}

static int by_handshakes(const void *a, const void *b)
{
	const struct tls_proc *x = *(const struct tls_proc *const *)a;
	const struct tls_proc *y = *(const struct tls_proc *const *)b;

	if (x->handshakes != y->handshakes)
		return x->handshakes > y->handshakes ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* TLS processes, the busiest first: they take the comm labels first. */
static int update_tls(struct metrics *mx, const struct tls_model *t)
{
	struct tls_proc **v, *p;
	char key[16];
	double d[MX_T_NR];
	size_t i, n = 0;
	int err = 0;

	v = calloc(t->nprocs + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (p = t->plist; p && n < t->nprocs; p = p->next)
		v[n++] = p;
	qsort(v, n, sizeof(*v), by_handshakes);
	for (i = 0; i < n; i++) {
		p = v[i];
		d[MX_T_FULL] = (double)p->full;
		d[MX_T_RESUMED] = (double)p->resumed;
		d[MX_T_KX] = tls_proc_cpu_s(p, TLS_PH_KX);
		d[MX_T_SIG] = tls_proc_cpu_s(p, TLS_PH_SIG);
		d[MX_T_RNG] = tls_proc_cpu_s(p, TLS_PH_RNG);
		d[MX_T_OTHER] = tls_proc_cpu_s(p, TLS_PH_HANDSHAKE);
		snprintf(key, sizeof(key), "%u", p->pid);
		if (mx_tls(mx, key, p->comm, d))
			err = -ENOMEM;
	}
	free(v);
	return err;
}

int mx_update(struct metrics *mx, struct model *m)
{
	int err;

	mx_begin(mx);
	err = update_causes(mx, m);
	if (m->tls && update_tls(mx, m->tls))
		err = -ENOMEM;
	for (; mx->ooms_seen < m->nooms; mx->ooms_seen++)
		mx_oom(mx, m->ooms[mx->ooms_seen].memcg);
	if (m->tcp)
		mx_tcp(mx, m->tcp->have_counts ? m->tcp->trans : NULL,
		       tcp_model_resets(m->tcp, false), tcp_model_resets(m->tcp, true));
	mx_lost(mx, model_lost(m));
	return err;
}

/* ---- the exposition ---------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s, 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	/* No overlong forms, no surrogates, nothing past U+10FFFF. */
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

void mx_escape(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	while (*p) {
		n = utf8_len(p);
		if (!n) {
			fputc('?', f);
			p++;
			continue;
		}
		if (*p == '\\')
			fputs("\\\\", f);
		else if (*p == '"')
			fputs("\\\"", f);
		else if (*p == '\n')
			fputs("\\n", f);
		else
			fwrite(p, 1, n, f);
		p += n;
	}
}

enum num_kind { NUM_INT, NUM_SECONDS };

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void value(FILE *f, double v, enum num_kind k)
{
	if (k == NUM_SECONDS)
		fprintf(f, " %.6f\n", v);
	else
		fprintf(f, " %.0f\n", v);
}

/* name{label="value"[,extra]} v */
static void sample(FILE *f, const char *name, const char *label, const char *lv, const char *extra,
		   double v, enum num_kind k)
{
	fprintf(f, "%s{%s=\"", name, label);
	mx_escape(f, lv);
	fprintf(f, "\"%s%s}", extra ? "," : "", extra ? extra : "");
	value(f, v, k);
}

/* Rows of a group's column, "other" last (always when always_other). */
static void group_col(FILE *f, const struct mx_group *g, size_t col, const char *name,
		      const char *label, const char *extra, enum num_kind k, bool always_other)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		sample(f, name, label, g->names[i], extra, g->vals[i * g->ncols + col], k);
	if (always_other || g->other_used)
		sample(f, name, label, MX_OTHER, extra, g->vals[g->cap * g->ncols + col], k);
}

static void write_causes(const struct metrics *mx, FILE *f)
{
	const struct mx_group *g = &mx->causes;

	if (mx->families & MXF_CPU) {
		family(f, "spiketrace_cause_cpu_seconds_total", "counter",
		       "CPU time of each cause's processes, sampled. cause: a job, process tree or "
		       "cgroup; a bounded set, the rest add up in cause=\"other\".");
		group_col(f, g, MX_C_CPU, "spiketrace_cause_cpu_seconds_total", "cause", NULL,
			  NUM_SECONDS, true);
	}
	if (mx->families & MXF_NET) {
		family(f, "spiketrace_cause_net_bytes_total", "counter",
		       "Bytes each cause's processes received (direction=\"rx\") and sent "
		       "(direction=\"tx\"), TCP and UDP payload.");
		group_col(f, g, MX_C_NET_RX, "spiketrace_cause_net_bytes_total", "cause",
			  "direction=\"rx\"", NUM_INT, true);
		group_col(f, g, MX_C_NET_TX, "spiketrace_cause_net_bytes_total", "cause",
			  "direction=\"tx\"", NUM_INT, true);
	}
	if (!(mx->families & MXF_MEM))
		return;
	family(f, "spiketrace_cause_page_faults_total", "counter",
	       "Page faults of each cause's processes.");
	group_col(f, g, MX_C_FAULTS, "spiketrace_cause_page_faults_total", "cause", NULL, NUM_INT,
		  true);
	family(f, "spiketrace_cause_rss_bytes", "gauge",
	       "Resident memory of each cause's live processes now (file + anon + shmem).");
	group_col(f, g, MX_C_RSS, "spiketrace_cause_rss_bytes", "cause", NULL, NUM_INT, true);
	family(f, "spiketrace_oom_kills_total", "counter",
	       "Processes killed by the OOM killer, by memory cgroup.");
	group_col(f, &mx->oom, 0, "spiketrace_oom_kills_total", "memcg", NULL, NUM_INT, false);
}

static const char *const tls_kinds[] = {
	[MX_T_FULL] = "kind=\"full\"",
	[MX_T_RESUMED] = "kind=\"resumed\"",
};
static const char *const tls_phases[] = {
	[MX_T_KX] = "phase=\"key_exchange\"",
	[MX_T_SIG] = "phase=\"signature\"",
	[MX_T_RNG] = "phase=\"rng\"",
	[MX_T_OTHER] = "phase=\"other\"",
};

/* Per comm (other last, when used), each kind or phase of it in turn. */
static void write_tls_group(const struct mx_group *g, FILE *f, const char *name, size_t c0,
			    size_t c1, const char *const *extra, enum num_kind k)
{
	size_t i, c;

	for (i = 0; i <= g->n; i++) {
		size_t r = i < g->n ? i : g->cap;

		if (r == g->cap && !g->other_used)
			break;
		for (c = c0; c <= c1; c++)
			sample(f, name, "comm", r < g->cap ? g->names[r] : MX_OTHER, extra[c],
			       g->vals[r * g->ncols + c], k);
	}
}

static void write_tls(const struct metrics *mx, FILE *f)
{
	if (!(mx->families & MXF_TLS))
		return;
	family(f, "spiketrace_tls_handshakes_total", "counter",
	       "TLS handshakes completed by processes named comm, full or resumed "
	       "(renegotiations included).");
	write_tls_group(&mx->tls, f, "spiketrace_tls_handshakes_total", MX_T_FULL, MX_T_RESUMED,
			tls_kinds, NUM_INT);
	if (!(mx->families & MXF_CPU))
		return;
	family(f, "spiketrace_tls_cpu_seconds_total", "counter",
	       "CPU time of TLS handshakes by phase (key_exchange, signature, rng, other), "
	       "sampled.");
	write_tls_group(&mx->tls, f, "spiketrace_tls_cpu_seconds_total", MX_T_KX, MX_T_OTHER,
			tls_phases, NUM_SECONDS);
}

static void write_tcp(const struct metrics *mx, FILE *f)
{
	size_t from, to;
	double v;

	if (!(mx->families & MXF_TCP))
		return;
	family(f, "spiketrace_tcp_resets_total", "counter",
	       "TCP resets received or sent (kernel counters).");
	fprintf(f, "spiketrace_tcp_resets_total{direction=\"received\"}");
	value(f, mx->resets_rx, NUM_INT);
	fprintf(f, "spiketrace_tcp_resets_total{direction=\"sent\"}");
	value(f, mx->resets_tx, NUM_INT);
	family(f, "spiketrace_tcp_transitions_total", "counter",
	       "TCP state transitions from one state to another (kernel counters; pairs seen).");
	for (from = 0; from < MX_TCP_ST; from++) {
		for (to = 0; to < MX_TCP_ST; to++) {
			v = mx->tcp_trans[from * MX_TCP_ST + to];
			if (v <= 0 || !mx->tcp_names[from] || !mx->tcp_names[to])
				continue;
			fprintf(f, "spiketrace_tcp_transitions_total{from=\"%s\",to=\"%s\"}",
				mx->tcp_names[from], mx->tcp_names[to]);
			value(f, v, NUM_INT);
		}
	}
}

int mx_write(const struct metrics *mx, FILE *f)
{
	write_causes(mx, f);
	write_tls(mx, f);
	write_tcp(mx, f);
	family(f, "spiketrace_lost_events_total", "counter",
	       "Events lost: ring buffer full in the kernel, undecodable, or no memory.");
	fprintf(f, "spiketrace_lost_events_total");
	value(f, mx->lost, NUM_INT);
	return ferror(f) ? -EIO : 0;
}
