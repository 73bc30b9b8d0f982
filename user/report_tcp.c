// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The TCP sections of the report (docs/tcp.md): transitions, resets with
 * idle time and where idle-before-reset clusters, remote endpoints and the
 * most recent closed connections.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "concern.h"
#include "json.h"
#include "report.h"
#include "tcpmodel.h"

#define TEXT_ROWS 10
#define JSON_CONNS 200 /* most recent closed connections in tcp.connections */

void report_json_kms(struct json_w *w, const char *k, bool known, uint64_t ns)
{
	if (known)
		json_kdouble(w, k, (double)ns / 1e6);
	else
		json_knull(w, k);
}

static void json_owner(struct json_w *w, struct model *m, uint32_t pid, const char *comm)
{
	struct proc *p = pid ? model_find(m, pid) : NULL;
	struct job *j = p ? model_job_of(m, p) : NULL;

	if (pid)
		json_kuint(w, "pid", pid);
	else
		json_knull(w, "pid");
	json_kstr(w, "comm", comm && comm[0] ? comm : (p ? p->comm : NULL));
	json_kstr(w, "cause", j ? j->name : NULL);
}

void report_json_tcp_reset(struct json_w *w, struct model *m, const struct tcp_reset *r)
{
	json_kdouble(w, "time_s", model_time_s(m, r->ts));
	json_kstr(w, "direction", r->sent ? "sent" : "received");
	json_kuint(w, "family", r->family == AF_INET6 ? 6 : 4);
	json_kstr(w, "laddr", r->laddr);
	json_kuint(w, "lport", r->lport);
	json_kstr(w, "raddr", r->raddr);
	json_kuint(w, "rport", r->rport);
	json_owner(w, m, r->pid, r->comm);
	if (r->flags & TCP_F_NOSOCK)
		json_knull(w, "state"); /* an answer to a packet no socket wanted */
	else
		json_kstr(w, "state", tcp_state_name(r->state));
	report_json_kms(w, "idle_ms", r->flags & TCP_F_IDLE, r->idle_rx_ns);
	report_json_kms(w, "idle_tx_ms", r->flags & TCP_F_IDLE, r->idle_tx_ns);
	report_json_kms(w, "age_ms", r->flags & TCP_F_AGE, r->age_ns);
	json_kuint(w, "rx_bytes", r->rx_bytes);
	json_kuint(w, "tx_bytes", r->tx_bytes);
	if (r->sent)
		json_kuint(w, "reason", r->reason);
}

static const char *conn_dir(uint8_t flags)
{
	if (!(flags & TCP_F_ROLE_KNOWN))
		return NULL;
	return flags & TCP_F_PASSIVE ? "in" : "out";
}

void report_json_tcp_conn(struct json_w *w, struct model *m, const struct tcp_conn *c)
{
	json_owner(w, m, c->pid, c->comm);
	json_kstr(w, "direction", conn_dir(c->flags));
	json_kuint(w, "family", c->family == AF_INET6 ? 6 : 4);
	json_kstr(w, "laddr", c->laddr);
	json_kuint(w, "lport", c->lport);
	json_kstr(w, "raddr", c->raddr);
	json_kuint(w, "rport", c->rport);
	if (c->open_ts)
		json_kdouble(w, "start_s", model_time_s(m, c->open_ts));
	else
		json_knull(w, "start_s"); /* opened before the recording */
	if (c->close_ts)
		json_kdouble(w, "end_s", model_time_s(m, c->close_ts));
	else
		json_knull(w, "end_s");
	report_json_kms(w, "duration_ms", c->open_ts && c->close_ts && !c->end_unseen,
			c->close_ts - c->open_ts);
	json_kbool(w, "end_unseen", c->end_unseen);
	json_kuint(w, "rx_bytes", c->rx_bytes);
	json_kuint(w, "tx_bytes", c->tx_bytes);
	json_kuint(w, "retransmits", c->retrans);
	json_kuint(w, "resets_received", c->resets_rx);
	json_kuint(w, "resets_sent", c->resets_tx);
}

static void json_quant(struct json_w *w, const char *k, const uint32_t *h, uint64_t n)
{
	json_key(w, k);
	if (!n) {
		json_null(w);
		return;
	}
	json_obj_begin(w);
	json_kuint(w, "p50", hist_quantile(h, n, 0.5));
	json_kuint(w, "p90", hist_quantile(h, n, 0.9));
	json_kuint(w, "max", hist_quantile(h, n, 1.0));
	json_obj_end(w);
}

static void json_remote(struct json_w *w, const struct tcp_remote *r)
{
	json_obj_begin(w);
	json_kstr(w, "raddr", r->raddr);
	json_kuint(w, "rport", r->rport);
	json_kuint(w, "lport", r->lport);
	json_kstr(w, "direction", r->inbound ? "in" : "out");
	json_kuint(w, "connections", r->connections);
	json_kuint(w, "closed", r->closed);
	json_kuint(w, "resets_received", r->resets_rx);
	json_kuint(w, "resets_sent", r->resets_tx);
	json_kuint(w, "retransmits", r->retrans);
	json_kuint(w, "rx_bytes", r->rx_bytes);
	json_kuint(w, "tx_bytes", r->tx_bytes);
	json_quant(w, "lifetime_ms", r->life_ms, r->life_n);
	json_quant(w, "reset_idle_ms", r->idle_ms, r->idle_n);
	json_obj_end(w);
}

static void json_transitions(struct json_w *w, const struct tcp_model *t)
{
	unsigned int a, b;

	json_key(w, "transitions_by_state");
	json_arr_begin(w);
	for (a = 0; a < TCP_ST_NR; a++)
		for (b = 0; b < TCP_ST_NR; b++) {
			if (!t->trans[a * TCP_ST_NR + b])
				continue;
			json_obj_begin(w);
			json_kstr(w, "from", tcp_state_name(a));
			json_kstr(w, "to", tcp_state_name(b));
			json_kuint(w, "count", t->trans[a * TCP_ST_NR + b]);
			json_obj_end(w);
		}
	json_arr_end(w);
}

/* Non-empty buckets of idle-before-reset, and the cluster: the evidence of a timeout. */
static void json_idle(struct json_w *w, const struct tcp_model *t)
{
	struct tcp_cluster c;
	unsigned int b;

	json_key(w, "reset_idle");
	json_obj_begin(w);
	json_kuint(w, "resets", t->idle_n);
	json_kuint(w, "p50_ms", hist_quantile(t->idle_ms, t->idle_n, 0.5));
	json_key(w, "histogram");
	json_arr_begin(w);
	for (b = 0; b < HIST_BUCKETS; b++) {
		if (!t->idle_ms[b])
			continue;
		json_obj_begin(w);
		json_kuint(w, "ge_ms", hist_lo(b));
		json_kuint(w, "lt_ms", hist_hi(b));
		json_kuint(w, "count", t->idle_ms[b]);
		json_obj_end(w);
	}
	json_arr_end(w);
	json_key(w, "cluster");
	if (tcp_reset_cluster(t, &c)) {
		json_obj_begin(w);
		json_kuint(w, "idle_ms", c.idle_ms);
		json_kuint(w, "lo_ms", c.lo_ms);
		json_kuint(w, "hi_ms", c.hi_ms);
		json_kuint(w, "resets", c.n);
		json_kdouble(w, "share", (double)c.n / c.total);
		json_kuint(w, "min_ms", c.min_ms);
		json_kuint(w, "max_ms", c.max_ms);
		json_kuint(w, "below_floor", c.below);
		json_obj_end(w);
	} else {
		json_null(w);
	}
	json_obj_end(w);
}

static void json_lists(struct json_w *w, struct model *m, struct tcp_model *t)
{
	const struct tcp_remote *r;
	const struct tcp_conn *c;
	size_t i;

	json_key(w, "by_remote");
	json_arr_begin(w);
	for (r = t->rlist; r; r = r->next)
		if (!tcp_remote_empty(r))
			json_remote(w, r);
	json_arr_end(w);
	json_key(w, "resets");
	json_arr_begin(w);
	for (i = 0; i < t->nresets; i++) {
		json_obj_begin(w);
		report_json_tcp_reset(w, m, &t->resets[i]);
		json_obj_end(w);
	}
	json_arr_end(w);
	json_kuint(w, "resets_dropped", t->resets_dropped);
	json_key(w, "connections");
	json_arr_begin(w);
	for (i = 0; i < JSON_CONNS && (c = tcp_model_closed(t, i)); i++) {
		json_obj_begin(w);
		report_json_tcp_conn(w, m, c);
		json_obj_end(w);
	}
	json_arr_end(w);
}

void report_json_tcp(struct json_w *w, struct model *m)
{
	struct tcp_model empty = { 0 }, *t = m->tcp ? m->tcp : &empty;

	tcp_model_sort(t);
	json_key(w, "tcp");
	json_obj_begin(w);
	json_kuint(w, "transitions", tcp_model_transitions(t));
	json_kuint(w, "transition_records", t->records);
	json_kbool(w, "exact_counts", t->have_counts);
	json_kuint(w, "resets_received", tcp_model_resets(t, false));
	json_kuint(w, "resets_sent", tcp_model_resets(t, true));
	json_kuint(w, "retransmits", t->retrans);
	json_kuint(w, "connections_closed", t->nclosed);
	json_kuint(w, "connections_open", t->live.len);
	json_kuint(w, "gaps", t->gaps);
	json_kuint(w, "ends_unseen", t->ends_unseen);
	json_transitions(w, t);
	json_idle(w, t);
	json_lists(w, m, t);
	if (m->concerns & concern_net.bit)
		report_json_net_talkers(w, m);
	json_obj_end(w);
}

static void endpoint(char *buf, size_t len, const char *addr, unsigned int port)
{
	snprintf(buf, len, strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr, port);
}

static void text_remotes(FILE *out, const struct tcp_model *t)
{
	const struct tcp_remote *r;
	char ep[64];
	int rows = 0;

	fprintf(out, " %-34s %3s %6s %6s %6s %9s %9s %9s\n", "REMOTE", "DIR", "CONNS", "RST_RX",
		"RST_TX", "RETRANS", "LIFE_P50", "IDLE@RST");
	for (r = t->rlist; r && rows < TEXT_ROWS; r = r->next) {
		char life[16] = "-", idle[16] = "-";

		if (tcp_remote_empty(r))
			continue;
		rows++;

		if (r->inbound)
			snprintf(ep, sizeof(ep), "%s -> :%u", r->raddr, r->lport);
		else
			endpoint(ep, sizeof(ep), r->raddr, r->rport);
		if (r->life_n)
			snprintf(life, sizeof(life), "%llums",
				 (unsigned long long)hist_quantile(r->life_ms, r->life_n, 0.5));
		if (r->idle_n)
			snprintf(idle, sizeof(idle), "%llums",
				 (unsigned long long)hist_quantile(r->idle_ms, r->idle_n, 0.5));
		fprintf(out, " %-34.34s %3s %6llu %6llu %6llu %9llu %9s %9s\n", ep,
			r->inbound ? "in" : "out", (unsigned long long)r->connections,
			(unsigned long long)r->resets_rx, (unsigned long long)r->resets_tx,
			(unsigned long long)r->retrans, life, idle);
	}
	if (t->nremotes > TEXT_ROWS)
		fprintf(out, " ... %zu more endpoints (report --format json has them all)\n",
			t->nremotes - TEXT_ROWS);
}

static void text_resets(FILE *out, struct model *m, const struct tcp_model *t)
{
	struct tcp_cluster c;
	size_t i, first;
	char ep[64];

	/* The evidence of an idle timeout: resets cluster, and none comes sooner. */
	if (tcp_reset_cluster(t, &c))
		fprintf(out,
			" %llu of %llu resets after 1 s or more idle came after %.1f s (%.1f-%.1f s),\n"
			" none before %.1f s: an idle timeout on the path (load balancer, NAT, "
			"firewall)?\n",
			(unsigned long long)c.n, (unsigned long long)c.total, c.idle_ms / 1e3,
			c.lo_ms / 1e3, c.hi_ms / 1e3, c.min_ms / 1e3);
	if (c.below)
		fprintf(out, " %llu resets came less than 1 s after traffic (aborts, refusals)\n",
			(unsigned long long)c.below);
	first = t->nresets > TEXT_ROWS ? t->nresets - TEXT_ROWS : 0;
	fprintf(out, " %-9s %-4s %-7s %-15s %-27s %-11s %9s %9s\n", "TIME(s)", "DIR", "PID", "COMM",
		"REMOTE", "STATE", "IDLE(ms)", "AGE(ms)");
	for (i = first; i < t->nresets; i++) {
		const struct tcp_reset *r = &t->resets[i];
		char idle[16] = "-", age[16] = "-";

		endpoint(ep, sizeof(ep), r->raddr, r->rport);
		if (r->flags & TCP_F_IDLE)
			snprintf(idle, sizeof(idle), "%.0f", r->idle_rx_ns / 1e6);
		if (r->flags & TCP_F_AGE)
			snprintf(age, sizeof(age), "%.0f", r->age_ns / 1e6);
		fprintf(out, " %-9.3f %-4s %-7u %-15.15s %-27.27s %-11s %9s %9s\n",
			model_time_s(m, r->ts), r->sent ? "sent" : "rcvd", r->pid,
			r->comm[0] ? r->comm : "-", ep,
			r->flags & TCP_F_NOSOCK ? "-" : tcp_state_name(r->state), idle, age);
	}
	if (first)
		fprintf(out, " (the last %d of %zu resets shown)\n", TEXT_ROWS, t->nresets);
}

void report_text_tcp(struct model *m, FILE *out)
{
	struct tcp_model *t = m->tcp;
	char a[128], b[128];
	int n;

	if (!t || !report_has(m, "tcp"))
		return;
	tcp_model_sort(t);
	fprintf(out, "\nTCP (docs/tcp.md)\n");
	n = snprintf(a, sizeof(a), " %llu transitions, %llu connections closed, %zu open;",
		     (unsigned long long)tcp_model_transitions(t), (unsigned long long)t->nclosed,
		     t->live.len);
	snprintf(b, sizeof(b), " resets: %llu received, %llu sent; %llu retransmits",
		 (unsigned long long)tcp_model_resets(t, false),
		 (unsigned long long)tcp_model_resets(t, true), (unsigned long long)t->retrans);
	/* one line while it fits 100 columns */
	fprintf(out, "%s%s%s\n", a, n + strlen(b) > 100 ? "\n" : "", b);
	if (t->gaps || t->ends_unseen)
		fprintf(out,
			" gaps: %llu records did not start where their socket was left, %llu"
			" connections ended unseen\n   (records lost, or kernel work no BPF program"
			" sees: docs/tcp.md)\n",
			(unsigned long long)t->gaps, (unsigned long long)t->ends_unseen);
	if (t->nresets)
		text_resets(out, m, t);
	if (t->rlist)
		text_remotes(out, t);
	report_text_net_talkers(m, out);
}
