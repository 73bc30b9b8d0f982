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

/* The counters, as one record when they moved. */
static void tcp_tick(struct spine *sp, void *priv, uint64_t now)
{
	struct tcp_priv *p = priv;
	struct tcp_counts c = { 0 };
	uint64_t v[TCP_CNT_NR] = { 0 };
	uint32_t zero = 0, k;
	int cpu;

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
	}
	sp->lost_user++;
}

const struct concern concern_tcp = {
	.name = "tcp",
	.bit = 1 << 3,
	.type_min = ST_TCP_STATE,
	.type_max = ST_TCP_COUNTS,
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
