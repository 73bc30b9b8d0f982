// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdlib.h>
#include <string.h>

#include "tlsmodel.h"

uint64_t tls_proc_lat_q(const struct tls_proc *p, double q)
{
	return hist_quantile(p->lat, p->lat_n, q);
}

double tls_proc_cpu_s(const struct tls_proc *p, unsigned int phase)
{
	return phase < TLS_PH_NR ? (double)p->samples[phase] * p->period_ns / 1e9 : 0;
}

uint32_t tls_proc_peak_rate(const struct tls_proc *p)
{
	uint32_t max = 0;
	size_t i;

	for (i = 0; i < p->nper_s; i++)
		max = p->per_s[i] > max ? p->per_s[i] : max;
	return max;
}

static struct tls_proc *proc_get(struct tls_model *t, uint32_t pid, const char *comm)
{
	struct tls_proc *p = hmap_get(&t->procs, pid);

	if (p)
		return p;
	p = hmap_put_new(&t->procs, pid, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	if (comm)
		st_strlcpy(p->comm, comm, sizeof(p->comm));
	p->next = t->plist;
	t->plist = p;
	t->nprocs++;
	return p;
}

static struct tls_client *client_get(struct tls_model *t, const char *addr)
{
	uint64_t h = st_hash_str(addr);
	struct tls_client *c = hmap_get(&t->clients, h);

	if (c)
		return c;
	c = hmap_put_new(&t->clients, h, sizeof(*c));
	if (!c)
		return NULL;
	st_strlcpy(c->addr, addr, sizeof(c->addr));
	c->next = t->clist;
	t->clist = c;
	t->nclients++;
	return c;
}

/*
 * Seconds since the start a process's per-second counts reach (12 days, 4
 * MiB at most): a handshake dated later (a corrupt or hostile recording, a
 * fuzz input asked for 128 GiB) counts in the totals only.
 */
#define PER_S_MAX (1u << 20)

static void count_second(struct tls_proc *p, size_t sec)
{
	size_t n;
	uint32_t *v;

	if (sec >= PER_S_MAX)
		return;
	if (sec >= p->nper_s) {
		n = p->nper_s ? p->nper_s : 64;
		while (n <= sec)
			n *= 2;
		v = realloc(p->per_s, n * sizeof(*v));
		if (!v)
			return;
		memset(v + p->nper_s, 0, (n - p->nper_s) * sizeof(*v));
		p->per_s = v;
		p->nper_s = n;
	}
	p->per_s[sec]++;
}

/* Keeps the first TLS_HS_KEPT handshakes; counts the rest. */
static void keep_hs(struct tls_model *t, const struct tls_event *e)
{
	struct tls_hs_ent *h;
	size_t cap;

	if (t->nhs == t->hs_cap) {
		cap = t->hs_cap ? t->hs_cap * 2 : 256;
		cap = cap < TLS_HS_KEPT ? cap : TLS_HS_KEPT;
		h = t->nhs < cap ? realloc(t->hs, cap * sizeof(*h)) : NULL;
		if (!h) {
			t->hs_dropped++;
			return;
		}
		t->hs = h;
		t->hs_cap = cap;
	}
	h = &t->hs[t->nhs++];
	memset(h, 0, sizeof(*h));
	h->ts = e->ts;
	h->start_ns = e->start_ns;
	h->pid = e->pid;
	h->tid = e->tid;
	h->flags = e->flags;
	h->port = e->port;
	st_strlcpy(h->addr, e->addr, sizeof(h->addr));
}

struct tls_proc *tls_model_hs(struct tls_model *t, uint64_t t0, const struct tls_event *e)
{
	struct tls_proc *p = proc_get(t, e->pid, e->comm);
	struct tls_client *c;
	uint64_t us;

	if (!p)
		return NULL;
	if (e->comm[0])
		st_strlcpy(p->comm, e->comm, sizeof(p->comm));
	if (!p->lib && e->lib < 256)
		p->lib = t->libs[e->lib];
	keep_hs(t, e);
	/* Clients are the peers of servers; a client's peer is a server. */
	c = e->addr[0] && (e->flags & (TLS_F_SERVER | TLS_F_ROLE_KNOWN)) != TLS_F_ROLE_KNOWN ?
		    client_get(t, e->addr) :
		    NULL;
	if (e->flags & TLS_F_FAILED) {
		p->failed++;
		if (c)
			c->failed++;
		return p;
	}
	p->handshakes++;
	if (e->flags & TLS_F_RENEG)
		p->reneg++;
	if (e->flags & TLS_F_RESUMED)
		p->resumed++;
	else
		p->full++;
	us = e->ts > e->start_ns ? (e->ts - e->start_ns) / 1000 : 0;
	p->lat[hist_bucket(us)]++;
	p->lat_n++;
	if (e->ts >= t0)
		count_second(p, (e->ts - t0) / 1000000000ull);
	if (c) {
		c->handshakes++;
		if (e->flags & TLS_F_RENEG)
			c->reneg++;
	}
	return p;
}

void tls_model_cpu(struct tls_model *t, uint32_t pid, const uint64_t *samples, uint64_t period_ns)
{
	struct tls_proc *p = proc_get(t, pid, NULL);

	if (!p)
		return;
	memcpy(p->samples, samples, sizeof(p->samples));
	p->period_ns = period_ns;
}

void tls_model_lib(struct tls_model *t, uint32_t idx, const char *path, bool is_static)
{
	if (idx >= 256)
		return;
	free(t->libs[idx]);
	t->libs[idx] = strdup(path);
	t->lib_static[idx] = is_static;
}

static int proc_cmp(const void *a, const void *b)
{
	const struct tls_proc *x = *(struct tls_proc *const *)a, *y = *(struct tls_proc *const *)b;

	if (x->handshakes + x->failed != y->handshakes + y->failed)
		return x->handshakes + x->failed > y->handshakes + y->failed ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static int client_cmp(const void *a, const void *b)
{
	const struct tls_client *x = *(struct tls_client *const *)a;
	const struct tls_client *y = *(struct tls_client *const *)b;
	uint64_t nx = x->handshakes + x->reneg + x->failed,
		 ny = y->handshakes + y->reneg + y->failed;

	if (nx != ny)
		return nx > ny ? -1 : 1;
	return strcmp(x->addr, y->addr);
}

/* Sorts a singly linked list through a temporary array; keeps it on failure. */
#define SORT_LIST(head, n, type, cmp)                                   \
	do {                                                            \
		type **v_ = calloc((n) + 1, sizeof(*v_)), *e_;          \
		size_t i_ = 0;                                          \
		if (!v_)                                                \
			break;                                          \
		for (e_ = (head); e_; e_ = e_->next)                    \
			v_[i_++] = e_;                                  \
		qsort(v_, i_, sizeof(*v_), cmp);                        \
		for (size_t k_ = 0; k_ < i_; k_++)                      \
			v_[k_]->next = k_ + 1 < i_ ? v_[k_ + 1] : NULL; \
		(head) = i_ ? v_[0] : NULL;                             \
		free(v_);                                               \
	} while (0)

void tls_model_sort(struct tls_model *t)
{
	SORT_LIST(t->plist, t->nprocs, struct tls_proc, proc_cmp);
	SORT_LIST(t->clist, t->nclients, struct tls_client, client_cmp);
}

void tls_model_free(struct tls_model *t)
{
	struct tls_proc *p, *pn;
	struct tls_client *c, *cn;
	size_t i;

	if (!t)
		return;
	for (p = t->plist; p; p = pn) {
		pn = p->next;
		free(p->per_s);
		free(p);
	}
	for (c = t->clist; c; c = cn) {
		cn = c->next;
		free(c);
	}
	for (i = 0; i < 256; i++)
		free(t->libs[i]);
	free(t->hs);
	hmap_free(&t->procs);
	hmap_free(&t->clients);
	free(t);
}
