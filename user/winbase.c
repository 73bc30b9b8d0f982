// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "mem.h"
#include "proc.h"
#include "recording.h"
#include "winbase.h"

/* A process's late snapshots come within two ticks of its exit. */
#define WB_DEAD_NS (5 * 1000000000ull)

struct wb_mem {
	uint64_t faults, reclaim_ns, reclaims, rss_peak;
	uint64_t win_peak; /* a dump's own peak when the baseline's was higher */
};

struct wb_tls {
	uint64_t samples[TLS_PH_NR];
};

struct wb_sched {
	uint64_t delay_ns, delays;
};

void wb_init(struct winbase *b)
{
	memset(b, 0, sizeof(*b));
}

static void free_vals(struct hmap *m)
{
	size_t it = 0;
	void *v;

	while (hmap_next(m, &it, NULL, &v))
		free(v);
	hmap_free(m);
}

void wb_free(struct winbase *b)
{
	free_vals(&b->mem);
	free_vals(&b->tls);
	free_vals(&b->sched);
	hmap_free(&b->dead);
	wb_init(b);
}

static int copy_map(struct hmap *dst, const struct hmap *src, size_t size)
{
	size_t it = 0;
	uint64_t k;
	void *v, *n;

	while (hmap_next(src, &it, &k, &v)) {
		n = hmap_put_new(dst, k, size);
		if (!n)
			return -ENOMEM;
		memcpy(n, v, size);
	}
	return 0;
}

int wb_copy(struct winbase *dst, const struct winbase *src)
{
	size_t it = 0;
	uint64_t k;
	void *v;

	wb_free(dst);
	memcpy(dst->tcp_trans, src->tcp_trans, sizeof(dst->tcp_trans));
	dst->have_tcp = src->have_tcp;
	dst->have_lost = src->have_lost;
	dst->tcp_resets_rx = src->tcp_resets_rx;
	dst->tcp_resets_tx = src->tcp_resets_tx;
	dst->tcp_retrans = src->tcp_retrans;
	dst->lost_bpf = src->lost_bpf;
	dst->lost_user = src->lost_user;
	if (copy_map(&dst->mem, &src->mem, sizeof(struct wb_mem)) ||
	    copy_map(&dst->tls, &src->tls, sizeof(struct wb_tls)) ||
	    copy_map(&dst->sched, &src->sched, sizeof(struct wb_sched)))
		return -ENOMEM;
	while (hmap_next(&src->dead, &it, &k, &v))
		if (hmap_put(&dst->dead, k, v))
			return -ENOMEM;
	return 0;
}

size_t wb_entries(const struct winbase *b)
{
	return b->mem.len + b->tls.len + b->sched.len + b->dead.len;
}

static void forget(struct winbase *b, uint32_t pid)
{
	free(hmap_del(&b->mem, pid));
	free(hmap_del(&b->tls, pid));
	free(hmap_del(&b->sched, pid));
	hmap_del(&b->dead, pid);
}

/* Forks, execs and exits: a pid's baseline lives as long as its process. */
static void proc_event(struct winbase *b, const struct st_hdr *h, uint32_t len)
{
	if (h->type == ST_PROC_FORK && len >= offsetof(struct proc_fork, ppid)) {
		forget(b, ((const struct proc_fork *)h)->pid); /* a new process */
	} else if (h->type == ST_PROC_EXEC && len >= offsetof(struct proc_exec, ppid)) {
		uint32_t pid = ((const struct proc_exec *)h)->pid;

		if (hmap_get(&b->dead, pid))
			forget(b, pid);
	} else if (h->type == ST_PROC_EXIT && len >= offsetof(struct proc_exit, exit_status)) {
		uint32_t pid = ((const struct proc_exit *)h)->pid;

		if (pid)
			hmap_put(&b->dead, pid, (void *)(uintptr_t)(h->ts + 1));
	}
}

/* Drops processes dead long enough that no late snapshot can come. */
static void sweep(struct winbase *b, uint64_t now)
{
	uint32_t *gone;
	size_t it = 0, n = 0, i;
	uint64_t k;
	void *v;

	if (!b->dead.len)
		return;
	gone = malloc(b->dead.len * sizeof(*gone));
	if (!gone)
		return;
	while (n < b->dead.len && hmap_next(&b->dead, &it, &k, &v))
		if ((uint64_t)(uintptr_t)v + WB_DEAD_NS < now)
			gone[n++] = (uint32_t)k;
	for (i = 0; i < n; i++)
		forget(b, gone[i]);
	free(gone);
}

static void reap_map(struct winbase *b, const struct hmap *m, bool (*alive)(uint32_t pid),
		     uint64_t now)
{
	size_t it = 0;
	uint64_t k;

	while (hmap_next(m, &it, &k, NULL))
		if (!hmap_get(&b->dead, k) && !alive((uint32_t)k))
			hmap_put(&b->dead, k, (void *)(uintptr_t)(now + 1));
}

void wb_reap(struct winbase *b, bool (*alive)(uint32_t pid), uint64_t now)
{
	reap_map(b, &b->mem, alive, now);
	reap_map(b, &b->tls, alive, now);
	reap_map(b, &b->sched, alive, now);
}

static size_t snap_entries(const struct mem_snap *s, uint32_t len)
{
	size_t n = (len - offsetof(struct mem_snap, e)) / sizeof(s->e[0]);

	return n < s->n ? n : s->n;
}

static size_t tls_entries(const struct tls_cpu_snap *s, uint32_t len)
{
	size_t n = (len - offsetof(struct tls_cpu_snap, e)) / sizeof(s->e[0]);

	return n < s->n ? n : s->n;
}

static size_t sched_entries(const struct cpu_sched_rec *s, uint32_t len)
{
	size_t n = (len - sizeof(*s)) / sizeof(s->e[0]);

	return n < s->n ? n : s->n;
}

static void *get_or_new(struct hmap *m, uint64_t k, size_t size)
{
	void *v = hmap_get(m, k);

	return v ? v : hmap_put_new(m, k, size);
}

static void absorb_mem(struct winbase *b, const struct mem_snap *s, uint32_t len)
{
	size_t i, n = snap_entries(s, len);

	for (i = 0; i < n; i++) {
		const struct mem_snap_entry *e = &s->e[i];
		struct wb_mem *m = e->pid ? get_or_new(&b->mem, e->pid, sizeof(*m)) : NULL;

		if (!m)
			continue;
		*m = (struct wb_mem){ .faults = e->faults,
				      .reclaim_ns = e->st.reclaim_ns,
				      .reclaims = e->st.reclaims,
				      .rss_peak = e->st.rss_peak };
	}
}

static void absorb_tls(struct winbase *b, const struct tls_cpu_snap *s, uint32_t len)
{
	size_t i, n = tls_entries(s, len);

	for (i = 0; i < n; i++) {
		struct wb_tls *t =
			s->e[i].pid ? get_or_new(&b->tls, s->e[i].pid, sizeof(*t)) : NULL;

		if (t)
			memcpy(t->samples, s->e[i].samples, sizeof(t->samples));
	}
}

static void absorb_sched(struct winbase *b, const struct cpu_sched_rec *s, uint32_t len)
{
	size_t i, n = sched_entries(s, len);

	for (i = 0; i < n; i++) {
		const struct cpu_sched_ent *e = &s->e[i];
		struct wb_sched *d;

		if (e->kind != CPU_CONC_TGID || !e->id || e->id > UINT32_MAX)
			continue;
		d = get_or_new(&b->sched, e->id, sizeof(*d));
		if (d) {
			d->delay_ns = e->delay_ns;
			d->delays = e->delays;
		}
	}
}

static void absorb_tcp(struct winbase *b, const struct tcp_counts *c)
{
	memcpy(b->tcp_trans, c->trans, sizeof(b->tcp_trans));
	b->tcp_resets_rx = c->resets_rx;
	b->tcp_resets_tx = c->resets_tx;
	b->tcp_retrans = c->retrans;
	b->have_tcp = true;
}

static void absorb_event(struct winbase *b, const struct st_hdr *h, uint32_t len)
{
	switch (h->type) {
	case ST_PROC_FORK:
	case ST_PROC_EXEC:
	case ST_PROC_EXIT:
		proc_event(b, h, len);
		break;
	case ST_MEM_SNAP:
		if (len >= offsetof(struct mem_snap, e))
			absorb_mem(b, (const void *)h, len);
		break;
	case ST_TLS_CPU:
		if (len >= offsetof(struct tls_cpu_snap, e))
			absorb_tls(b, (const void *)h, len);
		break;
	case ST_CPU_SCHED:
		if (len >= sizeof(struct cpu_sched_rec))
			absorb_sched(b, (const void *)h, len);
		break;
	case ST_TCP_COUNTS:
		if (len >= sizeof(struct tcp_counts))
			absorb_tcp(b, (const void *)h);
		break;
	}
}

void wb_absorb(struct winbase *b, uint32_t type, const void *payload, uint32_t len)
{
	const struct st_hdr *h = payload;

	if (type == REC_LOST && len >= sizeof(struct rec_lost)) {
		const struct rec_lost *l = payload;

		b->lost_bpf = l->bpf;
		b->lost_user = l->user;
		b->have_lost = true;
		sweep(b, l->ts);
		return;
	}
	if (type != REC_EVENT || len < sizeof(*h) || h->size != len)
		return;
	absorb_event(b, h, len);
}

/* cur - base, or cur when it went back: a new counter (pid reused, maps reset). */
static uint64_t sub(uint64_t cur, uint64_t base, bool *reset)
{
	if (cur >= base)
		return cur - base;
	*reset = true;
	return cur;
}

static void rebase_mem(struct winbase *b, struct mem_snap *s, uint32_t len)
{
	size_t i, n = snap_entries(s, len);

	for (i = 0; i < n; i++) {
		struct mem_snap_entry *e = &s->e[i];
		struct wb_mem *m = e->pid ? hmap_get(&b->mem, e->pid) : NULL;
		uint64_t rss = e->st.rss[MEM_RSS_FILE] + e->st.rss[MEM_RSS_ANON] +
			       e->st.rss[MEM_RSS_SHMEM];
		bool reset = false;

		if (!m)
			continue;
		if (e->faults < m->faults || e->st.reclaims < m->reclaims) {
			free(hmap_del(&b->mem, e->pid));
			continue;
		}
		e->faults = sub(e->faults, m->faults, &reset);
		e->st.reclaim_ns = sub(e->st.reclaim_ns, m->reclaim_ns, &reset);
		e->st.reclaims = sub(e->st.reclaims, m->reclaims, &reset);
		/* A peak from before the window is not this recording's: track our own. */
		if (e->st.rss_peak <= m->rss_peak) {
			if (rss > m->win_peak)
				m->win_peak = rss;
			e->st.rss_peak = m->win_peak;
		}
	}
}

static void rebase_tls(struct winbase *b, struct tls_cpu_snap *s, uint32_t len)
{
	size_t i, n = tls_entries(s, len);
	unsigned int ph;

	for (i = 0; i < n; i++) {
		struct wb_tls *t = s->e[i].pid ? hmap_get(&b->tls, s->e[i].pid) : NULL;
		bool reset = false;

		for (ph = 0; t && ph < TLS_PH_NR; ph++)
			if (s->e[i].samples[ph] < t->samples[ph])
				reset = true;
		if (reset) {
			free(hmap_del(&b->tls, s->e[i].pid));
			continue;
		}
		for (ph = 0; t && ph < TLS_PH_NR; ph++)
			s->e[i].samples[ph] -= t->samples[ph];
	}
}

static void rebase_sched(struct winbase *b, struct cpu_sched_rec *s, uint32_t len)
{
	size_t i, n = sched_entries(s, len);

	for (i = 0; i < n; i++) {
		struct cpu_sched_ent *e = &s->e[i];
		struct wb_sched *d;

		if (e->kind != CPU_CONC_TGID || !e->id || e->id > UINT32_MAX)
			continue;
		d = hmap_get(&b->sched, e->id);
		if (!d)
			continue;
		if (e->delay_ns < d->delay_ns || e->delays < d->delays) {
			free(hmap_del(&b->sched, e->id));
			continue;
		}
		e->delay_ns -= d->delay_ns;
		e->delays -= d->delays;
	}
}

static void rebase_tcp(const struct winbase *b, struct tcp_counts *c)
{
	bool reset = false;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(c->trans); i++)
		c->trans[i] = sub(c->trans[i], b->tcp_trans[i], &reset);
	c->resets_rx = sub(c->resets_rx, b->tcp_resets_rx, &reset);
	c->resets_tx = sub(c->resets_tx, b->tcp_resets_tx, &reset);
	c->retrans = sub(c->retrans, b->tcp_retrans, &reset);
}

/* Whether a record of this type and size is one we rewrite. */
static bool rebased(const struct winbase *b, const struct st_hdr *h, uint32_t len)
{
	switch (h->type) {
	case ST_MEM_SNAP:
		return b->mem.len && len >= offsetof(struct mem_snap, e);
	case ST_TLS_CPU:
		return b->tls.len && len >= offsetof(struct tls_cpu_snap, e);
	case ST_CPU_SCHED:
		return b->sched.len && len >= sizeof(struct cpu_sched_rec);
	case ST_TCP_COUNTS:
		return b->have_tcp && len >= sizeof(struct tcp_counts);
	}
	return false;
}

static const void *rebase_event(struct winbase *b, const struct st_hdr *h, uint32_t len, void *out)
{
	if (h->type == ST_PROC_FORK || h->type == ST_PROC_EXEC || h->type == ST_PROC_EXIT) {
		proc_event(b, h, len);
		return h;
	}
	if (!rebased(b, h, len))
		return h;
	memcpy(out, h, len);
	switch (h->type) {
	case ST_MEM_SNAP:
		rebase_mem(b, out, len);
		break;
	case ST_TLS_CPU:
		rebase_tls(b, out, len);
		break;
	case ST_CPU_SCHED:
		rebase_sched(b, out, len);
		break;
	case ST_TCP_COUNTS:
		rebase_tcp(b, out);
		break;
	}
	return out;
}

const void *wb_rebase(struct winbase *b, uint32_t type, const void *payload, uint32_t len,
		      void *out)
{
	const struct st_hdr *h = payload;

	if (type == REC_LOST && len >= sizeof(struct rec_lost)) {
		struct rec_lost *l = out;
		bool reset = false;

		sweep(b, ((const struct rec_lost *)payload)->ts);
		if (!b->have_lost)
			return payload;
		memcpy(l, payload, len);
		l->bpf = sub(l->bpf, b->lost_bpf, &reset);
		l->user = sub(l->user, b->lost_user, &reset);
		return l;
	}
	if (type != REC_EVENT || len < sizeof(*h) || h->size != len)
		return payload;
	return rebase_event(b, h, len, out);
}
