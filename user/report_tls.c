// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The TLS sections of the report: per process and per client (docs/tls.md). */
#include <stdio.h>

#include "json.h"
#include "report.h"
#include "tlsmodel.h"

#define TEXT_ROWS 10

static const char *const phase_keys[TLS_PH_NR] = {
	[TLS_PH_NONE] = "outside_handshakes",
	[TLS_PH_HANDSHAKE] = "other",
	[TLS_PH_KX] = "key_exchange",
	[TLS_PH_SIG] = "signature",
	[TLS_PH_RNG] = "rng",
};

static uint64_t total_samples(const struct tls_proc *p)
{
	uint64_t n = 0;
	unsigned int ph;

	for (ph = 0; ph < TLS_PH_NR; ph++)
		n += p->samples[ph];
	return n;
}

static double total_cpu_s(const struct tls_proc *p)
{
	return (double)total_samples(p) * p->period_ns / 1e9;
}

void report_json_tls_id(struct json_w *w, struct model *m, const struct tls_proc *t)
{
	struct proc *p = model_find(m, t->pid);
	struct job *j = p ? model_job_of(m, p) : NULL;

	json_kuint(w, "pid", t->pid);
	json_kstr(w, "comm", t->comm[0] ? t->comm : (p ? p->comm : NULL));
	json_kstr(w, "cause", j ? j->name : NULL);
	json_kstr(w, "lib", t->lib);
}

static void json_proc(struct json_w *w, struct model *m, const struct tls_proc *t)
{
	unsigned int ph;

	json_obj_begin(w);
	report_json_tls_id(w, m, t);
	json_kuint(w, "handshakes", t->handshakes);
	json_kuint(w, "full", t->full);
	json_kuint(w, "resumed", t->resumed);
	json_kdouble(w, "reuse_rate", t->handshakes ? (double)t->resumed / t->handshakes : 0);
	json_kuint(w, "failed", t->failed);
	json_kuint(w, "renegotiations", t->reneg);
	json_kuint(w, "peak_handshakes_per_s", tls_proc_peak_rate(t));
	json_key(w, "latency_us");
	json_obj_begin(w);
	json_kuint(w, "p50", tls_proc_lat_q(t, 0.50));
	json_kuint(w, "p90", tls_proc_lat_q(t, 0.90));
	json_kuint(w, "p99", tls_proc_lat_q(t, 0.99));
	json_kuint(w, "max", tls_proc_lat_q(t, 1.0));
	json_obj_end(w);
	json_kdouble(w, "cpu_s", total_cpu_s(t));
	json_key(w, "cpu_by_phase");
	json_obj_begin(w);
	for (ph = TLS_PH_HANDSHAKE; ph < TLS_PH_NR; ph++)
		json_kdouble(w, phase_keys[ph], tls_proc_cpu_s(t, ph));
	json_kdouble(w, phase_keys[TLS_PH_NONE], tls_proc_cpu_s(t, TLS_PH_NONE));
	json_obj_end(w);
	json_kuint(w, "cpu_samples", total_samples(t));
	json_obj_end(w);
}

void report_json_tls(struct json_w *w, struct model *m)
{
	struct tls_model *t = m->tls;
	const struct tls_proc *p;
	const struct tls_client *c;
	size_t i;

	json_key(w, "tls");
	json_obj_begin(w);
	json_key(w, "libraries");
	json_arr_begin(w);
	for (i = 0; t && i < 256; i++) {
		if (!t->libs[i])
			continue;
		json_obj_begin(w);
		json_kstr(w, "path", t->libs[i]);
		json_kbool(w, "static", t->lib_static[i]);
		json_obj_end(w);
	}
	json_arr_end(w);
	if (t)
		tls_model_sort(t);
	json_key(w, "processes");
	json_arr_begin(w);
	for (p = t ? t->plist : NULL; p; p = p->next)
		if (p->handshakes || p->failed)
			json_proc(w, m, p);
	json_arr_end(w);
	json_key(w, "clients");
	json_arr_begin(w);
	for (c = t ? t->clist : NULL; c; c = c->next) {
		json_obj_begin(w);
		json_kstr(w, "addr", c->addr);
		json_kuint(w, "handshakes", c->handshakes);
		json_kuint(w, "renegotiations", c->reneg);
		json_kuint(w, "failed", c->failed);
		json_obj_end(w);
	}
	json_arr_end(w);
	json_obj_end(w);
}

static double pct(double part, double whole)
{
	return whole > 0 ? 100.0 * part / whole : 0;
}

static void text_proc(FILE *out, const struct tls_proc *t)
{
	double cpu = total_cpu_s(t);

	fprintf(out, " %-7u %-15.15s %6llu %6u %6llu %6llu %5.0f%% %5llu %5llu %7llu %7llu\n",
		t->pid, t->comm, (unsigned long long)t->handshakes, tls_proc_peak_rate(t),
		(unsigned long long)t->full, (unsigned long long)t->resumed,
		pct(t->resumed, t->handshakes), (unsigned long long)t->reneg,
		(unsigned long long)t->failed, (unsigned long long)tls_proc_lat_q(t, 0.5),
		(unsigned long long)tls_proc_lat_q(t, 0.99));
	if (cpu <= 0)
		return;
	fprintf(out,
		"         cpu %.2f s: key exchange %.0f%%, signature %.0f%%, rng %.0f%%, "
		"other handshake %.0f%%, outside %.0f%%\n",
		cpu, pct(tls_proc_cpu_s(t, TLS_PH_KX), cpu),
		pct(tls_proc_cpu_s(t, TLS_PH_SIG), cpu), pct(tls_proc_cpu_s(t, TLS_PH_RNG), cpu),
		pct(tls_proc_cpu_s(t, TLS_PH_HANDSHAKE), cpu),
		pct(tls_proc_cpu_s(t, TLS_PH_NONE), cpu));
}

void report_text_tls(struct model *m, FILE *out)
{
	struct tls_model *t = m->tls;
	const struct tls_proc *p;
	const struct tls_client *c;
	int rows = 0;

	if (!t || !t->plist)
		return;
	tls_model_sort(t);
	fprintf(out, "\nTLS HANDSHAKES (OpenSSL; docs/tls.md)\n");
	fprintf(out, " %-7s %-15s %6s %5s %6s %6s %6s %5s %5s %7s %7s\n", "PID", "COMM", "HS",
		"PEAK/s", "FULL", "RESUMD", "REUSE", "RENEG", "FAIL", "P50(us)", "P99(us)");
	for (p = t->plist; p && rows < TEXT_ROWS; p = p->next)
		if (p->handshakes || p->failed) {
			text_proc(out, p);
			rows++;
		}
	if (!t->clist)
		return;
	fprintf(out, " %-39s %6s %5s %5s\n", "CLIENT (peer of a server)", "HS", "RENEG", "FAIL");
	for (rows = 0, c = t->clist; c && rows < TEXT_ROWS; c = c->next, rows++)
		fprintf(out, " %-39.39s %6llu %5llu %5llu\n", c->addr,
			(unsigned long long)c->handshakes, (unsigned long long)c->reneg,
			(unsigned long long)c->failed);
	if (t->nclients > TEXT_ROWS)
		fprintf(out, " ... %zu more clients (report --format json has them all)\n",
			t->nclients - TEXT_ROWS);
}
