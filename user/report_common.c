// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What several report formats (and top) share: whether a concern was
 * recorded, the per-cause series of the timelines, figures for people.
 */
#include <stdio.h>

#include "concern.h"
#include "cpumodel.h"
#include "netmodel.h"
#include "report.h"
#include "windows.h"

bool report_has(const struct model *m, const char *concern)
{
	const struct concern *c = concern_by_name(concern);

	return c && (m->concerns & c->bit);
}

bool report_series_present(const struct model *m, enum report_series k)
{
	switch (k) {
	case RS_CPU:
		return report_has(m, "cpu");
	case RS_RUNNABLE:
		return report_has(m, "cpu") && m->cpu && m->cpu->sched;
	case RS_RSS:
	case RS_FAULTS:
	case RS_RSS_HELD:
		return report_has(m, "mem");
	case RS_TLS:
		return report_has(m, "tls");
	case RS_TCP:
		return report_has(m, "tcp");
	case RS_NET_RX:
	case RS_NET_TX:
		return report_has(m, "net");
	default:
		return report_has(m, "proc");
	}
}

void report_series(const struct model *m, enum report_series k, const struct job *j, double iv,
		   double *v, double *scratch, size_t nb)
{
	switch (k) {
	case RS_CPU:
		model_series_cpu(m, j, iv, v, nb);
		break;
	case RS_RUNNABLE:
		model_series_conc(m, j, iv, v, nb);
		break;
	case RS_RSS:
		model_series_mem(m, j, iv, scratch, v, nb);
		break;
	case RS_FAULTS:
		model_series_mem(m, j, iv, v, scratch, nb);
		break;
	case RS_TLS:
		model_series_tls(m, j, iv, v, nb);
		break;
	case RS_TCP:
		model_series_tcp(m, j, iv, v, nb);
		break;
	case RS_RSS_HELD:
		model_series_rss_held(m, j, iv, v, scratch, nb);
		break;
	case RS_NET_RX:
		model_series_net(m, j, iv, v, scratch, nb);
		break;
	case RS_NET_TX:
		model_series_net(m, j, iv, scratch, v, nb);
		break;
	default:
		model_series_execs(m, j, iv, v, nb);
	}
}

const char *report_bytes(uint64_t b, char *buf, size_t len)
{
	static const char units[] = "BKMGTP";
	double x = (double)b;
	int u = 0;

	while (x >= 1024 && u < 5) {
		x /= 1024;
		u++;
	}
	/* 9.95 and up rounds to 10: no decimal then, "10K" not "10.0K" */
	snprintf(buf, len, u && x < 9.95 ? "%.1f%c" : "%.0f%c", x, units[u]);
	return buf;
}

const char *report_bytes_d(double b, char *buf, size_t len)
{
	/* A cast of a double past UINT64_MAX is undefined: a corrupt recording can hold one. */
	if (!(b > 0))
		return report_bytes(0, buf, len);
	return report_bytes(b >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)b, buf, len);
}

const char *report_count(double x, char *buf, size_t len)
{
	if (x > 0 && x < 9.95 && x != (double)(uint64_t)x)
		snprintf(buf, len, "%.1f", x);
	else if (x < 9999.5)
		snprintf(buf, len, "%.0f", x);
	else if (x < 999500)
		snprintf(buf, len, "%.0fk", x / 1e3);
	else
		snprintf(buf, len, "%.1fM", x / 1e6);
	return buf;
}
