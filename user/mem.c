// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The mem concern: OOM kills arrive as records; page faults, RSS and
 * reclaim stalls are aggregated per process in BPF maps that we read each
 * second and turn into snapshot records (ST_MEM_SNAP), so the live path and
 * a recording replay decode the very same thing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "concern.h"
#include "log.h"
#include "mapread.h"
#include "mem.h"
#include "mem.skel.h"
#include "procfs.h"
#include "spine.h"

struct last {
	uint64_t faults;
	struct mem_stat st;
	uint64_t gone_ns; /* when the process was first seen exited */
};

struct mem_priv {
	struct mem_bpf *skel;
	struct hmap last; /* tgid -> struct last: what we already emitted */
	struct percpu_sum pcpu;
	struct map_reader rd_faults, rd_mem; /* the two maps, read whole each tick */
	uint64_t ticks;
	char variant[160];
};

#define GONE_EVERY 10 /* ticks between /proc checks for idle processes (no proc concern) */

SPINE_DEFINE_OPEN(mem)

static int mem_configure(struct spine *sp, void *priv)
{
	struct mem_priv *p = priv;
	struct mem_bpf *s = p->skel;
	bool task_arg = feat_btf_tp_ptr_arg(&sp->feat, "mark_victim", 0);
	const char *oom, *fault, *rss, *dr, *mr;

	SPINE_SET_FILTERS(s, sp);
	/* Before 6.x, mark_victim passed only a pid: tp_btf needs the task pointer. */
	if (!task_arg)
		bpf_program__set_autoload(s->progs.oom_btf, false);
	oom = spine_pick(sp, task_arg ? s->progs.oom_btf : NULL, s->progs.oom_tp, "mark_victim",
			 "oom", "mark_victim");
#define PICK(prog, cat, name) \
	spine_pick(sp, s->progs.prog##_btf, s->progs.prog##_tp, name, cat, name)
	fault = PICK(fault, "exceptions", "page_fault_user");
	rss = PICK(rss, "kmem", "rss_stat");
	dr = PICK(dr_begin, "vmscan", "mm_vmscan_direct_reclaim_begin");
	PICK(dr_end, "vmscan", "mm_vmscan_direct_reclaim_end");
	mr = PICK(mr_begin, "vmscan", "mm_vmscan_memcg_reclaim_begin");
	PICK(mr_end, "vmscan", "mm_vmscan_memcg_reclaim_end");
#undef PICK
	snprintf(p->variant, sizeof(p->variant),
		 "oom=%s fault=%s rss=%s direct_reclaim=%s memcg_reclaim=%s", oom, fault, rss, dr,
		 mr);
	/* OOM kills are the one thing this concern must not miss. */
	if (!strcmp(oom, "missing")) {
		log_err("mem: this kernel has no oom:mark_victim tracepoint (%s)", p->variant);
		return -ENOENT;
	}
	return 0;
}

static int mem_load(void *priv)
{
	return mem_bpf__load(((struct mem_priv *)priv)->skel);
}

static int mem_attach(struct spine *sp, void *priv)
{
	return mem_bpf__attach(((struct mem_priv *)priv)->skel);
}

static struct bpf_object *mem_object(void *priv)
{
	return ((struct mem_priv *)priv)->skel->obj;
}

static void mem_detach(void *priv)
{
	mem_bpf__detach(((struct mem_priv *)priv)->skel);
}

static void mem_destroy(void *priv)
{
	struct mem_priv *p = priv;

	hmap_free_all(&p->last);
	map_reader_free(&p->rd_faults);
	map_reader_free(&p->rd_mem);
	mem_bpf__destroy(p->skel);
	percpu_sum_free(&p->pcpu);
	free(p);
}

static const char *mem_variant(void *priv)
{
	return ((struct mem_priv *)priv)->variant;
}

static void flush_snap(struct spine *sp, struct mem_snap *snap, uint64_t now)
{
	if (!snap->n)
		return;
	snap->h = (struct st_hdr){ .type = ST_MEM_SNAP,
				   .size = offsetof(struct mem_snap, e) +
					   snap->n * sizeof(snap->e[0]),
				   .ts = now };
	spine_emit(sp, &snap->h);
	snap->n = 0;
}

/*
 * One process: emit it when it changed; forget it (map entries and our
 * copy) one tick after its exit was seen, once its last counts are out.
 */
static void tick_one(struct spine *sp, struct mem_priv *p, uint32_t tgid, uint64_t faults,
		     const struct mem_stat *stp, struct mem_snap *snap, uint64_t now,
		     uint32_t *forget, size_t *nforget)
{
	struct mem_stat st = stp ? *stp : (struct mem_stat){ 0 };
	struct last *l = hmap_get(&p->last, tgid);
	struct proc *pr;
	bool gone;

	if (!l) {
		l = hmap_put_new(&p->last, tgid, sizeof(*l));
		if (!l) {
			sp->lost_user++;
			return;
		}
	} else if (l->faults == faults && !memcmp(&l->st, &st, sizeof(st))) {
		pr = model_find(sp->model, tgid);
		/* The proc concern says when it exits; without it, /proc now and then. */
		if (sp->model->concerns & concern_proc.bit)
			gone = pr && pr->exited;
		else
			gone = !(p->ticks % GONE_EVERY) && !procfs_exists("/proc", tgid);
		if (!l->gone_ns && gone)
			l->gone_ns = now;
		else if (l->gone_ns && *nforget < 4096)
			forget[(*nforget)++] = tgid;
		return;
	}
	l->faults = faults;
	l->st = st;
	snap->e[snap->n] = (struct mem_snap_entry){ .pid = tgid, .faults = faults, .st = st };
	if (++snap->n == MEM_SNAP_MAX)
		flush_snap(sp, snap, now);
}

/* Faults of one process: its per-CPU slots summed. */
static uint64_t faults_of(const struct map_reader *r, size_t i, size_t vs)
{
	const uint64_t *v = (const uint64_t *)((const char *)r->vals + i * vs);
	uint64_t sum = 0;
	size_t c;

	for (c = 0; c < vs / sizeof(*v); c++)
		sum += v[c];
	return sum;
}

static void mem_tick(struct spine *sp, void *priv, uint64_t now)
{
	struct mem_priv *p = priv;
	struct mem_snap *snap = calloc(1, sizeof(*snap));
	uint32_t *forget = calloc(4096, sizeof(*forget));
	size_t fvs = map_reader_value_size(p->skel->maps.faults), nforget = 0, i;
	struct hmap stats; /* tgid -> its struct mem_stat in rd_mem */

	p->ticks++;
	if (!snap || !forget) {
		free(snap);
		free(forget);
		return;
	}
	hmap_init(&stats);
	/* Both maps whole: a process may fault without an RSS change and vice versa. */
	map_read(&p->rd_faults, p->skel->maps.faults);
	map_read(&p->rd_mem, p->skel->maps.procmem);
	for (i = 0; i < p->rd_mem.n; i++)
		hmap_put(&stats, ((const uint32_t *)p->rd_mem.keys)[i],
			 (struct mem_stat *)p->rd_mem.vals + i);
	for (i = 0; i < p->rd_faults.n; i++) {
		uint32_t tgid = ((const uint32_t *)p->rd_faults.keys)[i];

		tick_one(sp, p, tgid, faults_of(&p->rd_faults, i, fvs), hmap_del(&stats, tgid),
			 snap, now, forget, &nforget);
	}
	/* Those with an RSS but no fault yet. */
	for (i = 0; i < p->rd_mem.n; i++) {
		uint32_t tgid = ((const uint32_t *)p->rd_mem.keys)[i];

		if (hmap_get(&stats, tgid))
			tick_one(sp, p, tgid, 0, (struct mem_stat *)p->rd_mem.vals + i, snap, now,
				 forget, &nforget);
	}
	flush_snap(sp, snap, now);
	for (i = 0; i < nforget; i++) {
		free(hmap_del(&p->last, forget[i]));
		bpf_map__delete_elem(p->skel->maps.faults, &forget[i], sizeof(forget[i]), 0);
		bpf_map__delete_elem(p->skel->maps.procmem, &forget[i], sizeof(forget[i]), 0);
	}
	hmap_free(&stats);
	free(snap);
	free(forget);
}

static void on_snap(struct spine *sp, const struct st_hdr *h, size_t len)
{
	const struct mem_snap *s = (const void *)h;
	uint32_t i, n;

	if (len < offsetof(struct mem_snap, e)) {
		sp->lost_user++;
		return;
	}
	n = (len - offsetof(struct mem_snap, e)) / sizeof(s->e[0]);
	if (s->n < n)
		n = s->n;
	for (i = 0; i < n; i++) {
		const struct mem_snap_entry *e = &s->e[i];
		struct memstat ms = {
			.faults = e->faults,
			.rss_anon = e->st.rss[MEM_RSS_ANON],
			.rss_file = e->st.rss[MEM_RSS_FILE],
			.rss_shmem = e->st.rss[MEM_RSS_SHMEM],
			.rss_peak = e->st.rss_peak,
			.reclaim_ns = e->st.reclaim_ns,
		};

		ms.rss = ms.rss_anon + ms.rss_file + ms.rss_shmem;
		model_mem(sp->model, h->ts, e->pid, &ms);
	}
}

static void on_oom(struct spine *sp, const struct st_hdr *h, size_t len)
{
	struct mem_oom o;
	struct oom_kill k;
	struct proc *victim;

	memset(&o, 0, sizeof(o));
	memcpy(&o, h, len < sizeof(o) ? len : sizeof(o));
	k = (struct oom_kill){
		.ts = o.h.ts,
		.victim_pid = o.victim_pid,
		.trigger_pid = o.trigger_pid,
		.uid = o.uid,
		.oom_score_adj = o.oom_score_adj,
		.total_vm = o.total_vm,
		.anon_rss = o.anon_rss,
		.file_rss = o.file_rss,
		.shmem_rss = o.shmem_rss,
		.pgtables = o.pgtables,
		.memcg = spine_cgroup(sp, CG_MEM, o.memcg_id),
		.cgroup = spine_cgroup(sp, CG_V2, o.cgroup_id),
	};
	st_strfix(k.victim_comm, sizeof(k.victim_comm), o.victim_comm, sizeof(o.victim_comm));
	st_strfix(k.trigger_comm, sizeof(k.trigger_comm), o.trigger_comm, sizeof(o.trigger_comm));
	/* The classic tracepoint names neither: the process table knows both. */
	victim = model_find(sp->model, o.victim_pid);
	if (victim && !k.victim_comm[0])
		st_strlcpy(k.victim_comm, victim->comm, sizeof(k.victim_comm));
	if (victim && !k.memcg)
		k.memcg = victim->cg_mem;
	if (victim && !k.cgroup)
		k.cgroup = victim->cg_v2;
	model_oom(sp->model, &k);
}

static void mem_handle(struct spine *sp, const struct st_hdr *h, size_t len)
{
	switch (h->type) {
	case ST_MEM_OOM:
		on_oom(sp, h, len);
		break;
	case ST_MEM_SNAP:
		on_snap(sp, h, len);
		break;
	default:
		sp->lost_user++;
	}
}

const struct concern concern_mem = {
	.name = "mem",
	.bit = 1 << 1,
	.type_min = ST_MEM_OOM,
	.type_max = ST_MEM_SNAP,
	.open = mem_open,
	.configure = mem_configure,
	.load = mem_load,
	.attach = mem_attach,
	.object = mem_object,
	.tick = mem_tick,
	.detach = mem_detach,
	.destroy = mem_destroy,
	.variant = mem_variant,
	.handle = mem_handle,
};
