// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `report --format html`: one self-contained page for the person on call.
 * The page is a fixed skeleton, the style and script of user/html/ (built
 * into the binary, below) and one JSON document with the data, which the
 * script renders: ranked causes, a CPU flame graph, a timeline per metric
 * and the OOM, TLS and TCP tables. Every name from a process reaches the
 * page only inside that JSON, with '<', '>' and '&' written as \u escapes,
 * so no comm or path can end the <script> element it sits in.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cpumodel.h"
#include "json.h"
#include "log.h"
#include "report.h"
#include "stacks.h"
#include "tcpmodel.h"
#include "tlsmodel.h"

/*
 * user/html/report.css and report.js, NUL-terminated, in .rodata. The
 * paths are relative to the top of the tree, where make runs the compiler;
 * the Makefile makes this object depend on both files.
 */
__asm__(".pushsection .rodata,\"a\",@progbits\n"
	".balign 16\n"
	".globl st_html_css\n"
	".hidden st_html_css\n"
	".type st_html_css, @object\n"
	"st_html_css:\n"
	".incbin \"user/html/report.css\"\n"
	".byte 0\n"
	".size st_html_css, . - st_html_css\n"
	".balign 16\n"
	".globl st_html_js\n"
	".hidden st_html_js\n"
	".type st_html_js, @object\n"
	"st_html_js:\n"
	".incbin \"user/html/report.js\"\n"
	".byte 0\n"
	".size st_html_js, . - st_html_js\n"
	".popsection\n");

extern const char st_html_css[] __attribute__((visibility("hidden")));
extern const char st_html_js[] __attribute__((visibility("hidden")));

#define TIMELINE_CAUSES 8 /* lines per chart; the rest are left out */
#define MARKS_MAX 200 /* exec, exit and reset marks are drawn only when fewer */
#define TCP_RESETS_SHOWN 100

static const char *const mark_names[] = { "exec", "exit", "oom_kill", "reset", "trigger" };

/* A FILE that writes JSON into a <script> element: <, > and & as \u escapes. */
struct esc {
	FILE *out;
	int err; /* the first write error's errno: a full disk says so, not EIO */
};

static ssize_t esc_write(void *cookie, const char *buf, size_t len)
{
	struct esc *e = cookie;
	size_t i, run = 0;

	for (i = 0; i < len; i++) {
		if (buf[i] != '<' && buf[i] != '>' && buf[i] != '&')
			continue;
		if (fwrite(buf + run, 1, i - run, e->out) < i - run ||
		    fprintf(e->out, "\\u%04x", (unsigned int)buf[i]) < 0)
			goto fail;
		run = i + 1;
	}
	if (fwrite(buf + run, 1, len - run, e->out) == len - run && !ferror(e->out))
		return (ssize_t)len;
fail:
	if (!e->err)
		e->err = errno ? errno : EIO;
	return -1;
}

static FILE *script_json(struct esc *e)
{
	cookie_io_functions_t io = { .write = esc_write };

	return fopencookie(e, "w", io);
}

/* Text for an HTML element (the title): markup characters as entities. */
static void html_text(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", out);
		else if (*s == '>')
			fputs("&gt;", out);
		else if (*s == '&')
			fputs("&amp;", out);
		else if (*s == '"')
			fputs("&quot;", out);
		else if ((unsigned char)*s >= 0x20)
			fputc(*s, out);
	}
}

static void header(struct json_w *w, const struct model *m)
{
	json_kuint(w, "version", 1);
	json_kstr(w, "host", m->host);
	json_kstr(w, "kernel", m->kernel);
	json_kdouble(w, "start_unix_s", (double)m->start_real_ns / 1e9);
	json_kdouble(w, "duration_s", model_time_s(m, m->t_end));
	json_kuint(w, "lost_events", model_lost(m));
	json_key(w, "lost");
	json_obj_begin(w);
	json_kuint(w, "kernel", m->lost_bpf);
	json_kuint(w, "decode", m->lost_decode);
	json_kuint(w, "model", m->lost_user);
	json_obj_end(w);
	json_kstr(w, "cut_short", m->cut_short ? m->cut_reason : NULL);
	report_json_concerns(w, m);
}

/* The concern columns of one cause; absent keys are columns not shown. */
static void cause_metrics(struct json_w *w, const struct model *m, const struct job *j)
{
	if (report_has(m, "cpu")) {
		json_kdouble(w, "cpu_s", j->cpu_s);
		json_kuint(w, "conc", j->max_concurrency);
		json_kdouble(w, "run_delay_s", j->run_delay_s);
	}
	if (report_has(m, "mem")) {
		json_kuint(w, "rss_peak", j->rss_peak);
		json_kuint(w, "rss_growth", j->rss_growth);
		json_kuint(w, "faults", j->page_faults);
		json_kuint(w, "ooms", j->oom_kills);
	}
	if (report_has(m, "tls"))
		json_kuint(w, "tls_hs", j->tls_handshakes);
	if (report_has(m, "tcp"))
		json_kuint(w, "tcp_resets", j->tcp_resets);
	if (report_has(m, "net")) {
		json_kuint(w, "net_rx", j->net_rx);
		json_kuint(w, "net_tx", j->net_tx);
	}
}

static void causes(struct json_w *w, struct model *m)
{
	const struct job *j;

	json_key(w, "causes");
	json_arr_begin(w);
	for (j = m->jobs; j && j->nprocs; j = j->next) {
		json_obj_begin(w);
		report_json_cause_id(w, j);
		json_kuint(w, "procs", j->nprocs);
		json_kuint(w, "execs", j->execs);
		cause_metrics(w, m, j);
		report_json_lineage(w, m, j);
		json_obj_end(w);
	}
	json_arr_end(w);
}

static void cpu_stats(struct json_w *w, const struct model *m)
{
	const struct cpu_model *c = m->cpu;

	json_key(w, "cpu");
	if (!c) {
		json_null(w);
		return;
	}
	json_obj_begin(w);
	json_kuint(w, "period_ns", c->period_ns);
	json_kuint(w, "samples", c->samples);
	json_kuint(w, "idle", c->idle);
	json_kuint(w, "profiled", c->profiled);
	json_kuint(w, "unknown", c->unknown);
	json_kuint(w, "truncated", c->truncated);
	json_kbool(w, "sched", c->sched);
	json_obj_end(w);
}

/* The profile as names[] and stacks[] of [count, ncause, id...], root first. */
static void flame_stacks(struct json_w *w, const struct stackset *s)
{
	size_t i, k;

	json_kuint(w, "period_ns", s->period_ns);
	json_kuint(w, "total", s->total);
	json_key(w, "names");
	json_arr_begin(w);
	for (i = 0; i < s->nnames; i++)
		json_str(w, s->names[i]);
	json_arr_end(w);
	json_key(w, "stacks");
	json_arr_begin(w);
	for (i = 0; i < s->n; i++) {
		json_arr_begin(w);
		json_uint(w, s->v[i].count);
		json_uint(w, s->v[i].ncause);
		for (k = 0; k < s->v[i].nframes; k++)
			json_uint(w, s->v[i].frames[k]);
		json_arr_end(w);
	}
	json_arr_end(w);
}

static int flame(struct json_w *w, struct model *m)
{
	struct stackset s;
	int err;

	stackset_init(&s, 0);
	err = model_profile(m, NULL, &s);
	json_key(w, "flame");
	if (err || !s.total) {
		json_null(w);
	} else {
		json_obj_begin(w);
		flame_stacks(w, &s);
		json_obj_end(w);
	}
	stackset_free(&s);
	return err;
}

/* The causes drawn in the timeline: the top ones, in rank order. */
static size_t top_causes(const struct model *m, const struct job **top)
{
	const struct job *j;
	size_t n = 0;

	for (j = m->jobs; j && j->nprocs && n < TIMELINE_CAUSES; j = j->next)
		top[n++] = j;
	return n;
}

/* The report's timeline series, in this order. */
static const char *const metric_names[] = {
	[RS_CPU] = "cpu_s",	     [RS_RUNNABLE] = "runnable",   [RS_RSS] = "rss_bytes",
	[RS_FAULTS] = "page_faults", [RS_TLS] = "tls_handshakes",  [RS_TCP] = "tcp_resets",
	[RS_EXECS] = "execs",	     [RS_NET_RX] = "net_rx_bytes", [RS_NET_TX] = "net_tx_bytes",
};

static void doubles(struct json_w *w, const double *v, size_t n)
{
	size_t i;

	json_arr_begin(w);
	for (i = 0; i < n; i++)
		json_double(w, v[i]);
	json_arr_end(w);
}

static int metrics(struct json_w *w, const struct model *m, double iv, size_t nb)
{
	const struct job *top[TIMELINE_CAUSES];
	size_t n = top_causes(m, top), i;
	double *v = calloc(nb, sizeof(*v)), *scratch = calloc(nb, sizeof(*scratch));
	enum report_series k;

	json_key(w, "metrics");
	json_arr_begin(w);
	for (k = 0; v && scratch && k < ARRAY_SIZE(metric_names); k++) {
		if (!metric_names[k] || !report_series_present(m, k))
			continue;
		json_obj_begin(w);
		json_kstr(w, "name", metric_names[k]);
		json_key(w, "values");
		json_arr_begin(w);
		for (i = 0; i < n; i++) {
			report_series(m, k, top[i], iv, v, scratch, nb);
			doubles(w, v, nb);
		}
		json_arr_end(w);
		json_obj_end(w);
	}
	json_arr_end(w);
	free(scratch);
	free(v);
	return v && scratch ? 0 : -ENOMEM;
}

/* OOM kills and triggers always; the other kinds when there are few. */
static bool mark_drawn(uint32_t kind, const size_t *count)
{
	if (kind >= ARRAY_SIZE(mark_names))
		return false;
	return kind == MARK_OOM || kind == MARK_TRIGGER || count[kind] < MARKS_MAX;
}

static void marks(struct json_w *w, struct model *m)
{
	size_t count[ARRAY_SIZE(mark_names)] = { 0 }, i;

	for (i = 0; i < m->nmarks; i++)
		if (m->marks[i].kind < ARRAY_SIZE(mark_names))
			count[m->marks[i].kind]++;
	json_key(w, "marks");
	json_arr_begin(w);
	for (i = 0; i < m->nmarks; i++) {
		const struct mark *mk = &m->marks[i];
		struct job *j = mk->p ? model_job_of(m, mk->p) : NULL;

		if (!mark_drawn(mk->kind, count))
			continue;
		json_arr_begin(w);
		json_double(w, model_time_s(m, mk->ts));
		json_str(w, mark_names[mk->kind]);
		json_uint(w, mk->pid);
		json_str(w, mk->detail);
		json_str(w, j ? j->name : NULL);
		json_arr_end(w);
	}
	json_arr_end(w);
	json_key(w, "marks_omitted");
	json_obj_begin(w);
	for (i = 0; i < ARRAY_SIZE(mark_names); i++)
		if (count[i] && !mark_drawn(i, count))
			json_kuint(w, mark_names[i], count[i]);
	json_obj_end(w);
}

static int timeline(struct json_w *w, struct model *m)
{
	const struct job *top[TIMELINE_CAUSES];
	double iv = model_interval_s(m);
	size_t nb = model_nbuckets(m, iv), n = top_causes(m, top), i;
	int err;

	json_key(w, "timeline");
	json_obj_begin(w);
	json_kdouble(w, "interval_s", iv);
	json_kuint(w, "buckets", nb);
	json_key(w, "causes");
	json_arr_begin(w);
	for (i = 0; i < n; i++)
		json_str(w, top[i]->name);
	json_arr_end(w);
	err = metrics(w, m, iv, nb);
	marks(w, m);
	json_obj_end(w);
	return err;
}

static void oom_kills(struct json_w *w, const struct model *m)
{
	size_t i;

	json_key(w, "ooms");
	json_arr_begin(w);
	for (i = 0; i < m->nooms; i++) {
		json_obj_begin(w);
		report_json_oom(w, m, &m->ooms[i]);
		json_obj_end(w);
	}
	json_arr_end(w);
}

static void tls_phases(struct json_w *w, const struct tls_proc *t)
{
	json_key(w, "cpu_by_phase");
	json_obj_begin(w);
	json_kdouble(w, "key_exchange", tls_proc_cpu_s(t, TLS_PH_KX));
	json_kdouble(w, "signature", tls_proc_cpu_s(t, TLS_PH_SIG));
	json_kdouble(w, "rng", tls_proc_cpu_s(t, TLS_PH_RNG));
	json_kdouble(w, "other", tls_proc_cpu_s(t, TLS_PH_HANDSHAKE));
	json_kdouble(w, "outside", tls_proc_cpu_s(t, TLS_PH_NONE));
	json_obj_end(w);
}

static void tls_proc(struct json_w *w, struct model *m, const struct tls_proc *t)
{
	json_obj_begin(w);
	report_json_tls_id(w, m, t);
	json_kuint(w, "handshakes", t->handshakes);
	json_kuint(w, "full", t->full);
	json_kuint(w, "resumed", t->resumed);
	json_kuint(w, "failed", t->failed);
	json_kuint(w, "renegotiations", t->reneg);
	json_kuint(w, "peak_per_s", tls_proc_peak_rate(t));
	json_kuint(w, "p50_us", tls_proc_lat_q(t, 0.50));
	json_kuint(w, "p99_us", tls_proc_lat_q(t, 0.99));
	tls_phases(w, t);
	json_obj_end(w);
}

static void tls(struct json_w *w, struct model *m)
{
	const struct tls_proc *t;

	if (m->tls)
		tls_model_sort(m->tls);
	json_key(w, "tls");
	json_arr_begin(w);
	for (t = m->tls ? m->tls->plist : NULL; t; t = t->next)
		if (t->handshakes || t->failed)
			tls_proc(w, m, t);
	json_arr_end(w);
}

static void tcp_reset(struct json_w *w, struct model *m, const struct tcp_reset *r)
{
	struct proc *p = r->pid ? model_find(m, r->pid) : NULL;
	struct job *j = p ? model_job_of(m, p) : NULL;

	json_obj_begin(w);
	json_kdouble(w, "time_s", model_time_s(m, r->ts));
	json_kstr(w, "direction", r->sent ? "sent" : "received");
	json_kstr(w, "laddr", r->laddr);
	json_kuint(w, "lport", r->lport);
	json_kstr(w, "raddr", r->raddr);
	json_kuint(w, "rport", r->rport);
	json_kuint(w, "pid", r->pid);
	json_kstr(w, "comm", r->comm[0] ? r->comm : (p ? p->comm : NULL));
	json_kstr(w, "cause", j ? j->name : NULL);
	json_kstr(w, "state", r->flags & TCP_F_NOSOCK ? NULL : tcp_state_name(r->state));
	report_json_kms(w, "idle_ms", r->flags & TCP_F_IDLE, r->idle_rx_ns);
	report_json_kms(w, "age_ms", r->flags & TCP_F_AGE, r->age_ns);
	json_obj_end(w);
}

/* Where idle-before-reset clusters: the evidence of an idle timeout. */
static void tcp_cluster(struct json_w *w, const struct tcp_model *t)
{
	struct tcp_cluster c;

	json_key(w, "cluster");
	if (!tcp_reset_cluster(t, &c)) {
		json_null(w);
		return;
	}
	json_obj_begin(w);
	json_kuint(w, "idle_ms", c.idle_ms);
	json_kuint(w, "lo_ms", c.lo_ms);
	json_kuint(w, "hi_ms", c.hi_ms);
	json_kuint(w, "resets", c.n);
	json_kuint(w, "total", c.total);
	json_kuint(w, "min_ms", c.min_ms);
	json_obj_end(w);
}

static void tcp(struct json_w *w, struct model *m)
{
	struct tcp_model empty = { 0 }, *t = m->tcp ? m->tcp : &empty;
	size_t i;

	json_key(w, "tcp");
	json_obj_begin(w);
	json_kuint(w, "transitions", tcp_model_transitions(t));
	json_kuint(w, "resets_received", tcp_model_resets(t, false));
	json_kuint(w, "resets_sent", tcp_model_resets(t, true));
	json_kuint(w, "resets_kept", t->nresets);
	tcp_cluster(w, t);
	json_key(w, "resets");
	json_arr_begin(w);
	for (i = 0; i < t->nresets && i < TCP_RESETS_SHOWN; i++)
		tcp_reset(w, m, &t->resets[i]);
	json_arr_end(w);
	json_obj_end(w);
}

/* The data document; 0 or -ENOMEM (the page still parses, with less in it). */
static int data(FILE *out, struct model *m)
{
	struct json_w *w = json_new(out, false);
	int err, err2;

	if (!w)
		return -ENOMEM;
	json_obj_begin(w);
	header(w, m);
	causes(w, m);
	cpu_stats(w, m);
	err = flame(w, m);
	err2 = timeline(w, m);
	if (report_has(m, "mem"))
		oom_kills(w, m);
	if (report_has(m, "tls"))
		tls(w, m);
	if (report_has(m, "tcp"))
		tcp(w, m);
	json_obj_end(w);
	json_free(w);
	return err ? err : err2;
}

/* Runs before anything else: the errors of the page, for people and tests. */
static const char page_errors_js[] =
	"window.spiketrace={errors:[]};"
	"window.onerror=function(msg,src,line,col){"
	"window.spiketrace.errors.push(String(msg)+' at '+line+':'+col);};"
	"window.addEventListener('unhandledrejection',function(e){"
	"window.spiketrace.errors.push('unhandled rejection: '+String(e.reason));});";

static const char page_body[] =
	"<body>\n"
	"<noscript><p class=\"noscript\">This report is drawn by JavaScript, which is off. "
	"<code>spiketrace report FILE</code> prints the same in a terminal.</p></noscript>\n"
	"<div id=\"app\"></div>\n";

static void page_head(FILE *out, const struct model *m)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<meta name=\"generator\" content=\"spiketrace\">\n<title>spiketrace: ",
	      out);
	html_text(out, m->host[0] ? m->host : "report");
	fputs("</title>\n<style>\n", out);
	fputs(st_html_css, out);
	fputs("</style>\n<script>", out);
	fputs(page_errors_js, out);
	fputs("</script>\n</head>\n", out);
}

int report_html(struct model *m, FILE *out)
{
	struct esc esc = { .out = out };
	FILE *js;
	int err;

	page_head(out, m);
	fputs(page_body, out);
	fputs("<script type=\"application/json\" id=\"st-data\">", out);
	js = script_json(&esc);
	if (!js) {
		log_err("out of memory writing the report");
		return 1;
	}
	errno = 0;
	err = data(js, m);
	if (fclose(js) && !err)
		err = -(esc.err ? esc.err : EIO);
	fputs("</script>\n<script>\n", out);
	fputs(st_html_js, out);
	fputs("</script>\n</body>\n</html>\n", out);
	if (err)
		log_err("cannot write the HTML report: %s", strerror(-err));
	return err || ferror(out) ? 1 : 0;
}
