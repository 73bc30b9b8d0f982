// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for user/tcpmodel.c: connections, remotes, resets, counts, clusters. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tcp.h"
#include "tcpmodel.h"
#include "util.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define T0 (100 * SEC)

static struct tcp_model *model_new(void)
{
	struct tcp_model *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	return t;
}

/* An outbound connection 10.0.0.1:40000 -> 10.0.0.2:443 of pid 100 unless changed. */
static struct tcp_event ev(uint64_t sk, uint64_t ts, uint8_t old, uint8_t new, uint8_t flags)
{
	struct tcp_event e = { .ts = ts,
			       .sk = sk,
			       .pid = 100,
			       .netns = 4026531840u,
			       .family = AF_INET,
			       .old = old,
			       .new = new,
			       .flags = flags,
			       .lport = 40000,
			       .rport = 443 };

	strcpy(e.laddr, "10.0.0.1");
	strcpy(e.raddr, "10.0.0.2");
	strcpy(e.comm, "curl");
	return e;
}

static struct tcp_event rst(uint64_t sk, uint64_t ts, uint8_t flags, uint64_t idle_ns)
{
	struct tcp_event e = ev(sk, ts, TCP_ST_ESTABLISHED, TCP_ST_ESTABLISHED, flags);

	e.reset = true;
	e.idle_rx_ns = idle_ns;
	return e;
}

static struct tcp_proc *proc(const struct tcp_model *t, uint32_t pid)
{
	return hmap_get(&t->procs, pid);
}

static const struct tcp_remote *remote(const struct tcp_model *t, const char *raddr, bool in)
{
	const struct tcp_remote *r;

	for (r = t->rlist; r; r = r->next)
		if (r->inbound == in && !strcmp(r->raddr, raddr))
			return r;
	return NULL;
}

/* An outbound connection from SYN_SENT to ESTABLISHED. */
static void open_conn(struct tcp_model *t, uint64_t sk, uint64_t ts, const char *raddr)
{
	struct tcp_event e = ev(sk, ts, TCP_ST_CLOSE, TCP_ST_SYN_SENT,
				TCP_F_OWNER | TCP_F_ROLE_KNOWN | TCP_F_AGE);

	strcpy(e.raddr, raddr);
	assert_null(tcp_model_event(t, &e));
	e = ev(sk, ts + MS, TCP_ST_SYN_SENT, TCP_ST_ESTABLISHED, TCP_F_OWNER);
	strcpy(e.raddr, raddr);
	assert_null(tcp_model_event(t, &e));
}

static void test_active(void **state)
{
	struct tcp_model *t = model_new();
	const struct tcp_remote *r;
	const struct tcp_conn *c;
	struct tcp_event e;
	struct tcp_proc *p;

	e = ev(0xa1, T0, TCP_ST_CLOSE, TCP_ST_SYN_SENT, TCP_F_OWNER | TCP_F_ROLE_KNOWN | TCP_F_AGE);
	assert_null(tcp_model_event(t, &e));
	e = ev(0xa1, T0 + 1 * MS, TCP_ST_SYN_SENT, TCP_ST_ESTABLISHED, TCP_F_OWNER);
	assert_null(tcp_model_event(t, &e));
	e = ev(0xa1, T0 + 500 * MS, TCP_ST_ESTABLISHED, TCP_ST_FIN_WAIT1, TCP_F_OWNER);
	e.rx_bytes = 1000;
	e.tx_bytes = 200;
	assert_null(tcp_model_event(t, &e));
	e = ev(0xa1, T0 + 501 * MS, TCP_ST_FIN_WAIT1, TCP_ST_FIN_WAIT2, TCP_F_OWNER);
	e.rx_bytes = 1000;
	e.tx_bytes = 201;
	assert_null(tcp_model_event(t, &e));
	assert_non_null(hmap_get(&t->live, 0xa1));
	e = ev(0xa1, T0 + 600 * MS, TCP_ST_FIN_WAIT2, TCP_ST_CLOSE, TCP_F_OWNER);
	e.rx_bytes = 1500;
	e.tx_bytes = 201;
	e.retrans = 2;
	c = tcp_model_event(t, &e);

	assert_non_null(c);
	assert_int_equal(c->sk, 0xa1);
	assert_int_equal(c->pid, 100);
	assert_string_equal(c->comm, "curl");
	assert_int_equal(c->state, TCP_ST_CLOSE);
	assert_int_equal(c->flags, TCP_F_OWNER | TCP_F_ROLE_KNOWN | TCP_F_AGE);
	assert_int_equal(c->first_ts, T0);
	assert_int_equal(c->open_ts, T0); /* age 0: created at its first record */
	assert_int_equal(c->est_ts, T0 + 1 * MS);
	assert_int_equal(c->close_ts, T0 + 600 * MS);
	assert_int_equal(c->rx_bytes, 1500);
	assert_int_equal(c->tx_bytes, 201);
	assert_int_equal(c->retrans, 2);
	assert_ptr_equal(tcp_model_closed(t, 0), c);
	assert_null(tcp_model_closed(t, 1));
	assert_null(hmap_get(&t->live, 0xa1));
	assert_int_equal(t->nclosed, 1);

	assert_int_equal(t->nremotes, 1);
	r = remote(t, "10.0.0.2", false);
	assert_non_null(r);
	assert_ptr_equal(c->remote, r);
	assert_int_equal(r->rport, 443);
	assert_int_equal(r->lport, 0);
	assert_int_equal(r->connections, 1);
	assert_int_equal(r->closed, 1);
	assert_int_equal(r->life_n, 1);
	assert_int_equal(r->life_ms[hist_bucket(600)], 1);
	assert_int_equal(r->rx_bytes, 1500);
	assert_int_equal(r->tx_bytes, 201);
	assert_int_equal(r->retrans, 2);

	assert_int_equal(t->records, 5);
	assert_false(t->have_counts);
	assert_int_equal(tcp_model_transitions(t), 5);
	assert_int_equal(t->trans[TCP_ST_CLOSE * TCP_ST_NR + TCP_ST_SYN_SENT], 1);
	assert_int_equal(t->trans[TCP_ST_FIN_WAIT2 * TCP_ST_NR + TCP_ST_CLOSE], 1);
	p = proc(t, 100);
	assert_non_null(p);
	assert_int_equal(p->connections, 1);
	tcp_model_free(t);
}

/* A connection seen mid-life: no open time, so no lifetime either. */
static void test_seen_late(void **state)
{
	struct tcp_model *t = model_new();
	const struct tcp_conn *c;
	struct tcp_event e;

	e = ev(0xb1, T0, TCP_ST_ESTABLISHED, TCP_ST_FIN_WAIT1, TCP_F_OWNER);
	assert_null(tcp_model_event(t, &e));
	e = ev(0xb1, T0 + SEC, TCP_ST_FIN_WAIT1, TCP_ST_CLOSE, TCP_F_OWNER);
	c = tcp_model_event(t, &e);
	assert_non_null(c);
	assert_int_equal(c->open_ts, 0);
	assert_int_equal(c->est_ts, 0);
	assert_int_equal(c->first_ts, T0);
	assert_int_equal(c->remote->connections, 1);
	assert_int_equal(c->remote->closed, 1);
	assert_int_equal(c->remote->life_n, 0);
	tcp_model_free(t);
}

static void test_passive_and_listener(void **state)
{
	struct tcp_model *t = model_new();
	const struct tcp_remote *r;
	const struct tcp_conn *c;
	struct tcp_event e;

	/* The listener: bound to 8080, its own transitions are not connections. */
	e = ev(0x1000, T0, TCP_ST_CLOSE, TCP_ST_LISTEN, TCP_F_OWNER | TCP_F_ROLE_KNOWN);
	e.lport = 8080;
	e.rport = 0;
	strcpy(e.raddr, "0.0.0.0");
	assert_null(tcp_model_event(t, &e));
	assert_null(hmap_get(&t->live, 0x1000));
	assert_int_equal(t->nremotes, 0);

	/* Two children from one client, the first before its owner is known. */
	e = ev(0x2000, T0 + MS, TCP_ST_LISTEN, TCP_ST_SYN_RECV,
	       TCP_F_PASSIVE | TCP_F_ROLE_KNOWN | TCP_F_AGE);
	e.pid = 0;
	e.lport = 8080;
	e.rport = 51000;
	strcpy(e.raddr, "10.0.0.9");
	assert_null(tcp_model_event(t, &e));
	e.old = TCP_ST_SYN_RECV;
	e.new = TCP_ST_ESTABLISHED;
	e.pid = 200;
	strcpy(e.comm, "nginx");
	e.ts += MS;
	assert_null(tcp_model_event(t, &e));
	e = ev(0x3000, T0 + 3 * MS, TCP_ST_LISTEN, TCP_ST_SYN_RECV,
	       TCP_F_OWNER | TCP_F_PASSIVE | TCP_F_ROLE_KNOWN | TCP_F_AGE);
	e.pid = 200;
	e.lport = 8080;
	e.rport = 51001;
	strcpy(e.raddr, "10.0.0.9");
	assert_null(tcp_model_event(t, &e));

	assert_int_equal(t->nremotes, 1);
	r = remote(t, "10.0.0.9", true);
	assert_non_null(r);
	assert_true(r->inbound);
	assert_int_equal(r->lport, 8080);
	assert_int_equal(r->rport, 0);
	assert_int_equal(r->connections, 2);
	c = hmap_get(&t->live, 0x2000);
	assert_non_null(c);
	assert_int_equal(c->pid, 200);
	assert_string_equal(c->comm, "nginx");
	assert_int_equal(c->open_ts, T0 + MS);
	assert_int_equal(c->est_ts, T0 + 2 * MS);
	assert_int_equal(proc(t, 200)->connections, 2);
	assert_null(proc(t, 0));

	/* The same client to another port of ours is another remote. */
	e.sk = 0x4000;
	e.lport = 8443;
	assert_null(tcp_model_event(t, &e));
	assert_int_equal(t->nremotes, 2);

	/* The listener closes: still no connection of its own. */
	e = ev(0x1000, T0 + SEC, TCP_ST_LISTEN, TCP_ST_CLOSE, TCP_F_OWNER | TCP_F_ROLE_KNOWN);
	e.lport = 8080;
	e.rport = 0;
	strcpy(e.raddr, "0.0.0.0");
	assert_null(tcp_model_event(t, &e));
	assert_null(hmap_get(&t->live, 0x1000));
	assert_int_equal(t->nremotes, 2);
	assert_null(remote(t, "0.0.0.0", false));
	assert_null(remote(t, "0.0.0.0", true));
	assert_int_equal(t->nclosed, 0);
	assert_int_equal(t->records, 6);
	tcp_model_free(t);
}

/* Kernels up to 6.12 report a child's LISTEN -> SYN_RECV before it has its peer. */
static void test_child_peer_comes_later(void **state)
{
	struct tcp_model *t = model_new();
	const struct tcp_remote *r;
	struct tcp_event e;
	size_t listed = 0;

	e = ev(0x2000, T0, TCP_ST_LISTEN, TCP_ST_SYN_RECV,
	       TCP_F_OWNER | TCP_F_PASSIVE | TCP_F_ROLE_KNOWN | TCP_F_AGE);
	e.lport = 8080;
	e.rport = 0;
	strcpy(e.raddr, "0.0.0.0");
	assert_null(tcp_model_event(t, &e));
	e.old = TCP_ST_SYN_RECV;
	e.new = TCP_ST_ESTABLISHED;
	e.rport = 51000;
	strcpy(e.raddr, "10.0.0.9");
	e.ts += MS;
	assert_null(tcp_model_event(t, &e));
	r = remote(t, "10.0.0.9", true);
	assert_non_null(r);
	assert_int_equal(r->connections, 1);
	assert_int_equal(r->lport, 8080);
	/* The placeholder keyed by the unset peer holds nothing and is not listed. */
	for (r = t->rlist; r; r = r->next)
		listed += !tcp_remote_empty(r);
	assert_int_equal(listed, 1);
	assert_true(tcp_remote_empty(remote(t, "0.0.0.0", true)));
	tcp_model_free(t);
	(void)state;
}

static void test_resets(void **state)
{
	struct tcp_model *t = model_new();
	const struct tcp_remote *r;
	const struct tcp_conn *c;
	struct tcp_event e;
	struct tcp_proc *p;

	open_conn(t, 0x10, T0, "10.0.0.2");
	e = rst(0x10, T0 + SEC, TCP_F_OWNER | TCP_F_IDLE, 5 * SEC);
	e.idle_tx_ns = 3 * SEC;
	assert_null(tcp_model_event(t, &e));
	r = remote(t, "10.0.0.2", false);
	p = proc(t, 100);
	assert_non_null(r);
	assert_non_null(p);
	assert_int_equal(r->resets_rx, 1);
	assert_int_equal(r->resets_tx, 0);
	assert_int_equal(r->idle_n, 1);
	assert_int_equal(r->idle_ms[hist_bucket(5000)], 1);
	assert_int_equal(p->resets_rx, 1);
	assert_int_equal(t->resets_rx, 1);
	assert_int_equal(tcp_model_resets(t, false), 1);
	assert_int_equal(tcp_model_resets(t, true), 0);
	assert_int_equal(t->idle_n, 1);
	assert_int_equal(t->nresets, 1);
	assert_false(t->resets[0].sent);
	assert_int_equal(t->resets[0].idle_rx_ns, 5 * SEC);
	assert_int_equal(t->resets[0].idle_tx_ns, 3 * SEC);
	assert_int_equal(t->resets[0].state, TCP_ST_ESTABLISHED);
	assert_int_equal(t->resets[0].pid, 100);
	assert_string_equal(t->resets[0].raddr, "10.0.0.2");
	assert_int_equal(t->resets[0].rport, 443);
	/* A reset is not a transition. */
	assert_int_equal(t->records, 2);
	assert_int_equal(tcp_model_transitions(t), 2);

	e = rst(0x10, T0 + 2 * SEC, TCP_F_OWNER | TCP_F_IDLE | TCP_F_SENT, 7 * SEC);
	e.reason = 3;
	assert_null(tcp_model_event(t, &e));
	assert_int_equal(r->resets_rx, 1);
	assert_int_equal(r->resets_tx, 1);
	assert_int_equal(r->idle_n, 2);
	assert_int_equal(p->resets_tx, 1);
	assert_int_equal(t->resets_tx, 1);
	assert_int_equal(tcp_model_resets(t, true), 1);
	assert_int_equal(t->nresets, 2);
	assert_true(t->resets[1].sent);
	assert_int_equal(t->resets[1].reason, 3);
	assert_int_equal(t->resets[1].idle_rx_ns, 7 * SEC);

	/* Sent in reply to a segment for no socket: kept, but nobody's. */
	e = rst(0, T0 + 3 * SEC, TCP_F_SENT | TCP_F_NOSOCK, 0);
	e.pid = 0;
	strcpy(e.raddr, "10.0.0.77");
	assert_null(tcp_model_event(t, &e));
	assert_int_equal(t->nresets, 3);
	assert_int_equal(t->resets_tx, 2);
	assert_true(t->resets[2].flags & TCP_F_NOSOCK);
	assert_string_equal(t->resets[2].raddr, "10.0.0.77");
	assert_int_equal(t->nremotes, 1);
	assert_null(remote(t, "10.0.0.77", false));
	assert_int_equal(r->resets_tx, 1);
	assert_int_equal(p->resets_tx, 1);
	assert_int_equal(t->live.len, 1);
	assert_int_equal(t->idle_n, 2); /* no TCP_F_IDLE */

	/* The connection carries its resets to its close. */
	e = ev(0x10, T0 + 4 * SEC, TCP_ST_ESTABLISHED, TCP_ST_CLOSE, TCP_F_OWNER);
	c = tcp_model_event(t, &e);
	assert_non_null(c);
	assert_int_equal(c->resets_rx, 1);
	assert_int_equal(c->resets_tx, 1);
	tcp_model_free(t);
}

static void test_counts(void **state)
{
	struct tcp_model *t = model_new();
	struct tcp_counts k = { 0 };
	struct tcp_event e;

	open_conn(t, 0x10, T0, "10.0.0.2");
	e = rst(0x10, T0 + SEC, TCP_F_OWNER, 0);
	tcp_model_event(t, &e);
	assert_int_equal(tcp_model_transitions(t), 2);
	assert_int_equal(tcp_model_resets(t, false), 1);

	/* The kernel saw more than the records that reached us. */
	k.trans[TCP_ST_CLOSE * TCP_ST_NR + TCP_ST_SYN_SENT] = 40;
	k.trans[TCP_ST_SYN_SENT * TCP_ST_NR + TCP_ST_ESTABLISHED] = 38;
	k.resets_rx = 7;
	k.resets_tx = 3;
	k.retrans = 11;
	tcp_model_counts(t, &k);
	assert_true(t->have_counts);
	assert_int_equal(tcp_model_transitions(t), 78);
	assert_int_equal(tcp_model_resets(t, false), 7);
	assert_int_equal(tcp_model_resets(t, true), 3);
	assert_int_equal(t->retrans, 11);

	/* Later records are decoded but do not count twice. */
	e = ev(0x10, T0 + 2 * SEC, TCP_ST_ESTABLISHED, TCP_ST_FIN_WAIT1, TCP_F_OWNER);
	tcp_model_event(t, &e);
	e = rst(0x10, T0 + 2 * SEC, TCP_F_OWNER, 0);
	tcp_model_event(t, &e);
	e = rst(0x10, T0 + 2 * SEC, TCP_F_OWNER | TCP_F_SENT, 0);
	tcp_model_event(t, &e);
	assert_int_equal(t->records, 3);
	assert_int_equal(t->nresets, 3);
	assert_int_equal(tcp_model_transitions(t), 78);
	assert_int_equal(tcp_model_resets(t, false), 7);
	assert_int_equal(tcp_model_resets(t, true), 3);
	/* The per-remote and per-process figures still come from the records. */
	assert_int_equal(remote(t, "10.0.0.2", false)->resets_rx, 2);
	assert_int_equal(proc(t, 100)->resets_tx, 1);
	tcp_model_free(t);
}

static void test_cluster(void **state)
{
	static const uint64_t idle_ms[] = { 1000, 1000, 5000, 5050, 4980, 5100, 9000 };
	struct tcp_model *t = model_new();
	struct tcp_cluster c;
	struct tcp_event e;
	size_t i;

	assert_false(tcp_reset_cluster(t, &c));
	assert_int_equal(c.n, 0);
	assert_int_equal(c.total, 0);

	/* A reset without an idle time does not count, whatever the field says. */
	e = rst(0, T0, 0, 5000 * MS);
	tcp_model_event(t, &e);
	assert_false(tcp_reset_cluster(t, &c));

	for (i = 0; i < ARRAY_SIZE(idle_ms); i++) {
		e = rst(0, T0 + i * SEC, TCP_F_IDLE, idle_ms[i] * MS);
		tcp_model_event(t, &e);
	}
	assert_true(tcp_reset_cluster(t, &c));
	assert_int_equal(c.n, 4);
	assert_int_equal(c.total, 7);
	assert_in_range(c.idle_ms, 4980, 5100);
	assert_int_equal(c.lo_ms, 4980);
	assert_int_equal(c.hi_ms, 5100);
	assert_int_equal(c.min_ms, 1000);
	assert_int_equal(c.max_ms, 9000);
	assert_int_equal(c.below, 0);
	tcp_model_free(t);
}

/* Aborts amid traffic (idle near 0) do not hide the timeout: they stay below the floor. */
static void test_cluster_floor(void **state)
{
	struct tcp_model *t = model_new();
	struct tcp_cluster c;
	struct tcp_event e;
	size_t i;

	for (i = 0; i < 20; i++) {
		e = rst(0, T0 + i * MS, TCP_F_IDLE, i * MS);
		tcp_model_event(t, &e);
	}
	assert_false(tcp_reset_cluster(t, &c));
	assert_int_equal(c.below, 20);
	for (i = 0; i < 4; i++) {
		e = rst(0, T0 + i * SEC, TCP_F_IDLE, (3500 + 200 * i) * MS);
		tcp_model_event(t, &e);
	}
	assert_true(tcp_reset_cluster(t, &c));
	assert_int_equal(c.n, 4);
	assert_int_equal(c.total, 4);
	assert_int_equal(c.below, 20);
	assert_int_equal(c.min_ms, 3500);
	tcp_model_free(t);
}

static void test_closed_ring(void **state)
{
	struct tcp_model *t = model_new();
	const struct tcp_remote *r;
	struct tcp_event e;
	uint64_t i, n = TCP_MAX_CLOSED + 5;

	for (i = 1; i <= n; i++) {
		e = ev(i, T0 + i * MS, TCP_ST_CLOSE, TCP_ST_SYN_SENT, TCP_F_OWNER | TCP_F_AGE);
		assert_null(tcp_model_event(t, &e));
		e = ev(i, T0 + i * MS + 10, TCP_ST_SYN_SENT, TCP_ST_CLOSE, TCP_F_OWNER);
		assert_non_null(tcp_model_event(t, &e));
	}
	assert_int_equal(t->nclosed, n);
	assert_int_equal(t->live.len, 0);
	assert_int_equal(tcp_model_closed(t, 0)->sk, n);
	assert_int_equal(tcp_model_closed(t, 1)->sk, n - 1);
	/* The oldest kept: the first 5 were overwritten. */
	assert_int_equal(tcp_model_closed(t, TCP_MAX_CLOSED - 1)->sk, 6);
	assert_null(tcp_model_closed(t, TCP_MAX_CLOSED));
	r = remote(t, "10.0.0.2", false);
	assert_non_null(r);
	assert_int_equal(r->connections, n);
	assert_int_equal(r->closed, n);
	assert_int_equal(proc(t, 100)->connections, n);
	tcp_model_free(t);
}

static void test_sort(void **state)
{
	/* raddr, connections, received and sent resets on its first connection. */
	static const struct {
		const char *raddr;
		int conns, rx, tx;
	} spec[] = {
		{ "10.0.0.1", 3, 0, 0 }, /* most connections, no reset: last */
		{ "10.0.0.2", 1, 1, 1 }, /* most resets: first */
		{ "10.0.0.3", 1, 1, 0 }, /* ties with .5 on both: by address */
		{ "10.0.0.4", 2, 0, 1 }, /* one reset, more connections than .3 */
		{ "10.0.0.5", 1, 0, 1 },
	};
	static const char *const want[] = { "10.0.0.2", "10.0.0.4", "10.0.0.3", "10.0.0.5",
					    "10.0.0.1" };
	struct tcp_model *t = model_new();
	const struct tcp_remote *r;
	struct tcp_event e;
	uint64_t sk = 1;
	size_t i;
	int j;

	for (i = 0; i < ARRAY_SIZE(spec); i++) {
		for (j = 0; j < spec[i].conns; j++)
			open_conn(t, sk + j, T0, spec[i].raddr);
		for (j = 0; j < spec[i].rx + spec[i].tx; j++) {
			e = rst(sk, T0 + SEC, TCP_F_OWNER | (j < spec[i].rx ? 0 : TCP_F_SENT), 0);
			strcpy(e.raddr, spec[i].raddr);
			tcp_model_event(t, &e);
		}
		sk += spec[i].conns;
	}
	assert_int_equal(t->nremotes, ARRAY_SIZE(spec));
	tcp_model_sort(t);
	for (i = 0, r = t->rlist; i < ARRAY_SIZE(want); i++, r = r->next) {
		assert_non_null(r);
		assert_string_equal(r->raddr, want[i]);
	}
	assert_null(r);
	tcp_model_free(t);
}

static void test_names(void **state)
{
	static const uint8_t v4[4] = { 127, 0, 0, 1 };
	static const uint8_t lo6[16] = { [15] = 1 };
	static const uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff, 10, 1, 2, 3 };
	static const uint8_t doc[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 5 };
	char buf[TCP_ADDR_LEN];

	assert_string_equal(tcp_state_name(1), "ESTABLISHED");
	assert_string_equal(tcp_state_name(TCP_ST_LISTEN), "LISTEN");
	assert_string_equal(tcp_state_name(TCP_ST_NEW_SYN_RECV), "NEW_SYN_RECV");
	assert_string_equal(tcp_state_name(0), "?");
	assert_string_equal(tcp_state_name(14), "?");
	assert_string_equal(tcp_state_name(TCP_ST_NR), "?");
	assert_string_equal(tcp_state_name(99), "?");

	tcp_addr_str(AF_INET, v4, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1");
	tcp_addr_str(AF_INET6, lo6, buf, sizeof(buf));
	assert_string_equal(buf, "::1");
	tcp_addr_str(AF_INET6, mapped, buf, sizeof(buf));
	assert_string_equal(buf, "::ffff:10.1.2.3");
	tcp_addr_str(AF_INET6, doc, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8::5");
	/* Too small a buffer gives "?", never a cut address. */
	tcp_addr_str(AF_INET, v4, buf, 4);
	assert_string_equal(buf, "?");
	tcp_model_free(NULL);
}

/*
 * The kernel ran a client's FIN_WAIT1 -> FIN_WAIT2 -> CLOSE where no BPF
 * program sees (softirq work on some threads): its next record is a new
 * socket's CLOSE -> SYN_SENT at the freed address. The old connection is
 * closed then, flagged, kept out of the lifetimes; the new one starts clean.
 */
static void test_end_unseen(void **state)
{
	struct tcp_model *t = model_new();
	const struct tcp_remote *r;
	const struct tcp_conn *c, *n;
	struct tcp_event e;

	open_conn(t, 0xa1, T0, "10.0.0.2");
	e = ev(0xa1, T0 + 5 * MS, TCP_ST_ESTABLISHED, TCP_ST_FIN_WAIT1, TCP_F_OWNER);
	assert_null(tcp_model_event(t, &e));
	e = ev(0xa1, T0 + 300 * MS, TCP_ST_CLOSE, TCP_ST_SYN_SENT,
	       TCP_F_OWNER | TCP_F_ROLE_KNOWN | TCP_F_AGE);
	e.lport = 0;
	strcpy(e.raddr, "10.0.0.3");
	c = tcp_model_event(t, &e);
	assert_non_null(c);
	assert_true(c->end_unseen);
	assert_int_equal(c->state, TCP_ST_FIN_WAIT1);
	assert_int_equal(c->lport, 40000);
	assert_string_equal(c->raddr, "10.0.0.2");
	assert_int_equal(c->close_ts, T0 + 300 * MS);
	assert_int_equal(t->gaps, 1);
	assert_int_equal(t->ends_unseen, 1);
	assert_int_equal(t->nclosed, 1);
	r = remote(t, "10.0.0.2", false);
	assert_non_null(r);
	assert_int_equal(r->closed, 1);
	assert_int_equal(r->life_n, 0); /* its end, so its lifetime, is unknown */

	n = hmap_get(&t->live, 0xa1);
	assert_non_null(n);
	assert_false(n->end_unseen);
	assert_string_equal(n->raddr, "10.0.0.3");
	assert_int_equal(n->open_ts, T0 + 300 * MS);
	assert_int_equal(n->state, TCP_ST_SYN_SENT);

	/* A gap that begins no life: counted, the connection goes on. */
	e = ev(0xa1, T0 + 400 * MS, TCP_ST_ESTABLISHED, TCP_ST_FIN_WAIT1, TCP_F_OWNER);
	assert_null(tcp_model_event(t, &e));
	assert_int_equal(t->gaps, 2);
	assert_int_equal(t->ends_unseen, 1);
	assert_int_equal(t->live.len, 1);

	/* A listener's child at the address of a connection that vanished. */
	e = ev(0xa1, T0 + 500 * MS, TCP_ST_LISTEN, TCP_ST_SYN_RECV,
	       TCP_F_OWNER | TCP_F_ROLE_KNOWN | TCP_F_PASSIVE | TCP_F_AGE);
	c = tcp_model_event(t, &e);
	assert_non_null(c);
	assert_true(c->end_unseen);
	assert_string_equal(c->raddr, "10.0.0.3");
	assert_int_equal(t->gaps, 3);
	assert_int_equal(t->ends_unseen, 2);
	n = hmap_get(&t->live, 0xa1);
	assert_non_null(n);
	assert_true(n->flags & TCP_F_PASSIVE);

	/* A record that follows on is no gap; a reset is never one. */
	e = ev(0xa1, T0 + 501 * MS, TCP_ST_SYN_RECV, TCP_ST_ESTABLISHED, TCP_F_OWNER);
	assert_null(tcp_model_event(t, &e));
	e = rst(0xa1, T0 + 502 * MS, TCP_F_OWNER, 0);
	e.old = e.new = TCP_ST_CLOSE_WAIT;
	assert_null(tcp_model_event(t, &e));
	assert_int_equal(t->gaps, 3);

	/* When we stop, the tables say the connection is gone: it ended unseen. */
	c = tcp_model_gone(t, 0xa1, T0 + 900 * MS);
	assert_non_null(c);
	assert_true(c->end_unseen);
	assert_int_equal(c->close_ts, T0 + 900 * MS);
	assert_int_equal(t->ends_unseen, 3);
	assert_null(hmap_get(&t->live, 0xa1));
	assert_null(tcp_model_gone(t, 0xa1, T0 + 901 * MS));
	assert_null(tcp_model_gone(t, 0, T0 + 901 * MS));
	assert_int_equal(t->ends_unseen, 3);
	tcp_model_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_active),
		cmocka_unit_test(test_seen_late),
		cmocka_unit_test(test_end_unseen),
		cmocka_unit_test(test_passive_and_listener),
		cmocka_unit_test(test_child_peer_comes_later),
		cmocka_unit_test(test_resets),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_cluster),
		cmocka_unit_test(test_cluster_floor),
		cmocka_unit_test(test_closed_ring),
		cmocka_unit_test(test_sort),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
