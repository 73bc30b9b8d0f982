// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tcpmodel.h"

static const char *const state_names[TCP_ST_NR] = {
	[TCP_ST_ESTABLISHED] = "ESTABLISHED",
	[TCP_ST_SYN_SENT] = "SYN_SENT",
	[TCP_ST_SYN_RECV] = "SYN_RECV",
	[TCP_ST_FIN_WAIT1] = "FIN_WAIT1",
	[TCP_ST_FIN_WAIT2] = "FIN_WAIT2",
	[TCP_ST_TIME_WAIT] = "TIME_WAIT",
	[TCP_ST_CLOSE] = "CLOSE",
	[TCP_ST_CLOSE_WAIT] = "CLOSE_WAIT",
	[TCP_ST_LAST_ACK] = "LAST_ACK",
	[TCP_ST_LISTEN] = "LISTEN",
	[TCP_ST_CLOSING] = "CLOSING",
	[TCP_ST_NEW_SYN_RECV] = "NEW_SYN_RECV",
	[TCP_ST_BOUND_INACTIVE] = "BOUND_INACTIVE",
};

const char *tcp_state_name(unsigned int st)
{
	return st < TCP_ST_NR && state_names[st] ? state_names[st] : "?";
}

void tcp_addr_str(uint8_t family, const uint8_t *addr, char *out, size_t len)
{
	if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, addr, out, len))
		st_strlcpy(out, "?", len);
}

void tcp_model_free(struct tcp_model *t)
{
	struct tcp_remote *r, *rn;
	size_t it = 0;
	void *v;

	if (!t)
		return;
	hmap_free_all(&t->live);
	it = 0;
	while (hmap_next(&t->procs, &it, NULL, &v))
		free(v);
	hmap_free(&t->procs);
	for (r = t->rlist; r; r = rn) {
		rn = r->next;
		free(r);
	}
	hmap_free(&t->remotes);
	free(t->resets);
	free(t);
}

static bool remote_is(const struct tcp_remote *r, bool in, const char *addr, uint16_t port)
{
	return r->inbound == in && !strcmp(r->raddr, addr) && (in ? r->lport : r->rport) == port;
}

/* Inbound connections group by client address and our port, outbound by peer address:port. */
static struct tcp_remote *remote_get(struct tcp_model *t, uint8_t flags, const char *raddr,
				     uint16_t lport, uint16_t rport)
{
	bool in = flags & TCP_F_PASSIVE;
	uint16_t port = in ? lport : rport;
	char key[TCP_ADDR_LEN + 16];
	struct tcp_remote *r;
	uint64_t h;

	snprintf(key, sizeof(key), "%c%s|%u", in ? 'i' : 'o', raddr, port);
	h = st_hash_str(key);
	r = hmap_get(&t->remotes, h);
	if (r && remote_is(r, in, raddr, port))
		return r;
	for (r = t->rlist; r; r = r->next) /* a hash collision: rare, slow is fine */
		if (remote_is(r, in, raddr, port))
			return r;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	st_strlcpy(r->raddr, raddr, sizeof(r->raddr));
	r->inbound = in;
	if (in)
		r->lport = port;
	else
		r->rport = port;
	if (!hmap_get(&t->remotes, h))
		hmap_put(&t->remotes, h, r);
	r->next = t->rlist;
	t->rlist = r;
	t->nremotes++;
	return r;
}

static struct tcp_proc *proc_get(struct tcp_model *t, uint32_t pid)
{
	struct tcp_proc *p = hmap_get(&t->procs, pid);

	if (p || !pid)
		return p;
	p = hmap_put_new(&t->procs, pid, sizeof(*p));
	if (p)
		p->pid = pid;
	return p;
}

/* Listeners are not connections: no remote, nothing to aggregate. */
static bool is_listener(const struct tcp_event *e)
{
	return e->new == TCP_ST_LISTEN || (e->old == TCP_ST_LISTEN && !(e->flags & TCP_F_PASSIVE));
}

static void conn_fill(struct tcp_conn *c, const struct tcp_event *e)
{
	c->sk = e->sk;
	c->netns = e->netns;
	c->family = e->family;
	c->flags = e->flags;
	c->lport = e->lport;
	c->rport = e->rport;
	st_strlcpy(c->laddr, e->laddr, sizeof(c->laddr));
	st_strlcpy(c->raddr, e->raddr, sizeof(c->raddr));
	c->first_ts = e->ts;
	if (e->flags & TCP_F_AGE)
		c->open_ts = e->ts - e->age_ns;
}

static void conn_owner(struct tcp_model *t, struct tcp_conn *c, const struct tcp_event *e)
{
	struct tcp_proc *p;

	if (c->pid || !e->pid)
		return;
	c->pid = e->pid;
	st_strlcpy(c->comm, e->comm, sizeof(c->comm));
	p = proc_get(t, c->pid);
	if (p)
		p->connections++;
}

/* c: the live connection at e's socket, if any; else one is opened for e. */
static struct tcp_conn *conn_get(struct tcp_model *t, struct tcp_conn *c, const struct tcp_event *e)
{
	/* Resets never open a connection: one may follow its CLOSE. */
	if (c || !e->sk || e->reset || is_listener(e))
		return c;
	c = hmap_put_new(&t->live, e->sk, sizeof(*c));
	if (!c)
		return NULL;
	conn_fill(c, e);
	c->remote = remote_get(t, c->flags, c->raddr, c->lport, c->rport);
	if (c->remote)
		c->remote->connections++;
	return c;
}

/*
 * A child of a listener is reported LISTEN -> SYN_RECV before the kernel
 * copies the peer into it on kernels up to 6.12 at least: its peer, and so
 * its remote, come with its next record.
 */
static void conn_peer(struct tcp_model *t, struct tcp_conn *c, const struct tcp_event *e)
{
	if (c->rport || !e->rport || e->reset)
		return;
	c->rport = e->rport;
	st_strlcpy(c->raddr, e->raddr, sizeof(c->raddr));
	if (c->remote && c->remote->connections)
		c->remote->connections--;
	c->remote = remote_get(t, c->flags, c->raddr, c->lport, c->rport);
	if (c->remote)
		c->remote->connections++;
}

static void conn_update(struct tcp_model *t, struct tcp_conn *c, const struct tcp_event *e)
{
	conn_peer(t, c, e);
	c->state = e->new;
	/* connect() picks the local port after SYN_SENT is reported. */
	if (!c->lport && e->lport) {
		c->lport = e->lport;
		st_strlcpy(c->laddr, e->laddr, sizeof(c->laddr));
	}
	/* Read from the socket: monotonic, except on a reused address. */
	if (e->rx_bytes >= c->rx_bytes)
		c->rx_bytes = e->rx_bytes;
	if (e->tx_bytes >= c->tx_bytes)
		c->tx_bytes = e->tx_bytes;
	if (e->retrans >= c->retrans)
		c->retrans = e->retrans;
	if (e->new == TCP_ST_ESTABLISHED && !c->est_ts)
		c->est_ts = e->ts;
}

static const struct tcp_conn *conn_close(struct tcp_model *t, struct tcp_conn *c, uint64_t ts)
{
	struct tcp_remote *r = c->remote;
	struct tcp_conn *slot = &t->closed[t->nclosed % TCP_MAX_CLOSED];

	c->close_ts = ts;
	if (r) {
		r->closed++;
		r->retrans += c->retrans;
		r->rx_bytes += c->rx_bytes;
		r->tx_bytes += c->tx_bytes;
		if (c->open_ts && !c->end_unseen) {
			r->life_ms[hist_bucket((ts - c->open_ts) / 1000000)]++;
			r->life_n++;
		}
	}
	hmap_del(&t->live, c->sk);
	*slot = *c;
	free(c);
	t->nclosed++;
	return slot;
}

void tcp_reset_from_event(struct tcp_reset *r, const struct tcp_event *e)
{
	*r = (struct tcp_reset){ .ts = e->ts,
				 .sent = e->flags & TCP_F_SENT,
				 .family = e->family,
				 .state = e->old,
				 .flags = e->flags,
				 .lport = e->lport,
				 .rport = e->rport,
				 .pid = e->pid,
				 .reason = e->reason,
				 .idle_rx_ns = e->idle_rx_ns,
				 .idle_tx_ns = e->idle_tx_ns,
				 .age_ns = e->age_ns,
				 .rx_bytes = e->rx_bytes,
				 .tx_bytes = e->tx_bytes };
	st_strlcpy(r->laddr, e->laddr, sizeof(r->laddr));
	st_strlcpy(r->raddr, e->raddr, sizeof(r->raddr));
	st_strlcpy(r->comm, e->comm, sizeof(r->comm));
}

static void add_reset(struct tcp_model *t, const struct tcp_event *e)
{
	if (t->nresets >= TCP_MAX_RESETS) {
		t->resets_dropped++;
		return;
	}
	if (t->nresets == t->resets_cap) {
		size_t cap = t->resets_cap ? t->resets_cap * 2 : 64;
		struct tcp_reset *v = realloc(t->resets, cap * sizeof(*v));

		if (!v) {
			t->resets_dropped++;
			return;
		}
		t->resets = v;
		t->resets_cap = cap;
	}
	tcp_reset_from_event(&t->resets[t->nresets++], e);
}

static void on_reset(struct tcp_model *t, struct tcp_conn *c, const struct tcp_event *e)
{
	bool sent = e->flags & TCP_F_SENT;
	struct tcp_proc *p = proc_get(t, e->pid);
	uint64_t idle_ms = e->idle_rx_ns / 1000000;
	struct tcp_remote *r = NULL;

	add_reset(t, e);
	if (!t->have_counts)
		*(sent ? &t->resets_tx : &t->resets_rx) += 1;
	if (p)
		*(sent ? &p->resets_tx : &p->resets_rx) += 1;
	if (e->flags & TCP_F_IDLE) {
		t->idle_ms[hist_bucket(idle_ms)]++;
		t->idle_n++;
	}
	if (c)
		*(sent ? &c->resets_tx : &c->resets_rx) += 1;
	/* After its CLOSE (an abortive close sends it then) the endpoint still counts. */
	if (c)
		r = c->remote;
	else if (e->sk && !(e->flags & TCP_F_NOSOCK))
		r = remote_get(t, e->flags, e->raddr, e->lport, e->rport);
	if (!r)
		return;
	*(sent ? &r->resets_tx : &r->resets_rx) += 1;
	if (e->flags & TCP_F_IDLE) {
		r->idle_ms[hist_bucket(idle_ms)]++;
		r->idle_n++;
	}
}

static const struct tcp_conn *end_unseen(struct tcp_model *t, struct tcp_conn *c, uint64_t ts)
{
	t->ends_unseen++;
	c->end_unseen = true;
	return conn_close(t, c, ts);
}

const struct tcp_conn *tcp_model_gone(struct tcp_model *t, uint64_t sk, uint64_t ts)
{
	struct tcp_conn *c = sk ? hmap_get(&t->live, sk) : NULL;

	return c ? end_unseen(t, c, ts) : NULL;
}

/*
 * A record that does not start where the socket's last one left it: the
 * kernel made transitions no program saw (softirq work it runs where BPF
 * programs do not; docs/tcp.md). When a new life begins at the address, the
 * old connection ended unseen: closed now (*live is then NULL), flagged, out
 * of the lifetimes.
 */
static const struct tcp_conn *check_gap(struct tcp_model *t, struct tcp_conn **live,
					const struct tcp_event *e)
{
	struct tcp_conn *c = *live;

	if (!c || e->reset || e->old == c->state)
		return NULL;
	t->gaps++;
	if (!tcp_starts_life(e->old, e->new))
		return NULL;
	*live = NULL;
	return end_unseen(t, c, e->ts);
}

const struct tcp_conn *tcp_model_event(struct tcp_model *t, const struct tcp_event *e)
{
	struct tcp_conn *c = e->sk ? hmap_get(&t->live, e->sk) : NULL;
	const struct tcp_conn *ended = check_gap(t, &c, e);

	c = conn_get(t, c, e);

	if (c)
		conn_owner(t, c, e);
	if (e->reset) {
		on_reset(t, c, e);
		return NULL;
	}
	t->records++;
	if (!t->have_counts && e->old < TCP_ST_NR && e->new < TCP_ST_NR)
		t->trans[e->old * TCP_ST_NR + e->new]++;
	if (!c)
		return ended;
	conn_update(t, c, e);
	/* A record that begins a life never closes: one closed connection at most. */
	return e->new == TCP_ST_CLOSE ? conn_close(t, c, e->ts) : ended;
}

void tcp_model_counts(struct tcp_model *t, const struct tcp_counts *c)
{
	memcpy(t->trans, c->trans, sizeof(t->trans));
	t->resets_rx = c->resets_rx;
	t->resets_tx = c->resets_tx;
	t->retrans = c->retrans;
	t->have_counts = true;
}

uint64_t tcp_model_transitions(const struct tcp_model *t)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(t->trans); i++)
		n += t->trans[i];
	return n;
}

uint64_t tcp_model_resets(const struct tcp_model *t, bool sent)
{
	return sent ? t->resets_tx : t->resets_rx;
}

static uint64_t remote_resets(const struct tcp_remote *r)
{
	return r->resets_rx + r->resets_tx;
}

static int remote_cmp(const void *a, const void *b)
{
	const struct tcp_remote *x = *(struct tcp_remote *const *)a;
	const struct tcp_remote *y = *(struct tcp_remote *const *)b;

	if (remote_resets(x) != remote_resets(y))
		return remote_resets(x) > remote_resets(y) ? -1 : 1;
	if (x->connections != y->connections)
		return x->connections > y->connections ? -1 : 1;
	return strcmp(x->raddr, y->raddr);
}

void tcp_model_sort(struct tcp_model *t)
{
	struct tcp_remote **v, *r;
	size_t i, n = 0;

	if (!t->nremotes)
		return;
	v = calloc(t->nremotes, sizeof(*v));
	if (!v)
		return;
	for (r = t->rlist; r && n < t->nremotes; r = r->next)
		v[n++] = r;
	qsort(v, n, sizeof(*v), remote_cmp);
	for (i = 0; i < n; i++)
		v[i]->next = i + 1 < n ? v[i + 1] : NULL;
	t->rlist = v[0];
	free(v);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Sorted idle times; from each v_i the window up to v_i * 11/9 holds values
 * all within ±10 % of its midpoint. The fullest window wins. Two pointers.
 */
bool tcp_reset_cluster(const struct tcp_model *t, struct tcp_cluster *c)
{
	uint64_t *v = NULL;
	size_t i, j = 0, n = 0, best = 0, bi = 0;

	memset(c, 0, sizeof(*c));
	if (t->nresets)
		v = calloc(t->nresets, sizeof(*v));
	if (!v)
		return false;
	for (i = 0; i < t->nresets; i++) {
		uint64_t ms = t->resets[i].idle_rx_ns / 1000000;

		if (!(t->resets[i].flags & TCP_F_IDLE))
			continue;
		if (ms < TCP_IDLE_FLOOR_MS)
			c->below++;
		else
			v[n++] = ms;
	}
	qsort(v, n, sizeof(*v), u64_cmp);
	for (i = 0; i < n; i++) {
		if (j < i)
			j = i;
		while (j + 1 < n && v[j + 1] * 9 <= v[i] * 11)
			j++;
		if (j - i + 1 > best) {
			best = j - i + 1;
			bi = i;
		}
	}
	if (best) {
		c->lo_ms = v[bi];
		c->hi_ms = v[bi + best - 1];
		c->idle_ms = v[bi + best / 2];
		c->n = best;
		c->total = n;
		c->min_ms = v[0];
		c->max_ms = v[n - 1];
	}
	free(v);
	return best > 0;
}

const struct tcp_conn *tcp_model_closed(const struct tcp_model *t, size_t i)
{
	if (i >= t->nclosed || i >= TCP_MAX_CLOSED)
		return NULL;
	return &t->closed[(t->nclosed - 1 - i) % TCP_MAX_CLOSED];
}
