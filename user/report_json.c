// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `report --format json`: the keys of ../shared/CLI.md (docs/json.md). */
#include <stdlib.h>

#include "concern.h"
#include "cpumodel.h"
#include "json.h"
#include "netmodel.h"
#include "report.h"
#include "windows.h"

static const char *const mark_names[] = { "exec", "exit", "oom_kill", "reset", "trigger" };

static void opt_time(struct json_w *w, const char *k, const struct model *m, uint64_t ts)
{
	if (ts)
		json_kdouble(w, k, model_time_s(m, ts));
	else
		json_knull(w, k);
}

void report_json_cause_id(struct json_w *w, const struct job *j)
{
	json_kstr(w, "name", j->name);
	json_kstr(w, "cgroup", j->cgroup);
	if (j->root)
		json_kuint(w, "root_pid", j->root->pid);
	else
		json_knull(w, "root_pid");
	json_kstr(w, "root_comm", j->root ? j->root->comm : NULL);
}

void report_json_concerns(struct json_w *w, const struct model *m)
{
	size_t i;

	json_key(w, "concerns");
	json_arr_begin(w);
	for (i = 0; i < nconcerns; i++)
		if (m->concerns & concerns[i]->bit)
			json_str(w, concerns[i]->name);
	json_arr_end(w);
}

void report_json_lineage(struct json_w *w, struct model *m, const struct job *j)
{
	const struct proc *chain[64];
	struct proc *leaf = job_deepest(j);
	size_t n = leaf ? model_lineage(m, leaf, chain, 64) : 0, i;

	json_key(w, "lineage");
	json_arr_begin(w);
	for (i = 0; i < n; i++)
		json_str(w, chain[i]->comm);
	json_arr_end(w);
}

static void cause(struct json_w *w, struct model *m, const struct job *j)
{
	size_t i;

	json_obj_begin(w);
	report_json_cause_id(w, j);
	json_key(w, "pids");
	json_arr_begin(w);
	for (i = 0; i < j->nprocs; i++)
		json_uint(w, j->procs[i]->pid);
	json_arr_end(w);
	json_kuint(w, "execs", j->execs);
	json_kuint(w, "max_concurrency", j->max_concurrency);
	if (m->concerns & concern_cpu.bit) {
		json_kdouble(w, "cpu_s", j->cpu_s);
		json_kdouble(w, "run_delay_s", j->run_delay_s);
	}
	if (m->concerns & concern_by_name("mem")->bit) {
		json_kuint(w, "page_faults", j->page_faults);
		json_kuint(w, "rss_peak_bytes", j->rss_peak);
		json_kuint(w, "rss_growth_bytes", j->rss_growth);
		json_kuint(w, "oom_kills", j->oom_kills);
		json_kdouble(w, "reclaim_s", (double)j->reclaim_ns / 1e9);
	}
	if (m->concerns & concern_by_name("tls")->bit) {
		json_kuint(w, "tls_handshakes", j->tls_handshakes);
		json_kdouble(w, "tls_cpu_s", j->tls_cpu_s);
	}
	if (m->concerns & concern_by_name("tcp")->bit) {
		json_kuint(w, "tcp_connections", j->tcp_connections);
		json_kuint(w, "tcp_resets", j->tcp_resets);
	}
	if (m->concerns & concern_net.bit) {
		json_kuint(w, "net_rx_bytes", j->net_rx);
		json_kuint(w, "net_tx_bytes", j->net_tx);
	}
	json_kdouble(w, "score", j->score);
	report_json_lineage(w, m, j);
	json_obj_end(w);
}

static void process(struct json_w *w, struct model *m, struct proc *p)
{
	struct job *j = model_job_of(m, p);

	json_obj_begin(w);
	json_kuint(w, "pid", p->pid);
	json_kuint(w, "ppid", p->ppid);
	json_kstr(w, "comm", p->comm);
	json_kstr(w, "filename", p->filename && *p->filename ? p->filename : NULL);
	json_kstr(w, "cgroup", proc_cgroup(p));
	json_kstr(w, "cause", j ? j->name : NULL);
	opt_time(w, "start_s", m, p->seen_ns);
	opt_time(w, "exit_s", m, p->exit_ns);
	if (proc_exit_code(p) >= 0)
		json_kint(w, "exit_code", proc_exit_code(p));
	else
		json_knull(w, "exit_code");
	json_kuint(w, "execs", p->execs);
	if (m->concerns & concern_cpu.bit)
		json_kdouble(w, "cpu_s", cpu_proc_s(m, p));
	if (m->concerns & concern_by_name("mem")->bit) {
		json_kuint(w, "page_faults", p->mem.faults);
		json_kuint(w, "rss_peak_bytes", p->mem.rss_peak);
		json_kuint(w, "rss_growth_bytes",
			   p->mem.rss_peak > p->mem.rss_first ? p->mem.rss_peak - p->mem.rss_first :
								0);
		json_kuint(w, "anon_rss_bytes", p->mem.rss_anon);
		json_kuint(w, "file_rss_bytes", p->mem.rss_file);
		json_kuint(w, "shmem_rss_bytes", p->mem.rss_shmem);
		json_kdouble(w, "reclaim_s", (double)p->mem.reclaim_ns / 1e9);
		json_kbool(w, "oom_killed", p->oom_killed);
	}
	if (m->concerns & concern_net.bit) {
		json_kuint(w, "net_rx_bytes", p->net_rx);
		json_kuint(w, "net_tx_bytes", p->net_tx);
	}
	json_obj_end(w);
}

static void marks(struct json_w *w, const struct model *m)
{
	size_t i;

	json_key(w, "marks");
	json_arr_begin(w);
	for (i = 0; i < m->nmarks; i++) {
		const struct mark *mk = &m->marks[i];

		json_obj_begin(w);
		json_kdouble(w, "time_s", model_time_s(m, mk->ts));
		json_kstr(w, "kind", mark_names[mk->kind]);
		json_kuint(w, "pid", mk->pid);
		json_kstr(w, "detail", mk->detail);
		json_obj_end(w);
	}
	json_arr_end(w);
}

#define SERIES_CAUSES 20

static void one_series(struct json_w *w, const struct job *j, const char *metric, const double *v,
		       size_t nb)
{
	size_t i;

	json_obj_begin(w);
	json_kstr(w, "cause", j->name);
	json_kstr(w, "metric", metric);
	json_key(w, "values");
	json_arr_begin(w);
	for (i = 0; i < nb; i++)
		json_double(w, v[i]);
	json_arr_end(w);
	json_obj_end(w);
}

/* One series per metric for the top causes (the rest are in "processes"). */
static void series(struct json_w *w, const struct model *m)
{
	double iv = model_interval_s(m);
	size_t nb = model_nbuckets(m, iv), n = 0;
	const struct job *j;
	double *v = calloc(nb, sizeof(*v)), *rss = calloc(nb, sizeof(*rss));

	json_key(w, "series");
	json_arr_begin(w);
	for (j = m->jobs; v && rss && j && j->nprocs && n < SERIES_CAUSES; j = j->next, n++) {
		model_series_execs(m, j, iv, v, nb);
		one_series(w, j, "execs", v, nb);
		if (m->concerns & concern_by_name("tls")->bit) {
			model_series_tls(m, j, iv, v, nb);
			one_series(w, j, "tls_handshakes", v, nb);
		}
		if (m->concerns & concern_by_name("tcp")->bit) {
			model_series_tcp(m, j, iv, v, nb);
			one_series(w, j, "tcp_resets", v, nb);
		}
		if (m->concerns & concern_cpu.bit) {
			model_series_cpu(m, j, iv, v, nb);
			one_series(w, j, "cpu_s", v, nb);
			model_series_conc(m, j, iv, v, nb);
			one_series(w, j, "runnable", v, nb);
		}
		if (m->concerns & concern_net.bit) {
			model_series_net(m, j, iv, v, rss, nb);
			one_series(w, j, "net_rx_bytes", v, nb);
			one_series(w, j, "net_tx_bytes", rss, nb);
		}
		if (!(m->concerns & concern_by_name("mem")->bit))
			continue;
		model_series_mem(m, j, iv, v, rss, nb);
		one_series(w, j, "page_faults", v, nb);
		one_series(w, j, "rss_bytes", rss, nb);
	}
	json_arr_end(w);
	free(v);
	free(rss);
}

#define MAX_WINDOWS 64

/* Which cause dominated each stretch of time (docs/causes.md#windows). */
static void windows(struct json_w *w, struct model *m)
{
	struct window v[MAX_WINDOWS];
	size_t n = model_windows(m, v, MAX_WINDOWS), i;

	json_key(w, "windows");
	json_arr_begin(w);
	for (i = 0; i < n; i++) {
		json_obj_begin(w);
		json_kdouble(w, "start_s", v[i].start_s);
		json_kdouble(w, "end_s", v[i].end_s);
		json_kstr(w, "cause", v[i].job->name);
		json_kstr(w, "metric", win_metric_name(v[i].metric));
		json_kdouble(w, "value", v[i].value);
		json_kdouble(w, "share", v[i].share);
		json_kuint(w, "oom_kills", v[i].oom_kills);
		json_obj_end(w);
	}
	json_arr_end(w);
}

void report_json_oom(struct json_w *w, const struct model *m, const struct oom_kill *k)
{
	json_kdouble(w, "time_s", model_time_s(m, k->ts));
	json_kuint(w, "victim_pid", k->victim_pid);
	json_kstr(w, "victim_comm", k->victim_comm[0] ? k->victim_comm : NULL);
	json_kstr(w, "memcg", k->memcg);
	json_kstr(w, "cgroup", k->cgroup);
	json_kstr(w, "cause", k->victim && k->victim->job ? k->victim->job->name : NULL);
	json_kuint(w, "total_vm_bytes", k->total_vm);
	json_kuint(w, "anon_rss_bytes", k->anon_rss);
	json_kuint(w, "file_rss_bytes", k->file_rss);
	json_kuint(w, "shmem_rss_bytes", k->shmem_rss);
	json_kuint(w, "pgtables_bytes", k->pgtables);
	json_kuint(w, "uid", k->uid);
	json_kint(w, "oom_score_adj", k->oom_score_adj);
	json_kuint(w, "trigger_pid", k->trigger_pid);
	json_kstr(w, "trigger_comm", k->trigger_comm);
}

static void oom_kills(struct json_w *w, const struct model *m)
{
	size_t i;

	json_key(w, "oom_kills");
	json_arr_begin(w);
	for (i = 0; i < m->nooms; i++) {
		const struct oom_kill *k = &m->ooms[i];

		json_obj_begin(w);
		report_json_oom(w, m, k);
		json_obj_end(w);
	}
	json_arr_end(w);
}

void report_json(struct model *m, FILE *out)
{
	struct json_w *w = json_new(out, true);
	struct proc *p;
	struct job *j;

	if (!w)
		return;
	json_obj_begin(w);
	json_kuint(w, "version", 1);
	json_kdouble(w, "duration_s", model_time_s(m, m->t_end));
	json_kuint(w, "lost_events", model_lost(m));
	json_kbool(w, "complete", !m->cut_short);
	json_kstr(w, "cut_short", m->cut_short ? m->cut_reason : NULL);
	json_kstr(w, "host", m->host);
	json_kstr(w, "kernel", m->kernel);
	json_kdouble(w, "start_unix_s", (double)m->start_real_ns / 1e9);
	json_key(w, "causes");
	json_arr_begin(w);
	for (j = m->jobs; j && j->nprocs; j = j->next)
		cause(w, m, j);
	json_arr_end(w);
	json_key(w, "processes");
	json_arr_begin(w);
	for (p = m->procs; p; p = p->next)
		if (proc_active(p))
			process(w, m, p);
	json_arr_end(w);
	if (m->concerns & concern_by_name("mem")->bit)
		oom_kills(w, m);
	if (m->concerns & concern_by_name("tls")->bit)
		report_json_tls(w, m);
	if (m->concerns & concern_by_name("tcp")->bit)
		report_json_tcp(w, m);
	if (m->concerns & concern_cpu.bit)
		report_json_cpu(w, m);
	if (m->concerns & concern_net.bit)
		report_json_net(w, m);
	json_key(w, "timeline");
	json_obj_begin(w);
	json_kdouble(w, "interval_s", model_interval_s(m));
	series(w, m);
	marks(w, m);
	windows(w, m);
	json_obj_end(w);
	json_obj_end(w);
	json_free(w);
}
