// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cgroup.h"
#include "common.h"
#include "log.h"
#include "procfs.h"
#include "spine.h"
#include "stage.h"

#define TRACEFS "/sys/kernel/tracing"
#define BPFFS "/sys/fs/bpf"
#define BPF_FS_MAGIC 0xcafe4a11
#define NSEC 1000000000ULL

volatile sig_atomic_t st_exiting;

static void on_signal(int sig)
{
	st_exiting = sig;
}

static bool has_cap(const struct __user_cap_data_struct d[2], int cap)
{
	return d[cap / 32].effective & (1u << (cap % 32));
}

/* 0 and what we hold, or -errno. */
static int read_caps(bool *sys_admin, bool *bpf_perfmon)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { 0 };

	if (syscall(SYS_capget, &h, d))
		return -errno;
	*sys_admin = has_cap(d, CAP_SYS_ADMIN);
	*bpf_perfmon = has_cap(d, CAP_BPF) && has_cap(d, CAP_PERFMON);
	return 0;
}

/*
 * CAP_BPF+CAP_PERFMON load and attach the tracepoint, tp_btf and perf_event
 * programs. Two things need CAP_SYS_ADMIN on top (measured on 6.18, see
 * docs/reliability.md): perf_event_open of a uprobe (the tls concern: EACCES
 * without it), and libbpf's walk over module BTF objects (BPF_BTF_GET_NEXT_ID),
 * which it does for a CO-RE type vmlinux lacks (mem's pre-6.2 mm_rss_stat);
 * spine_open_skel() avoids the latter, start_one() skips tls with a message.
 */
static int check_privileges(void)
{
	bool admin, bp;
	int err = read_caps(&admin, &bp);

	if (err) {
		log_err("cannot read capabilities: %s", strerror(-err));
		return 1;
	}
	if (admin || bp)
		return 0;
	log_err("needs root to load BPF programs (or CAP_BPF+CAP_PERFMON, and CAP_SYS_ADMIN "
		"for tls): run it with sudo");
	return 1;
}

static bool is_fs(const char *path, unsigned long magic)
{
	struct statfs s;

	return !statfs(path, &s) && (unsigned long)s.f_type == magic;
}

/* tracefs is needed for classic tracepoints; mount it when absent. */
static int ensure_tracefs(void)
{
	if (!access(TRACEFS "/events", F_OK) || !access("/sys/kernel/debug/tracing/events", F_OK))
		return 0;
	if (mount("tracefs", TRACEFS, "tracefs", 0, NULL)) {
		log_err("tracefs is not mounted and mounting it failed (%s): run 'mount -t tracefs "
			"nodev " TRACEFS "' as root",
			strerror(errno));
		return 1;
	}
	log_dbg("mounted tracefs at " TRACEFS);
	return 0;
}

static void ensure_bpffs(void)
{
	if (is_fs(BPFFS, BPF_FS_MAGIC))
		return;
	/* Nothing is pinned today; a missing bpffs is only worth a debug line. */
	if (mount("bpf", BPFFS, "bpf", 0, NULL))
		log_dbg("bpffs not mounted at " BPFFS " and mount failed: %s", strerror(errno));
}

int spine_preflight(const struct options *o, struct features *f)
{
	const char *btf = o->btf_path ? o->btf_path : "/sys/kernel/btf/vmlinux";
	/*
	 * SA_RESTART: a write blocked on a full pipe (a stream read by a slow or
	 * not-yet-reading consumer) finishes instead of failing with EINTR, which
	 * made stdio drop the line it held. The loop's epoll_wait and poll return
	 * EINTR whatever the flag says, so the signal is still seen at once.
	 */
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };

	/*
	 * From the first step on: a SIGINT/SIGTERM while the programs load is
	 * kept and acted on once they are attached (a complete, empty-ish
	 * recording), not a death that skips the clean close.
	 */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (check_privileges())
		return 1;
	if (access(btf, R_OK)) {
		if (o->btf_path)
			log_err("cannot read BTF file %s: %s", btf, strerror(errno));
		else
			log_err("this kernel has no BTF at %s (needs CONFIG_DEBUG_INFO_BTF=y), or "
				"pass --btf FILE",
				btf);
		return 1;
	}
	if (ensure_tracefs())
		return 1;
	ensure_bpffs();
	features_probe(f, o->btf_path);
	if (!f->btf) {
		log_err("cannot parse BTF from %s: not a BTF file", btf);
		return 1;
	}
	if (!f->ringbuf) {
		log_err("this kernel lacks the BPF ring buffer (Linux 5.8+ needed)");
		return 1;
	}
	return 0;
}

/* Before the recording is open (see rec_open_cb): kept in memory. */
static int keep_early(struct spine *sp, uint32_t type, const void *payload, uint32_t len)
{
	size_t need = sp->early_len + 2 * sizeof(uint32_t) + len;
	unsigned char *nb;

	if (need > sp->early_cap) {
		size_t cap = sp->early_cap ? sp->early_cap * 2 : 65536;

		while (cap < need)
			cap *= 2;
		nb = realloc(sp->early, cap);
		if (!nb)
			return -ENOMEM;
		sp->early = nb;
		sp->early_cap = cap;
	}
	memcpy(sp->early + sp->early_len, &type, sizeof(type));
	memcpy(sp->early + sp->early_len + sizeof(type), &len, sizeof(len));
	if (len)
		memcpy(sp->early + sp->early_len + 2 * sizeof(uint32_t), payload, len);
	sp->early_len = need;
	return 0;
}

static int write_early(struct spine *sp)
{
	size_t off = 0;
	int err = 0;

	while (!err && off < sp->early_len) {
		uint32_t type, len;

		memcpy(&type, sp->early + off, sizeof(type));
		memcpy(&len, sp->early + off + sizeof(type), sizeof(len));
		off += 2 * sizeof(uint32_t);
		err = rec_write(sp->rec, type, sp->early + off, len);
		off += len;
	}
	free(sp->early);
	sp->early = NULL;
	sp->early_len = sp->early_cap = 0;
	return err;
}

/* One frame to the recording and to the sink, whichever there are. */
static int spine_write(struct spine *sp, uint32_t type, const void *payload, uint32_t len)
{
	int err = 0, e;

	if (!sp->rec && sp->rec_open_cb)
		err = keep_early(sp, type, payload, len);
	else if (sp->rec)
		err = rec_write(sp->rec, type, payload, len);
	if (sp->sink_cb) {
		e = sp->sink_cb(sp->sink_ctx, type, payload, len);
		err = err ? err : e;
	}
	return err;
}

const char *spine_cgroup(struct spine *sp, enum cg_hier h, uint64_t id)
{
	const char *path;
	enum cg_hier walk = h;

	if (!id)
		return NULL;
	path = model_cgroup(sp->model, h, id);
	if (path || !sp->cg)
		return path;
	/* On a pure cgroup2 system the memory controller lives in cgroup2. */
	if (h == CG_MEM && !cg_root(sp->cg, CG_MEM))
		walk = CG_V2;
	path = cg_path(sp->cg, walk, id);
	if (!path)
		return NULL;
	model_cgroup_set(sp->model, h, id, path);
	if (sp->rec || sp->sink_cb || sp->rec_open_cb) {
		size_t n = strlen(path);
		struct rec_cgroup *f = malloc(sizeof(*f) + n);

		if (f) {
			f->id = id;
			f->hier = h;
			f->path_len = n;
			memcpy(f->path, path, n);
			spine_write(sp, REC_CGROUP, f, sizeof(*f) + n);
			free(f);
		}
	}
	return model_cgroup(sp->model, h, id);
}

/* One record, in time order (stage_flush): decoded, then written. */
static void handle_record(void *ctx, const struct st_hdr *h)
{
	struct spine *sp = ctx;
	const struct concern *c = concern_by_type(h->type);
	int err;

	if (!c) {
		sp->lost_user++;
		return;
	}
	/* Decode first: it records the cgroup paths this record refers to. */
	c->handle(sp, h, h->size);
	if (sp->rec || sp->sink_cb || sp->rec_open_cb) {
		err = spine_write(sp, REC_EVENT, h, h->size);
		if (err && !sp->rec_err)
			sp->rec_err = err;
	}
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct spine *sp = ctx;
	const struct st_hdr *h = data;

	if (size < sizeof(*h) || h->size < sizeof(*h) || h->size > size) {
		sp->lost_user++;
		return 0;
	}
	/* Out of memory: handled now, out of order, rather than lost. */
	if (stage_add(&sp->stage, h))
		handle_record(sp, h);
	return 0;
}

/*
 * Reads every ring (waiting up to timeout_ms for a wakeup when >= 0), then
 * hands what it read on by timestamp. The rings are read one after the
 * other; a concern's records can depend on another's (an OOM kill names a
 * pid whose fork and exec are in the proc ring).
 */
static int spine_drain(struct spine *sp, int timeout_ms)
{
	int err = 0;

	if (!sp->rb)
		return 0;
	if (timeout_ms >= 0)
		err = ring_buffer__poll(sp->rb, timeout_ms);
	/* Records below the wakeup threshold woke nobody: take them too. */
	ring_buffer__consume(sp->rb);
	stage_flush(&sp->stage, handle_record, sp);
	return err < 0 ? err : 0;
}

void spine_catch_up(struct spine *sp)
{
	spine_drain(sp, -1);
}

/*
 * Records wake the reader only once an eighth of the ring waits, which cut a
 * record's cost tenfold (docs/performance.md); the loop's 100 ms poll takes
 * the rest. SPIKETRACE_WAKEUP_THRESHOLD=0: the kernel's own policy (a wakeup
 * whenever the reader has caught up).
 */
uint64_t spine_wakeup_bytes(const struct spine *sp, const struct bpf_map *events)
{
	uint64_t ring = sp->o->ringbuf_kb ? (uint64_t)sp->o->ringbuf_kb * 1024 :
					    bpf_map__max_entries(events);
	const char *e = getenv("SPIKETRACE_WAKEUP_THRESHOLD");

	return e && !strcmp(e, "0") ? 0 : ring / 8;
}

const char *spine_pick(struct spine *sp, struct bpf_program *btf, struct bpf_program *tp,
		       const char *btf_name, const char *cat, const char *name)
{
	bool use_btf = btf && feat_btf_tp(&sp->feat, btf_name);
	bool has_tp = tp && feat_tracepoint(&sp->feat, cat, name);

	if (btf)
		bpf_program__set_autoload(btf, use_btf);
	if (tp)
		bpf_program__set_autoload(tp, !use_btf && has_tp);
	return use_btf ? "tp_btf" : has_tp ? name : "missing";
}

int percpu_sum_init(struct percpu_sum *ps)
{
	ps->ncpu = libbpf_num_possible_cpus();
	if (ps->ncpu <= 0)
		return ps->ncpu ? ps->ncpu : -EINVAL;
	ps->vals = calloc(ps->ncpu, sizeof(*ps->vals));
	return ps->vals ? 0 : -ENOMEM;
}

void percpu_sum_free(struct percpu_sum *ps)
{
	free(ps->vals);
	ps->vals = NULL;
}

uint64_t percpu_sum(struct percpu_sum *ps, const struct bpf_map *m, const void *key, size_t key_sz)
{
	uint64_t sum = 0;
	int c;

	if (bpf_map__lookup_elem(m, key, key_sz, ps->vals, ps->ncpu * sizeof(*ps->vals), 0))
		return 0;
	for (c = 0; c < ps->ncpu; c++)
		sum += ps->vals[c];
	return sum;
}

/* The kernel's config where libbpf looks for it: /boot/config-RELEASE or /proc/config.gz. */
static bool kconfig_present(void)
{
	struct utsname u;
	char path[sizeof(u.release) + 16];

	if (!access("/proc/config.gz", R_OK) || uname(&u))
		return true;
	snprintf(path, sizeof(path), "/boot/config-%s", u.release);
	return !access(path, R_OK);
}

void *spine_open_skel(struct spine *sp, struct percpu_sum *pcpu,
		      void *(*open)(const struct bpf_object_open_opts *oo), int *err)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = sp->o->btf_path);
	void *skel;

	/*
	 * libbpf reads the kernel's config for __kconfig externs (tcp's
	 * CONFIG_HZ) and fails the load when there is none, weak or not: say
	 * "unknown" instead, which the programs handle (no idle times).
	 */
	if (!kconfig_present())
		oo.kconfig = "CONFIG_HZ=0\n";

	/*
	 * Naming the kernel BTF as a custom path keeps libbpf from walking module
	 * BTF objects for a CO-RE type vmlinux lacks: that walk needs CAP_SYS_ADMIN
	 * and our programs use no module types.
	 */
	if (!oo.btf_custom_path && sp->no_sys_admin)
		oo.btf_custom_path = "/sys/kernel/btf/vmlinux";

	*err = percpu_sum_init(pcpu);
	if (*err)
		return NULL;
	skel = open(&oo);
	if (!skel) {
		*err = -errno;
		percpu_sum_free(pcpu);
	}
	return skel;
}

void spine_emit(struct spine *sp, const struct st_hdr *h)
{
	/* A concern's own record (a tick's counts): after what was drained before it. */
	if (h->size < sizeof(*h)) {
		sp->lost_user++;
		return;
	}
	handle_record(sp, h);
}

static int resolve_filter(struct spine *sp, const struct options *o)
{
	enum cg_hier h;
	uint64_t id;
	const char *p;

	sp->filter.tgid = o->pid;
	if (o->pid && !procfs_exists("/proc", o->pid)) {
		log_err("-p %u: no such process", o->pid);
		return 1;
	}
	if (!o->cgroup)
		return 0;
	if (cg_lookup(sp->cg, o->cgroup, &h, &id)) {
		log_err("-c %s: no such cgroup (give a path under %s or %s)", o->cgroup,
			cg_root(sp->cg, CG_V2) ? cg_root(sp->cg, CG_V2) : "the cgroup2 mount",
			cg_root(sp->cg, CG_MEM) ? cg_root(sp->cg, CG_MEM) :
						  "the memory cgroup mount");
		return 1;
	}
	if (h == CG_V2) {
		sp->filter.cgid = id;
		/* The level is the number of components below the root. */
		for (p = cg_path(sp->cg, CG_V2, id); p && *p; p++)
			if (*p == '/' && p[1])
				sp->filter.cg_level++;
	} else {
		sp->filter.memcg = id;
	}
	return 0;
}

/* The first object's map of that name, reused by this one. */
static void share_map(struct spine *sp, struct bpf_object *obj, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
	size_t i;

	for (i = 0; m && i < sp->ninst; i++) {
		struct bpf_object *o =
			sp->inst[i].priv ? sp->inst[i].c->object(sp->inst[i].priv) : NULL;
		struct bpf_map *first =
			o && o != obj ? bpf_object__find_map_by_name(o, name) : NULL;

		if (first && bpf_map__fd(first) >= 0) {
			int err = bpf_map__reuse_fd(m, bpf_map__fd(first));

			if (err)
				log_warn("cannot share map %s between concerns: %s", name,
					 strerror(-err));
			return;
		}
	}
}

/*
 * Maps more than one object uses: the -p set (a fork seen by the proc
 * concern makes the child followed everywhere), and the TLS per-thread state
 * the CPU sampler reads (bpf/tls_maps.bpf.h). The first object to load
 * creates them; later ones reuse them.
 */
static void share_maps(struct spine *sp, struct bpf_object *obj)
{
	static const char *const names[] = { "followed", "threads", "tls_pids", "tls_cpu",
					     "tcp_socks" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		share_map(sp, obj, names[i]);
}

struct spine_inst *spine_inst_of(struct spine *sp, const struct concern *c)
{
	size_t i;

	for (i = 0; i < sp->ninst; i++)
		if (sp->inst[i].c == c)
			return &sp->inst[i];
	return NULL;
}

static int seed_followed(struct spine *sp, struct bpf_object *obj)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, "followed");
	uint8_t one = 1;
	uint32_t pid = sp->filter.tgid;

	if (!m || !pid)
		return 0;
	/* Descendants that already exist are found from /proc by the caller's seed pass. */
	return bpf_map__update_elem(m, &pid, sizeof(pid), &one, sizeof(one), BPF_ANY);
}

static int seed_one(void *ctx, const struct rec_proc_seed *s)
{
	struct spine *sp = ctx;
	struct rec_proc_seed c = *s;

	c.ts = now_mono_ns();
	spine_write(sp, REC_PROC_SEED, &c, sizeof(c));
	model_seed(sp->model, &c);
	return 0;
}

/* Existing descendants of -p PID join the followed set. */
static void follow_descendants(struct spine *sp)
{
	bool grew = true;
	struct proc *p;
	size_t i;
	uint8_t one = 1;

	if (!sp->filter.tgid)
		return;
	while (grew) {
		grew = false;
		for (p = sp->model->procs; p; p = p->next) {
			struct proc *pp = model_find(sp->model, p->ppid);

			if (p->exited || !pp || p->pid == sp->filter.tgid)
				continue;
			for (i = 0; i < sp->ninst; i++) {
				struct bpf_object *o = sp->inst[i].c->object(sp->inst[i].priv);
				struct bpf_map *m = bpf_object__find_map_by_name(o, "followed");
				uint32_t key = pp->pid, pid = p->pid;
				uint8_t v;

				if (!m ||
				    bpf_map__lookup_elem(m, &key, sizeof(key), &v, sizeof(v), 0))
					continue;
				if (!bpf_map__lookup_elem(m, &pid, sizeof(pid), &v, sizeof(v), 0))
					continue;
				bpf_map__update_elem(m, &pid, sizeof(pid), &one, sizeof(one),
						     BPF_ANY);
				grew = true;
			}
		}
	}
}

/* For tests: SPIKETRACE_FAIL_ATTACH=tcp,mem fails those concerns' attach. */
static bool fail_attach_for_test(const struct concern *c)
{
	const char *list = getenv("SPIKETRACE_FAIL_ATTACH");
	char bad[32];

	return list && *list && (concern_parse_list(list, bad, sizeof(bad)) & c->bit);
}

/*
 * For tests: SPIKETRACE_MAP_ENTRIES=stacks=16,events=4096 shrinks (or grows)
 * the named maps of every object that has them, to make "map full" happen.
 */
static void map_sizes_for_test(struct bpf_object *obj)
{
	const char *env = getenv("SPIKETRACE_MAP_ENTRIES");
	char buf[256], *save = NULL, *item, *eq;
	struct bpf_map *m;
	uint64_t n;

	if (!env || st_strlcpy(buf, env, sizeof(buf)) >= sizeof(buf))
		return;
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		eq = strchr(item, '=');
		if (!eq)
			continue;
		*eq = '\0';
		m = bpf_object__find_map_by_name(obj, item);
		if (m && !st_parse_u64(eq + 1, 1, 1u << 24, &n))
			bpf_map__set_max_entries(m, n);
	}
}

/* 0, or -errno with what failed in why. */
static int start_one(struct spine *sp, struct spine_inst *in, char *why, size_t len)
{
	const struct concern *c = in->c;
	struct bpf_object *obj;
	struct bpf_map *ev;
	int err;

	if (sp->no_sys_admin && c == &concern_tls) {
		snprintf(why, len,
			 "tls: attaching uprobes needs CAP_SYS_ADMIN (this process has "
			 "CAP_BPF+CAP_PERFMON only)");
		return -EPERM;
	}
	err = c->open(sp, &in->priv);
	if (err) {
		snprintf(why, len, "%s: cannot open BPF object: %s", c->name, strerror(-err));
		return err;
	}
	err = c->configure(sp, in->priv);
	if (err) {
		snprintf(why, len, "%s: cannot configure: %s", c->name, strerror(-err));
		return err;
	}
	obj = c->object(in->priv);
	ev = bpf_object__find_map_by_name(obj, "events");
	if (ev && sp->o->ringbuf_kb)
		bpf_map__set_max_entries(ev, sp->o->ringbuf_kb * 1024);
	map_sizes_for_test(obj);
	share_maps(sp, obj);
	err = c->load(in->priv);
	if (err) {
		snprintf(why, len,
			 "%s: the kernel refused our BPF programs (%s); run with -vv for the "
			 "verifier log",
			 c->name, strerror(-err));
		return err;
	}
	if (seed_followed(sp, obj))
		log_warn("%s: cannot seed the -p filter", c->name);
	err = fail_attach_for_test(c) ? -ENOENT : c->attach(sp, in->priv);
	if (err) {
		snprintf(why, len, "%s: cannot attach: %s", c->name, strerror(-err));
		return err;
	}
	if (!ev)
		return 0;
	if (!sp->rb)
		sp->rb = ring_buffer__new(bpf_map__fd(ev), on_record, sp, NULL);
	else if (ring_buffer__add(sp->rb, bpf_map__fd(ev), on_record, sp))
		sp->rb = NULL; /* freed below with the others by spine_stop */
	if (!sp->rb) {
		snprintf(why, len, "cannot create the ring buffer reader: %s", strerror(errno));
		return -EIO;
	}
	return 0;
}

/*
 * Once attached, keep only what the running concerns still use (docs/
 * reliability.md): CAP_BPF and CAP_PERFMON (map reads, the tls concern's later
 * attaches), CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (any process's /proc/PID/
 * maps and root/, binaries and debug info of any owner), CAP_SYSLOG (kernel
 * addresses in /proc/kallsyms, read when the first kernel stack comes),
 * CAP_SYS_ADMIN while tls runs (uprobes on libraries found later) else
 * CAP_CHECKPOINT_RESTORE (/proc/PID/map_files for deleted binaries), and
 * CAP_DAC_OVERRIDE for the flight recorder (new files in -o DIR). The rest (modules, raw I/O, setuid, network
 * admin, kill, chown...) goes from the effective, permitted, inheritable and
 * bounding sets, and no_new_privs is set. Best effort: a failure is a warning.
 */
static void drop_privileges(struct spine *sp)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { 0 };
	uint64_t keep = 1ull << CAP_BPF | 1ull << CAP_PERFMON | 1ull << CAP_SYS_PTRACE |
			1ull << CAP_DAC_READ_SEARCH | 1ull << CAP_SYSLOG;
	uint64_t have;
	int cap;

	if (sp->running & concern_tls.bit)
		keep |= 1ull << CAP_SYS_ADMIN;
	else
		keep |= 1ull << CAP_CHECKPOINT_RESTORE;
	if (sp->o->flight > 0)
		keep |= 1ull << CAP_DAC_OVERRIDE;
	if (syscall(SYS_capget, &h, d))
		return;
	have = d[0].permitted | (uint64_t)d[1].permitted << 32;
	/* The bounding set first: dropping from it needs CAP_SETPCAP, still held. */
	for (cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (!(keep & (1ull << cap)) && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1)
			prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
	keep &= have;
	d[0].effective = d[0].permitted = (uint32_t)keep;
	d[1].effective = d[1].permitted = (uint32_t)(keep >> 32);
	d[0].inheritable = d[1].inheritable = 0;
	if (syscall(SYS_capset, &h, d))
		log_warn("cannot drop unneeded capabilities after attach: %s", strerror(errno));
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

int spine_start(struct spine *sp, const struct options *o, struct model *m, struct rec_writer *rec)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART }; /* as above */
	unsigned int want = o->concerns ? o->concerns : ~0u, failed = 0, all = 0;
	bool admin = true, bp = true;
	char why[SPINE_MAX_CONCERNS][320];
	size_t i, nfailed = 0;
	int err;

	sp->asked = want;
	for (i = 0; i < nconcerns; i++) {
		all |= concerns[i]->bit;
		if (concerns[i]->bit & sp->asked)
			want |= concerns[i]->needs;
	}

	sp->o = o;
	sp->live = true;
	sp->model = m;
	sp->rec = rec;
	if (!read_caps(&admin, &bp))
		sp->no_sys_admin = !admin;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sp->cg = cg_new();
	if (!sp->cg) {
		log_err("out of memory");
		return 1;
	}
	if (resolve_filter(sp, o))
		return 1;
	for (i = 0; i < nconcerns && sp->ninst < SPINE_MAX_CONCERNS; i++) {
		struct spine_inst *in = &sp->inst[sp->ninst];

		if (!(concerns[i]->bit & want))
			continue;
		in->c = concerns[i];
		in->priv = NULL;
		err = start_one(sp, in, why[nfailed], sizeof(why[0]));
		if (!err) {
			sp->ninst++;
			sp->running |= concerns[i]->bit;
			continue;
		}
		if (err == -EIO) { /* the reader, not the concern: nothing runs */
			log_err("%s", why[nfailed]);
			sp->ninst++;
			return 1;
		}
		/*
		 * One concern the kernel cannot give us (a tracepoint missing, a
		 * privilege) must not cost the others: go on without it while a
		 * concern that was asked for runs. Said once we know which.
		 */
		if (in->priv)
			in->c->destroy(in->priv);
		in->priv = NULL;
		failed |= concerns[i]->bit;
		nfailed++;
	}
	if (nfailed && (!(sp->asked & all & ~failed) || (sp->essential & failed))) {
		log_err("%s", why[0]);
		return 1;
	}
	for (i = 0; i < nfailed; i++)
		log_warn("%s; the other concerns run without it", why[i]);
	if (sp->rec_open_cb) {
		sp->rec = sp->rec_open_cb(sp->rec_open_ctx, sp->asked & ~failed);
		if (!sp->rec)
			return 1;
		err = write_early(sp);
		if (err) {
			log_err("writing the recording failed: %s", strerror(-err));
			return 1;
		}
	}
	/* Attached first, then seeded: no process falls between the two. */
	procfs_scan("/proc", seed_one, sp);
	follow_descendants(sp);
	drop_privileges(sp);
	return 0;
}

/*
 * Runs the kernel skipped because the program was already running on that
 * CPU (an interrupt's softirq handling a segment inside another run): the
 * event happened and nobody counted it. Summed over every program; one
 * syscall a program, so every tenth tick and the last.
 */
static uint64_t read_recursion(struct spine *sp)
{
	uint64_t total = 0;
	size_t i;

	for (i = 0; i < sp->ninst; i++) {
		struct bpf_object *o = sp->inst[i].c->object(sp->inst[i].priv);
		struct bpf_program *prog;

		bpf_object__for_each_program(prog, o)
		{
			struct bpf_prog_info info = { 0 };
			__u32 len = sizeof(info);
			int fd = bpf_program__fd(prog);

			if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
				total += info.recursion_misses;
		}
	}
	return total;
}

static uint64_t read_lost(struct spine *sp)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t total = 0, *vals;
	size_t i;
	int c;

	if (ncpu <= 0)
		return sp->lost_bpf;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return sp->lost_bpf;
	for (i = 0; i < sp->ninst; i++) {
		struct bpf_object *o = sp->inst[i].c->object(sp->inst[i].priv);
		struct bpf_map *m = bpf_object__find_map_by_name(o, "lost");
		uint32_t keys[] = { ST_LOST_RINGBUF, ST_LOST_MAPFULL };
		size_t k;

		for (k = 0; m && k < ARRAY_SIZE(keys); k++) {
			if (bpf_map__lookup_elem(m, &keys[k], sizeof(keys[k]), vals,
						 ncpu * sizeof(*vals), 0))
				continue;
			for (c = 0; c < ncpu; c++)
				total += vals[c];
		}
	}
	free(vals);
	if (sp->stopping || !(sp->ticks++ % 10))
		sp->recursion = read_recursion(sp);
	return total + sp->recursion;
}

static void spine_tick(struct spine *sp, uint64_t now)
{
	struct rec_lost l;
	size_t i;

	/*
	 * Records submitted before the maps are read go first: a process that
	 * forked and moved bytes since the last poll is known when its counts come.
	 */
	spine_drain(sp, -1);
	for (i = 0; i < sp->ninst; i++)
		if (sp->inst[i].c->tick)
			sp->inst[i].c->tick(sp, sp->inst[i].priv, now);
	sp->lost_bpf = read_lost(sp);
	sp->model->lost_bpf = sp->lost_bpf;
	sp->model->lost_decode = sp->lost_user;
	if (sp->rec || sp->sink_cb || sp->rec_open_cb) {
		int err;

		/* Also the heartbeat that dates a recording cut short. */
		l = (struct rec_lost){ .ts = now,
				       .bpf = sp->lost_bpf,
				       .user = sp->lost_user + sp->model->lost_user };
		err = spine_write(sp, REC_LOST, &l, sizeof(l));
		if (!err && sp->rec)
			err = rec_flush(sp->rec);
		if (err && !sp->rec_err)
			sp->rec_err = err;
	}
	if (sp->tick_cb)
		sp->tick_cb(sp->tick_ctx, now);
}

int spine_run(struct spine *sp)
{
	uint64_t start = now_mono_ns(), next = start + NSEC, deadline = 0, now;
	int err;

	if (sp->o->duration > 0)
		deadline = start + (uint64_t)(sp->o->duration * 1e9);
	while (!st_exiting) {
		err = spine_drain(sp, 100);
		if (err < 0 && err != -EINTR) {
			log_err("polling the ring buffer failed: %s", strerror(-err));
			return 1;
		}
		now = now_mono_ns();
		if (now >= next) {
			spine_tick(sp, now);
			next += NSEC;
			if (next < now)
				next = now + NSEC;
		}
		if (sp->poll_cb && sp->poll_cb(sp->poll_ctx, now))
			break;
		if (sp->rec_err) {
			log_err("writing the recording failed: %s", strerror(-sp->rec_err));
			return 1;
		}
		if (deadline && now >= deadline)
			break;
	}
	return 0;
}

void spine_stop(struct spine *sp)
{
	bool ticked = false;
	struct rec_end end;
	size_t i;

	/*
	 * A recording is closed before the programs are detached: releasing a
	 * uprobe waits for an RCU grace period in the kernel, one per probe, so
	 * the tls concern's detach can take seconds to minutes on a busy box.
	 * The file is complete by then; what comes after its end frame is not
	 * in its window anyway.
	 */
	sp->stopping = true;
	if (sp->rec) {
		spine_drain(sp, -1);
		if (sp->model && sp->ninst)
			spine_tick(sp, now_mono_ns());
		ticked = true;
		end = (struct rec_end){ .ts = now_mono_ns(), .frames = rec_frames(sp->rec) };
		if (rec_close(sp->rec, &end) && !sp->rec_err)
			sp->rec_err = -EIO;
		sp->rec = NULL;
	}
	/* Nothing is written after the end frame, nor kept for a file never opened. */
	sp->rec_open_cb = NULL;
	free(sp->early);
	sp->early = NULL;
	sp->early_len = sp->early_cap = 0;
	for (i = 0; i < sp->ninst; i++)
		if (sp->inst[i].priv && sp->inst[i].c->detach)
			sp->inst[i].c->detach(sp->inst[i].priv);
	/* Whatever was submitted before detach is still ours to keep. */
	if (!ticked)
		spine_drain(sp, -1);
	if (sp->model && sp->ninst && !ticked)
		spine_tick(sp, now_mono_ns());
	ring_buffer__free(sp->rb);
	sp->rb = NULL;
	stage_free(&sp->stage);
	for (i = 0; i < sp->ninst; i++)
		if (sp->inst[i].priv)
			sp->inst[i].c->destroy(sp->inst[i].priv);
	sp->ninst = 0;
	cg_free(sp->cg);
	sp->cg = NULL;
	features_free();
}

void spine_describe(const struct spine *sp, char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < sp->ninst && off < len; i++) {
		const struct spine_inst *in = &sp->inst[i];

		off += snprintf(buf + off, len - off, "%s%s(%s)", i ? " " : "", in->c->name,
				in->c->variant ? in->c->variant(in->priv) : "");
	}
}

static void replay_event(struct spine *sp, const void *p, uint32_t len)
{
	const struct st_hdr *h = p;
	const struct concern *c;

	if (len < sizeof(*h) || h->size != len) {
		sp->lost_user++;
		return;
	}
	c = concern_by_type(h->type);
	if (!c) {
		sp->lost_user++;
		return;
	}
	c->handle(sp, h, len);
}

static uint64_t frame_ts(uint32_t type, const void *p, uint32_t len)
{
	switch (type) {
	case REC_EVENT:
		return len >= sizeof(struct st_hdr) ? ((const struct st_hdr *)p)->ts : 0;
	case REC_LOST:
		return len >= sizeof(struct rec_lost) ? ((const struct rec_lost *)p)->ts : 0;
	case REC_END:
		return len >= sizeof(struct rec_end) ? ((const struct rec_end *)p)->ts : 0;
	case REC_TRIGGER:
		return len >= sizeof(struct rec_trigger) ? ((const struct rec_trigger *)p)->ts : 0;
	}
	return 0;
}

static void replay_frame(struct spine *sp, uint32_t type, const void *p, uint32_t len)
{
	struct model *m = sp->model;
	const struct rec_cgroup *cg = p;
	char path[4096];

	switch (type) {
	case REC_EVENT:
		replay_event(sp, p, len);
		break;
	case REC_CGROUP:
		if (len < sizeof(*cg) || cg->path_len != len - sizeof(*cg) ||
		    cg->path_len >= sizeof(path) || cg->hier > CG_MEM) {
			sp->lost_user++;
			break;
		}
		memcpy(path, cg->path, cg->path_len);
		path[cg->path_len] = '\0';
		model_cgroup_set(m, cg->hier, cg->id, path);
		break;
	case REC_PROC_SEED:
		if (len == sizeof(struct rec_proc_seed))
			model_seed(m, p);
		else
			sp->lost_user++;
		break;
	case REC_LOST:
		if (len == sizeof(struct rec_lost)) {
			m->lost_bpf = ((const struct rec_lost *)p)->bpf;
			m->lost_decode = ((const struct rec_lost *)p)->user;
		}
		break;
	case REC_TRIGGER:
		if (len == sizeof(struct rec_trigger)) {
			const struct rec_trigger *t = p;

			st_strfix(path, sizeof(path), t->detail, sizeof(t->detail));
			model_mark(m, t->ts, t->pid, MARK_TRIGGER, path);
		} else {
			sp->lost_user++;
		}
		break;
	}
}

uint64_t spine_feed(struct model *m, uint32_t type, const void *payload, uint32_t len)
{
	struct spine sp = { .model = m };

	replay_frame(&sp, type, payload, len);
	return sp.lost_user;
}

int spine_replay(const char *path, struct model *m)
{
	struct spine sp = { .model = m };
	const struct rec_header *h;
	struct rec_reader *r;
	uint64_t t_end = 0, ts;
	uint32_t type, len;
	const void *p;
	char err[256];
	int rc;

	r = rec_open(path, err, sizeof(err));
	if (!r) {
		log_err("cannot read recording %s: %s", path, err);
		return 1;
	}
	h = rec_hdr(r);
	m->t0 = h->start_mono_ns;
	m->concerns = h->concerns;
	m->start_real_ns = h->start_real_ns;
	st_strfix(m->host, sizeof(m->host), h->host, sizeof(h->host));
	st_strfix(m->kernel, sizeof(m->kernel), h->kernel, sizeof(h->kernel));
	t_end = m->t0;
	while ((rc = rec_next(r, &type, &p, &len)) == 1) {
		ts = frame_ts(type, p, len);
		if (ts > t_end)
			t_end = ts;
		replay_frame(&sp, type, p, len);
	}
	if (rc < 0) {
		m->cut_short = true;
		st_strlcpy(m->cut_reason, rec_error(r), sizeof(m->cut_reason));
		log_warn("%s: %s; reporting what was recorded up to there", path, rec_error(r));
	}
	m->lost_decode += sp.lost_user;
	rec_free(r);
	model_finalize(m, t_end);
	return 0;
}

void spine_rec_header(struct rec_header *h, unsigned int concerns_mask)
{
	struct utsname u;

	memset(h, 0, sizeof(*h));
	memcpy(h->magic, REC_MAGIC, sizeof(h->magic));
	h->version = REC_VERSION;
	h->hdr_size = sizeof(*h);
	h->start_mono_ns = now_mono_ns();
	h->start_real_ns = now_real_ns();
	h->concerns = concerns_mask;
	if (!uname(&u)) {
		st_strlcpy(h->host, u.nodename, sizeof(h->host));
		st_strlcpy(h->kernel, u.release, sizeof(h->kernel));
	}
}
