// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cause.h"
#include "cpumodel.h"
#include "model.h"
#include "netmodel.h"
#include "tcpmodel.h"
#include "tlsmodel.h"

#define KTHREADD_PID 2

struct model *model_new(uint64_t t0)
{
	struct model *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->t0 = t0;
	m->procs_tail = &m->procs;
	return m;
}

static void job_free(struct job *j)
{
	free(j->key);
	free(j->name);
	free(j->procs);
	free(j);
}

void model_free(struct model *m)
{
	struct proc *p, *pn;
	struct job *j, *jn;

	if (!m)
		return;
	for (p = m->procs; p; p = pn) {
		pn = p->next;
		free(p->filename);
		free(p->args);
		free(p->samples);
		free(p);
	}
	for (j = m->jobs; j; j = jn) {
		jn = j->next;
		job_free(j);
	}
	hmap_free_all(&m->strings);
	hmap_free(&m->live);
	hmap_free(&m->cgroups[0]);
	hmap_free(&m->cgroups[1]);
	hmap_free(&m->jobs_by_key);
	free(m->marks);
	free(m->ooms);
	tls_model_free(m->tls);
	tcp_model_free(m->tcp);
	cpu_model_free(m->cpu);
	net_model_free(m->net);
	free(m);
}

void model_listen(struct model *m, model_cb cb, void *ctx)
{
	m->cb = cb;
	m->cb_ctx = ctx;
}

double model_time_s(const struct model *m, uint64_t ts)
{
	if (ts < m->t0)
		return 0;
	return (double)(ts - m->t0) / 1e9;
}

const char *model_intern(struct model *m, const char *s)
{
	uint64_t h;
	char *v;

	if (!s)
		return NULL;
	/* Linear probing on the hash key itself resolves rare collisions. */
	for (h = st_hash_str(s);; h = h + 1 ? h + 1 : 1) {
		v = hmap_get(&m->strings, h);
		if (!v)
			break;
		if (!strcmp(v, s))
			return v;
	}
	v = strdup(s);
	if (!v || hmap_put(&m->strings, h, v)) {
		free(v);
		return NULL;
	}
	return v;
}

void model_cgroup_set(struct model *m, enum cg_hier h, uint64_t id, const char *path)
{
	const char *p = model_intern(m, path);

	if (p && id && h <= CG_MEM)
		hmap_put(&m->cgroups[h], id, (void *)p);
}

const char *model_cgroup(const struct model *m, enum cg_hier h, uint64_t id)
{
	if (h > CG_MEM)
		return NULL;
	return hmap_get(&m->cgroups[h], id);
}

struct proc *model_find(const struct model *m, uint32_t pid)
{
	return hmap_get(&m->live, pid);
}

static struct proc *parent_of(struct model *m, struct proc *p);

/*
 * Before pid's entry is replaced, children that have not looked up their
 * parent yet (seeded ones link lazily) must link to the old holder.
 */
static void adopt_before_reuse(struct model *m, struct proc *old)
{
	struct proc *q;

	for (q = m->procs; q; q = q->next)
		if (!q->parent && q != old && q->ppid == old->pid)
			q->parent = old;
}

static struct proc *proc_new(struct model *m, uint32_t pid)
{
	struct proc *old = model_find(m, pid);
	struct proc *p;

	if (old)
		adopt_before_reuse(m, old);
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	*m->procs_tail = p;
	m->procs_tail = &p->next;
	m->nprocs++;
	if (hmap_put(&m->live, pid, p))
		m->lost_user++;
	return p;
}

static void set_str(char **dst, const char *src, size_t len)
{
	char *n = malloc(len + 1);

	if (!n)
		return;
	memcpy(n, src, len);
	n[len] = '\0';
	free(*dst);
	*dst = n;
}

static void emit(struct model *m, enum mev_kind k, uint64_t ts, struct proc *p)
{
	struct mev ev = { .kind = k, .ts = ts, .p = p };

	if (m->cb)
		m->cb(m->cb_ctx, &ev);
}

void model_mark(struct model *m, uint64_t ts, uint32_t pid, enum mark_kind k, const char *detail)
{
	struct mark *mk;

	if (m->nmarks == m->marks_cap) {
		size_t cap = m->marks_cap ? m->marks_cap * 2 : 256;
		struct mark *n = realloc(m->marks, cap * sizeof(*n));

		if (!n) {
			m->lost_user++;
			return;
		}
		m->marks = n;
		m->marks_cap = cap;
	}
	mk = &m->marks[m->nmarks++];
	mk->ts = ts;
	mk->p = model_find(m, pid);
	mk->pid = pid;
	mk->kind = k;
	st_strlcpy(mk->detail, detail ? detail : "", sizeof(mk->detail));
}

void model_seed(struct model *m, const struct rec_proc_seed *s)
{
	struct proc *p = model_find(m, s->pid);

	if (p && !p->exited)
		return; /* already known from an event */
	p = proc_new(m, s->pid);
	if (!p)
		return;
	p->seeded = true;
	p->ppid = s->ppid;
	p->uid = s->uid;
	p->kthread = s->kthread;
	st_strfix(p->comm, sizeof(p->comm), s->comm, sizeof(s->comm));
	set_str(&p->filename, s->filename, strnlen(s->filename, sizeof(s->filename)));
	p->args_len = s->args_len < sizeof(s->args) ? s->args_len : sizeof(s->args);
	set_str(&p->args, s->args, p->args_len);
	p->cg_v2 = s->cg_v2[0] ? model_intern(m, s->cg_v2) : NULL;
	p->cg_mem = s->cg_mem[0] ? model_intern(m, s->cg_mem) : NULL;
	/* Seeds arrive in pid order, not parent first: link lazily. */
	p->parent = NULL;
}

static struct proc *parent_of(struct model *m, struct proc *p)
{
	struct proc *pp;

	if (p->parent || !p->ppid || p->ppid == p->pid)
		return p->parent;
	pp = model_find(m, p->ppid);
	if (pp && pp != p && (!pp->exited || pp->exit_ns >= p->seen_ns))
		p->parent = pp;
	return p->parent;
}

/* A fork or exec for pid: the live entry if it is this process, else a new one. */
static struct proc *proc_for_event(struct model *m, uint32_t pid, uint64_t ts, uint64_t start_ns,
				   bool *is_new)
{
	struct proc *p = model_find(m, pid);

	*is_new = false;
	if (p && !p->exited && (p->seeded || !start_ns || !p->start_ns || p->start_ns == start_ns))
		return p;
	if (p && !p->exited) {
		/* The exit of the previous holder of this pid was lost. */
		p->exited = true;
		p->exit_ns = ts;
		p->exit_status = (uint32_t)-1;
	}
	p = proc_new(m, pid);
	if (p) {
		*is_new = true;
		p->seen_ns = ts;
	}
	return p;
}

void model_fork(struct model *m, uint64_t ts, uint32_t pid, uint32_t ppid, uint64_t start_ns,
		const char *comm, const char *cg_v2, const char *cg_mem)
{
	bool is_new;
	struct proc *p = proc_for_event(m, pid, ts, start_ns, &is_new);

	if (!p)
		return;
	if (is_new) {
		p->ppid = ppid;
		p->start_ns = start_ns;
		st_strlcpy(p->comm, comm, sizeof(p->comm));
		p->cg_v2 = model_intern(m, cg_v2);
		p->cg_mem = model_intern(m, cg_mem);
		parent_of(m, p);
		if (p->parent) {
			p->uid = p->parent->uid;
			p->kthread = p->parent->kthread || p->parent->pid == KTHREADD_PID;
			if (!p->filename && p->parent->filename)
				p->filename = strdup(p->parent->filename);
		}
	} else if (!p->seen_ns) {
		p->seen_ns = ts; /* seeded after attach, fork seen too */
		p->start_ns = start_ns;
	}
	p->job = NULL;
	emit(m, MEV_FORK, ts, p);
}

void model_exec(struct model *m, const struct exec_info *e)
{
	bool is_new;
	struct proc *p = proc_for_event(m, e->pid, e->ts, e->start_ns, &is_new);
	const char *base;

	if (!p)
		return;
	if (is_new || !p->start_ns)
		p->start_ns = e->start_ns;
	/* A seeded process lived from the start; its exec does not start it. */
	if (!p->seen_ns && !p->seeded)
		p->seen_ns = e->ts;
	p->ppid = e->ppid;
	p->uid = e->uid;
	st_strlcpy(p->comm, e->comm, sizeof(p->comm));
	set_str(&p->filename, e->filename, strlen(e->filename));
	set_str(&p->args, e->args, e->args_len);
	p->args_len = e->args_len;
	if (e->cg_v2)
		p->cg_v2 = model_intern(m, e->cg_v2);
	if (e->cg_mem)
		p->cg_mem = model_intern(m, e->cg_mem);
	p->execs++;
	p->job = NULL;
	parent_of(m, p);
	base = strrchr(e->filename, '/');
	model_mark(m, e->ts, p->pid, MARK_EXEC, base ? base + 1 : e->filename);
	emit(m, MEV_EXEC, e->ts, p);
}

void model_exit(struct model *m, uint64_t ts, uint32_t pid, uint64_t start_ns, uint32_t status,
		const char *comm)
{
	struct proc *p = model_find(m, pid);
	char detail[96];
	int code;

	if (!p || p->exited) {
		p = proc_new(m, pid);
		if (!p)
			return;
		st_strlcpy(p->comm, comm, sizeof(p->comm));
		p->seen_ns = ts;
	}
	if (!p->start_ns)
		p->start_ns = start_ns;
	/* The last name it had: kernel threads and prctl renames never exec. */
	if (comm && *comm && strcmp(p->comm, comm)) {
		st_strlcpy(p->comm, comm, sizeof(p->comm));
		p->job = NULL;
	}
	p->exited = true;
	p->exit_ns = ts;
	p->exit_status = status;
	parent_of(m, p);
	code = proc_exit_code(p);
	if (proc_exit_signal(p))
		snprintf(detail, sizeof(detail), "%s killed by signal %d", p->comm,
			 proc_exit_signal(p));
	else
		snprintf(detail, sizeof(detail), "%s exit %d", p->comm, code);
	model_mark(m, ts, pid, MARK_EXIT, detail);
	emit(m, MEV_EXIT, ts, p);
}

const char *proc_cgroup(const struct proc *p)
{
	if (p->cg_v2 && strcmp(p->cg_v2, "/"))
		return p->cg_v2;
	if (p->cg_mem)
		return p->cg_mem;
	return p->cg_v2;
}

int proc_exit_signal(const struct proc *p)
{
	if (!p->exited || p->exit_status == (uint32_t)-1)
		return 0;
	return p->exit_status & 0x7f;
}

int proc_exit_code(const struct proc *p)
{
	if (!p->exited || p->exit_status == (uint32_t)-1)
		return -1;
	if (p->exit_status & 0x7f)
		return 128 + (p->exit_status & 0x7f);
	return (p->exit_status >> 8) & 0xff;
}

bool proc_active(const struct proc *p)
{
	return !p->seeded || p->execs || p->exited || p->mem.faults || p->oom_killed || p->tls_hs ||
	       p->tcp_ev || p->cpu_seen || p->net_rx || p->net_tx;
}

static void add_sample(struct model *m, struct proc *p, uint64_t ts)
{
	struct sample *s;

	if (p->nsamples && p->samples[p->nsamples - 1].faults == p->mem.faults &&
	    p->samples[p->nsamples - 1].rss == p->mem.rss)
		return;
	if (p->nsamples == p->samples_cap) {
		size_t cap = p->samples_cap ? p->samples_cap * 2 : 8;

		s = realloc(p->samples, cap * sizeof(*s));
		if (!s) {
			m->lost_user++;
			return;
		}
		p->samples = s;
		p->samples_cap = cap;
	}
	p->samples[p->nsamples++] = (struct sample){ ts, p->mem.faults, p->mem.rss };
}

void model_mem(struct model *m, uint64_t ts, uint32_t pid, const struct memstat *st)
{
	struct proc *p = model_find(m, pid);
	uint64_t first;

	if (!p) {
		p = proc_new(m, pid);
		if (!p)
			return;
		st_strlcpy(p->comm, "?", sizeof(p->comm));
		p->seen_ns = ts;
	}
	/* Growth is counted from what a process had when we first saw it. */
	first = p->mem.seen ? p->mem.rss_first : (p->seeded ? st->rss : 0);
	p->mem = *st;
	p->mem.rss_first = first;
	p->mem.seen = true;
	add_sample(m, p, ts);
}

void model_oom(struct model *m, const struct oom_kill *k)
{
	struct oom_kill *n = realloc(m->ooms, (m->nooms + 1) * sizeof(*n));
	char detail[96];

	if (!n) {
		m->lost_user++;
		return;
	}
	m->ooms = n;
	n = &m->ooms[m->nooms++];
	*n = *k;
	n->victim = model_find(m, k->victim_pid);
	if (n->victim)
		n->victim->oom_killed = true;
	snprintf(detail, sizeof(detail), "OOM killed %s[%u], anon %llu MiB (allocating: %s[%u])",
		 k->victim_comm, k->victim_pid, (unsigned long long)(k->anon_rss >> 20),
		 k->trigger_comm, k->trigger_pid);
	model_mark(m, k->ts, k->victim_pid, MARK_OOM, detail);
	if (m->cb) {
		struct mev ev = { .kind = MEV_OOM, .ts = k->ts, .p = n->victim, .oom = n };

		m->cb(m->cb_ctx, &ev);
	}
}

/* The last sample at or before t, or NULL. */
static const struct sample *sample_at(const struct proc *p, uint64_t t)
{
	size_t lo = 0, hi = p->nsamples;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (p->samples[mid].ts <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &p->samples[lo - 1] : NULL;
}

static uint64_t rss_at(const struct proc *p, uint64_t t)
{
	const struct sample *s;

	if (p->exited && p->exit_ns <= t)
		return 0;
	s = sample_at(p, t);
	return s ? s->rss : 0;
}

static uint64_t faults_at(const struct proc *p, uint64_t t)
{
	const struct sample *s = sample_at(p, t);

	return s ? s->faults : 0;
}

void model_series_mem(const struct model *m, const struct job *j, double interval_s, double *faults,
		      double *rss, size_t nb)
{
	uint64_t step = (uint64_t)(interval_s * 1e9);
	size_t i, b;

	memset(faults, 0, nb * sizeof(*faults));
	memset(rss, 0, nb * sizeof(*rss));
	for (i = 0; i < j->nprocs; i++) {
		const struct proc *p = j->procs[i];
		uint64_t prev = 0;

		if (!p->nsamples)
			continue;
		for (b = 0; b < nb; b++) {
			uint64_t end = m->t0 + (b + 1) * step;
			uint64_t f = faults_at(p, end);

			faults[b] += (double)(f - prev);
			prev = f;
			rss[b] += (double)rss_at(p, end);
		}
	}
}

/* A change of a process's RSS: a memory sample, or its exit (after samples at the same time). */
static int rss_ev_cmp(const void *a, const void *b)
{
	const struct rss_ev *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return (int)x->exit - (int)y->exit;
}

struct rss_ev *job_rss_events(const struct job *j, size_t *n, double *start)
{
	struct rss_ev *v;
	size_t i, k, cap = 1;

	for (i = 0; i < j->nprocs; i++)
		cap += j->procs[i]->nsamples + 1;
	v = calloc(cap, sizeof(*v));
	*n = 0;
	*start = 0;
	for (i = 0; v && i < j->nprocs; i++) {
		const struct proc *p = j->procs[i];
		double cur = (double)p->mem.rss_first; /* 0 unless seeded */

		*start += cur;
		for (k = 0; k < p->nsamples; k++) {
			v[(*n)++] = (struct rss_ev){ p->samples[k].ts, false,
						     (double)p->samples[k].rss - cur };
			cur = (double)p->samples[k].rss;
		}
		if (p->exited && p->nsamples)
			v[(*n)++] = (struct rss_ev){ p->exit_ns, true, -cur };
	}
	if (v)
		qsort(v, *n, sizeof(*v), rss_ev_cmp);
	return v;
}

/*
 * The most the job held at once: the sum of its processes' RSS only changes
 * at their samples and exits, so a sweep over those finds it (and never
 * steps through the recording's span, which a corrupt timestamp can make
 * centuries long). At least any one process's own peak.
 */
static uint64_t job_rss_peak(const struct job *j)
{
	double start, total, best = 0;
	struct rss_ev *v;
	size_t n, i;

	for (i = 0; i < j->nprocs; i++)
		if ((double)j->procs[i]->mem.rss_peak > best)
			best = (double)j->procs[i]->mem.rss_peak;
	v = job_rss_events(j, &n, &start);
	total = start;
	best = total > best ? total : best;
	for (i = 0; v && i < n; i++) {
		total += v[i].delta;
		best = total > best ? total : best;
	}
	free(v);
	return best >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)best;
}

static void job_mem(const struct model *m, struct job *j)
{
	size_t i;

	uint64_t start = 0;

	j->page_faults = j->rss_growth = j->reclaim_ns = 0;
	j->oom_kills = 0;
	for (i = 0; i < j->nprocs; i++) {
		const struct proc *p = j->procs[i];

		j->page_faults += p->mem.faults;
		j->reclaim_ns += p->mem.reclaim_ns;
		j->oom_kills += p->oom_killed;
		start += p->mem.rss_first; /* 0 for processes started while recording */
	}
	j->rss_peak = job_rss_peak(j);
	/* Held at once, not summed per process: churn of short processes is no growth. */
	j->rss_growth = j->rss_peak > start ? j->rss_peak - start : 0;
}

size_t model_lineage(struct model *m, struct proc *p, const struct proc **out, size_t max)
{
	const struct proc *chain[64] = { 0 };
	size_t n = 0, i;

	/* Bounded: a corrupt recording must not loop us forever. */
	for (; p && n < ARRAY_SIZE(chain); p = parent_of(m, p))
		chain[n++] = p;
	if (n > max)
		n = max;
	for (i = 0; i < n; i++)
		out[i] = chain[n - 1 - i];
	return n;
}

static void link_parents(struct model *m)
{
	struct proc *p;

	for (p = m->procs; p; p = p->next)
		parent_of(m, p);
}

static bool is_kernel(const struct proc *p)
{
	return p->kthread || p->pid == KTHREADD_PID ||
	       (p->parent && p->parent->pid == KTHREADD_PID);
}

static struct job *job_get(struct model *m, const char *key, const char *name)
{
	uint64_t h;
	struct job *j;

	for (h = st_hash_str(key);; h = h + 1 ? h + 1 : 1) {
		j = hmap_get(&m->jobs_by_key, h);
		if (!j)
			break;
		if (!strcmp(j->key, key))
			return j;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->key = strdup(key);
	j->name = strdup(name);
	if (!j->key || !j->name || hmap_put(&m->jobs_by_key, h, j)) {
		job_free(j);
		return NULL;
	}
	j->next = m->jobs;
	m->jobs = j;
	m->njobs++;
	return j;
}

/* The lineage root: walk up until the parent is a launcher (docs/causes.md). */
static struct proc *lineage_root(struct model *m, struct proc *p)
{
	struct proc *a = p;
	int depth = 0;

	while (depth++ < 64) {
		struct proc *pp = parent_of(m, a);

		if (!pp || pp->pid <= 1 || is_kernel(pp) || cause_is_launcher(pp->comm))
			break;
		a = pp;
	}
	return a;
}

struct job *model_job_of(struct model *m, struct proc *p)
{
	char key[320], name[320];
	const char *cg;
	struct proc *root;
	struct job *j;

	if (p->job)
		return p->job;
	parent_of(m, p);
	cg = proc_cgroup(p);
	if (is_kernel(p)) {
		char base[16];

		cause_kthread_base(p->comm, base, sizeof(base));
		snprintf(key, sizeof(key), "k:%s", base);
		snprintf(name, sizeof(name), "[%s]", base);
		j = job_get(m, key, name);
		if (j)
			j->kernel = true;
	} else if (cause_cgroup_is_job(cg)) {
		snprintf(key, sizeof(key), "cg:%s", cg);
		j = job_get(m, key, cause_cgroup_leaf(cg));
		if (j)
			j->cgroup = cg;
	} else {
		root = lineage_root(m, p);
		snprintf(key, sizeof(key), "p:%u:%llu:%p", root->pid,
			 (unsigned long long)root->start_ns, (void *)root);
		snprintf(name, sizeof(name), "%s[%u]", root->comm, root->pid);
		j = job_get(m, key, name);
		if (j) {
			j->root = root;
			j->cgroup = cg;
		}
	}
	p->job = j;
	return j;
}

static int job_add(struct job *j, struct proc *p)
{
	if (j->nprocs == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 8;
		struct proc **n = realloc(j->procs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		j->procs = n;
		j->cap = cap;
	}
	j->procs[j->nprocs++] = p;
	return 0;
}

struct span {
	uint64_t t;
	int d;
};

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->d - y->d; /* exits before starts at the same instant */
}

/* Most processes of the job alive at once while recording. */
static uint32_t job_concurrency(const struct model *m, const struct job *j)
{
	struct span *s = calloc(j->nprocs * 2 + 1, sizeof(*s));
	uint32_t best = 0;
	size_t i, n = 0;
	int cur = 0;

	if (!s)
		return 0;
	for (i = 0; i < j->nprocs; i++) {
		const struct proc *p = j->procs[i];

		s[n++] = (struct span){ p->seen_ns ? p->seen_ns : m->t0, 1 };
		s[n++] = (struct span){ p->exited ? p->exit_ns : m->t_end, -1 };
	}
	qsort(s, n, sizeof(*s), span_cmp);
	for (i = 0; i < n; i++) {
		cur += s[i].d;
		if (cur > (int)best)
			best = cur;
	}
	free(s);
	return best;
}

/* The earliest process of the job whose parent is outside it. */
static struct proc *job_root(struct job *j)
{
	struct proc *best = NULL;
	size_t i;

	for (i = 0; i < j->nprocs; i++) {
		struct proc *p = j->procs[i];

		if (p->parent && p->parent->job == j)
			continue;
		if (!best || (p->seeded && !best->seeded) ||
		    (p->seeded == best->seeded && p->start_ns < best->start_ns))
			best = p;
	}
	return best;
}

static int job_cmp(const void *a, const void *b)
{
	const struct job *x = *(struct job *const *)a, *y = *(struct job *const *)b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	if (x->execs != y->execs)
		return x->execs > y->execs ? -1 : 1;
	return strcmp(x->name, y->name);
}

/*
 * Score (docs/causes.md): each metric as a share of the largest value any
 * job has, weighted, summed. Concerns add metrics here as they land.
 */
struct metric {
	enum rank_metric id;
	double (*get)(const struct job *j);
};

/* docs/causes.md lists these; a concern adds its metrics here. */
const double rank_weights[RM_NR] = {
	[RM_EXECS] = 1.0, [RM_CONC] = 0.5,    [RM_GROWTH] = 2.0, [RM_PEAK] = 1.0, [RM_FAULTS] = 1.0,
	[RM_OOM] = 3.0,	  [RM_TLS_CPU] = 1.0, [RM_RESETS] = 1.0, [RM_CPU] = 2.0,  [RM_NET] = 1.0,
};

static double m_execs(const struct job *j)
{
	return j->execs;
}

static double m_conc(const struct job *j)
{
	return j->max_concurrency;
}

static double m_growth(const struct job *j)
{
	return (double)j->rss_growth;
}

static double m_peak(const struct job *j)
{
	return (double)j->rss_peak;
}

static double m_faults(const struct job *j)
{
	return (double)j->page_faults;
}

static double m_oom(const struct job *j)
{
	return j->oom_kills;
}

static double m_tls(const struct job *j)
{
	return j->tls_cpu_s;
}

static double m_resets(const struct job *j)
{
	return (double)j->tcp_resets;
}

static double m_cpu(const struct job *j)
{
	return j->cpu_s;
}

static double m_net(const struct job *j)
{
	return (double)(j->net_rx + j->net_tx);
}

static const struct metric metrics[] = {
	{ RM_EXECS, m_execs }, { RM_CONC, m_conc },	{ RM_GROWTH, m_growth },
	{ RM_PEAK, m_peak },   { RM_FAULTS, m_faults }, { RM_OOM, m_oom },
	{ RM_TLS_CPU, m_tls }, { RM_RESETS, m_resets }, { RM_CPU, m_cpu },
	{ RM_NET, m_net },
};

double job_rank_value(const struct job *j, enum rank_metric k)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(metrics); i++)
		if (metrics[i].id == k)
			return metrics[i].get(j);
	return 0;
}

static struct tls_proc *tls_of(const struct model *m, const struct proc *p)
{
	return m->tls && p->tls_hs ? hmap_get(&m->tls->procs, p->pid) : NULL;
}

static void job_tls(const struct model *m, struct job *j)
{
	unsigned int ph;
	size_t i;

	j->tls_handshakes = 0;
	j->tls_cpu_s = 0;
	for (i = 0; i < j->nprocs; i++) {
		const struct tls_proc *t = tls_of(m, j->procs[i]);

		if (!t)
			continue;
		j->tls_handshakes += t->handshakes;
		for (ph = TLS_PH_HANDSHAKE; ph < TLS_PH_NR; ph++)
			j->tls_cpu_s += tls_proc_cpu_s(t, ph);
	}
}

static void job_tcp(const struct model *m, struct job *j)
{
	size_t i;

	j->tcp_connections = 0;
	j->tcp_resets = 0;
	for (i = 0; m->tcp && i < j->nprocs; i++) {
		const struct tcp_proc *t =
			j->procs[i]->tcp_ev ? hmap_get(&m->tcp->procs, j->procs[i]->pid) : NULL;

		if (!t)
			continue;
		j->tcp_connections += t->connections;
		j->tcp_resets += t->resets_rx + t->resets_tx;
	}
}

static void score_jobs(struct job **v, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++)
		v[i]->score = 0;
	for (k = 0; k < ARRAY_SIZE(metrics); k++) {
		double max = 0;

		for (i = 0; i < n; i++)
			if (metrics[k].get(v[i]) > max)
				max = metrics[k].get(v[i]);
		if (max <= 0)
			continue;
		for (i = 0; i < n; i++)
			v[i]->score += rank_weights[metrics[k].id] * metrics[k].get(v[i]) / max;
	}
}

void model_finalize(struct model *m, uint64_t t_end)
{
	struct job **v, *j, *jn;
	struct proc *p;
	size_t i, n = 0;

	m->t_end = t_end;
	link_parents(m);
	for (j = m->jobs; j; j = j->next) {
		j->nprocs = 0;
		j->execs = 0;
	}
	for (p = m->procs; p; p = p->next) {
		if (!proc_active(p))
			continue;
		j = model_job_of(m, p);
		if (!j || job_add(j, p))
			continue;
		j->execs += p->execs;
	}
	v = calloc(m->njobs + 1, sizeof(*v));
	if (!v)
		return;
	for (j = m->jobs; j; j = jn) {
		jn = j->next;
		if (!j->nprocs)
			continue; /* only idle processes: not a cause */
		j->max_concurrency = job_concurrency(m, j);
		job_mem(m, j);
		job_tls(m, j);
		job_tcp(m, j);
		cpu_job(m, j);
		net_job(m, j);
		if (!j->root || j->cgroup)
			j->root = job_root(j);
		v[n++] = j;
	}
	score_jobs(v, n);
	qsort(v, n, sizeof(*v), job_cmp);
	net_model_sort(m->net);
	/* Relink ranked active jobs first, idle ones after (still owned). */
	for (j = m->jobs; j; j = j->next)
		if (!j->nprocs)
			v[n++] = j;
	for (i = 0; i < n; i++)
		v[i]->next = i + 1 < n ? v[i + 1] : NULL;
	m->jobs = n ? v[0] : NULL;
	free(v);
}

static struct proc *deepest_from(const struct job *j, struct proc *from, int *depth, int limit)
{
	struct proc *best = from;
	int bd = 0, d;
	size_t i;

	for (i = 0; i < j->nprocs && limit > 0; i++) {
		struct proc *c = j->procs[i];

		if (c->parent != from || c == from)
			continue;
		c = deepest_from(j, c, &d, limit - 1);
		if (d + 1 > bd) {
			bd = d + 1;
			best = c;
		}
	}
	*depth = bd;
	return best;
}

struct proc *job_deepest(const struct job *j)
{
	int depth;

	return j->root ? deepest_from(j, j->root, &depth, 32) : NULL;
}

uint64_t job_rss_now(const struct job *j)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < j->nprocs; i++)
		if (!j->procs[i]->exited)
			sum += j->procs[i]->mem.rss;
	return sum;
}

double model_interval_s(const struct model *m)
{
	double d = model_time_s(m, m->t_end), iv = 1;

	while (d / iv > 60)
		iv *= 2;
	return iv;
}

size_t model_nbuckets(const struct model *m, double interval_s)
{
	return (size_t)(model_time_s(m, m->t_end) / interval_s) + 1;
}

void model_series_execs(const struct model *m, const struct job *j, double interval_s, double *v,
			size_t nb)
{
	size_t i, b;

	memset(v, 0, nb * sizeof(*v));
	for (i = 0; i < m->nmarks; i++) {
		const struct mark *mk = &m->marks[i];

		if (mk->kind != MARK_EXEC || !mk->p || mk->p->job != j)
			continue;
		b = (size_t)(model_time_s(m, mk->ts) / interval_s);
		if (b < nb)
			v[b]++;
	}
}

static struct tls_model *tls_get(struct model *m)
{
	if (!m->tls)
		m->tls = calloc(1, sizeof(*m->tls));
	if (!m->tls)
		m->lost_user++;
	return m->tls;
}

void model_tls_hs(struct model *m, const struct tls_event *e)
{
	struct tls_model *t = tls_get(m);
	struct proc *p = model_find(m, e->pid);

	if (!t || !tls_model_hs(t, m->t0, e)) {
		m->lost_user++;
		return;
	}
	if (p)
		p->tls_hs++;
	if (m->cb) {
		struct mev ev = { .kind = MEV_TLS, .ts = e->ts, .p = p, .tls = e };

		m->cb(m->cb_ctx, &ev);
	}
}

void model_tls_cpu(struct model *m, uint32_t pid, const uint64_t *samples, uint64_t period_ns)
{
	struct tls_model *t = tls_get(m);

	if (t)
		tls_model_cpu(t, pid, samples, period_ns);
}

void model_tls_lib(struct model *m, uint32_t idx, const char *path, bool is_static)
{
	struct tls_model *t = tls_get(m);

	if (t)
		tls_model_lib(t, idx, path, is_static);
}

void model_series_tls(const struct model *m, const struct job *j, double interval_s, double *v,
		      size_t nb)
{
	size_t i, s, b;

	memset(v, 0, nb * sizeof(*v));
	for (i = 0; i < j->nprocs; i++) {
		const struct tls_proc *t = tls_of(m, j->procs[i]);

		for (s = 0; t && s < t->nper_s; s++) {
			b = (size_t)(s / interval_s);
			if (b < nb)
				v[b] += t->per_s[s];
		}
	}
}

static struct tcp_model *tcp_get(struct model *m)
{
	if (!m->tcp)
		m->tcp = calloc(1, sizeof(*m->tcp));
	if (!m->tcp)
		m->lost_user++;
	return m->tcp;
}

#define MAX_RESET_MARKS 1000

static void reset_mark(struct model *m, const struct tcp_event *e)
{
	char d[96];

	if (m->reset_marks >= MAX_RESET_MARKS)
		return;
	m->reset_marks++;
	if (e->flags & TCP_F_IDLE)
		snprintf(d, sizeof(d), "%s %s:%u after %.0f ms idle",
			 e->flags & TCP_F_SENT ? "sent to" : "received from", e->raddr, e->rport,
			 (double)e->idle_rx_ns / 1e6);
	else
		snprintf(d, sizeof(d), "%s %s:%u",
			 e->flags & TCP_F_SENT ? "sent to" : "received from", e->raddr, e->rport);
	model_mark(m, e->ts, e->pid, MARK_RESET, d);
}

void model_tcp(struct model *m, const struct tcp_event *e)
{
	struct tcp_model *t = tcp_get(m);
	const struct tcp_conn *closed;
	struct proc *p;

	if (!t)
		return;
	closed = tcp_model_event(t, e);
	p = e->pid ? model_find(m, e->pid) : NULL;
	if (p)
		p->tcp_ev++;
	if (e->reset)
		reset_mark(m, e);
	if (m->cb) {
		struct mev ev = {
			.kind = MEV_TCP, .ts = e->ts, .p = p, .tcp = e, .tcp_closed = closed
		};

		m->cb(m->cb_ctx, &ev);
	}
}

void model_tcp_gone(struct model *m, uint64_t sk, uint64_t ts)
{
	struct tcp_model *t = tcp_get(m);
	const struct tcp_conn *closed = t ? tcp_model_gone(t, sk, ts) : NULL;

	if (closed && m->cb) {
		struct mev ev = { .kind = MEV_TCP, .ts = ts, .tcp_closed = closed };

		m->cb(m->cb_ctx, &ev);
	}
}

void model_tcp_counts(struct model *m, const struct tcp_counts *c)
{
	struct tcp_model *t = tcp_get(m);

	if (t)
		tcp_model_counts(t, c);
}

void model_series_tcp(const struct model *m, const struct job *j, double interval_s, double *v,
		      size_t nb)
{
	size_t i, b;

	memset(v, 0, nb * sizeof(*v));
	for (i = 0; m->tcp && i < m->tcp->nresets; i++) {
		const struct tcp_reset *r = &m->tcp->resets[i];
		struct proc *p = r->pid ? model_find(m, r->pid) : NULL;

		if (!p || p->job != j)
			continue;
		b = (size_t)(model_time_s(m, r->ts) / interval_s);
		if (b < nb)
			v[b]++;
	}
}
