// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `report --format perfetto`: one recording as a JSON trace in the Trace
 * Event Format, which ui.perfetto.dev and chrome://tracing open
 * (docs/perfetto.md). Each of the top causes is a trace "process" with a
 * synthetic pid, the rest share one "other causes" process; a process of
 * a cause is a "thread" of it (tid = its real pid) whose lifetime is a
 * slice. Execs, exits, OOM kills, triggers and TCP resets are instant
 * events, the kept TLS handshakes are slices on their process's thread,
 * and every top cause has counter tracks at the timeline interval.
 *
 * Synthetic pids and tids start above PID_MAX_LIMIT (2^22), so they never
 * meet a real one: Perfetto keys threads by tid across the whole trace.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cpumodel.h"
#include "json.h"
#include "log.h"
#include "report.h"
#include "tcpmodel.h"
#include "tlsmodel.h"
#include "version.h"

#define PF_CAUSES 20 /* causes with a process of their own; the rest are grouped */
#define PF_PID_BASE 10000000u /* cause of rank r: PF_PID_BASE + r */
#define PF_PID_OTHER (PF_PID_BASE + PF_CAUSES + 1)
#define PF_PID_HOST (PF_PID_BASE + PF_CAUSES + 2)
#define PF_TID_LANES 20000000u /* threads of overlapping TLS handshakes */
#define PF_THREADS_MAX 50000 /* processes drawn; the later ones are counted */
#define PF_MARKS_MAX 10000 /* exec and exit marks each; OOM kills and triggers always */
#define PF_RESETS_MAX 10000
#define PF_TLS_LANES 32 /* handshakes in flight at once per process */
#define PF_HOST_POINTS 3600 /* host CPU values at most */

/* A process drawn as a thread. */
struct pf_thr {
	const struct proc *p;
	uint32_t tpid; /* the trace process: its cause's */
	uint64_t start, end; /* ns, its lifetime within the recording */
};

/* A kept handshake placed on its process's thread. */
struct pf_hs {
	const struct tls_hs_ent *h;
	const struct pf_thr *t;
	uint64_t start, end;
};

struct pf {
	struct model *m;
	FILE *out;
	struct json_w *w;
	struct pf_thr *thr;
	size_t nthr;
	struct hmap by_proc; /* struct proc * -> struct pf_thr */
	size_t ncauses, threads_omitted;
	size_t marks_omitted[2]; /* exec, exit */
	size_t resets_omitted, tls_unplaced, tls_crowded;
	uint32_t next_tid;
};

/* µs since the recording start, within [0, duration]. */
static double us(const struct pf *f, uint64_t ts)
{
	if (ts > f->m->t_end)
		ts = f->m->t_end;
	return ts > f->m->t0 ? (double)(ts - f->m->t0) / 1e3 : 0;
}

static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Opens one event: name, cat, ph, ts, pid, tid; the caller ends it. */
static void ev_begin(struct pf *f, const char *name, const char *cat, char ph, uint64_t ts,
		     uint32_t pid, uint32_t tid)
{
	char phs[2] = { ph, '\0' };

	fputc('\n', f->out); /* one event per line: still JSON, easier to read */
	json_obj_begin(f->w);
	json_kstr(f->w, "name", name);
	json_kstr(f->w, "cat", cat);
	json_kstr(f->w, "ph", phs);
	json_kdouble(f->w, "ts", us(f, ts));
	json_kuint(f->w, "pid", pid);
	json_kuint(f->w, "tid", tid);
}

/* A metadata event: *_name with a string, *_sort_index with a number. */
static void meta(struct pf *f, const char *what, uint32_t pid, uint32_t tid, const char *name,
		 int64_t index)
{
	fputc('\n', f->out);
	json_obj_begin(f->w);
	json_kstr(f->w, "name", what);
	json_kstr(f->w, "ph", "M");
	json_kuint(f->w, "pid", pid);
	json_kuint(f->w, "tid", tid);
	json_key(f->w, "args");
	json_obj_begin(f->w);
	if (name)
		json_kstr(f->w, "name", name);
	else
		json_kint(f->w, "sort_index", index);
	json_obj_end(f->w);
	json_obj_end(f->w);
}

static void group(struct pf *f, uint32_t pid, const char *name, int64_t index)
{
	meta(f, "process_name", pid, pid, name, 0);
	meta(f, "process_sort_index", pid, pid, NULL, index);
}

static uint32_t cause_pid(size_t rank)
{
	return rank < PF_CAUSES ? PF_PID_BASE + 1 + (uint32_t)rank : PF_PID_OTHER;
}

static void thr_add(struct pf *f, const struct proc *p, uint32_t tpid)
{
	struct pf_thr *t;
	uint64_t end = p->exited && p->exit_ns ? p->exit_ns : f->m->t_end;

	if (f->nthr == PF_THREADS_MAX) {
		f->threads_omitted++;
		return;
	}
	t = &f->thr[f->nthr];
	t->p = p;
	t->tpid = tpid;
	t->start = clamp(p->seen_ns, f->m->t0, f->m->t_end);
	t->end = clamp(end, t->start, f->m->t_end);
	if (hmap_put(&f->by_proc, (uintptr_t)p, t))
		f->threads_omitted++;
	else
		f->nthr++;
}

/* Every process of the ranked causes, top ones first. 0 or -ENOMEM. */
static int threads_build(struct pf *f)
{
	size_t n = f->m->nprocs < PF_THREADS_MAX ? f->m->nprocs : PF_THREADS_MAX, i;
	const struct job *j;

	f->thr = calloc(n + 1, sizeof(*f->thr));
	if (!f->thr)
		return -ENOMEM;
	for (j = f->m->jobs; j && j->nprocs; j = j->next, f->ncauses++)
		for (i = 0; i < j->nprocs; i++)
			thr_add(f, j->procs[i], cause_pid(f->ncauses));
	return 0;
}

static const struct pf_thr *thr_of(const struct pf *f, const struct proc *p)
{
	return p ? hmap_get(&f->by_proc, (uintptr_t)p) : NULL;
}

/* The thread of pid at ts: the newest process of that pid, or an older one it reused. */
static const struct pf_thr *thr_at(const struct pf *f, uint32_t pid, uint64_t ts)
{
	const struct pf_thr *t = thr_of(f, pid ? model_find(f->m, pid) : NULL), *o;
	const struct proc *q;

	if (!t || ts >= t->start)
		return t;
	for (q = f->m->procs; q; q = q->next) {
		o = q->pid == pid ? thr_of(f, q) : NULL;
		if (o && o->start <= ts && ts <= o->end)
			return o;
	}
	return t;
}

static void groups(struct pf *f)
{
	char name[96];
	const struct job *j;
	size_t r = 0;

	for (j = f->m->jobs; j && j->nprocs && r < PF_CAUSES; j = j->next, r++)
		group(f, cause_pid(r), j->name, (int64_t)r + 1);
	if (f->ncauses > PF_CAUSES) {
		snprintf(name, sizeof(name), "other causes (%zu)", f->ncauses - PF_CAUSES);
		group(f, PF_PID_OTHER, name, PF_CAUSES + 1);
	}
	snprintf(name, sizeof(name), "host %s", f->m->host);
	group(f, PF_PID_HOST, name, PF_CAUSES + 2);
}

static void lifetime_args(struct pf *f, const struct proc *p)
{
	const struct job *j = p->job; /* set for every process a cause lists */

	json_key(f->w, "args");
	json_obj_begin(f->w);
	json_kuint(f->w, "pid", p->pid);
	json_kuint(f->w, "ppid", p->ppid);
	json_kstr(f->w, "cause", j ? j->name : NULL);
	if (p->filename && *p->filename)
		json_kstr(f->w, "filename", p->filename);
	json_kbool(f->w, "alive_at_start", p->seeded);
	if (proc_exit_code(p) >= 0)
		json_kint(f->w, "exit_code", proc_exit_code(p));
	else
		json_knull(f->w, "exit_code");
	if (report_has(f->m, "cpu"))
		json_kdouble(f->w, "cpu_s", cpu_proc_s(f->m, p));
	if (report_has(f->m, "mem")) {
		json_kuint(f->w, "rss_peak_bytes", p->mem.rss_peak);
		json_kuint(f->w, "page_faults", p->mem.faults);
		json_kbool(f->w, "oom_killed", p->oom_killed);
	}
	if (p->tls_hs)
		json_kuint(f->w, "tls_handshakes", p->tls_hs);
	json_obj_end(f->w);
}

/* Names, order and lifetime slice of every drawn process. */
static void threads(struct pf *f)
{
	char name[48];
	size_t i, k = 0;

	for (i = 0; i < f->nthr; i++) {
		const struct pf_thr *t = &f->thr[i];

		k = i && t->tpid == f->thr[i - 1].tpid ? k + 1 : 0;
		snprintf(name, sizeof(name), "%s %u", t->p->comm, t->p->pid);
		meta(f, "thread_name", t->tpid, t->p->pid, name, 0);
		meta(f, "thread_sort_index", t->tpid, t->p->pid, NULL, (int64_t)k);
		ev_begin(f, t->p->comm, "process", 'X', t->start, t->tpid, t->p->pid);
		json_kdouble(f->w, "dur", us(f, t->end) - us(f, t->start));
		lifetime_args(f, t->p);
		json_obj_end(f->w);
	}
}

/* Opens an instant event on p's thread (scope s), or the host's (scope "p"). */
static void instant(struct pf *f, const char *name, const char *cat, uint64_t ts,
		    const struct pf_thr *t, const char *s)
{
	if (t)
		ev_begin(f, name, cat, 'i', ts, t->tpid, t->p->pid);
	else
		ev_begin(f, name, cat, 'i', ts, PF_PID_HOST, PF_PID_HOST);
	json_kstr(f->w, "s", t || *s == 'g' ? s : "p");
	json_key(f->w, "args");
	json_obj_begin(f->w);
}

static void instant_end(struct pf *f)
{
	json_obj_end(f->w);
	json_obj_end(f->w);
}

/* exec, exit and trigger marks; OOM kills and resets come from their own lists. */
static void marks(struct pf *f)
{
	static const char *const names[] = { "exec", "exit" };
	size_t i, count[2] = { 0 };

	for (i = 0; i < f->m->nmarks; i++) {
		const struct mark *mk = &f->m->marks[i];
		bool trig = mk->kind == MARK_TRIGGER;

		if (!trig && mk->kind != MARK_EXEC && mk->kind != MARK_EXIT)
			continue;
		if (!trig && count[mk->kind]++ >= PF_MARKS_MAX) {
			f->marks_omitted[mk->kind]++;
			continue;
		}
		instant(f, trig ? "trigger" : names[mk->kind], trig ? "trigger" : "process", mk->ts,
			thr_of(f, mk->p), trig ? "g" : "t");
		json_kuint(f->w, "pid", mk->pid);
		json_kstr(f->w, "detail", mk->detail);
		instant_end(f);
	}
}

/* Every OOM kill, global: a line across the whole trace. */
static void ooms(struct pf *f)
{
	char name[64];
	size_t i;

	for (i = 0; i < f->m->nooms; i++) {
		const struct oom_kill *k = &f->m->ooms[i];

		snprintf(name, sizeof(name), "OOM kill %s[%u]", k->victim_comm, k->victim_pid);
		instant(f, name, "oom", k->ts, thr_of(f, k->victim), "g");
		json_kuint(f->w, "victim_pid", k->victim_pid);
		json_kstr(f->w, "victim_comm", k->victim_comm);
		json_kstr(f->w, "memcg", k->memcg);
		json_kstr(f->w, "cause", k->victim && k->victim->job ? k->victim->job->name : NULL);
		json_kuint(f->w, "anon_rss_bytes", k->anon_rss);
		json_kuint(f->w, "file_rss_bytes", k->file_rss);
		json_kuint(f->w, "shmem_rss_bytes", k->shmem_rss);
		json_kuint(f->w, "trigger_pid", k->trigger_pid);
		json_kstr(f->w, "trigger_comm", k->trigger_comm);
		instant_end(f);
	}
}

static void resets(struct pf *f)
{
	const struct tcp_model *t = f->m->tcp;
	size_t i;

	for (i = 0; t && i < t->nresets; i++) {
		const struct tcp_reset *r = &t->resets[i];

		if (i >= PF_RESETS_MAX) {
			f->resets_omitted = t->nresets - i;
			break;
		}
		instant(f, r->sent ? "TCP reset sent" : "TCP reset received", "tcp", r->ts,
			thr_at(f, r->pid, r->ts), "t");
		json_kuint(f->w, "pid", r->pid);
		json_kstr(f->w, "laddr", r->laddr);
		json_kuint(f->w, "lport", r->lport);
		json_kstr(f->w, "raddr", r->raddr);
		json_kuint(f->w, "rport", r->rport);
		json_kstr(f->w, "state", r->flags & TCP_F_NOSOCK ? NULL : tcp_state_name(r->state));
		report_json_kms(f->w, "idle_ms", r->flags & TCP_F_IDLE, r->idle_rx_ns);
		report_json_kms(f->w, "age_ms", r->flags & TCP_F_AGE, r->age_ns);
		instant_end(f);
	}
}

static const char *tls_name(uint32_t flags)
{
	if (flags & TLS_F_FAILED)
		return "TLS failed";
	if (flags & TLS_F_RENEG)
		return "TLS renegotiation";
	return flags & TLS_F_RESUMED ? "TLS resumed" : "TLS full";
}

static void tls_slice(struct pf *f, const struct pf_hs *s, uint32_t tid)
{
	const struct tls_hs_ent *h = s->h;
	char peer[64];

	ev_begin(f, tls_name(h->flags), "tls", 'X', s->start, s->t->tpid, tid);
	json_kdouble(f->w, "dur", us(f, s->end) - us(f, s->start));
	json_key(f->w, "args");
	json_obj_begin(f->w);
	json_kuint(f->w, "pid", h->pid);
	json_kuint(f->w, "tid", h->tid);
	json_kdouble(f->w, "latency_us",
		     h->ts > h->start_ns && h->start_ns ? (double)(h->ts - h->start_ns) / 1e3 : 0);
	if (h->addr[0]) {
		snprintf(peer, sizeof(peer), strchr(h->addr, ':') ? "[%s]:%u" : "%s:%u", h->addr,
			 h->port);
		json_kstr(f->w, "peer", peer);
	}
	json_obj_end(f->w);
	json_obj_end(f->w);
}

/* A thread for handshakes that overlap those of the process's own thread. */
static uint32_t lane_new(struct pf *f, const struct pf_thr *t, size_t lane)
{
	uint32_t tid = f->next_tid++;
	char name[64];

	snprintf(name, sizeof(name), "%s %u TLS %zu", t->p->comm, t->p->pid, lane + 1);
	meta(f, "thread_name", t->tpid, tid, name, 0);
	meta(f, "thread_sort_index", t->tpid, tid, NULL, 1000000 + (int64_t)lane);
	return tid;
}

/*
 * The handshakes of one process, by start: slices on one thread must nest,
 * so one that overlaps the previous goes to the first free lane.
 */
static void tls_lanes(struct pf *f, const struct pf_hs *v, size_t n)
{
	uint64_t lane_end[PF_TLS_LANES];
	uint32_t lane_tid[PF_TLS_LANES];
	size_t nl = 0, i, k;

	for (i = 0; i < n; i++) {
		for (k = 0; k < nl && lane_end[k] > v[i].start; k++)
			;
		if (k == nl && nl == PF_TLS_LANES) {
			f->tls_crowded++;
			continue;
		}
		if (k == nl)
			lane_tid[nl++] = k ? lane_new(f, v[i].t, k) : v[i].t->p->pid;
		lane_end[k] = v[i].end;
		tls_slice(f, &v[i], lane_tid[k]);
	}
}

static int hs_cmp(const void *a, const void *b)
{
	const struct pf_hs *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->end > y->end ? -1 : x->end < y->end;
}

/* The kept handshakes as slices, within their process's lifetime. 0 or -ENOMEM. */
static int tls(struct pf *f)
{
	const struct tls_model *tm = f->m->tls;
	struct pf_hs *v;
	size_t n = 0, i, k;

	if (!tm || !tm->nhs)
		return 0;
	v = calloc(tm->nhs, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < tm->nhs; i++) {
		const struct tls_hs_ent *h = &tm->hs[i];
		const struct pf_thr *t = thr_at(f, h->pid, h->ts);
		uint64_t start = h->start_ns && h->start_ns < h->ts ? h->start_ns : h->ts;

		if (!t) {
			f->tls_unplaced++;
			continue;
		}
		v[n].h = h;
		v[n].t = t;
		v[n].start = clamp(start, t->start, t->end);
		v[n].end = clamp(h->ts, v[n].start, t->end);
		n++;
	}
	qsort(v, n, sizeof(*v), hs_cmp);
	for (i = 0; i < n; i = k) {
		for (k = i + 1; k < n && v[k].t == v[i].t; k++)
			;
		tls_lanes(f, v + i, k - i);
	}
	free(v);
	return 0;
}

static void counter(struct pf *f, const char *name, uint32_t pid, uint64_t ts, double value)
{
	ev_begin(f, name, "counter", 'C', ts, pid, pid);
	json_key(f->w, "args");
	json_obj_begin(f->w);
	json_kdouble(f->w, "value", value);
	json_obj_end(f->w);
	json_obj_end(f->w);
}

/* The counter tracks of a cause, in this order; RSS and runnable are levels, the rest rates. */
static const char *const pm_names[] = {
	[RS_CPU] = "cpu (cores)",	  [RS_RUNNABLE] = "runnable",	     [RS_RSS] = "rss_bytes",
	[RS_FAULTS] = "faults/s",	  [RS_TLS] = "handshakes/s",	     [RS_TCP] = "resets/s",
	[RS_NET_RX] = "net in (bytes/s)", [RS_NET_TX] = "net out (bytes/s)",
};

/* Counter tracks of the top causes, one value per timeline bucket. 0 or -ENOMEM. */
static int cause_counters(struct pf *f)
{
	double iv = model_interval_s(f->m);
	size_t nb = model_nbuckets(f->m, iv), r = 0, b;
	double *v = calloc(nb, sizeof(*v)), *scratch = calloc(nb, sizeof(*scratch));
	const struct job *j;
	enum report_series k;

	for (j = f->m->jobs; v && scratch && j && j->nprocs && r < PF_CAUSES; j = j->next, r++) {
		for (k = 0; k < ARRAY_SIZE(pm_names); k++) {
			if (!pm_names[k] || !report_series_present(f->m, k))
				continue;
			report_series(f->m, k, j, iv, v, scratch, nb);
			for (b = 0; k != RS_RSS && k != RS_RUNNABLE && b < nb; b++)
				v[b] /= iv; /* per second of the bucket */
			for (b = 0; b < nb; b++)
				counter(f, pm_names[k], cause_pid(r),
					f->m->t0 + (uint64_t)((double)b * iv * 1e9), v[b]);
		}
	}
	free(scratch);
	free(v);
	return v && scratch ? 0 : -ENOMEM;
}

/*
 * Host CPU: busy samples between records times the period, per second; at
 * most PF_HOST_POINTS values (records about each second, merged when more).
 */
static void host_counters(struct pf *f)
{
	const struct cpu_model *c = f->m->cpu;
	uint64_t prev_ts = f->m->t0, prev = 0, step;
	size_t i;

	if (!c || !report_has(f->m, "cpu") || !c->period_ns || f->m->t_end <= f->m->t0)
		return;
	step = (f->m->t_end - f->m->t0) / PF_HOST_POINTS;
	for (i = 0; i < c->host.n; i++) {
		const struct cpu_pt *pt = &c->host.v[i];

		if (pt->ts <= prev_ts || pt->ts - prev_ts < step || pt->v < prev)
			continue;
		counter(f, "cpu busy (cores)", PF_PID_HOST, prev_ts,
			(double)(pt->v - prev) * (double)c->period_ns / (double)(pt->ts - prev_ts));
		prev_ts = pt->ts;
		prev = pt->v;
	}
}

/* The top-level "metadata": the recording, and what the trace left out. */
static void metadata(struct pf *f)
{
	const struct model *m = f->m;
	const struct tls_model *tm = m->tls;
	struct json_w *w = f->w;

	json_key(w, "metadata");
	json_obj_begin(w);
	json_kstr(w, "spiketrace_version", ST_VERSION);
	json_kstr(w, "host", m->host);
	json_kstr(w, "kernel", m->kernel);
	json_kdouble(w, "start_unix_s", (double)m->start_real_ns / 1e9);
	json_kdouble(w, "duration_s", model_time_s(m, m->t_end));
	json_kuint(w, "lost_events", model_lost(m));
	json_kstr(w, "cut_short", m->cut_short ? m->cut_reason : NULL);
	report_json_concerns(w, m);
	json_kdouble(w, "interval_s", model_interval_s(m));
	json_kuint(w, "causes", f->ncauses);
	json_kuint(w, "causes_grouped", f->ncauses > PF_CAUSES ? f->ncauses - PF_CAUSES : 0);
	json_kuint(w, "threads_omitted", f->threads_omitted);
	json_kuint(w, "exec_marks_omitted", f->marks_omitted[MARK_EXEC]);
	json_kuint(w, "exit_marks_omitted", f->marks_omitted[MARK_EXIT]);
	json_kuint(w, "tcp_resets_omitted",
		   f->resets_omitted + (m->tcp ? m->tcp->resets_dropped : 0));
	json_kuint(w, "tls_handshakes_kept", tm ? tm->nhs : 0);
	json_kuint(w, "tls_handshakes_not_kept", tm ? tm->hs_dropped : 0);
	json_kbool(w, "tls_truncated", tm && tm->hs_dropped);
	json_kuint(w, "tls_handshakes_unplaced", f->tls_unplaced + f->tls_crowded);
	json_obj_end(w);
}

static int events(struct pf *f)
{
	int err, err2;

	json_key(f->w, "traceEvents");
	json_arr_begin(f->w);
	groups(f);
	threads(f);
	marks(f);
	ooms(f);
	resets(f);
	err = tls(f);
	err2 = cause_counters(f);
	host_counters(f);
	fputc('\n', f->out);
	json_arr_end(f->w);
	return err ? err : err2;
}

int report_perfetto(struct model *m, FILE *out)
{
	struct pf f = { .m = m, .out = out, .next_tid = PF_TID_LANES };
	int err;

	hmap_init(&f.by_proc);
	f.w = json_new(out, false);
	err = f.w ? threads_build(&f) : -ENOMEM;
	if (!err) {
		json_obj_begin(f.w);
		json_kstr(f.w, "displayTimeUnit", "ms");
		err = events(&f);
		metadata(&f);
		json_obj_end(f.w);
	}
	json_free(f.w);
	hmap_free(&f.by_proc);
	free(f.thr);
	if (err)
		log_err("cannot write the trace: %s", strerror(-err));
	return err || ferror(out) ? 1 : 0;
}
