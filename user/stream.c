// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "report.h"
#include "stream.h"
#include "tcpmodel.h"
#include "tlsmodel.h"

void stream_lineage(FILE *out, struct model *m, struct proc *p, const char *sep)
{
	const struct proc *chain[64];
	size_t n = model_lineage(m, p, chain, 64), i;

	for (i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? sep : "", chain[i]->comm);
}

static void json_args(struct json_w *w, const struct proc *p)
{
	uint32_t off = 0;

	json_arr_begin(w);
	while (p->args && off < p->args_len) {
		size_t n = strnlen(p->args + off, p->args_len - off);

		json_strn(w, p->args + off, n);
		off += n + 1;
	}
	json_arr_end(w);
}

static void json_exec(struct stream *s, struct json_w *w, const struct mev *ev)
{
	const struct proc *p = ev->p, *chain[64];
	size_t n = model_lineage(s->m, ev->p, chain, 64), i;
	struct job *j = model_job_of(s->m, ev->p);

	json_kuint(w, "ppid", p->ppid);
	json_kuint(w, "uid", p->uid);
	json_kstr(w, "comm", p->comm);
	json_kstr(w, "filename", p->filename);
	json_key(w, "args");
	json_args(w, p);
	json_kstr(w, "cgroup", proc_cgroup(p));
	json_kstr(w, "cgroup_v2", p->cg_v2);
	json_kstr(w, "memcg", p->cg_mem);
	json_key(w, "lineage");
	json_arr_begin(w);
	for (i = 0; i < n; i++)
		json_str(w, chain[i]->comm);
	json_arr_end(w);
	json_kstr(w, "job", j ? j->name : NULL);
}

static double duration_ms(const struct proc *p)
{
	if (!p->start_ns || p->exit_ns < p->start_ns)
		return -1;
	return (double)(p->exit_ns - p->start_ns) / 1e6;
}

static void json_line(struct stream *s, const struct mev *ev)
{
	static const char *const kinds[] = { "fork", "exec", "exit" };
	struct json_w *w = json_new(s->out, false);
	const struct proc *p = ev->p;

	if (!w)
		return;
	json_obj_begin(w);
	json_kstr(w, "type", kinds[ev->kind]);
	json_kdouble(w, "time_s", model_time_s(s->m, ev->ts));
	json_kuint(w, "pid", p->pid);
	if (ev->kind == MEV_EXEC) {
		json_exec(s, w, ev);
	} else if (ev->kind == MEV_EXIT) {
		json_kstr(w, "comm", p->comm);
		json_kint(w, "exit_code", proc_exit_code(p));
		if (proc_exit_signal(p))
			json_kint(w, "exit_signal", proc_exit_signal(p));
		else
			json_knull(w, "exit_signal");
		if (duration_ms(p) >= 0)
			json_kdouble(w, "duration_ms", duration_ms(p));
		else
			json_knull(w, "duration_ms");
	} else {
		json_kuint(w, "ppid", p->ppid);
		json_kstr(w, "comm", p->comm);
	}
	json_obj_end(w);
	json_free(w);
}

static void text_args(FILE *out, const struct proc *p)
{
	uint32_t off = 0;

	while (p->args && off < p->args_len) {
		size_t n = strnlen(p->args + off, p->args_len - off);

		fprintf(out, "%s%.*s", off ? " " : "", (int)n, p->args + off);
		off += n + 1;
	}
}

static void text_line(struct stream *s, const struct mev *ev)
{
	const struct proc *p = ev->p;

	if (!s->header_done) {
		fprintf(s->out, "%-9s %-5s %-7s %-7s %-16s %s\n", "TIME(s)", "EVENT", "PID", "PPID",
			"COMM", "DETAIL");
		s->header_done = true;
	}
	if (ev->kind == MEV_FORK)
		return; /* forks are implied by the exec/exit lines; JSON has them */
	fprintf(s->out, "%-9.3f %-5s %-7u %-7u %-16s ", model_time_s(s->m, ev->ts),
		ev->kind == MEV_EXEC ? "exec" : "exit", p->pid, p->ppid, p->comm);
	if (ev->kind == MEV_EXEC) {
		stream_lineage(s->out, s->m, ev->p, ">");
		fputs("  ", s->out);
		text_args(s->out, p);
	} else if (proc_exit_signal(p)) {
		fprintf(s->out, "killed by signal %d after %.0f ms", proc_exit_signal(p),
			duration_ms(p));
	} else {
		fprintf(s->out, "exit %d after %.0f ms", proc_exit_code(p), duration_ms(p));
	}
	fputc('\n', s->out);
}

static void oom_line(struct stream *s, const struct mev *ev)
{
	const struct oom_kill *k = ev->oom;
	struct json_w *w;

	if (!s->json) {
		fprintf(s->out,
			"%-9.3f OOM KILL %s[%u] memcg %s anon %llu MiB file %llu MiB "
			"shmem %llu MiB; allocating: %s[%u]\n",
			model_time_s(s->m, k->ts), k->victim_comm, k->victim_pid,
			k->memcg ? k->memcg : "?", (unsigned long long)(k->anon_rss >> 20),
			(unsigned long long)(k->file_rss >> 20),
			(unsigned long long)(k->shmem_rss >> 20), k->trigger_comm, k->trigger_pid);
		return;
	}
	w = json_new(s->out, false);
	if (!w)
		return;
	json_obj_begin(w);
	json_kstr(w, "type", "oom_kill");
	report_json_oom(w, s->m, k);
	json_obj_end(w);
	json_free(w);
}

#define MEM_TABLE_ROWS 10

bool stream_table_due(struct stream *s, uint64_t now, double *elapsed)
{
	uint64_t period = (uint64_t)(s->interval_s * 1e9);

	if (!s->next_table)
		s->next_table = s->last_table = s->m->t0;
	/* Half a tick of slack: ticks come each second, give or take. */
	if (now + 500000000ULL < s->next_table + period)
		return false;
	s->next_table += period;
	*elapsed = (double)(now - s->last_table) / 1e9;
	s->last_table = now;
	model_finalize(s->m, now);
	return true;
}

void stream_mem_tick(void *ctx, uint64_t now)
{
	struct stream *s = ctx;
	struct job *j;
	int rows = 0;
	double elapsed;

	if (!stream_table_due(s, now, &elapsed))
		return;
	if (!s->json)
		fprintf(s->out, "\n%-9.3f %-30s %10s %10s %10s %10s %3s\n", model_time_s(s->m, now),
			"JOB", "RSS", "PEAK", "GROWTH", "FAULTS/s", "OOM");
	for (j = s->m->jobs; j && j->nprocs && rows < MEM_TABLE_ROWS; j = j->next, rows++) {
		uint64_t prev = (uint64_t)(uintptr_t)hmap_get(&s->prev_faults, (uintptr_t)j);
		double fps = (double)(j->page_faults - (prev ? prev - 1 : 0)) / elapsed;
		struct json_w *w;

		hmap_put(&s->prev_faults, (uintptr_t)j, (void *)(uintptr_t)(j->page_faults + 1));
		if (!s->json) {
			fprintf(s->out, "%-9s %-30.30s %9lluM %9lluM %9lluM %10.0f %3u\n", "",
				j->name, (unsigned long long)(job_rss_now(j) >> 20),
				(unsigned long long)(j->rss_peak >> 20),
				(unsigned long long)(j->rss_growth >> 20), fps, j->oom_kills);
			continue;
		}
		w = json_new(s->out, false);
		if (!w)
			return;
		json_obj_begin(w);
		json_kstr(w, "type", "mem");
		json_kdouble(w, "time_s", model_time_s(s->m, now));
		json_kstr(w, "cause", j->name);
		json_kuint(w, "rss_bytes", job_rss_now(j));
		json_kuint(w, "rss_peak_bytes", j->rss_peak);
		json_kuint(w, "rss_growth_bytes", j->rss_growth);
		json_kuint(w, "page_faults", j->page_faults);
		json_kdouble(w, "faults_per_s", fps);
		json_kuint(w, "oom_kills", j->oom_kills);
		json_obj_end(w);
		json_free(w);
	}
	fflush(s->out);
}

static const char *tls_kind(uint32_t f)
{
	if (f & TLS_F_FAILED)
		return "FAILED";
	if (f & TLS_F_RENEG)
		return f & TLS_F_RESUMED ? "reneg-resumed" : "reneg";
	return f & TLS_F_RESUMED ? "resumed" : "full";
}

/* One line per handshake; never anything of the payload. */
static void tls_line(struct stream *s, const struct mev *ev)
{
	const struct tls_event *e = ev->tls;
	double lat = e->ts > e->start_ns ? (double)(e->ts - e->start_ns) / 1e3 : 0;
	char peer[64] = "";
	struct json_w *w;

	if (e->addr[0])
		snprintf(peer, sizeof(peer), strchr(e->addr, ':') ? "[%s]:%u" : "%s:%u", e->addr,
			 e->port);
	if (!s->json) {
		if (!s->header_done) {
			fprintf(s->out, "%-9s %-7s %-16s %-22s %10s %s\n", "TIME(s)", "PID", "COMM",
				"PEER", "LAT(us)", "KIND");
			s->header_done = true;
		}
		fprintf(s->out, "%-9.3f %-7u %-16s %-22s %10.0f %s\n", model_time_s(s->m, e->ts),
			e->pid, e->comm, peer[0] ? peer : "-", lat, tls_kind(e->flags));
		return;
	}
	w = json_new(s->out, false);
	if (!w)
		return;
	json_obj_begin(w);
	json_kstr(w, "type", "tls_handshake");
	json_kdouble(w, "time_s", model_time_s(s->m, e->ts));
	json_kuint(w, "pid", e->pid);
	json_kuint(w, "tid", e->tid);
	json_kstr(w, "comm", e->comm);
	json_kstr(w, "peer", peer[0] ? peer : NULL);
	json_kdouble(w, "latency_us", lat);
	json_kbool(w, "resumed", !!(e->flags & TLS_F_RESUMED));
	json_kbool(w, "renegotiation", !!(e->flags & TLS_F_RENEG));
	json_kbool(w, "ok", !(e->flags & TLS_F_FAILED));
	json_kbool(w, "implicit", !!(e->flags & TLS_F_IMPLICIT));
	if (e->flags & TLS_F_ROLE_KNOWN)
		json_kstr(w, "role", e->flags & TLS_F_SERVER ? "server" : "client");
	else
		json_knull(w, "role");
	json_obj_end(w);
	json_free(w);
}

static void tcp_endpoint(char *buf, size_t len, const char *addr, unsigned int port)
{
	snprintf(buf, len, strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr, port);
}

static void tcp_text_head(struct stream *s, uint64_t ts, uint32_t pid, const char *comm,
			  const char *laddr, uint16_t lport, const char *raddr, uint16_t rport)
{
	char l[64], r[64];

	if (!s->header_done) {
		fprintf(s->out, "%-9s %-7s %-15s %-23s %-23s %s\n", "TIME(s)", "PID", "COMM",
			"LOCAL", "REMOTE", "EVENT");
		s->header_done = true;
	}
	tcp_endpoint(l, sizeof(l), laddr, lport);
	tcp_endpoint(r, sizeof(r), raddr, rport);
	fprintf(s->out, "%-9.3f %-7u %-15.15s %-23s %-23s ", model_time_s(s->m, ts), pid,
		comm[0] ? comm : "-", l, r);
}

static void tcp_text(struct stream *s, const struct tcp_event *e, const struct tcp_conn *c)
{
	if (!e) {
		/* No record showed its end: the tables did, when we stopped. */
		tcp_text_head(s, c->close_ts, c->pid, c->comm, c->laddr, c->lport, c->raddr,
			      c->rport);
		fprintf(s->out, "ended unseen in %s\n", tcp_state_name(c->state));
		return;
	}
	tcp_text_head(s, e->ts, e->pid, e->comm, e->laddr, e->lport, e->raddr, e->rport);
	if (e->reset) {
		fprintf(s->out, "RESET %s in %s", e->flags & TCP_F_SENT ? "sent" : "received",
			e->flags & TCP_F_NOSOCK ? "no socket" : tcp_state_name(e->old));
		if (e->flags & TCP_F_IDLE)
			fprintf(s->out, ", idle %.0f ms", e->idle_rx_ns / 1e6);
		if (e->flags & TCP_F_AGE)
			fprintf(s->out, ", age %.0f ms", e->age_ns / 1e6);
	} else {
		fprintf(s->out, "%s -> %s", tcp_state_name(e->old), tcp_state_name(e->new));
		if (e->flags & TCP_F_IN_OLD)
			fprintf(s->out, " after %.3f ms", e->ns_in_old / 1e6);
	}
	if (c && c->end_unseen)
		fprintf(s->out,
			"; the last connection at this socket (%s:%u -> %s:%u) ended unseen in %s",
			c->laddr, c->lport, c->raddr, c->rport, tcp_state_name(c->state));
	else if (c)
		fprintf(s->out, "; closed: rx %llu B tx %llu B, %u retransmits",
			(unsigned long long)c->rx_bytes, (unsigned long long)c->tx_bytes,
			c->retrans);
	fputc('\n', s->out);
}

static void tcp_json_state(struct stream *s, struct json_w *w, const struct tcp_event *e)
{
	char id[24];

	json_kstr(w, "type", "tcp_state");
	json_kdouble(w, "time_s", model_time_s(s->m, e->ts));
	if (e->pid)
		json_kuint(w, "pid", e->pid);
	else
		json_knull(w, "pid");
	json_kstr(w, "comm", e->comm[0] ? e->comm : NULL);
	json_kuint(w, "family", e->family == 10 ? 6 : 4);
	json_kstr(w, "laddr", e->laddr);
	json_kuint(w, "lport", e->lport);
	json_kstr(w, "raddr", e->raddr);
	json_kuint(w, "rport", e->rport);
	json_kstr(w, "old", tcp_state_name(e->old));
	json_kstr(w, "new", tcp_state_name(e->new));
	if (e->flags & TCP_F_IN_OLD)
		json_kdouble(w, "ms_in_old", e->ns_in_old / 1e6);
	else
		json_knull(w, "ms_in_old");
	if (e->flags & TCP_F_AGE)
		json_kdouble(w, "age_ms", e->age_ns / 1e6);
	else
		json_knull(w, "age_ms");
	if (e->flags & TCP_F_ROLE_KNOWN)
		json_kstr(w, "direction", e->flags & TCP_F_PASSIVE ? "in" : "out");
	else
		json_knull(w, "direction");
	json_kuint(w, "netns", e->netns);
	/* A string: jq reads numbers as doubles, and ids past 2^53 would merge. */
	snprintf(id, sizeof(id), "%016llx", (unsigned long long)e->sk);
	json_kstr(w, "sock", id);
}

static void tcp_json_event(struct stream *s, const struct tcp_event *e)
{
	struct json_w *w = json_new(s->out, false);
	struct tcp_reset r;

	if (!w)
		return;
	json_obj_begin(w);
	if (e->reset) {
		tcp_reset_from_event(&r, e);
		json_kstr(w, "type", "tcp_reset");
		report_json_tcp_reset(w, s->m, &r);
	} else {
		tcp_json_state(s, w, e);
	}
	json_obj_end(w);
	json_free(w);
}

static void tcp_json_close(struct stream *s, const struct tcp_conn *c)
{
	struct json_w *w = json_new(s->out, false);

	if (!w)
		return;
	json_obj_begin(w);
	json_kstr(w, "type", "tcp_close");
	json_kdouble(w, "time_s", model_time_s(s->m, c->close_ts));
	report_json_tcp_conn(w, s->m, c);
	json_obj_end(w);
	json_free(w);
}

/* A transition or reset, then the connection it closed; no event: an unseen end. */
static void tcp_json(struct stream *s, const struct tcp_event *e, const struct tcp_conn *c)
{
	if (e)
		tcp_json_event(s, e);
	if (c)
		tcp_json_close(s, c);
}

void stream_free(struct stream *s)
{
	hmap_free(&s->prev_faults);
	hmap_free(&s->prev_cpu);
	hmap_free_all(&s->prev_net);
}

void stream_event(void *ctx, const struct mev *ev)
{
	struct stream *s = ctx;

	if (ev->kind == MEV_OOM || ev->kind == MEV_TLS || ev->kind == MEV_TCP) {
		if (ev->kind == MEV_OOM)
			oom_line(s, ev);
		else if (ev->kind == MEV_TLS && s->tls)
			tls_line(s, ev);
		else if (ev->kind == MEV_TCP && s->tcp && s->json)
			tcp_json(s, ev->tcp, ev->tcp_closed);
		else if (ev->kind == MEV_TCP && s->tcp)
			tcp_text(s, ev->tcp, ev->tcp_closed);
		fflush(s->out);
		return;
	}
	if (!s->procs)
		return;
	if (s->json)
		json_line(s, ev);
	else
		text_line(s, ev);
	fflush(s->out);
}
