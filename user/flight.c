// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The flight recorder, `record --flight SECS --trigger EXPR -o DIR`
 * (docs/flight.md). Every frame a recording would get goes into an
 * in-memory ring pruned to the last SECS; each second the triggers look at
 * the live model; a firing writes DIR/spiketrace-DATE-TIME-TRIGGER.rec: the
 * window before (processes alive at its start as seeds, cgroup paths, named
 * stacks and libraries, the ring's frames with cumulative counters rebased
 * to the window) and, written through as they arrive, the SECS after.
 * The live model is rebuilt from the ring every max(SECS, 10 s) so that it
 * holds no more than the window plus that period: memory stays flat.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "concern.h"
#include "cpu.h"
#include "cpumodel.h"
#include "framering.h"
#include "live.h"
#include "log.h"
#include "opts.h"
#include "procfs.h"
#include "spine.h"
#include "tcpmodel.h"
#include "tls.h"
#include "tlsmodel.h"
#include "trigger.h"
#include "winbase.h"

#define NSEC 1000000000ull
#define FLIGHT_CAP (64u << 20) /* bytes of frames kept at most */
#define REBUILD_MIN_NS (10 * NSEC)
#define DICT_CAP (16u << 20) /* named stacks kept: past it, those unused in the window go */
#define SCRATCH_LEN (65536 + 64) /* a record is at most 64 KiB (st_hdr.size) */
#define PSI_MEM "/proc/pressure/memory"
#define MIN_FREE (128ull << 20) /* a dump does not start with less free in DIR */

struct dump {
	bool active;
	struct rec_writer *w;
	uint64_t start, fire, end; /* window start, firing, end: CLOCK_MONOTONIC */
	struct winbase base; /* counters at the window start */
	char path[PATH_MAX];
};

/* A named stack or TLS library: said once per run, needed by every dump. */
struct dict_ent {
	uint64_t used; /* last arrival or reference by a sample */
	uint32_t len;
	uint32_t pad;
	unsigned char data[];
};

/* The model's cumulative values the triggers compare second to second. */
struct counters {
	uint64_t ts;
	size_t nooms, nmarks;
	bool cpu, tls, tcp;
	uint64_t cpu_samples, cpu_idle, hs, resets;
};

struct flight {
	const struct options *o;
	struct spine sp;
	const char *dir;
	uint64_t window, t_start, next_rebuild;
	unsigned int concerns; /* recorded, for the dumps' header */
	struct trigger trig[OPT_MAX_TRIGGERS];
	size_t ntrig;
	bool want_psi;
	struct framering *ring;
	struct winbase base; /* of the frames that left the ring */
	struct hmap dict; /* type << 32 | id -> struct dict_ent */
	size_t dict_bytes;
	uint64_t dict_dropped; /* stacks dropped by DICT_CAP */
	struct dump dumps[OPT_MAX_TRIGGERS]; /* one per trigger */
	unsigned char *scratch;
	struct counters prev;
	bool started, stopping;
	unsigned int written, failed;
};

/* ---- setup ---------------------------------------------------------- */

static int check_dir(const char *dir)
{
	struct stat st;

	if (!dir) {
		log_err("record: --flight needs -o DIR, the directory recordings are written into "
			"(see 'spiketrace record --help')");
		return 2;
	}
	if (stat(dir, &st)) {
		log_err("record --flight: cannot use -o %s: %s (create the directory first)", dir,
			strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_err("record --flight: -o %s is not a directory: give the directory recordings "
			"are written into",
			dir);
		return 2;
	}
	if (access(dir, W_OK | X_OK)) {
		log_err("record --flight: cannot write into %s: %s", dir, strerror(errno));
		return 1;
	}
	return 0;
}

static int parse_triggers(struct flight *f, unsigned int mask)
{
	char err[384];
	size_t i;

	for (i = 0; i < f->o->ntriggers; i++) {
		struct trigger *t = &f->trig[i];
		const char *need;
		const struct concern *c;

		if (trigger_parse(f->o->triggers[i], t, err, sizeof(err))) {
			log_err("record: bad --trigger: %s (see 'spiketrace record --help')", err);
			return 2;
		}
		need = trigger_concern(t);
		c = need ? concern_by_name(need) : NULL;
		if (c && mask && !(mask & c->bit)) {
			log_err("record: --trigger %s needs the %s concern: add %s to --only",
				t->label, need, need);
			return 2;
		}
		f->want_psi |= t->kind == TRIG_PSI_MEM;
	}
	f->ntrig = i;
	if (f->want_psi && access(PSI_MEM, R_OK)) {
		log_err("record: --trigger psi-mem needs " PSI_MEM
			" (a kernel with CONFIG_PSI=y, not booted with psi=0)");
		return 1;
	}
	return 0;
}

/* ---- the dictionary: named stacks and libraries ------------------------ */

static uint64_t dict_key(uint32_t type, const void *p, uint32_t len)
{
	const struct st_hdr *h = p;

	if (type != REC_EVENT || len < sizeof(*h) + 4 || h->size != len)
		return 0;
	if (h->type != ST_CPU_STACK && h->type != ST_TLS_LIB)
		return 0;
	/* Both carry their id right after the header. */
	return (uint64_t)h->type << 32 | *(const uint32_t *)(h + 1);
}

/* Over the cap: the stacks no sample of the window uses go (counted). */
static void dict_trim(struct flight *f, uint64_t w)
{
	uint64_t *keys = malloc(f->dict.len * sizeof(*keys)), k;
	size_t it = 0, n = 0, i;
	void *v;

	if (!keys)
		return;
	while (n < f->dict.len && hmap_next(&f->dict, &it, &k, &v))
		if (k >> 32 == ST_CPU_STACK && ((struct dict_ent *)v)->used < w)
			keys[n++] = k;
	for (i = 0; i < n; i++) {
		struct dict_ent *e = hmap_del(&f->dict, keys[i]);

		f->dict_bytes -= e->len;
		free(e);
	}
	f->dict_dropped += n;
	free(keys);
}

/* Samples name their stacks by id: those ids are in use. */
static void dict_touch(struct flight *f, const struct cpu_samples_rec *r, uint32_t len,
		       uint64_t now)
{
	size_t i, n = (len - sizeof(*r)) / sizeof(r->e[0]);
	struct dict_ent *e;

	for (i = 0; i < n && i < r->n; i++) {
		if (!r->e[i].stack)
			continue;
		e = hmap_get(&f->dict, (uint64_t)ST_CPU_STACK << 32 | r->e[i].stack);
		if (e)
			e->used = now;
	}
}

static void dict_put(struct flight *f, uint64_t key, const void *p, uint32_t len, uint64_t now)
{
	struct dict_ent *e = malloc(sizeof(*e) + len), *old;

	if (!e)
		return;
	e->used = now;
	e->len = len;
	memcpy(e->data, p, len);
	old = hmap_get(&f->dict, key);
	if (hmap_put(&f->dict, key, e)) {
		free(e);
		return;
	}
	f->dict_bytes += len;
	if (old) {
		f->dict_bytes -= old->len;
		free(old);
	}
	if (f->dict_bytes > DICT_CAP)
		dict_trim(f, now > f->window ? now - f->window : 0);
}

static void dict_free(struct flight *f)
{
	hmap_free_all(&f->dict);
}

/* ---- frames in ---------------------------------------------------------- */

static void dump_close(struct flight *f, struct dump *d, uint64_t now);

static void dump_write(struct flight *f, struct dump *d, uint32_t type, const void *p, uint32_t len)
{
	const void *out = wb_rebase(&d->base, type, p, len, f->scratch);
	int err = rec_write(d->w, type, out, len);

	if (err) {
		log_err("writing %s failed: %s; that recording stops here", d->path,
			strerror(-err));
		f->failed++;
		dump_close(f, d, 0);
	}
}

/* Every frame: into the ring (or the dictionary), and through to open dumps. */
static int on_frame(void *ctx, uint32_t type, const void *p, uint32_t len)
{
	struct flight *f = ctx;
	uint64_t key = dict_key(type, p, len), now = now_mono_ns();
	const struct st_hdr *h = p;
	size_t i;

	if (key)
		dict_put(f, key, p, len, now);
	/* Seeds and cgroup paths are in the model; a dump makes its own. */
	else if (type != REC_PROC_SEED && type != REC_CGROUP)
		fr_push(f->ring, now, type, p, len);
	if (type == REC_EVENT && len >= sizeof(struct cpu_samples_rec) &&
	    h->type == ST_CPU_SAMPLES && h->size == len)
		dict_touch(f, p, len, now);
	for (i = 0; i < f->ntrig; i++)
		if (f->dumps[i].active)
			dump_write(f, &f->dumps[i], type, p, len);
	return 0;
}

static void on_gone(void *ctx, const struct fr_frame *fr, int evicted)
{
	struct flight *f = ctx;

	wb_absorb(&f->base, fr->type, fr->data, fr->len);
}

/* ---- the window: what a dump starts with, what a rebuild replays ---------- */

typedef int (*frame_out)(void *ctx, uint32_t type, const void *p, uint32_t len);

static void seed_of(const struct proc *p, uint64_t ts, struct rec_proc_seed *s)
{
	size_t n = p->args_len < sizeof(s->args) ? p->args_len : sizeof(s->args);

	memset(s, 0, sizeof(*s));
	s->ts = ts;
	s->pid = p->pid;
	s->ppid = p->ppid;
	s->uid = p->uid;
	s->kthread = p->kthread;
	st_strlcpy(s->comm, p->comm, sizeof(s->comm));
	if (p->filename)
		st_strlcpy(s->filename, p->filename, sizeof(s->filename));
	if (p->args && n)
		memcpy(s->args, p->args, n);
	s->args_len = n;
	if (p->cg_v2)
		st_strlcpy(s->cg_v2, p->cg_v2, sizeof(s->cg_v2));
	if (p->cg_mem)
		st_strlcpy(s->cg_mem, p->cg_mem, sizeof(s->cg_mem));
}

/* Alive at w and started before it (later ones come with their own events). */
static bool alive_at(const struct proc *p, uint64_t w)
{
	if (p->exited && p->exit_ns < w)
		return false;
	return p->seeded || !p->seen_ns || p->seen_ns < w;
}

static int emit_cgroups(const struct model *m, frame_out out, void *ctx)
{
	unsigned char buf[sizeof(struct rec_cgroup) + 4096];
	struct rec_cgroup *c = (void *)buf;
	unsigned int h;
	int err = 0;

	for (h = CG_V2; h <= CG_MEM && !err; h++) {
		size_t it = 0, n;
		uint64_t id;
		void *v;

		while (!err && hmap_next(&m->cgroups[h], &it, &id, &v)) {
			n = strnlen(v, 4096);
			c->id = id;
			c->hier = h;
			c->path_len = n;
			memcpy(c->path, v, n);
			err = out(ctx, REC_CGROUP, c, sizeof(*c) + n);
		}
	}
	return err;
}

static int emit_dict(struct flight *f, frame_out out, void *ctx)
{
	size_t it = 0;
	void *v;
	int err = 0;

	while (!err && hmap_next(&f->dict, &it, NULL, &v)) {
		const struct dict_ent *e = v;

		err = out(ctx, REC_EVENT, e->data, e->len);
	}
	return err;
}

static bool pid_alive(uint32_t pid)
{
	return procfs_exists("/proc", pid);
}

/*
 * For the live model (check set), a process whose exit was never seen
 * (lost, or outside -p/-c) goes once /proc no longer has it.
 */
static int emit_seeds(const struct model *m, uint64_t w, bool check, frame_out out, void *ctx)
{
	struct rec_proc_seed s;
	const struct proc *p;
	int err = 0;

	for (p = m->procs; p && !err; p = p->next) {
		if (!alive_at(p, w) || model_find(m, p->pid) != p)
			continue;
		if (check && !p->exited && !pid_alive(p->pid))
			continue;
		seed_of(p, w, &s);
		err = out(ctx, REC_PROC_SEED, &s, sizeof(s));
	}
	return err;
}

/* Everything known at w, then the ring's frames from w on. */
static int emit_window(struct flight *f, const struct model *m, uint64_t w, bool check,
		       frame_out out, void *ctx)
{
	const struct fr_frame *fr;
	struct fr_iter it;
	int err;

	err = emit_cgroups(m, out, ctx);
	if (!err)
		err = emit_dict(f, out, ctx);
	if (!err)
		err = emit_seeds(m, w, check, out, ctx);
	for (fr = fr_first(f->ring, w, &it); fr && !err; fr = fr_next(f->ring, &it))
		err = out(ctx, fr->type, fr->data, fr->len);
	return err;
}

/* ---- dumps ---------------------------------------------------------------- */

/* DIR/spiketrace-YYYYmmdd-HHMMSS-LABEL[-N].rec, created here, never replaced. */
static int dump_path(struct flight *f, const struct trigger *t, char *path, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;
	char ts[32], sfx[8] = "";
	int i, fd;

	localtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y%m%d-%H%M%S", &tm);
	for (i = 1; i < 100; i++) {
		if (i > 1)
			snprintf(sfx, sizeof(sfx), "-%d", i);
		if ((size_t)snprintf(path, len, "%s/spiketrace-%s-%s%s.rec", f->dir, ts, t->label,
				     sfx) >= len)
			return -ENAMETOOLONG;
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

struct dump_ctx {
	struct flight *f;
	struct dump *d;
};

static int dump_out(void *ctx, uint32_t type, const void *p, uint32_t len)
{
	struct dump_ctx *c = ctx;
	const void *out = wb_rebase(&c->d->base, type, p, len, c->f->scratch);

	return rec_write(c->d->w, type, out, len);
}

static void dump_header(struct flight *f, uint64_t w, struct rec_header *h)
{
	uint64_t back;

	spine_rec_header(h, f->concerns);
	back = h->start_mono_ns > w ? h->start_mono_ns - w : 0;
	h->start_mono_ns -= back;
	h->start_real_ns -= back;
}

/* A trigger storm must not fill the disk: no new dump below MIN_FREE. */
static int check_space(struct flight *f)
{
	struct statvfs sv;
	uint64_t avail;

	if (statvfs(f->dir, &sv))
		return 0; /* creating the file will say what is wrong */
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (avail >= MIN_FREE)
		return 0;
	log_err("not writing a recording: %s has only %llu MiB free (%llu MiB needed)", f->dir,
		(unsigned long long)(avail >> 20), MIN_FREE >> 20);
	return -ENOSPC;
}

static int dump_open(struct flight *f, struct dump *d, const struct trigger *t, uint64_t w)
{
	struct rec_header h;
	int err;

	err = check_space(f);
	if (err)
		return err;
	err = dump_path(f, t, d->path, sizeof(d->path));
	if (err) {
		log_err("cannot create a recording in %s: %s", f->dir, strerror(-err));
		return err;
	}
	dump_header(f, w, &h);
	d->w = rec_create(d->path, &h);
	if (!d->w) {
		err = -errno;
		log_err("cannot create %s: %s", d->path, strerror(errno));
		unlink(d->path);
		return err;
	}
	wb_init(&d->base);
	err = wb_copy(&d->base, &f->base);
	if (err)
		log_warn("%s: out of memory for the window's counters; they count from the start",
			 d->path);
	return 0;
}

static void dump_start(struct flight *f, size_t i, uint64_t now, uint64_t w, const char *why)
{
	struct dump *d = &f->dumps[i];
	struct dump_ctx c = { f, d };
	struct fr_stats st;
	int err;

	if (dump_open(f, d, &f->trig[i], w)) {
		f->failed++;
		return;
	}
	d->active = true;
	d->start = w;
	d->fire = now;
	d->end = now + f->window;
	fr_stats(f->ring, &st);
	if (st.last_evicted >= w)
		log_warn("%s: the %u MiB memory cap kept only the last %.1f s before the trigger",
			 d->path, FLIGHT_CAP >> 20, (double)(now - st.oldest) / 1e9);
	err = emit_window(f, f->sp.model, w, false, dump_out, &c);
	if (!err)
		err = rec_flush(d->w);
	if (err) {
		log_err("writing %s failed: %s", d->path, strerror(-err));
		f->failed++;
		dump_close(f, d, 0);
		return;
	}
	fprintf(stderr, "spiketrace: trigger %s fired (%s): writing %s\n", f->trig[i].label, why,
		d->path);
}

/* now = 0: after a write error, no end frame. */
static void dump_close(struct flight *f, struct dump *d, uint64_t now)
{
	struct rec_end end = { .ts = now };
	int err;

	if (!d->active)
		return;
	d->active = false;
	if (now) {
		end.frames = rec_frames(d->w);
		err = rec_close(d->w, &end);
		if (err) {
			log_err("writing %s failed: %s", d->path, strerror(-err));
			f->failed++;
		} else {
			f->written++;
			fprintf(stderr,
				"spiketrace: wrote %s (%.1f s before the trigger, %.1f s after); "
				"see: spiketrace report %s\n",
				d->path, (double)(d->fire - d->start) / 1e9,
				(double)(now - d->fire) / 1e9, d->path);
		}
	} else {
		rec_close(d->w, NULL);
	}
	d->w = NULL;
	wb_free(&d->base);
}

static void mark(struct flight *f, const struct trigger *t, const struct trig_fire *tf,
		 uint64_t now)
{
	struct rec_trigger r = { .ts = tf->ts ? tf->ts : now, .pid = tf->pid };

	snprintf(r.detail, sizeof(r.detail), "%.30s: %.63s", t->label, tf->detail);
	on_frame(f, REC_TRIGGER, &r, sizeof(r));
}

/*
 * A firing: its own dump unless that trigger's is still being written
 * (then it is only noted); noted in every dump in progress.
 */
static void fire(struct flight *f, size_t i, const struct trig_fire *tf, uint64_t now, uint64_t w)
{
	if (!f->dumps[i].active)
		dump_start(f, i, now, w, tf->detail);
	else
		fprintf(stderr, "spiketrace: trigger %s fired again (%s): noted in %s\n",
			f->trig[i].label, tf->detail, f->dumps[i].path);
	mark(f, &f->trig[i], tf, now);
}

/* ---- triggers ------------------------------------------------------------ */

static void read_counters(const struct model *m, uint64_t now, struct counters *c)
{
	const struct tls_proc *tp;

	memset(c, 0, sizeof(*c));
	c->ts = now;
	c->nooms = m->nooms;
	c->nmarks = m->nmarks;
	if (m->cpu) {
		c->cpu = true;
		c->cpu_samples = m->cpu->samples;
		c->cpu_idle = m->cpu->idle;
	}
	if (m->tls) {
		c->tls = true;
		for (tp = m->tls->plist; tp; tp = tp->next)
			c->hs += tp->handshakes;
	}
	if (m->tcp) {
		c->tcp = true;
		c->resets = m->tcp->have_counts ? m->tcp->resets_rx + m->tcp->resets_tx :
						  m->tcp->nresets + m->tcp->resets_dropped;
	}
}

static bool read_psi(double *v)
{
	char line[256];
	FILE *fp = fopen(PSI_MEM, "re");
	bool ok = false;

	if (!fp)
		return false;
	while (!ok && fgets(line, sizeof(line), fp))
		ok = sscanf(line, "some avg10=%lf", v) == 1;
	fclose(fp);
	return ok;
}

static double rate(uint64_t now_v, uint64_t prev_v, double dt)
{
	return now_v >= prev_v && dt > 0 ? (double)(now_v - prev_v) / dt : 0;
}

/* The last second, from the model's counters now and a second ago. */
static void fill_sample(struct flight *f, const struct counters *c, struct trig_sample *s)
{
	const struct counters *p = &f->prev;
	double dt = (double)(c->ts - p->ts) / 1e9;
	uint64_t ds = c->cpu_samples - p->cpu_samples, di = c->cpu_idle - p->cpu_idle;

	s->cpu_ok = c->cpu && p->cpu && c->cpu_samples > p->cpu_samples && di <= ds;
	if (s->cpu_ok)
		s->cpu_pct = 100.0 * (double)(ds - di) / (double)ds;
	s->hs_ok = c->tls && dt > 0;
	s->hs_per_s = c->tls && p->tls ? rate(c->hs, p->hs, dt) : rate(c->hs, 0, dt);
	s->resets_ok = c->tcp && p->tcp && dt > 0;
	s->resets_per_s = rate(c->resets, p->resets, dt);
	if (f->want_psi)
		s->psi_ok = read_psi(&s->psi_mem);
}

static size_t new_ooms(const struct model *m, size_t from, struct trig_oom *v, size_t max)
{
	size_t n = 0, i;

	for (i = from; i < m->nooms && n < max; i++)
		v[n++] = (struct trig_oom){ .pid = m->ooms[i].victim_pid,
					    .comm = m->ooms[i].victim_comm,
					    .ts = m->ooms[i].ts };
	return n;
}

/* Execs since the last second, from the model's marks. */
static struct trig_exec *new_execs(const struct model *m, size_t from, size_t *n)
{
	struct trig_exec *v;
	size_t i;

	*n = 0;
	if (m->nmarks <= from)
		return NULL;
	v = calloc(m->nmarks - from, sizeof(*v));
	for (i = from; v && i < m->nmarks; i++) {
		const struct mark *mk = &m->marks[i];

		if (mk->kind == MARK_EXEC)
			v[(*n)++] = (struct trig_exec){ .pid = mk->pid,
							.ts = mk->ts,
							.comm = mk->p ? mk->p->comm : NULL,
							.base = mk->detail };
	}
	return v;
}

static void eval_all(struct flight *f, uint64_t now, uint64_t w)
{
	const struct model *m = f->sp.model;
	struct trig_oom ooms[16];
	struct trig_sample s = { .ooms = ooms };
	struct trig_exec *execs;
	struct counters c;
	struct trig_fire tf;
	size_t i;

	read_counters(m, now, &c);
	s.nooms = new_ooms(m, f->prev.nooms, ooms, ARRAY_SIZE(ooms));
	execs = new_execs(m, f->prev.nmarks, &s.nexecs);
	s.execs = execs;
	fill_sample(f, &c, &s);
	f->prev = c;
	for (i = 0; i < f->ntrig; i++)
		if (trigger_eval(&f->trig[i], &s, &tf))
			fire(f, i, &tf, now, w);
	free(execs);
}

/* ---- keeping the live model to the window -------------------------------- */

static int feed_out(void *ctx, uint32_t type, const void *p, uint32_t len)
{
	spine_feed(ctx, type, p, len);
	return 0;
}

static void use(struct hmap *used, const char *path)
{
	if (path)
		hmap_put(used, (uintptr_t)path, (void *)path);
}

/* Cgroup ids whose path no process of m uses: spine_cgroup() resolves them again. */
static void prune_cgroups(struct model *m)
{
	struct hmap used = { 0 };
	const struct proc *p;
	uint64_t ids[512], id;
	unsigned int h;
	size_t i;

	for (p = m->procs; p; p = p->next) {
		use(&used, p->cg_v2);
		use(&used, p->cg_mem);
	}
	for (i = 0; i < m->nooms; i++) {
		use(&used, m->ooms[i].memcg);
		use(&used, m->ooms[i].cgroup);
	}
	for (h = CG_V2; h <= CG_MEM; h++) {
		size_t it = 0, n = 0;
		void *v;

		while (n < ARRAY_SIZE(ids) && hmap_next(&m->cgroups[h], &it, &id, &v))
			if (!hmap_get(&used, (uintptr_t)v))
				ids[n++] = id;
		for (i = 0; i < n; i++)
			hmap_del(&m->cgroups[h], ids[i]);
	}
	hmap_free(&used);
}

static uint64_t rebuild_period(const struct flight *f)
{
	return f->window > REBUILD_MIN_NS ? f->window : REBUILD_MIN_NS;
}

static void rebuild(struct flight *f, uint64_t now, uint64_t w)
{
	struct model *old = f->sp.model, *m = model_new(w);
	struct mallinfo2 mi;
	struct fr_stats st;

	if (!m)
		return;
	m->concerns = old->concerns;
	m->lost_user = old->lost_user;
	emit_window(f, old, w, true, feed_out, m);
	prune_cgroups(m);
	wb_reap(&f->base, pid_alive, now);
	f->sp.model = m;
	model_free(old);
	malloc_trim(0);
	read_counters(m, now, &f->prev);
	fr_stats(f->ring, &st);
	mi = mallinfo2();
	log_dbg("flight: model rebuilt in %.1f ms: %zu processes, %zu marks; ring %llu frames, %llu KiB "
		"(%zu KiB mapped); %zu stacks/libraries (%zu KiB, %llu dropped); baseline %zu "
		"entries; heap %zu KiB in use of %zu KiB",
		(double)(now_mono_ns() - now) / 1e6, m->nprocs, m->nmarks,
		(unsigned long long)st.frames, (unsigned long long)(st.bytes >> 10),
		st.mapped >> 10, f->dict.len, f->dict_bytes >> 10,
		(unsigned long long)f->dict_dropped, wb_entries(&f->base),
		(mi.uordblks + mi.hblkhd) >> 10, (mi.arena + mi.hblkhd) >> 10);
}

static void on_tick(void *ctx, uint64_t now)
{
	struct flight *f = ctx;
	uint64_t w = now > f->t_start + f->window ? now - f->window : f->t_start;
	size_t i;

	if (!f->stopping) {
		fr_prune(f->ring, w);
		eval_all(f, now, w);
		if (now >= f->next_rebuild) {
			rebuild(f, now, w);
			f->next_rebuild = now + rebuild_period(f);
		}
	}
	for (i = 0; i < f->ntrig; i++) {
		struct dump *d = &f->dumps[i];
		int err = d->active ? rec_flush(d->w) : 0;

		if (err) {
			log_err("writing %s failed: %s", d->path, strerror(-err));
			f->failed++;
			dump_close(f, d, 0);
		}
	}
}

static int on_poll(void *ctx, uint64_t now)
{
	struct flight *f = ctx;
	size_t i;

	for (i = 0; i < f->ntrig; i++)
		if (f->dumps[i].active && now >= f->dumps[i].end)
			dump_close(f, &f->dumps[i], now);
	return 0;
}

/* ---- the command ------------------------------------------------------------ */

static void describe(const struct flight *f, char *buf, size_t len)
{
	size_t i, off;

	off = (size_t)snprintf(buf, len, ", flight recorder: keeping %g s, triggers", f->o->flight);
	for (i = 0; i < f->ntrig && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : " ",
					f->o->triggers[i]);
	if (off < len)
		snprintf(buf + off, len - off, ", recordings into %s", f->dir);
}

static int run(struct flight *f, struct options *o)
{
	char desc[512], what[512];
	struct model *m;
	int rc;

	m = model_new(now_mono_ns());
	if (!m) {
		log_err("out of memory");
		return 1;
	}
	m->concerns = f->concerns;
	f->t_start = now_mono_ns();
	f->next_rebuild = f->t_start + rebuild_period(f);
	f->sp.sink_cb = on_frame;
	f->sp.sink_ctx = f;
	f->sp.tick_cb = on_tick;
	f->sp.tick_ctx = f;
	f->sp.poll_cb = on_poll;
	f->sp.poll_ctx = f;
	rc = spine_start(&f->sp, o, m, NULL);
	if (!rc) {
		/* A concern the kernel refused is not in the dumps' header either. */
		for (size_t i = 0; i < nconcerns; i++)
			if (!(f->sp.running & concerns[i]->bit))
				f->concerns &= ~concerns[i]->bit;
		m->concerns = f->concerns;
		f->started = true;
		read_counters(f->sp.model, now_mono_ns(), &f->prev);
		spine_describe(&f->sp, desc, sizeof(desc));
		describe(f, what, sizeof(what));
		fprintf(stderr, "spiketrace: tracing %s%s (Ctrl-C to stop)\n", desc, what);
		rc = spine_run(&f->sp);
	}
	f->stopping = true;
	spine_stop(&f->sp);
	return rc;
}

static void finish(struct flight *f)
{
	uint64_t now = now_mono_ns();
	size_t i;

	for (i = 0; i < f->ntrig; i++)
		dump_close(f, &f->dumps[i], now);
	if (st_exiting)
		log_dbg("stopped by signal %d", (int)st_exiting);
	if (!f->started)
		return;
	fprintf(stderr, "spiketrace: flight recorder stopped: %u recording%s written to %s\n",
		f->written, f->written == 1 ? "" : "s", f->dir);
}

int flight_main(struct options *o)
{
	struct flight *f;
	int rc;

	rc = check_dir(o->output);
	if (rc)
		return rc;
	f = calloc(1, sizeof(*f));
	if (!f) {
		log_err("out of memory");
		return 1;
	}
	f->o = o;
	f->dir = o->output;
	f->window = (uint64_t)(o->flight * 1e9);
	/* Dumps need lineage: the proc concern always runs. */
	if (o->concerns)
		o->concerns |= concern_proc.bit;
	rc = parse_triggers(f, o->concerns);
	f->concerns = o->concerns ? o->concerns : ~0u;
	if (!rc && spine_preflight(o, &f->sp.feat))
		rc = 1;
	if (!rc) {
		f->ring = fr_new(FLIGHT_CAP, on_gone, f);
		f->scratch = malloc(SCRATCH_LEN);
		if (!f->ring || !f->scratch) {
			log_err("out of memory");
			rc = 1;
		}
	}
	if (!rc) {
		rc = run(f, o);
		finish(f);
		if (!rc && f->failed)
			rc = 1;
	}
	model_free(f->sp.model);
	fr_free(f->ring);
	wb_free(&f->base);
	dict_free(f);
	free(f->scratch);
	free(f);
	return rc;
}
