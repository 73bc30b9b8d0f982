// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The tcp concern: state transitions and resets arrive as records; the
 * transition, reset and retransmit counters are read each second into a
 * ST_TCP_COUNTS record, so totals stay exact when the ring buffer drops.
 * Sockets older than us get their owner from /proc (user/procnet.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "concern.h"
#include "log.h"
#include "procnet.h"
#include "spine.h"
#include "tcp.h"
#include "tcp.skel.h"
#include "tcpmodel.h"

struct tcp_priv {
	struct tcp_bpf *skel;
	struct percpu_sum pcpu; /* its ncpu sizes cnt */
	struct tcp_cnt *cnt; /* one per CPU, read each tick */
	struct tcp_counts last;
	int seeded_listeners, seeded_conns;
	char variant[200];
};

SPINE_DEFINE_OPEN(tcp)

static int tcp_configure(struct spine *sp, void *priv)
{
	struct tcp_priv *p = priv;
	struct tcp_bpf *s = p->skel;
	struct bpf_program *tx_btf;
	const char *st, *rx, *tx, *rt, *ds;

	SPINE_SET_FILTERS(s, sp);
	s->rodata->targ_port = sp->o->port;
	s->rodata->targ_lport = sp->o->lport;
	s->rodata->targ_rport = sp->o->rport;
	if (getrandom(&s->rodata->sk_salt, sizeof(s->rodata->sk_salt), 0) !=
	    sizeof(s->rodata->sk_salt))
		s->rodata->sk_salt = now_mono_ns() * 0x9e3779b97f4a7c15ull;
	/* 6.10 added the reset reason; older kernels pass (sk, skb) only. */
	tx_btf = feat_btf_tp_nargs(&sp->feat, "tcp_send_reset") >= 3 ? s->progs.rst_tx_btf_reason :
								       s->progs.rst_tx_btf;
	bpf_program__set_autoload(tx_btf == s->progs.rst_tx_btf ? s->progs.rst_tx_btf_reason :
								  s->progs.rst_tx_btf,
				  false);
	st = spine_pick(sp, s->progs.state_btf, s->progs.state_tp, "inet_sock_set_state", "sock",
			"inet_sock_set_state");
	rx = spine_pick(sp, s->progs.rst_rx_btf, s->progs.rst_rx_tp, "tcp_receive_reset", "tcp",
			"tcp_receive_reset");
	tx = spine_pick(sp, tx_btf, s->progs.rst_tx_tp, "tcp_send_reset", "tcp", "tcp_send_reset");
	rt = spine_pick(sp, s->progs.retrans_btf, s->progs.retrans_tp, "tcp_retransmit_skb", "tcp",
			"tcp_retransmit_skb");
	ds = spine_pick(sp, s->progs.destroy_btf, s->progs.destroy_tp, "tcp_destroy_sock", "tcp",
			"tcp_destroy_sock");
	snprintf(p->variant, sizeof(p->variant),
		 "state=%s reset_rx=%s reset_tx=%s%s retransmit=%s destroy=%s", st, rx, tx,
		 tx_btf == s->progs.rst_tx_btf_reason && !strcmp(tx, "tp_btf") ? "(reason)" : "",
		 rt, ds);
	/* Transitions are the concern; resets and retransmits add to it. */
	if (!strcmp(st, "missing")) {
		log_err("tcp: this kernel has no sock:inet_sock_set_state tracepoint (%s)",
			p->variant);
		return -ENOENT;
	}
	return 0;
}

static int tcp_load(void *priv)
{
	struct tcp_priv *p = priv;
	int err = tcp_bpf__load(p->skel);
	size_t len = strlen(p->variant);

	if (err)
		return err;
	/* libbpf read CONFIG_HZ from the kernel config: idle times are in jiffies. */
	if (p->skel->kconfig->CONFIG_HZ)
		snprintf(p->variant + len, sizeof(p->variant) - len, " hz=%u",
			 p->skel->kconfig->CONFIG_HZ);
	else
		snprintf(p->variant + len, sizeof(p->variant) - len, " hz=unknown(no idle times)");
	return 0;
}

static int seed_one(void *ctx, const struct procnet_sock *ps)
{
	struct tcp_priv *p = ctx;
	struct tcp_owner o = { .tgid = ps->pid, .seeded = 1 };
	int err;

	st_strlcpy(o.comm, ps->comm, sizeof(o.comm));
	if (ps->state == TCP_ST_LISTEN) {
		struct tcp_listen_key k = { .netns = ps->netns, .lport = ps->lport };

		/* The first owner stays: forked workers share their parent's listener. */
		err = bpf_map__update_elem(p->skel->maps.listeners, &k, sizeof(k), &o, sizeof(o),
					   BPF_NOEXIST);
		p->seeded_listeners += !err;
	} else {
		struct tcp_tuple_key k;

		memset(&k, 0, sizeof(k));
		k.netns = ps->netns;
		k.family = ps->family;
		k.lport = ps->lport;
		k.rport = ps->rport;
		memcpy(k.laddr, ps->laddr, sizeof(k.laddr));
		memcpy(k.raddr, ps->raddr, sizeof(k.raddr));
		err = bpf_map__update_elem(p->skel->maps.seeded, &k, sizeof(k), &o, sizeof(o),
					   BPF_NOEXIST);
		p->seeded_conns += !err;
	}
	return 0;
}

static int tcp_attach(struct spine *sp, void *priv)
{
	struct tcp_priv *p = priv;
	int err = tcp_bpf__attach(p->skel);
	int n;

	if (err)
		return err;
	/* After attaching: a socket made meanwhile is seen by BPF, not lost between. */
	n = procnet_scan("/proc", seed_one, p);
	if (n < 0)
		log_warn("tcp: cannot read sockets in /proc (%s): owners of older sockets unknown",
			 strerror(-n));
	log_dbg("tcp: %d listeners and %d connections already open", p->seeded_listeners,
		p->seeded_conns);
	return 0;
}

static struct bpf_object *tcp_object(void *priv)
{
	return ((struct tcp_priv *)priv)->skel->obj;
}

static void tcp_detach(void *priv)
{
	tcp_bpf__detach(((struct tcp_priv *)priv)->skel);
}

static void tcp_destroy(void *priv)
{
	struct tcp_priv *p = priv;

	tcp_bpf__destroy(p->skel);
	percpu_sum_free(&p->pcpu);
	free(p->cnt);
	free(p);
}

static const char *tcp_variant(void *priv)
{
	return ((struct tcp_priv *)priv)->variant;
}

/* A connection's tuple in its namespace, with addresses as the model spells them. */
static uint64_t tuple_key(uint32_t netns, uint8_t family, const char *laddr, uint16_t lport,
			  const char *raddr, uint16_t rport)
{
	char buf[160];

	snprintf(buf, sizeof(buf), "%u %u %s %u %s %u", netns, family, laddr, lport, raddr, rport);
	return st_hash_str(buf);
}

struct tables {
	struct hmap socks; /* tuple_key -> TCP state + 1 */
	struct hmap read; /* netns -> 1: its tables are in socks */
	uint32_t netns; /* of the table being read */
};

static int table_sock(void *ctx, const struct procnet_sock *ps)
{
	struct tables *tb = ctx;
	char l[TCP_ADDR_LEN], r[TCP_ADDR_LEN];

	tcp_addr_str(ps->family, ps->laddr, l, sizeof(l));
	tcp_addr_str(ps->family, ps->raddr, r, sizeof(r));
	hmap_put(&tb->socks, tuple_key(tb->netns, ps->family, l, ps->lport, r, ps->rport),
		 (void *)(uintptr_t)(ps->state + 1));
	return 0;
}

/* /proc/PID/net (PID 0: self) when that process is in netns. */
static bool netdir_of(uint32_t netns, uint32_t pid, char *dir, size_t len)
{
	char path[64], link[64], want[32];
	ssize_t n;

	if (pid)
		snprintf(dir, len, "/proc/%u", pid);
	else
		snprintf(dir, len, "/proc/self");
	snprintf(path, sizeof(path), "%s/ns/net", dir);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = 0;
	snprintf(want, sizeof(want), "net:[%u]", netns);
	if (strcmp(link, want))
		return false;
	strncat(dir, "/net", len - strlen(dir) - 1);
	return true;
}

/* A full tuple to look up: not a connection seen before its port or peer was known. */
static bool has_tuple(const struct tcp_conn *c)
{
	return c->lport && c->rport && c->netns;
}

/* The tables of a connection's namespace, read once: ours, or its owner's. */
static bool read_tables(struct tables *tb, const struct tcp_conn *c)
{
	char dir[64];

	if (hmap_get(&tb->read, c->netns))
		return true;
	if (!netdir_of(c->netns, 0, dir, sizeof(dir)) &&
	    !(c->pid && netdir_of(c->netns, c->pid, dir, sizeof(dir))))
		return false;
	tb->netns = c->netns;
	if (procnet_table(dir, table_sock, tb) < 0)
		return false;
	hmap_put(&tb->read, c->netns, (void *)1);
	return true;
}

/* Gone from the tables, or only its time-wait socket left: the full socket ended. */
static bool conn_gone(const struct tables *tb, const struct tcp_conn *c)
{
	uintptr_t st = (uintptr_t)hmap_get(
		&tb->socks, tuple_key(c->netns, c->family, c->laddr, c->lport, c->raddr, c->rport));

	return !st || st - 1 == TCP_ST_TIME_WAIT || st - 1 == TCP_ST_CLOSE;
}

/*
 * The kernel can run a socket's last transitions where no BPF program sees
 * them (docs/tcp.md, "Gaps"). When we stop, a connection still open in the
 * model but gone from its namespace's tables ended unseen: an ST_TCP_GONE
 * record says so. The tables are read first, then what was submitted until
 * a moment later is taken: a socket leaves them only after its CLOSE
 * record is in the ring, so a close we did see is never called unseen.
 */
static void tcp_reconcile(struct spine *sp, uint64_t now)
{
	struct tcp_model *t = sp->model ? sp->model->tcp : NULL;
	struct tables tb = { 0 };
	struct tcp_gone g = { .h = { .type = ST_TCP_GONE, .size = sizeof(g), .ts = now } };
	uint64_t sk, *gone = NULL;
	size_t it = 0, n = 0, cap = 0, i;
	struct tcp_conn *c;
	void *v;

	if (!t || !t->live.len)
		return;
	hmap_init(&tb.socks);
	hmap_init(&tb.read);
	while (hmap_next(&t->live, &it, &sk, &v)) {
		c = v;
		if (has_tuple(c))
			read_tables(&tb, c);
	}
	usleep(20000);
	spine_catch_up(sp);
	for (it = 0; hmap_next(&t->live, &it, &sk, &v);) {
		c = v;
		if (!has_tuple(c) || !hmap_get(&tb.read, c->netns) || !conn_gone(&tb, c))
			continue;
		uint64_t *more = st_grow(gone, &cap, n + 1, sizeof(*gone), 16);

		if (!more)
			break;
		gone = more;
		gone[n++] = sk;
	}
	/* Emitted after the walk: each one takes its connection out of the map. */
	for (i = 0; i < n; i++) {
		g.skaddr = gone[i];
		spine_emit(sp, &g.h);
	}
	if (n)
		log_dbg("tcp: %zu connections ended where no BPF program saw it", n);
	free(gone);
	hmap_free(&tb.socks);
	hmap_free(&tb.read);
}

/* The counters, as one record when they moved. */
static void tcp_tick(struct spine *sp, void *priv, uint64_t now)
{
	struct tcp_priv *p = priv;
	struct tcp_counts c = { 0 };
	uint64_t v[TCP_CNT_NR] = { 0 };
	uint32_t zero = 0, k;
	int cpu;

	if (sp->stopping)
		tcp_reconcile(sp, now);
	if (!p->cnt)
		p->cnt = calloc(p->pcpu.ncpu, sizeof(*p->cnt));
	if (!p->cnt || bpf_map__lookup_elem(p->skel->maps.counts, &zero, sizeof(zero), p->cnt,
					    p->pcpu.ncpu * sizeof(*p->cnt), 0))
		return;
	for (cpu = 0; cpu < p->pcpu.ncpu; cpu++)
		for (k = 0; k < TCP_CNT_NR; k++)
			v[k] += p->cnt[cpu].n[k];
	memcpy(c.trans, v, sizeof(c.trans));
	c.resets_rx = v[TCP_CNT_RESET_RX];
	c.resets_tx = v[TCP_CNT_RESET_TX];
	c.retrans = v[TCP_CNT_RETRANS];
	c.h = (struct st_hdr){ .type = ST_TCP_COUNTS, .size = sizeof(c), .ts = now };
	if (!memcmp((char *)&c + sizeof(c.h), (char *)&p->last + sizeof(c.h),
		    sizeof(c) - sizeof(c.h)))
		return;
	p->last = c;
	spine_emit(sp, &c.h);
}

static void decode(const struct tcp_rec *r, struct tcp_event *e)
{
	memset(e, 0, sizeof(*e));
	e->ts = r->h.ts;
	e->sk = r->skaddr;
	e->reset = r->h.type == ST_TCP_RESET;
	e->pid = r->pid;
	e->netns = r->netns;
	e->family = r->family;
	e->old = r->old;
	e->new = r->new;
	e->flags = r->flags;
	e->lport = r->lport;
	e->rport = r->rport;
	tcp_addr_str(r->family, r->laddr, e->laddr, sizeof(e->laddr));
	tcp_addr_str(r->family, r->raddr, e->raddr, sizeof(e->raddr));
	e->ns_in_old = r->ns_in_old;
	e->age_ns = r->age_ns;
	e->idle_rx_ns = r->idle_rx_ns;
	e->idle_tx_ns = r->idle_tx_ns;
	e->rx_bytes = r->rx_bytes;
	e->tx_bytes = r->tx_bytes;
	e->retrans = r->retrans;
	e->reason = r->reason;
	st_strfix(e->comm, sizeof(e->comm), r->comm, sizeof(r->comm));
}

static void tcp_handle(struct spine *sp, const struct st_hdr *h, size_t len)
{
	struct tcp_event e;
	struct tcp_counts c;
	struct tcp_gone g;

	switch (h->type) {
	case ST_TCP_STATE:
	case ST_TCP_RESET:
		if (len < sizeof(struct tcp_rec))
			break;
		decode((const void *)h, &e);
		model_tcp(sp->model, &e);
		return;
	case ST_TCP_COUNTS:
		if (len < sizeof(c))
			break;
		memcpy(&c, h, sizeof(c));
		model_tcp_counts(sp->model, &c);
		return;
	case ST_TCP_GONE:
		if (len < sizeof(g))
			break;
		memcpy(&g, h, sizeof(g));
		model_tcp_gone(sp->model, g.skaddr, g.h.ts);
		return;
	}
	sp->lost_user++;
}

const struct concern concern_tcp = {
	.name = "tcp",
	.bit = 1 << 3,
	.type_min = ST_TCP_STATE,
	.type_max = ST_TCP_GONE,
	.open = tcp_open,
	.configure = tcp_configure,
	.load = tcp_load,
	.attach = tcp_attach,
	.object = tcp_object,
	.tick = tcp_tick,
	.detach = tcp_detach,
	.destroy = tcp_destroy,
	.variant = tcp_variant,
	.handle = tcp_handle,
};
