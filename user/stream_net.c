// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `spiketrace net`: a per-job table of bytes received and sent (docs/net.md). */
#include <stdint.h>
#include <stdlib.h>

#include "json.h"
#include "report.h"
#include "stream.h"

#define NET_TABLE_ROWS 10

struct net_prev {
	uint64_t rx, tx;
};

struct net_row {
	const struct job *j;
	double rx_s, tx_s;
};

static void row_json(struct stream *s, const struct net_row *r, uint64_t now)
{
	struct json_w *w = json_new(s->out, false);

	if (!w)
		return;
	json_obj_begin(w);
	json_kstr(w, "type", "net");
	json_kdouble(w, "time_s", model_time_s(s->m, now));
	json_kstr(w, "cause", r->j->name);
	json_kstr(w, "cgroup", r->j->cgroup);
	json_kdouble(w, "rx_bytes_per_s", r->rx_s);
	json_kdouble(w, "tx_bytes_per_s", r->tx_s);
	json_kuint(w, "net_rx_bytes", r->j->net_rx);
	json_kuint(w, "net_tx_bytes", r->j->net_tx);
	json_obj_end(w);
	json_free(w);
}

static int row_cmp(const void *a, const void *b)
{
	const struct net_row *x = a, *y = b;
	double sx = x->rx_s + x->tx_s, sy = y->rx_s + y->tx_s;

	return sx != sy ? (sx > sy ? -1 : 1) : 0;
}

/* Rates since the last table of every job that moved bytes in the interval. */
static size_t collect(struct stream *s, double elapsed, struct net_row **out)
{
	struct net_row *v = NULL;
	const struct job *j;
	size_t n = 0, cap = 0;

	for (j = s->m->jobs; j && j->nprocs; j = j->next) {
		struct net_prev *p = hmap_get(&s->prev_net, (uintptr_t)j);
		uint64_t drx, dtx;

		if (!p && !(p = hmap_put_new(&s->prev_net, (uintptr_t)j, sizeof(*p))))
			continue;
		drx = j->net_rx - p->rx;
		dtx = j->net_tx - p->tx;
		p->rx = j->net_rx;
		p->tx = j->net_tx;
		if (!drx && !dtx)
			continue;
		if (n == cap) {
			struct net_row *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));

			if (!nv)
				break;
			v = nv;
		}
		v[n++] = (struct net_row){ j, elapsed > 0 ? (double)drx / elapsed : 0,
					   elapsed > 0 ? (double)dtx / elapsed : 0 };
	}
	if (n)
		qsort(v, n, sizeof(*v), row_cmp);
	*out = v;
	return n;
}

void stream_net_tick(void *ctx, uint64_t now)
{
	struct stream *s = ctx;
	struct net_row *v;
	char a[16], b[16], c[16], d[16];
	double elapsed;
	size_t n, i;

	if (!stream_table_due(s, now, &elapsed))
		return;
	n = collect(s, elapsed, &v);
	if (!s->json)
		fprintf(s->out, "\n%-9.3f %-30s %8s %8s %8s %8s\n", model_time_s(s->m, now), "JOB",
			"RX/s", "TX/s", "RX", "TX");
	for (i = 0; i < n && i < NET_TABLE_ROWS; i++) {
		if (s->json) {
			row_json(s, &v[i], now);
			continue;
		}
		fprintf(s->out, "%-9s %-30.30s %8s %8s %8s %8s\n", "", v[i].j->name,
			report_bytes_d(v[i].rx_s, a, sizeof(a)),
			report_bytes_d(v[i].tx_s, b, sizeof(b)),
			report_bytes(v[i].j->net_rx, c, sizeof(c)),
			report_bytes(v[i].j->net_tx, d, sizeof(d)));
	}
	free(v);
	fflush(s->out);
}
