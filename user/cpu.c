// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The cpu concern: owns the sampler (one perf event per CPU), reads the
 * in-kernel sample counts each second, names new stacks while the process
 * and its files are still there, and records named stacks (ST_CPU_STACK)
 * and per-second deltas (ST_CPU_SAMPLES), so a report needs no binaries.
 * The scheduler view (runnable threads, run-queue delay) is read the same
 * way into ST_CPU_SCHED. When only the TLS concern asked for it, it runs
 * the sampler for TLS's CPU by phase and nothing else.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "concern.h"
#include "cpu.h"
#include "cpu.skel.h"
#include "cpumodel.h"
#include "log.h"
#include "mapread.h"
#include "procfs.h"
#include "sampler.h"
#include "spine.h"
#include "symbolize.h"
#include "tls.h"

#define CPU_SAMPLES_MAP_MAX 32768
#define CPU_STACKS_MAP_MAX 16384
#define FORGET_EVERY 10 /* ticks between sweeps for processes that are gone */
#define CONTENTS_MAX 65536 /* named stacks remembered; past it, named again when seen */

struct prev {
	struct cpu_key k;
	uint64_t count;
	struct prev *next;
};

/* A kernel (tgid, ustack, kstack) triple already named: its stack id. */
struct ref {
	struct cpu_key k; /* tag unused */
	uint32_t id;
	struct ref *next;
};

/* A named stack's content, so equal stacks share one id. */
struct content {
	uint32_t id, len;
	struct content *next;
	char buf[];
};

struct cpu_priv {
	struct cpu_bpf *skel;
	struct percpu_sum pcpu;
	struct sampler smp;
	struct symbolizer *sym;
	bool stacks_on;
	struct hmap prev, refs, contents, delays;
	struct hmap recaptured; /* pids whose maps were read again this tick */
	struct hmap sampled; /* pid -> tick it was last sampled in (+1) */
	uint64_t ticks;
	size_t nprev, nrefs;
	uint32_t next_id;
	uint64_t last_samples, last_idle, last_lost;
	uint64_t ips[CPU_MAX_DEPTH];
	struct cpu_stack_rec *srec; /* scratch, CPU_STACK_REC_MAX bytes */
	struct map_reader samples; /* cpu_samples, read whole each tick */
	struct map_reader conc, conc_max, delay; /* the scheduler view, likewise */
	char variant[160];
};

SPINE_DEFINE_OPEN(cpu)

static int cpu_configure(struct spine *sp, void *priv)
{
	struct cpu_priv *p = priv;
	struct cpu_bpf *s = p->skel;
	const char *sw = "missing", *wk = "missing", *wn = "missing", *ex = "missing";

	SPINE_SET_FILTERS(s, sp);
	p->stacks_on = sp->asked & concern_cpu.bit;
	s->rodata->stacks_on = p->stacks_on;
	s->rodata->tls_on = spine_inst_of(sp, &concern_tls) != NULL;
	if (p->stacks_on) {
		/* The scheduler view needs task pointers: tp_btf only. */
		sw = spine_pick(sp, s->progs.sched_switch, NULL, "sched_switch", NULL, NULL);
		wk = spine_pick(sp, s->progs.sched_wakeup, NULL, "sched_wakeup", NULL, NULL);
		wn = spine_pick(sp, s->progs.sched_wakeup_new, NULL, "sched_wakeup_new", NULL,
				NULL);
		ex = spine_pick(sp, s->progs.cpu_exec, NULL, "sched_process_exec", NULL, NULL);
	} else {
		bpf_program__set_autoload(s->progs.cpu_exec, false);
		bpf_program__set_autoload(s->progs.sched_switch, false);
		bpf_program__set_autoload(s->progs.sched_wakeup, false);
		bpf_program__set_autoload(s->progs.sched_wakeup_new, false);
		/* No stacks: keep the unused maps tiny. */
		bpf_map__set_max_entries(s->maps.stacks, 1);
		bpf_map__set_max_entries(s->maps.cpu_samples, 1);
	}
	snprintf(p->variant, sizeof(p->variant), "sampler=cpu-clock@%uHz%s sched=%s/%s/%s exec=%s",
		 sp->o->freq ? sp->o->freq : SAMPLER_DEFAULT_HZ,
		 p->stacks_on ? " stacks=fp" : " (for tls only)", sw, wk, wn, ex);
	if (p->stacks_on) {
		p->sym = sym_new();
		p->srec = malloc(CPU_STACK_REC_MAX);
		if (!p->sym || !p->srec)
			return -ENOMEM;
	}
	return 0;
}

static int cpu_load(void *priv)
{
	return cpu_bpf__load(((struct cpu_priv *)priv)->skel);
}

static int cpu_attach(struct spine *sp, void *priv)
{
	struct cpu_priv *p = priv;
	int err = cpu_bpf__attach(p->skel);

	if (err)
		return err;
	err = sampler_open(&p->smp, p->skel->progs.cpu_sample, sp->o->freq);
	if (err) {
		log_err("cpu: cannot open a cpu-clock perf event per CPU (%s)", strerror(-err));
		return err;
	}
	sp->sample_period_ns = p->smp.period_ns;
	return 0;
}

static struct bpf_object *cpu_object(void *priv)
{
	return ((struct cpu_priv *)priv)->skel->obj;
}

static void cpu_detach(void *priv)
{
	struct cpu_priv *p = priv;

	sampler_close(&p->smp);
	cpu_bpf__detach(p->skel);
}

static void free_chains(struct hmap *m, size_t off)
{
	size_t i = 0;
	uint64_t key;
	void *v;

	while (hmap_next(m, &i, &key, &v)) {
		while (v) {
			void *next = *(void **)((char *)v + off);

			free(v);
			v = next;
		}
	}
	hmap_free(m);
	hmap_init(m);
}

static void cpu_destroy(void *priv)
{
	struct cpu_priv *p = priv;

	free_chains(&p->prev, offsetof(struct prev, next));
	free_chains(&p->refs, offsetof(struct ref, next));
	free_chains(&p->contents, offsetof(struct content, next));
	hmap_free(&p->delays);
	hmap_free(&p->recaptured);
	hmap_free(&p->sampled);
	sym_free(p->sym);
	free(p->srec);
	map_reader_free(&p->samples);
	map_reader_free(&p->conc);
	map_reader_free(&p->conc_max);
	map_reader_free(&p->delay);
	cpu_bpf__destroy(p->skel);
	percpu_sum_free(&p->pcpu);
	free(p);
}

static const char *cpu_variant(void *priv)
{
	return ((struct cpu_priv *)priv)->variant;
}

/* Appends one frame name; false when the record is full. */
static bool put_frame(struct cpu_stack_rec *r, const char *name)
{
	size_t n = strlen(name) + 1, room = CPU_STACK_REC_MAX - sizeof(*r);

	if (r->len + n > room || r->nframes >= CPU_STACK_FRAMES_MAX)
		return false;
	memcpy(r->names + r->len, name, n);
	r->len += n;
	r->nframes++;
	return true;
}

static int read_stack(struct cpu_priv *p, int32_t id)
{
	int n;

	if (id < 0)
		return 0;
	memset(p->ips, 0, sizeof(p->ips));
	if (bpf_map__lookup_elem(p->skel->maps.stacks, &id, sizeof(id), p->ips, sizeof(p->ips), 0))
		return 0;
	for (n = 0; n < CPU_MAX_DEPTH && p->ips[n]; n++)
		;
	return n;
}

/*
 * User frames, root first. Return addresses are looked up at ip - 1 (the
 * call). Code without frame pointers leaves garbage in the chain: the walk
 * stops at the first return address outside any executable mapping, and a
 * "[unwind stopped]" root frame says so rather than naming garbage.
 */
static void user_frames(struct cpu_priv *p, uint32_t tgid, int n)
{
	struct sym_info info;
	char name[256];
	int i, keep = n;

	if (!sym_captured(p->sym, tgid))
		sym_capture(p->sym, tgid);
	sym_user(p->sym, tgid, p->ips[0], name, sizeof(name), &info);
	/* A library loaded since the snapshot (or a new image): read the maps again, once a tick. */
	if (!info.mapped && !hmap_get(&p->recaptured, tgid)) {
		hmap_put(&p->recaptured, tgid, (void *)1);
		sym_capture(p->sym, tgid);
	}
	for (i = 1; i < n; i++) {
		sym_user(p->sym, tgid, p->ips[i] - 1, name, sizeof(name), &info);
		if (!info.mapped) {
			keep = i;
			break;
		}
	}
	if (keep < n) {
		p->srec->flags |= CPU_STK_TRUNCATED;
		put_frame(p->srec, "[unwind stopped]");
	}
	for (i = keep - 1; i >= 0; i--) {
		sym_user(p->sym, tgid, i ? p->ips[i] - 1 : p->ips[i], name, sizeof(name), NULL);
		if (!put_frame(p->srec, name))
			return;
	}
}

static void kernel_frames(struct cpu_priv *p, int n)
{
	char name[256];
	size_t len;
	int i;

	for (i = n - 1; i >= 0; i--) {
		sym_kernel(p->sym, p->ips[i], name, sizeof(name) - 4, NULL);
		len = strlen(name);
		memcpy(name + len, "_[k]", 5); /* FlameGraph's mark for kernel frames */
		if (!put_frame(p->srec, name))
			return;
		p->srec->nkernel++;
	}
}

/* The id of the content in srec, emitting the stack the first time. */
static uint32_t intern(struct spine *sp, struct cpu_priv *p, uint64_t now)
{
	struct cpu_stack_rec *r = p->srec;
	size_t body = r->len + 8;
	uint64_t h = st_hash_bytes(&r->nframes, 4) ^ st_hash_bytes(r->names, r->len);
	struct content *c = hmap_get(&p->contents, h), *head = c;

	h = h ? h : 1;
	for (; c; c = c->next)
		if (c->len == body && !memcmp(c->buf, &r->nframes, 4) &&
		    !memcmp(c->buf + 8, r->names, r->len))
			return c->id;
	c = malloc(sizeof(*c) + body);
	if (!c)
		return 0;
	c->id = ++p->next_id;
	c->len = body;
	memcpy(c->buf, &r->nframes, 4);
	memcpy(c->buf + 4, &r->flags, 4);
	memcpy(c->buf + 8, r->names, r->len);
	c->next = head;
	if (hmap_put(&p->contents, h, c)) {
		free(c);
		return 0;
	}
	r->id = c->id;
	r->h = (struct st_hdr){ .type = ST_CPU_STACK, .size = sizeof(*r) + r->len, .ts = now };
	spine_emit(sp, &r->h);
	return c->id;
}

static uint64_t ref_hash(const struct cpu_key *k)
{
	struct cpu_key x = *k;

	x.tag = 0;
	return st_hash_bytes(&x, sizeof(x));
}

static uint32_t stack_id(struct spine *sp, struct cpu_priv *p, const struct cpu_key *k,
			 uint64_t now)
{
	uint64_t h = ref_hash(k);
	struct ref *r = hmap_get(&p->refs, h), *head = r;
	int nu, nk;

	for (; r; r = r->next)
		if (r->k.tgid == k->tgid && r->k.ustack == k->ustack && r->k.kstack == k->kstack)
			return r->id;
	memset(p->srec, 0, sizeof(*p->srec));
	nu = read_stack(p, k->ustack);
	if (nu)
		user_frames(p, k->tgid, nu);
	nk = read_stack(p, k->kstack);
	if (nk)
		kernel_frames(p, nk);
	if (!p->srec->nframes)
		return 0;
	r = calloc(1, sizeof(*r));
	if (!r)
		return 0;
	r->k = *k;
	r->id = intern(sp, p, now);
	r->next = head;
	if (hmap_put(&p->refs, h, r)) {
		free(r);
		return 0;
	}
	p->nrefs++;
	return r->id;
}

/* Returns how many samples key k gained since the last read. */
static uint64_t delta_of(struct cpu_priv *p, const struct cpu_key *k, uint64_t v)
{
	uint64_t h = st_hash_bytes(k, sizeof(*k)), d;
	struct prev *e = hmap_get(&p->prev, h), *head = e;

	for (; e; e = e->next)
		if (!memcmp(&e->k, k, sizeof(*k)))
			break;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return 0;
		e->k = *k;
		e->next = head;
		if (hmap_put(&p->prev, h, e)) {
			free(e);
			return 0;
		}
		p->nprev++;
	}
	d = v - e->count;
	e->count = v;
	return d;
}

static void flush_samples(struct spine *sp, struct cpu_samples_rec *r, uint64_t now)
{
	r->h = (struct st_hdr){ .type = ST_CPU_SAMPLES,
				.size = sizeof(*r) + r->n * sizeof(r->e[0]),
				.ts = now };
	spine_emit(sp, &r->h);
	r->n = 0;
	r->samples = r->idle = r->lost_stacks = 0; /* totals go in the first record only */
}

/*
 * Long runs fill the maps with stacks that no longer run: start over
 * (samples counted between the read and the reset are lost, once).
 */
static void maybe_reset(struct cpu_priv *p)
{
	struct cpu_key k;
	int32_t id;

	if (p->nprev < CPU_SAMPLES_MAP_MAX * 3 / 4 && p->nrefs < CPU_STACKS_MAP_MAX * 3 / 4)
		return;
	log_dbg("cpu: %zu sample keys, %zu stacks: resetting the maps", p->nprev, p->nrefs);
	while (!bpf_map__get_next_key(p->skel->maps.cpu_samples, NULL, &k, sizeof(k)))
		bpf_map__delete_elem(p->skel->maps.cpu_samples, &k, sizeof(k), 0);
	while (!bpf_map__get_next_key(p->skel->maps.stacks, NULL, &id, sizeof(id)))
		bpf_map__delete_elem(p->skel->maps.stacks, &id, sizeof(id), 0);
	free_chains(&p->prev, offsetof(struct prev, next));
	free_chains(&p->refs, offsetof(struct ref, next));
	p->nprev = p->nrefs = 0;
}

static uint64_t cnt_sum(struct cpu_priv *p, uint32_t i)
{
	return percpu_sum(&p->pcpu, p->skel->maps.cpu_cnt, &i, sizeof(i));
}

static void tick_samples(struct spine *sp, struct cpu_priv *p, uint64_t now)
{
	struct cpu_samples_rec *r;
	uint64_t d, lost, samples = cnt_sum(p, CPU_CNT_SAMPLES), idle = cnt_sum(p, CPU_CNT_IDLE);
	bool sent = false;
	size_t i;

	r = malloc(sizeof(*r) + CPU_SAMPLES_MAX * sizeof(r->e[0]));
	if (!r)
		return;
	memset(r, 0, sizeof(*r));
	r->period_ns = p->smp.period_ns;
	r->samples = samples - p->last_samples;
	r->idle = idle - p->last_idle;
	p->last_samples = samples;
	p->last_idle = idle;
	lost = cnt_sum(p, CPU_CNT_COLLISION) + cnt_sum(p, CPU_CNT_STACKS_FULL);
	r->lost_stacks = lost - p->last_lost;
	p->last_lost = lost;
	if (map_read(&p->samples, p->skel->maps.cpu_samples))
		log_dbg("cpu: reading the samples map: %zu entries read", p->samples.n);
	for (i = 0; i < p->samples.n; i++) {
		const struct cpu_key *k = (const struct cpu_key *)p->samples.keys + i;

		d = delta_of(p, k, ((const uint64_t *)p->samples.vals)[i]);
		if (!d)
			continue;
		hmap_put(&p->sampled, k->tgid, (void *)(uintptr_t)(p->ticks + 1));
		r->e[r->n++] = (struct cpu_sample_ent){
			.pid = k->tgid, .tag = k->tag, .stack = stack_id(sp, p, k, now), .count = d
		};
		if (r->n == CPU_SAMPLES_MAX) {
			flush_samples(sp, r, now);
			sent = true;
		}
	}
	/* One record every tick, even empty: live rates divide by the time between them. */
	if (r->n || !sent)
		flush_samples(sp, r, now);
	free(r);
	maybe_reset(p);
	/* Ids already recorded stay valid; a stack seen again gets a new one. */
	if (p->contents.len > CONTENTS_MAX)
		free_chains(&p->contents, offsetof(struct content, next));
}

static void flush_sched(struct spine *sp, struct cpu_sched_rec *r, uint64_t now)
{
	if (!r->n)
		return;
	r->h = (struct st_hdr){ .type = ST_CPU_SCHED,
				.size = sizeof(*r) + r->n * sizeof(r->e[0]),
				.ts = now };
	spine_emit(sp, &r->h);
	r->n = 0;
}

static bool gone(uint32_t pid)
{
	return !procfs_exists("/proc", pid);
}

/* The sched view's maps, read whole: conc_max by its key's hash, delay by tgid. */
struct sched_read {
	struct hmap max, delay; /* -> index + 1 into the reader */
};

static void sched_index(struct cpu_priv *p, struct sched_read *x)
{
	size_t i;

	hmap_init(&x->max);
	hmap_init(&x->delay);
	for (i = 0; i < p->conc_max.n; i++)
		hmap_put(&x->max,
			 st_hash_bytes((struct cpu_conc_key *)p->conc_max.keys + i,
				       sizeof(struct cpu_conc_key)),
			 (void *)(uintptr_t)(i + 1));
	for (i = 0; i < p->delay.n; i++)
		hmap_put(&x->delay, ((uint32_t *)p->delay.keys)[i] + 1ull,
			 (void *)(uintptr_t)(i + 1));
}

/* The peak a program kept for k since the last tick, taken (deleted) so the next starts anew. */
static int64_t sched_take_max(struct cpu_priv *p, struct sched_read *x,
			      const struct cpu_conc_key *k)
{
	uintptr_t i = (uintptr_t)hmap_get(&x->max, st_hash_bytes(k, sizeof(*k)));
	const struct cpu_conc_key *mk = (struct cpu_conc_key *)p->conc_max.keys + i - 1;

	if (!i || memcmp(mk, k, sizeof(*k)))
		return 0;
	bpf_map__delete_elem(p->skel->maps.conc_max, k, sizeof(*k), 0);
	return ((int64_t *)p->conc_max.vals)[i - 1];
}

/*
 * One conc entry into e; false when there is nothing to say. *forget is
 * set for a process that is gone (it gets no more counts).
 */
static bool sched_entry(struct spine *sp, struct cpu_priv *p, struct sched_read *x,
			const struct cpu_conc_key *k, const struct cpu_conc *c,
			struct cpu_sched_ent *e, bool *forget)
{
	struct cpu_delay dl = { 0 };
	int64_t mx = sched_take_max(p, x, k);
	uint32_t tgid = k->id;
	uintptr_t last, di;

	memset(e, 0, sizeof(*e));
	e->id = k->id;
	e->kind = k->kind;
	e->max_runnable = mx > c->cur ? mx : c->cur > 0 ? c->cur : 0;
	if (k->kind != CPU_CONC_TGID) {
		if (e->max_runnable) /* records its path */
			spine_cgroup(sp, k->kind == CPU_CONC_CGROUP ? CG_V2 : CG_MEM, k->id);
		return e->max_runnable > 0;
	}
	di = (uintptr_t)hmap_get(&x->delay, tgid + 1ull);
	if (di)
		dl = ((struct cpu_delay *)p->delay.vals)[di - 1];
	e->delay_ns = dl.total_ns;
	e->delays = dl.count;
	e->max_delay_ns = dl.max_ns;
	last = (uintptr_t)hmap_get(&p->delays, tgid);
	if (dl.count + 1 != last)
		hmap_put(&p->delays, tgid, (void *)(uintptr_t)(dl.count + 1));
	*forget = c->cur <= 0 && !mx && !(p->ticks % FORGET_EVERY) && gone(tgid);
	return e->max_runnable > 0 || dl.count + 1 != last;
}

static void sched_forget(struct cpu_priv *p, uint32_t tgid)
{
	struct cpu_conc_key key = { .id = tgid, .kind = CPU_CONC_TGID };

	bpf_map__delete_elem(p->skel->maps.conc, &key, sizeof(key), 0);
	bpf_map__delete_elem(p->skel->maps.delay, &tgid, sizeof(tgid), 0);
	hmap_del(&p->delays, tgid);
}

/* Three batched reads a tick, not five syscalls per process (bench/run.py P5). */
static void tick_sched(struct spine *sp, struct cpu_priv *p, uint64_t now)
{
	struct cpu_sched_rec *r;
	struct sched_read x;
	bool forget;
	size_t i;

	r = malloc(sizeof(*r) + CPU_SCHED_MAX * sizeof(r->e[0]));
	if (!r)
		return;
	memset(r, 0, sizeof(*r));
	/* conc_max before conc: a peak set in between is still seen by the next tick. */
	if (map_read(&p->conc_max, p->skel->maps.conc_max) ||
	    map_read(&p->delay, p->skel->maps.delay) || map_read(&p->conc, p->skel->maps.conc))
		log_dbg("cpu: reading the scheduler maps: %zu/%zu/%zu entries read", p->conc.n,
			p->conc_max.n, p->delay.n);
	sched_index(p, &x);
	for (i = 0; i < p->conc.n; i++) {
		const struct cpu_conc_key *k = (struct cpu_conc_key *)p->conc.keys + i;

		forget = false;
		if (sched_entry(sp, p, &x, k, (struct cpu_conc *)p->conc.vals + i, &r->e[r->n],
				&forget) &&
		    ++r->n == CPU_SCHED_MAX)
			flush_sched(sp, r, now);
		if (forget)
			sched_forget(p, k->id);
	}
	flush_sched(sp, r, now);
	free(r);
	hmap_free(&x.max);
	hmap_free(&x.delay);
}

/*
 * Maps of processes that are gone and were not sampled for two ticks (their
 * last stacks are named by then): a long run with process churn keeps the
 * symbolizer's memory flat.
 */
static void forget_gone(struct cpu_priv *p)
{
	uint64_t pid, *old;
	size_t i = 0, n = 0, k;
	void *v;

	if (p->ticks % FORGET_EVERY || !p->sampled.len)
		return;
	old = malloc(p->sampled.len * sizeof(*old));
	if (!old)
		return;
	while (hmap_next(&p->sampled, &i, &pid, &v))
		if ((uintptr_t)v + 1 <= p->ticks && gone(pid))
			old[n++] = pid;
	for (k = 0; k < n; k++) {
		sym_forget(p->sym, old[k]);
		hmap_del(&p->sampled, old[k]);
	}
	free(old);
}

static void cpu_tick(struct spine *sp, void *priv, uint64_t now)
{
	struct cpu_priv *p = priv;

	if (!p->stacks_on)
		return;
	hmap_free(&p->recaptured);
	hmap_init(&p->recaptured);
	p->ticks++;
	tick_samples(sp, p, now);
	forget_gone(p);
	tick_sched(sp, p, now);
}

static void cpu_handle(struct spine *sp, const struct st_hdr *h, size_t len)
{
	struct spine_inst *in;

	switch (h->type) {
	case ST_CPU_PID:
		if (len < sizeof(struct cpu_pid_rec))
			break;
		/* Maps now, while the process lives: it may be gone by the report. */
		in = sp->live ? spine_inst_of(sp, &concern_cpu) : NULL;
		if (in && ((struct cpu_priv *)in->priv)->sym)
			sym_capture(((struct cpu_priv *)in->priv)->sym,
				    ((const struct cpu_pid_rec *)h)->pid);
		return;
	case ST_CPU_STACK:
		if (len < sizeof(struct cpu_stack_rec))
			break;
		model_cpu_stack(sp->model, (const void *)h, len);
		return;
	case ST_CPU_SAMPLES:
		if (len < sizeof(struct cpu_samples_rec))
			break;
		model_cpu_samples(sp->model, (const void *)h, len);
		return;
	case ST_CPU_SCHED:
		if (len < sizeof(struct cpu_sched_rec))
			break;
		model_cpu_sched(sp->model, (const void *)h, len);
		return;
	}
	sp->lost_user++;
}

const struct concern concern_cpu = {
	.name = "cpu",
	.bit = 1 << 4,
	.type_min = ST_CPU_PID,
	.type_max = ST_CPU_SCHED,
	.open = cpu_open,
	.configure = cpu_configure,
	.load = cpu_load,
	.attach = cpu_attach,
	.object = cpu_object,
	.tick = cpu_tick,
	.detach = cpu_detach,
	.destroy = cpu_destroy,
	.variant = cpu_variant,
	.handle = cpu_handle,
};
