// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "netmodel.h"
#include "tcpmodel.h"

/* Records made at a tick cover the second before it: placed at its middle (as CPU). */
#define TICK_MID_NS 500000000ULL

static struct net_model *net_of(struct model *m)
{
	if (!m->net) {
		m->net = calloc(1, sizeof(*m->net));
		if (!m->net)
			return NULL;
		hmap_init(&m->net->procs);
		hmap_init(&m->net->peers);
	}
	return m->net;
}

static struct net_proc *nproc(struct net_model *n, struct proc *p)
{
	struct net_proc *np = hmap_get(&n->procs, (uintptr_t)p);

	if (!np && (np = hmap_put_new(&n->procs, (uintptr_t)p, sizeof(*np))))
		np->p = p;
	return np;
}

static int pt_add(struct net_proc *np, uint64_t ts, uint64_t rx, uint64_t tx)
{
	if (np->n && np->v[np->n - 1].ts == ts) {
		np->v[np->n - 1].rx += rx;
		np->v[np->n - 1].tx += tx;
		return 0;
	}
	if (np->n == np->cap) {
		size_t cap = np->cap ? np->cap * 2 : 16;
		struct net_pt *v = realloc(np->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		np->v = v;
		np->cap = cap;
	}
	np->v[np->n++] = (struct net_pt){ ts, rx, tx };
	return 0;
}

/* The whole entries a record of len bytes holds, at most the n it says. */
static size_t entries(size_t len, size_t head, size_t size, uint32_t n)
{
	size_t cnt = (len - head) / size;

	return cnt < n ? cnt : n;
}

void model_net_bytes(struct model *m, const struct net_bytes_rec *r, size_t len)
{
	struct net_model *n = net_of(m);
	size_t i, cnt = entries(len, sizeof(*r), sizeof(r->e[0]), r->n);

	if (!n)
		return;
	n->source = r->source;
	/* Cumulative in the kernel: the newest wins. */
	if (r->total_rx >= n->total_rx)
		n->total_rx = r->total_rx;
	if (r->total_tx >= n->total_tx)
		n->total_tx = r->total_tx;
	if (r->mapfull >= n->mapfull)
		n->mapfull = r->mapfull;
	for (i = 0; i < cnt; i++) {
		const struct net_bytes_ent *e = &r->e[i];
		struct proc *p = e->pid ? model_find(m, e->pid) : NULL;
		struct net_proc *np = p ? nproc(n, p) : NULL;

		if (!np) {
			n->unknown_rx += e->rx;
			n->unknown_tx += e->tx;
			continue;
		}
		np->rx += e->rx;
		np->tx += e->tx;
		p->net_rx += e->rx;
		p->net_tx += e->tx;
		n->attributed_rx += e->rx;
		n->attributed_tx += e->tx;
		if (pt_add(np, r->h.ts, e->rx, e->tx))
			m->lost_user++;
	}
}

uint64_t net_peer_hash(const struct net_peer_ent *e)
{
	/* family, inbound, port and address: the part before rx. */
	return st_hash_bytes(e, offsetof(struct net_peer_ent, rx));
}

void model_net_peers(struct model *m, const struct net_peers_rec *r, size_t len)
{
	struct net_model *n = net_of(m);
	size_t i, cnt = entries(len, sizeof(*r), sizeof(r->e[0]), r->n);

	if (!n)
		return;
	for (i = 0; i < cnt; i++) {
		struct net_peer_ent e = r->e[i];
		struct net_peer *p;
		uint64_t h;

		e.pad = 0;
		h = net_peer_hash(&e);
		p = hmap_get(&n->peers, h);
		if (!p) {
			p = hmap_put_new(&n->peers, h, sizeof(*p));
			if (!p) {
				m->lost_user++;
				continue;
			}
			p->family = e.family;
			p->inbound = e.inbound;
			p->port = e.port;
			tcp_addr_str(e.family, e.addr, p->addr, sizeof(p->addr));
			n->npeers++;
		}
		p->rx += e.rx;
		p->tx += e.tx;
	}
}

static int peer_cmp(const void *a, const void *b)
{
	const struct net_peer *x = *(struct net_peer *const *)a;
	const struct net_peer *y = *(struct net_peer *const *)b;
	uint64_t sx = x->rx + x->tx, sy = y->rx + y->tx;
	int c;

	if (sx != sy)
		return sx > sy ? -1 : 1;
	c = strcmp(x->addr, y->addr);
	return c ? c : (int)x->port - (int)y->port;
}

void net_model_sort(struct net_model *n)
{
	size_t i = 0, k = 0;
	uint64_t key;
	void *v;

	if (!n)
		return;
	free(n->ranked);
	n->ranked = n->npeers ? calloc(n->npeers, sizeof(*n->ranked)) : NULL;
	if (!n->ranked)
		return;
	while (hmap_next(&n->peers, &i, &key, &v) && k < n->npeers)
		n->ranked[k++] = v;
	n->npeers = k;
	qsort(n->ranked, k, sizeof(*n->ranked), peer_cmp);
}

void net_job(struct model *m, struct job *j)
{
	size_t i;

	j->net_rx = j->net_tx = 0;
	for (i = 0; i < j->nprocs; i++) {
		j->net_rx += j->procs[i]->net_rx;
		j->net_tx += j->procs[i]->net_tx;
	}
}

void model_series_net(const struct model *m, const struct job *j, double interval_s, double *rx,
		      double *tx, size_t nb)
{
	uint64_t step = (uint64_t)(interval_s * 1e9);
	size_t i, k;

	memset(rx, 0, nb * sizeof(*rx));
	memset(tx, 0, nb * sizeof(*tx));
	if (!m->net || !step)
		return;
	for (i = 0; i < j->nprocs; i++) {
		const struct net_proc *np = hmap_get(&m->net->procs, (uintptr_t)j->procs[i]);

		for (k = 0; np && k < np->n; k++) {
			uint64_t ts = np->v[k].ts;
			uint64_t at = ts > TICK_MID_NS ? ts - TICK_MID_NS : 0;
			size_t b = at > m->t0 ? (at - m->t0) / step : 0;

			if (b >= nb)
				b = nb - 1;
			rx[b] += (double)np->v[k].rx;
			tx[b] += (double)np->v[k].tx;
		}
	}
}

void net_model_free(struct net_model *n)
{
	size_t i = 0;
	uint64_t k;
	void *v;

	if (!n)
		return;
	while (hmap_next(&n->procs, &i, &k, &v)) {
		free(((struct net_proc *)v)->v);
		free(v);
	}
	hmap_free(&n->procs);
	hmap_free_all(&n->peers);
	free(n->ranked);
	free(n);
}

const char *net_source_name(enum net_source s)
{
	switch (s) {
	case NET_SRC_SOCK_LEN:
		return "sock_length";
	case NET_SRC_TCP_PROBE:
		return "tcp_counters";
	default:
		return "none";
	}
}
