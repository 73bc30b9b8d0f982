// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cause.h"
#include "cpumodel.h"
#include "model.h"
#include "stacks.h"
#include "tls.h"

static struct cpu_model *cpu_of(struct model *m)
{
	if (!m->cpu)
		m->cpu = calloc(1, sizeof(*m->cpu));
	if (!m->cpu)
		m->lost_user++;
	return m->cpu;
}

static void series_free(struct cpu_series *s)
{
	free(s->v);
}

void cpu_model_free(struct cpu_model *c)
{
	size_t i = 0, h;
	uint64_t k;
	void *v;

	if (!c)
		return;
	while (hmap_next(&c->stacks, &i, &k, &v)) {
		struct cpu_stack *st = v;

		free(st->frames);
		free(st->buf);
		free(st);
	}
	for (i = 0; hmap_next(&c->procs, &i, &k, &v);) {
		struct cpu_proc *cp = v;

		series_free(&cp->cum);
		series_free(&cp->run);
		free(cp);
	}
	for (h = 0; h < 2; h++) {
		for (i = 0; hmap_next(&c->cgs[h], &i, &k, &v);) {
			series_free(&((struct cpu_cg *)v)->run);
			free(v);
		}
		hmap_free(&c->cgs[h]);
	}
	for (i = 0; hmap_next(&c->prof, &i, &k, &v);) {
		while (v) {
			struct cpu_prof *next = ((struct cpu_prof *)v)->next;

			free(v);
			v = next;
		}
	}
	hmap_free(&c->stacks);
	hmap_free(&c->procs);
	hmap_free(&c->prof);
	series_free(&c->host);
	free(c);
}

static int series_add(struct cpu_series *s, uint64_t ts, uint64_t v)
{
	if (s->n && s->v[s->n - 1].ts == ts) {
		s->v[s->n - 1].v = v;
		return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct cpu_pt *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = (struct cpu_pt){ ts, v };
	return 0;
}

static bool is_fault_frame(const char *f)
{
	return !strncmp(f, "exc_page_fault", 14) || !strncmp(f, "asm_exc_page_fault", 18) ||
	       !strncmp(f, "handle_mm_fault", 15) || !strncmp(f, "do_user_addr_fault", 18);
}

void model_cpu_stack(struct model *m, const struct cpu_stack_rec *r, size_t len)
{
	struct cpu_model *c = cpu_of(m);
	struct cpu_stack *st;
	size_t i, off = 0, lost, body = len - sizeof(*r);

	if (!c || !r->id || r->len > body || hmap_get(&c->stacks, r->id))
		return;
	st = calloc(1, sizeof(*st));
	if (!st || !(st->buf = malloc(r->len + 1)) ||
	    !(st->frames = calloc(r->nframes + 1, sizeof(char *)))) {
		if (st)
			free(st->buf);
		free(st);
		m->lost_user++;
		return;
	}
	memcpy(st->buf, r->names, r->len);
	st->buf[r->len] = 0;
	st->id = r->id;
	st->flags = r->flags;
	/*
	 * A cut record keeps the whole names it has; the kernel frames come
	 * last, so they are the first lost. No more frames than the agent
	 * makes (user, cut mark, kernel), whatever a recording says.
	 */
	for (i = 0; i < r->nframes && i < CPU_STACK_FRAMES_MAX && off < r->len; i++) {
		size_t n = strnlen(st->buf + off, r->len - off);

		if (off + n >= r->len)
			break; /* no NUL inside the record: a cut name */
		st->frames[i] = st->buf + off;
		off += n + 1;
	}
	st->nframes = i;
	lost = r->nframes - st->nframes;
	st->nkernel = r->nkernel > lost ? r->nkernel - lost : 0;
	if (st->nkernel > st->nframes)
		st->nkernel = st->nframes;
	for (i = st->nframes - st->nkernel; i < st->nframes; i++)
		st->fault |= is_fault_frame(st->frames[i]);
	if (hmap_put(&c->stacks, st->id, st)) {
		free(st->frames);
		free(st->buf);
		free(st);
		m->lost_user++;
	}
}

static struct cpu_proc *cproc(struct cpu_model *c, struct proc *p)
{
	struct cpu_proc *cp = hmap_get(&c->procs, (uintptr_t)p);

	if (cp)
		return cp;
	cp = hmap_put_new(&c->procs, (uintptr_t)p, sizeof(*cp));
	if (cp)
		cp->p = p;
	return cp;
}

static uint64_t prof_hash(const struct proc *p, uint32_t tag, uint32_t stack)
{
	uint64_t h = (uintptr_t)p * 0x9e3779b97f4a7c15ull;

	h ^= ((uint64_t)tag << 32 | stack) * 0xc2b2ae3d27d4eb4full;
	return h ? h : 1;
}

static int prof_add(struct cpu_model *c, struct proc *p, uint32_t tag, uint32_t stack, uint64_t n)
{
	uint64_t h = prof_hash(p, tag, stack);
	struct cpu_prof *e = hmap_get(&c->prof, h), *head = e;

	for (; e; e = e->next)
		if (e->p == p && e->tag == tag && e->stack == stack) {
			e->count += n;
			return 0;
		}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	*e = (struct cpu_prof){ .p = p, .tag = tag, .stack = stack, .count = n, .next = head };
	if (hmap_put(&c->prof, h, e)) {
		free(e);
		return -ENOMEM;
	}
	return 0;
}

void model_cpu_samples(struct model *m, const struct cpu_samples_rec *r, size_t len)
{
	struct cpu_model *c = cpu_of(m);
	size_t i, n = (len - sizeof(*r)) / sizeof(r->e[0]);
	uint64_t busy;

	if (!c)
		return;
	if (n > r->n)
		n = r->n;
	if (r->period_ns)
		c->period_ns = r->period_ns;
	c->tick_ts = r->h.ts;
	c->samples += r->samples;
	c->idle += r->idle;
	c->lost_stacks += r->lost_stacks;
	busy = c->samples - c->idle;
	if (r->samples && series_add(&c->host, r->h.ts, busy))
		m->lost_user++;
	for (i = 0; i < n; i++) {
		const struct cpu_sample_ent *e = &r->e[i];
		struct proc *p = model_find(m, e->pid);
		struct cpu_proc *cp = p ? cproc(c, p) : NULL;
		const struct cpu_stack *st = e->stack ? hmap_get(&c->stacks, e->stack) : NULL;

		if (!cp) {
			c->unknown += e->count;
			continue;
		}
		cp->samples += e->count;
		p->cpu_seen = true;
		c->profiled += e->count;
		c->nostack += st ? 0 : e->count;
		c->truncated += st && (st->flags & CPU_STK_TRUNCATED) ? e->count : 0;
		if (series_add(&cp->cum, r->h.ts, cp->samples) ||
		    prof_add(c, p, e->tag, st ? e->stack : 0, e->count))
			m->lost_user++;
	}
}

static void sched_proc(struct model *m, struct cpu_model *c, const struct cpu_sched_ent *e,
		       uint64_t ts)
{
	struct proc *p = model_find(m, (uint32_t)e->id);
	struct cpu_proc *cp = p ? cproc(c, p) : NULL;

	if (!cp)
		return;
	cp->has_sched = true;
	cp->delay_ns = e->delay_ns;
	cp->delays = e->delays;
	cp->max_delay_ns = e->max_delay_ns;
	if (e->max_runnable > cp->max_runnable)
		cp->max_runnable = e->max_runnable;
	if (e->max_runnable && series_add(&cp->run, ts, e->max_runnable))
		m->lost_user++;
}

void model_cpu_sched(struct model *m, const struct cpu_sched_rec *r, size_t len)
{
	struct cpu_model *c = cpu_of(m);
	size_t i, n = (len - sizeof(*r)) / sizeof(r->e[0]);

	if (!c)
		return;
	c->sched = true;
	if (n > r->n)
		n = r->n;
	for (i = 0; i < n; i++) {
		const struct cpu_sched_ent *e = &r->e[i];
		struct hmap *cgs = &c->cgs[e->kind == CPU_CONC_MEMCG ? CG_MEM : CG_V2];
		struct cpu_cg *g;

		if (e->kind == CPU_CONC_TGID) {
			sched_proc(m, c, e, r->h.ts);
			continue;
		}
		if ((e->kind != CPU_CONC_CGROUP && e->kind != CPU_CONC_MEMCG) || !e->id)
			continue;
		g = hmap_get(cgs, e->id);
		if (!g && (g = hmap_put_new(cgs, e->id, sizeof(*g))))
			g->id = e->id;
		if (!g || series_add(&g->run, r->h.ts, e->max_runnable)) {
			m->lost_user++;
			continue;
		}
		if (e->max_runnable > g->max_runnable)
			g->max_runnable = e->max_runnable;
	}
}

static const struct cpu_proc *cproc_get(const struct model *m, const struct proc *p)
{
	return m->cpu ? hmap_get(&m->cpu->procs, (uintptr_t)p) : NULL;
}

double cpu_proc_s(const struct model *m, const struct proc *p)
{
	const struct cpu_proc *cp = cproc_get(m, p);

	return cp ? (double)cp->samples * (double)m->cpu->period_ns / 1e9 : 0;
}

/* Whether cgroup path belongs to the job's cgroup (it or below). */
static bool cg_in(const char *path, const char *jcg)
{
	size_t n = strlen(jcg);

	return path && !strncmp(path, jcg, n) && (path[n] == 0 || path[n] == '/');
}

/*
 * The hierarchy in which the job's cgroup was counted (the job's cgroup is
 * a cgroup2 path, or a v1 memory one on hybrid hosts), or -1.
 */
static int job_cg_hier(const struct model *m, const struct job *j)
{
	uint64_t key;
	size_t i;
	void *v;
	int h;

	/* A lineage job's cgroup is shared with other jobs: not its count. */
	if (!j->cgroup || !cause_cgroup_is_job(j->cgroup))
		return -1;
	for (h = 0; h < 2; h++)
		for (i = 0; hmap_next(&m->cpu->cgs[h], &i, &key, &v);)
			if (cg_in(model_cgroup(m, h, key), j->cgroup))
				return h;
	return -1;
}

/* Per record time: the sum of the runnable peaks of the cgroups in the job. */
static uint32_t conc_cgroup(const struct model *m, const struct job *j, int h)
{
	struct hmap sums;
	size_t i = 0, k;
	uint64_t key;
	void *v;
	uint32_t best = 0;

	hmap_init(&sums);
	while (hmap_next(&m->cpu->cgs[h], &i, &key, &v)) {
		const struct cpu_cg *g = v;

		if (!cg_in(model_cgroup(m, h, g->id), j->cgroup))
			continue;
		for (k = 0; k < g->run.n; k++) {
			uintptr_t s = (uintptr_t)hmap_get(&sums, g->run.v[k].ts) + g->run.v[k].v;

			hmap_put(&sums, g->run.v[k].ts, (void *)s);
			if (s > best)
				best = s;
		}
	}
	hmap_free(&sums);
	return best;
}

/* Without a cgroup: the sum over its processes' per-second peaks. */
static uint32_t conc_procs(const struct model *m, const struct job *j)
{
	struct hmap sums;
	size_t i, k;
	uint32_t best = 0;

	hmap_init(&sums);
	for (i = 0; i < j->nprocs; i++) {
		const struct cpu_proc *cp = cproc_get(m, j->procs[i]);

		for (k = 0; cp && k < cp->run.n; k++) {
			uintptr_t s = (uintptr_t)hmap_get(&sums, cp->run.v[k].ts) + cp->run.v[k].v;

			hmap_put(&sums, cp->run.v[k].ts, (void *)s);
			if (s > best)
				best = s;
		}
	}
	hmap_free(&sums);
	return best;
}

void cpu_job(struct model *m, struct job *j)
{
	uint64_t samples = 0, delay = 0;
	size_t i;
	int h;

	j->cpu_s = 0;
	j->run_delay_s = 0;
	if (!m->cpu)
		return;
	for (i = 0; i < j->nprocs; i++) {
		const struct cpu_proc *cp = cproc_get(m, j->procs[i]);

		if (!cp)
			continue;
		samples += cp->samples;
		delay += cp->delay_ns;
	}
	j->cpu_s = (double)samples * (double)m->cpu->period_ns / 1e9;
	j->run_delay_s = (double)delay / 1e9;
	if (!m->cpu->sched)
		return;
	h = job_cg_hier(m, j);
	j->max_concurrency = h >= 0 ? conc_cgroup(m, j, h) : conc_procs(m, j);
}

/*
 * A record written at a tick covers the second before it; ticks come a
 * little after each whole second. Placed at the middle of that second, its
 * counts land in the interval they were taken in.
 */
#define TICK_MID_NS 500000000ULL

static uint64_t covered_at(uint64_t ts)
{
	return ts > TICK_MID_NS ? ts - TICK_MID_NS : 0;
}

static uint64_t cum_at(const struct cpu_series *s, uint64_t t)
{
	size_t lo = 0, hi = s->n;

	/* The last point whose second (covered_at) is before t. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (covered_at(s->v[mid].ts) < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? s->v[lo - 1].v : 0;
}

void model_series_cpu(const struct model *m, const struct job *j, double interval_s, double *v,
		      size_t nb)
{
	uint64_t step = (uint64_t)(interval_s * 1e9);
	double per = m->cpu ? (double)m->cpu->period_ns / 1e9 : 0;
	size_t i, b;

	memset(v, 0, nb * sizeof(*v));
	for (i = 0; i < j->nprocs; i++) {
		const struct cpu_proc *cp = cproc_get(m, j->procs[i]);
		uint64_t prev = 0;

		for (b = 0; cp && b < nb; b++) {
			uint64_t c = cum_at(&cp->cum, m->t0 + (b + 1) * step);

			v[b] += (double)(c - prev) * per;
			prev = c;
		}
	}
}

static void conc_into(const struct model *m, const struct cpu_series *s, double interval_s,
		      double *v, size_t nb, struct hmap *sums)
{
	uint64_t step = (uint64_t)(interval_s * 1e9);
	size_t k;

	(void)nb;
	for (k = 0; k < s->n; k++) {
		uint64_t ts = s->v[k].ts;
		uintptr_t sum = (uintptr_t)hmap_get(sums, ts) + s->v[k].v;
		uint64_t at = covered_at(ts);
		size_t b = at > m->t0 ? (at - m->t0) / step : 0;

		hmap_put(sums, ts, (void *)sum);
		if (b < nb && sum > v[b])
			v[b] = sum;
	}
}

void model_series_conc(const struct model *m, const struct job *j, double interval_s, double *v,
		       size_t nb)
{
	struct hmap sums;
	size_t i = 0;
	uint64_t key;
	void *val;
	int h;

	memset(v, 0, nb * sizeof(*v));
	if (!m->cpu || !m->cpu->sched)
		return;
	hmap_init(&sums);
	h = job_cg_hier(m, j);
	if (h >= 0) {
		while (hmap_next(&m->cpu->cgs[h], &i, &key, &val))
			if (cg_in(model_cgroup(m, h, key), j->cgroup))
				conc_into(m, &((struct cpu_cg *)val)->run, interval_s, v, nb,
					  &sums);
	} else {
		for (i = 0; i < j->nprocs; i++) {
			const struct cpu_proc *cp = cproc_get(m, j->procs[i]);

			if (cp)
				conc_into(m, &cp->run, interval_s, v, nb, &sums);
		}
	}
	hmap_free(&sums);
}

const char *cpu_phase_name(uint32_t tag, const struct cpu_stack *st)
{
	switch (CPU_TAG_TLS(tag)) {
	case TLS_PH_KX:
		return "tls:key_exchange";
	case TLS_PH_SIG:
		return "tls:signature";
	case TLS_PH_RNG:
		return "tls:rng";
	case TLS_PH_HANDSHAKE:
		return "tls:handshake";
	}
	return st && st->fault ? "page_fault" : NULL;
}

static int prof_one(struct model *m, const struct cpu_prof *e, struct stackset *s, uint32_t *ids)
{
	const struct cpu_stack *st = e->stack ? hmap_get(&m->cpu->stacks, e->stack) : NULL;
	struct job *j = model_job_of(m, e->p);
	const char *ph = cpu_phase_name(e->tag, st);
	size_t n = 0, ncause, i;

	ids[n++] = stackset_frame(s, j ? j->name : "[no job]");
	if (ph)
		ids[n++] = stackset_frame(s, ph);
	ids[n++] = stackset_frame(s, e->p->comm[0] ? e->p->comm : "[unknown]");
	ncause = n;
	if (!st)
		ids[n++] = stackset_frame(s, "[no stack]");
	for (i = 0; st && i < st->nframes; i++)
		ids[n++] = stackset_frame(s, st->frames[i]);
	for (i = 0; i < n; i++)
		if (ids[i] == UINT32_MAX)
			return -ENOMEM;
	return stackset_add(s, ids, n, ncause, e->count);
}

int model_profile(struct model *m, const struct job *only, struct stackset *s)
{
	uint32_t *ids;
	size_t i = 0;
	uint64_t k;
	void *v;
	int err = 0;

	if (!m->cpu)
		return 0;
	s->period_ns = m->cpu->period_ns;
	ids = malloc((CPU_STACK_FRAMES_MAX + 4) *
		     sizeof(*ids)); /* + job, phase, comm, [no stack] */
	if (!ids)
		return -ENOMEM;
	while (!err && hmap_next(&m->cpu->prof, &i, &k, &v)) {
		const struct cpu_prof *e;

		for (e = v; e && !err; e = e->next)
			if (!only || model_job_of(m, e->p) == only)
				err = prof_one(m, e, s, ids);
	}
	free(ids);
	return err;
}
