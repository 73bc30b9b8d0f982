/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The spine: everything the concerns share. Live, it checks the
 * environment, opens/configures/loads/attaches every selected concern,
 * runs one ring-buffer poll loop, tees records into the recording and
 * feeds the model; from a file, it replays a recording into a model.
 */
#ifndef ST_SPINE_H
#define ST_SPINE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "stage.h"
#include "concern.h"
#include "kfeatures.h"
#include "model.h"
#include "opts.h"
#include "recording.h"

#define SPINE_MAX_CONCERNS 8

struct cg_resolver;
struct ring_buffer;
struct bpf_program;

struct st_filter {
	uint32_t tgid; /* -p */
	uint64_t cgid; /* -c on cgroup2 */
	uint32_t cg_level;
	uint64_t memcg; /* -c on the v1 memory hierarchy */
};

struct spine_inst {
	const struct concern *c;
	void *priv;
};

typedef void (*spine_tick_cb)(void *ctx, uint64_t now);
/* Called at each turn of the poll loop (at least every 100 ms); nonzero stops it. */
typedef int (*spine_poll_cb)(void *ctx, uint64_t now);
/*
 * Gets every frame a recording would get (events, cgroup paths, seeds, lost
 * counts), whether or not there is a recording: the flight recorder keeps
 * them in memory. 0 or -errno (then the run stops with that error).
 */
typedef int (*spine_sink_cb)(void *ctx, uint32_t type, const void *payload, uint32_t len);

struct spine {
	const struct options *o;
	bool live;
	unsigned int asked; /* concerns the user asked for (others run as dependencies) */
	struct features feat;
	struct st_filter filter;
	struct spine_inst inst[SPINE_MAX_CONCERNS];
	size_t ninst;
	struct ring_buffer *rb;
	struct stage stage; /* one drain's records, put in time order */
	struct model *model;
	struct rec_writer *rec;
	int rec_err; /* first write error, -errno */
	struct cg_resolver *cg;
	uint64_t lost_user; /* records we could not decode */
	uint64_t lost_bpf;
	uint64_t recursion; /* program runs the kernel skipped (bpf_prog_info), last read */
	unsigned int ticks;
	bool stopping; /* the last tick: read everything */
	uint64_t sample_period_ns; /* CPU time one sampler tick stands for; 0 = no sampler */
	spine_tick_cb tick_cb;
	void *tick_ctx;
	spine_poll_cb poll_cb;
	void *poll_ctx;
	spine_sink_cb sink_cb;
	void *sink_ctx;
	/*
	 * record: called once every concern that could start is attached, with
	 * the bits of those that run; returns the recording to write (NULL: fail).
	 * Opening it only then keeps a failed start from touching the file.
	 */
	struct rec_writer *(*rec_open_cb)(void *ctx, unsigned int running);
	void *rec_open_ctx;
	/* Frames the concerns wrote while attaching, for the recording once open. */
	unsigned char *early;
	size_t early_len, early_cap;
	unsigned int running; /* concerns that started (bits) */
	unsigned int essential; /* concerns without which the command fails (bits) */
	bool no_sys_admin; /* CAP_BPF+CAP_PERFMON without CAP_SYS_ADMIN */
};

extern volatile sig_atomic_t st_exiting;

/* The instance of concern c, or NULL when it does not run. */
struct spine_inst *spine_inst_of(struct spine *sp, const struct concern *c);

/*
 * Checks privileges, BTF, tracefs (mounting it and bpffs when absent) and
 * probes features. Prints one error line and returns 1 on failure.
 */
int spine_preflight(const struct options *o, struct features *f);
/* Opens, configures, loads and attaches the concerns in o->concerns. 0 or 1. */
int spine_start(struct spine *sp, const struct options *o, struct model *m, struct rec_writer *rec);
/* Polls until -d expires or a signal; calls tick_cb each second. 0 or 1. */
int spine_run(struct spine *sp);
/* Detaches, drains, writes the final frames, frees the BPF side. */
void spine_stop(struct spine *sp);

/* Hands a record made in userspace (map snapshots) to decode and recording. */
void spine_emit(struct spine *sp, const struct st_hdr *h);
/* Hands on every record submitted so far: for a tick that must come after them. */
void spine_catch_up(struct spine *sp);
/*
 * Enables one variant of a program: its tp_btf form when btf is given and
 * kernel BTF has btf_name, else the classic tracepoint cat/name when tracefs
 * has it (tp may be NULL: no classic form), else neither. Returns "tp_btf", the classic name, or "missing".
 */
const char *spine_pick(struct spine *sp, struct bpf_program *btf, struct bpf_program *tp,
		       const char *btf_name, const char *cat, const char *name);
/*
 * The -p/-c filters, our own pid and the ring buffer's wakeup threshold into
 * a skeleton's rodata (bpf/maps.bpf.h).
 */
#define SPINE_SET_FILTERS(skel, sp)                                                         \
	do {                                                                                \
		(skel)->rodata->targ_tgid = (sp)->filter.tgid;                              \
		(skel)->rodata->targ_cgid = (sp)->filter.cgid;                              \
		(skel)->rodata->targ_cg_level = (sp)->filter.cg_level;                      \
		(skel)->rodata->targ_memcg = (sp)->filter.memcg;                            \
		(skel)->rodata->self_tgid = getpid();                                       \
		(skel)->rodata->wakeup_bytes = spine_wakeup_bytes(sp, (skel)->maps.events); \
	} while (0)
/* Bytes waiting in ring buffer events that wake the reader (bpf/maps.bpf.h st_submit()). */
uint64_t spine_wakeup_bytes(const struct spine *sp, const struct bpf_map *events);
/* Reads u64 per-CPU map values summed over CPUs, with one scratch buffer. */
struct percpu_sum {
	int ncpu;
	uint64_t *vals;
};

int percpu_sum_init(struct percpu_sum *ps); /* 0 or -errno */
void percpu_sum_free(struct percpu_sum *ps);
/* The sum for key, 0 when absent. */
uint64_t percpu_sum(struct percpu_sum *ps, const struct bpf_map *m, const void *key, size_t key_sz);

struct bpf_object_open_opts;
/*
 * The open step of a concern with per-CPU counters: the sum buffer, then its
 * skeleton (open, e.g. a wrapper of tcp_bpf__open_opts) with the --btf path.
 * Returns the skeleton, or NULL with *err = -errno and nothing left allocated.
 */
void *spine_open_skel(struct spine *sp, struct percpu_sum *pcpu,
		      void *(*open)(const struct bpf_object_open_opts *oo), int *err);
/*
 * Defines NAME_open(), the concern's open step, for a struct NAME_priv with
 * members skel (struct NAME_bpf *) and pcpu (struct percpu_sum).
 */
#define SPINE_DEFINE_OPEN(name)                                                          \
	static void *name##_open_skel(const struct bpf_object_open_opts *oo)             \
	{                                                                                \
		return name##_bpf__open_opts(oo);                                        \
	}                                                                                \
	static int name##_open(struct spine *sp, void **priv)                            \
	{                                                                                \
		struct name##_priv *p = calloc(1, sizeof(*p));                           \
		int err = -ENOMEM;                                                       \
                                                                                         \
		if (p)                                                                   \
			p->skel = spine_open_skel(sp, &p->pcpu, name##_open_skel, &err); \
		if (!p || !p->skel) {                                                    \
			free(p);                                                         \
			return err;                                                      \
		}                                                                        \
		*priv = p;                                                               \
		return 0;                                                                \
	}

/* Fills the recording header for a recording that starts now. */
void spine_rec_header(struct rec_header *h, unsigned int concerns_mask);
/* Path of a cgroup id: from the model, else resolved and recorded (live). */
const char *spine_cgroup(struct spine *sp, enum cg_hier h, uint64_t id);
/* Reads a recording into m and finalizes it. 0, or 1 after an error line. */
int spine_replay(const char *path, struct model *m);
/* Feeds one recording frame to m as a replay would; returns the frames it could not use. */
uint64_t spine_feed(struct model *m, uint32_t type, const void *payload, uint32_t len);
/* A short list of what attached: "proc(exec=tp_btf,...)". */
void spine_describe(const struct spine *sp, char *buf, size_t len);

#endif
