// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The net concern: bytes received and sent per process and per TCP peer.
 * BPF counts per (socket, process) in an LRU map; each second this reads
 * the map in batches, turns the counters into deltas and emits them as one
 * ST_NET_BYTES and one ST_NET_PEERS record (bpf/net.bpf.c says where the
 * counts come from on which kernel).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "concern.h"
#include "log.h"
#include "mapread.h"
#include "net.h"
#include "net.skel.h"
#include "netmodel.h"
#include "spine.h"

#define REC_MAX 256 /* entries per record */

/* What we last read of one (socket, process) entry. */
struct net_last {
	struct net_sock_key k;
	uint64_t rx, tx;
	uint32_t gen;
};

struct net_priv {
	struct net_bpf *skel;
	struct percpu_sum pcpu;
	enum net_source source;
	uint32_t gen;
	uint32_t eph_lo, eph_hi; /* the ephemeral port range, for peers of unknown role */
	struct hmap last; /* key hash -> struct net_last */
	struct map_reader rd; /* net_socks, read whole each tick */
	struct net_cnt_val *cnt; /* one per CPU */
	uint64_t tot_rx, tot_tx, mapfull; /* as last emitted */
	bool announced; /* a first record went out: a report knows the source even with no bytes */
	char variant[160];
};

SPINE_DEFINE_OPEN(net)

static void eph_range(struct net_priv *p)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");

	p->eph_lo = 32768;
	p->eph_hi = 60999;
	if (!f)
		return;
	if (fscanf(f, "%u %u", &p->eph_lo, &p->eph_hi) != 2 || p->eph_lo > p->eph_hi) {
		p->eph_lo = 32768;
		p->eph_hi = 60999;
	}
	fclose(f);
}

static int net_configure(struct spine *sp, void *priv)
{
	struct net_priv *p = priv;
	struct net_bpf *s = p->skel;
	bool fallback = getenv("SPIKETRACE_NET_FALLBACK") != NULL;
	const char *rx = "missing", *tx = "missing", *pr = "missing", *st = "missing";

	SPINE_SET_FILTERS(s, sp);
	eph_range(p);
	if (!fallback) {
		rx = spine_pick(sp, s->progs.recv_btf, s->progs.recv_tp, "sock_recv_length", "sock",
				"sock_recv_length");
		tx = spine_pick(sp, s->progs.send_btf, s->progs.send_tp, "sock_send_length", "sock",
				"sock_send_length");
	}
	if (!fallback && strcmp(rx, "missing") && strcmp(tx, "missing")) {
		p->source = NET_SRC_SOCK_LEN;
		bpf_program__set_autoload(s->progs.probe_btf, false);
		bpf_program__set_autoload(s->progs.probe_tp, false);
		bpf_program__set_autoload(s->progs.state_btf, false);
		bpf_program__set_autoload(s->progs.state_tp, false);
		snprintf(p->variant, sizeof(p->variant),
			 "bytes=sock_length(recv=%s send=%s) tcp+udp", rx, tx);
		return 0;
	}
	bpf_program__set_autoload(s->progs.recv_btf, false);
	bpf_program__set_autoload(s->progs.recv_tp, false);
	bpf_program__set_autoload(s->progs.send_btf, false);
	bpf_program__set_autoload(s->progs.send_tp, false);
	pr = spine_pick(sp, s->progs.probe_btf, s->progs.probe_tp, "tcp_probe", "tcp", "tcp_probe");
	st = spine_pick(sp, s->progs.state_btf, s->progs.state_tp, "inet_sock_set_state", "sock",
			"inet_sock_set_state");
	snprintf(p->variant, sizeof(p->variant), "bytes=tcp_counters(probe=%s state=%s)%s tcp-only",
		 pr, st, fallback ? " forced" : "");
	if (!strcmp(pr, "missing") || !strcmp(st, "missing")) {
		log_err("net: this kernel has neither sock:sock_recv_length/sock_send_length nor "
			"tcp:tcp_probe to count bytes with (%s)",
			p->variant);
		return -ENOENT;
	}
	p->source = NET_SRC_TCP_PROBE;
	return 0;
}

static int net_load(void *priv)
{
	struct net_priv *p = priv;
	uint32_t n = bpf_map__max_entries(p->skel->maps.net_socks);

	p->cnt = calloc(p->pcpu.ncpu, sizeof(*p->cnt));
	if (!p->cnt || !n)
		return -ENOMEM;
	return net_bpf__load(p->skel);
}

static int net_attach(struct spine *sp, void *priv)
{
	return net_bpf__attach(((struct net_priv *)priv)->skel);
}

static struct bpf_object *net_object(void *priv)
{
	return ((struct net_priv *)priv)->skel->obj;
}

static void net_detach(void *priv)
{
	net_bpf__detach(((struct net_priv *)priv)->skel);
}

static void net_destroy(void *priv)
{
	struct net_priv *p = priv;

	net_bpf__destroy(p->skel);
	percpu_sum_free(&p->pcpu);
	hmap_free_all(&p->last);
	map_reader_free(&p->rd);
	free(p->cnt);
	free(p);
}

static const char *net_variant(void *priv)
{
	return ((struct net_priv *)priv)->variant;
}

static uint64_t key_hash(const struct net_sock_key *k)
{
	uint64_t h = k->sk ^ ((uint64_t)k->tgid * 0x9e3779b97f4a7c15ull);

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h ? h : 1;
}

static bool in_eph(const struct net_priv *p, uint16_t port)
{
	return port >= p->eph_lo && port <= p->eph_hi;
}

/* Inbound when the tcp concern saw it accepted; else by which side has the ephemeral port. */
static bool inbound(const struct net_priv *p, const struct net_sock *s)
{
	if (s->flags & NET_S_ROLE)
		return s->flags & NET_S_PASSIVE;
	if (in_eph(p, s->lport) != in_eph(p, s->rport))
		return in_eph(p, s->rport);
	return s->lport < s->rport;
}

struct tick_acc {
	struct hmap procs; /* pid -> struct net_bytes_ent */
	struct hmap peers; /* hash -> struct net_peer_ent */
};

static void acc_peer(struct net_priv *p, struct tick_acc *a, const struct net_sock *s, uint64_t drx,
		     uint64_t dtx)
{
	struct net_peer_ent key = { .family = s->family };
	struct net_peer_ent *e;
	uint64_t h;

	key.inbound = inbound(p, s);
	key.port = key.inbound ? s->lport : s->rport;
	memcpy(key.addr, s->raddr, key.family == 2 ? 4 : sizeof(key.addr));
	h = net_peer_hash(&key);
	e = hmap_get(&a->peers, h);
	if (!e) {
		e = hmap_put_new(&a->peers, h, sizeof(*e));
		if (!e)
			return;
		*e = key;
	}
	e->rx += drx;
	e->tx += dtx;
}

static void acc_one(struct net_priv *p, struct tick_acc *a, const struct net_sock_key *k,
		    const struct net_sock *s)
{
	uint64_t h = key_hash(k), drx, dtx;
	struct net_last *l = hmap_get(&p->last, h);
	struct net_bytes_ent *e;

	if (l && memcmp(&l->k, k, sizeof(*k)))
		l = NULL; /* a hash collision: counted as new, not remembered */
	else if (!l && (l = hmap_put_new(&p->last, h, sizeof(*l))))
		l->k = *k;
	/* Fewer bytes than last time: the LRU evicted it and the socket began again. */
	drx = l && s->rx >= l->rx ? s->rx - l->rx : s->rx;
	dtx = l && s->tx >= l->tx ? s->tx - l->tx : s->tx;
	if (l) {
		l->rx = s->rx;
		l->tx = s->tx;
		l->gen = p->gen;
	}
	if ((!drx && !dtx) || !(s->flags & NET_S_WANTED))
		return;
	e = hmap_get(&a->procs, k->tgid ? k->tgid : UINT64_MAX);
	if (!e) {
		e = hmap_put_new(&a->procs, k->tgid ? k->tgid : UINT64_MAX, sizeof(*e));
		if (!e)
			return;
		e->pid = k->tgid;
		e->cgroup_id = s->cgroup_id;
		memcpy(e->comm, s->comm, sizeof(e->comm));
	}
	e->rx += drx;
	e->tx += dtx;
	if ((s->flags & NET_S_TCP) && (s->family == 2 || s->family == 10) && s->rport)
		acc_peer(p, a, s, drx, dtx);
}

static void read_socks(struct net_priv *p, struct tick_acc *a)
{
	size_t i;

	if (map_read(&p->rd, p->skel->maps.net_socks))
		log_dbg("net: reading the socket map: %zu entries read", p->rd.n);
	for (i = 0; i < p->rd.n; i++)
		acc_one(p, a, (const struct net_sock_key *)p->rd.keys + i,
			(const struct net_sock *)p->rd.vals + i);
}

/* Forgets entries the kernel no longer has (evicted, or the map was cleared). */
static void forget_gone(struct net_priv *p)
{
	size_t i = 0;
	uint64_t k;
	void *v;

	while (hmap_next(&p->last, &i, &k, &v)) {
		struct net_last *l = v;

		if (l->gen == p->gen)
			continue;
		hmap_del(&p->last, k);
		free(l);
		i = 0; /* deleting moves entries: start over (rare, bounded by the map) */
	}
}

static void counters(struct net_priv *p, uint64_t *rx, uint64_t *tx, uint64_t *full)
{
	uint32_t zero = 0;
	int c;

	*rx = *tx = *full = 0;
	if (bpf_map__lookup_elem(p->skel->maps.net_counts, &zero, sizeof(zero), p->cnt,
				 p->pcpu.ncpu * sizeof(*p->cnt), 0))
		return;
	for (c = 0; c < p->pcpu.ncpu; c++) {
		*rx += p->cnt[c].n[NET_CNT_RX_BYTES];
		*tx += p->cnt[c].n[NET_CNT_TX_BYTES];
		*full += p->cnt[c].n[NET_CNT_MAPFULL];
	}
}

/*
 * Emits the values of m, REC_MAX entries a record, into r (a record of type
 * type with hdr_size bytes before its entries and its count at *n); an empty
 * map emits one empty record only when force is set. True if one was emitted.
 */
static bool emit_chunks(struct spine *sp, struct st_hdr *r, __u32 *n, size_t hdr_size,
			size_t ent_size, uint16_t type, struct hmap *m, uint64_t now, bool force)
{
	bool sent = false;
	size_t i = 0;
	uint64_t k;
	void *v;

	for (;;) {
		bool more = hmap_next(m, &i, &k, &v);

		if (more)
			memcpy((char *)r + hdr_size + (*n)++ * ent_size, v, ent_size);
		if (*n == REC_MAX || (!more && (*n || (force && !sent)))) {
			*r = (struct st_hdr){ .type = type,
					      .size = hdr_size + *n * ent_size,
					      .ts = now };
			spine_emit(sp, r);
			*n = 0;
			sent = true;
		}
		if (!more)
			return sent;
	}
}

static void emit_bytes(struct spine *sp, struct net_priv *p, struct hmap *procs, uint64_t now)
{
	struct net_bytes_rec *r = calloc(1, sizeof(*r) + REC_MAX * sizeof(r->e[0]));
	uint64_t rx, tx, full;
	bool force;

	if (!r)
		return;
	counters(p, &rx, &tx, &full);
	r->source = p->source;
	r->total_rx = rx;
	r->total_tx = tx;
	r->mapfull = full;
	/* Totals that moved are news even without a process to name (and the first tick always is). */
	force = rx != p->tot_rx || tx != p->tot_tx || !p->announced;
	if (emit_chunks(sp, &r->h, &r->n, sizeof(*r), sizeof(r->e[0]), ST_NET_BYTES, procs, now,
			force)) {
		p->tot_rx = rx;
		p->tot_tx = tx;
		p->announced = true;
	}
	free(r);
}

static void emit_peers(struct spine *sp, struct hmap *peers, uint64_t now)
{
	struct net_peers_rec *r = calloc(1, sizeof(*r) + REC_MAX * sizeof(r->e[0]));

	if (!r)
		return;
	emit_chunks(sp, &r->h, &r->n, sizeof(*r), sizeof(r->e[0]), ST_NET_PEERS, peers, now, false);
	free(r);
}

static void net_tick(struct spine *sp, void *priv, uint64_t now)
{
	struct net_priv *p = priv;
	struct tick_acc a;

	hmap_init(&a.procs);
	hmap_init(&a.peers);
	p->gen++;
	read_socks(p, &a);
	forget_gone(p);
	emit_bytes(sp, p, &a.procs, now);
	emit_peers(sp, &a.peers, now);
	hmap_free_all(&a.procs);
	hmap_free_all(&a.peers);
}

static void net_handle(struct spine *sp, const struct st_hdr *h, size_t len)
{
	switch (h->type) {
	case ST_NET_BYTES:
		if (len < sizeof(struct net_bytes_rec))
			break;
		model_net_bytes(sp->model, (const void *)h, len);
		return;
	case ST_NET_PEERS:
		if (len < sizeof(struct net_peers_rec))
			break;
		model_net_peers(sp->model, (const void *)h, len);
		return;
	}
	sp->lost_user++;
}

const struct concern concern_net = {
	.name = "net",
	.bit = 1 << 5,
	.type_min = ST_NET_BYTES,
	.type_max = ST_NET_PEERS,
	/* New processes are known from proc; the tcp_probe fallback learns owners from tcp. */
	.needs = 1 << 0 | 1 << 3,
	.open = net_open,
	.configure = net_configure,
	.load = net_load,
	.attach = net_attach,
	.object = net_object,
	.tick = net_tick,
	.detach = net_detach,
	.destroy = net_destroy,
	.variant = net_variant,
	.handle = net_handle,
};
