/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The cause model: a process table with lineage, every process attributed
 * to a job (user/cause.c rules), per-job aggregates and a ranking. Fed the
 * same way live and from a recording; knows nothing of BPF or of outputs.
 */
#ifndef ST_MODEL_H
#define ST_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "recording.h"
#include "util.h"

struct job;
struct tls_event;
struct tls_model;
struct tcp_event;
struct tcp_conn;
struct tcp_model;
struct tcp_counts;
struct cpu_model;
struct net_model;

/* A per-second sample of a process's cumulative counters, for timelines. */
struct sample {
	uint64_t ts;
	uint64_t faults;
	uint64_t rss;
};

/* Memory state of a process as the mem concern last reported it. */
struct memstat {
	uint64_t faults; /* page faults while recording */
	uint64_t rss; /* bytes: file + anon + shmem */
	uint64_t rss_anon, rss_file, rss_shmem;
	uint64_t rss_peak; /* bytes */
	uint64_t rss_first; /* bytes, first value seen; 0 if it started while recording */
	uint64_t reclaim_ns;
	bool seen;
};

struct proc {
	uint32_t pid; /* tgid */
	uint32_t ppid;
	uint32_t uid;
	uint64_t start_ns; /* task start, CLOCK_MONOTONIC; 0 when unknown */
	uint64_t seen_ns; /* fork or first exec seen while recording; 0 if seeded */
	uint64_t exit_ns; /* 0 while alive */
	uint32_t exit_status;
	uint32_t execs; /* execs seen while recording */
	bool seeded; /* alive when recording started (read from /proc) */
	bool exited;
	bool kthread;
	char comm[16];
	char *filename;
	char *args; /* NUL-separated */
	uint32_t args_len;
	const char *cg_v2; /* interned paths, NULL when unknown */
	const char *cg_mem;
	struct memstat mem;
	bool oom_killed;
	uint64_t tls_hs; /* TLS handshakes it completed or failed */
	uint64_t tcp_ev; /* TCP transitions and resets of its sockets */
	bool cpu_seen; /* the CPU sampler caught it running */
	uint64_t net_rx, net_tx; /* bytes received and sent while recording (net) */
	struct sample *samples;
	size_t nsamples, samples_cap;
	struct proc *parent; /* the entry of the parent at fork time */
	struct job *job; /* cached attribution, NULL until asked */
	struct proc *next; /* all processes, in order of appearance */
};

struct job {
	char *key;
	char *name;
	const char *cgroup; /* the job's cgroup when it is a cgroup job */
	struct proc *root;
	bool kernel;
	/* filled by model_finalize() */
	struct proc **procs;
	size_t nprocs, cap;
	uint32_t execs;
	uint32_t max_concurrency;
	uint64_t page_faults;
	uint64_t rss_peak; /* bytes: the most the job held at once */
	uint64_t rss_growth; /* bytes: sum of its processes' growth */
	uint64_t reclaim_ns;
	uint32_t oom_kills; /* its processes killed by the OOM killer */
	uint64_t tls_handshakes; /* completed by its processes */
	double tls_cpu_s; /* CPU its processes spent in TLS handshakes */
	uint64_t tcp_connections; /* TCP connections its processes opened or accepted */
	uint64_t tcp_resets; /* resets its processes' connections received or sent */
	double cpu_s; /* sampled CPU of its processes */
	double run_delay_s; /* its threads' time runnable but waiting for a CPU */
	uint64_t net_rx, net_tx; /* bytes its processes received and sent (net) */
	double score;
	struct job *next;
};

enum mev_kind {
	MEV_FORK,
	MEV_EXEC,
	MEV_EXIT,
	MEV_OOM,
	MEV_TLS,
	MEV_TCP,
};

struct oom_kill {
	uint64_t ts;
	uint32_t victim_pid, trigger_pid, uid;
	int32_t oom_score_adj;
	char victim_comm[16], trigger_comm[16];
	const char *memcg; /* interned path, NULL if unknown */
	const char *cgroup; /* cgroup2 path, NULL if unknown */
	uint64_t total_vm, anon_rss, file_rss, shmem_rss, pgtables; /* bytes */
	struct proc *victim;
};

struct mev {
	enum mev_kind kind;
	uint64_t ts;
	struct proc *p;
	const struct oom_kill *oom; /* MEV_OOM */
	const struct tls_event *tls; /* MEV_TLS */
	const struct tcp_event *tcp; /* MEV_TCP: a transition or reset; NULL: an unseen end */
	const struct tcp_conn *tcp_closed; /* MEV_TCP: the connection it closed, or NULL */
};

enum mark_kind {
	MARK_EXEC,
	MARK_EXIT,
	MARK_OOM,
	MARK_RESET,
	MARK_TRIGGER,
};

struct mark {
	uint64_t ts;
	struct proc *p; /* NULL when the event names no process we know */
	uint32_t pid;
	uint32_t kind;
	char detail[96];
};

struct exec_info {
	uint64_t ts;
	uint32_t pid, ppid, uid;
	uint64_t start_ns;
	const char *comm;
	const char *filename;
	const char *args;
	uint32_t args_len;
	const char *cg_v2, *cg_mem;
};

typedef void (*model_cb)(void *ctx, const struct mev *ev);

struct model {
	uint64_t t0; /* recording start, CLOCK_MONOTONIC ns */
	uint64_t t_end; /* set by model_finalize */
	uint64_t start_real_ns;
	char host[64], kernel[64];
	uint64_t lost_bpf; /* dropped in the kernel (ring buffer full) */
	uint64_t lost_decode; /* records the spine could not decode */
	uint64_t lost_user; /* dropped by the model itself (allocation failures) */
	char cut_reason[160]; /* why the recording ended early, when cut_short */
	bool cut_short; /* the recording ended without a clean close */

	struct hmap live; /* pid -> newest struct proc */
	struct proc *procs, **procs_tail;
	size_t nprocs;
	struct hmap cgroups[2]; /* id -> path, per enum cg_hier */
	struct hmap strings; /* interned strings by hash */
	struct hmap jobs_by_key;
	struct job *jobs; /* ranked after model_finalize */
	size_t njobs;
	struct mark *marks;
	size_t nmarks, marks_cap;
	struct oom_kill *ooms;
	size_t nooms;
	unsigned int concerns; /* which concerns were recorded (bitmask) */
	struct tls_model *tls; /* NULL until the first TLS record */
	struct tcp_model *tcp; /* NULL until the first TCP record */
	struct cpu_model *cpu; /* NULL until the first CPU record */
	struct net_model *net; /* NULL until the first net record */
	size_t reset_marks; /* MARK_RESET marks made (bounded) */

	model_cb cb;
	void *cb_ctx;
};

struct model *model_new(uint64_t t0);
void model_free(struct model *m);
void model_listen(struct model *m, model_cb cb, void *ctx);
double model_time_s(const struct model *m, uint64_t ts);
/* Every event lost on the way, whatever lost it: the reports' "lost_events". */
static inline uint64_t model_lost(const struct model *m)
{
	return m->lost_bpf + m->lost_decode + m->lost_user;
}

const char *model_intern(struct model *m, const char *s);
void model_cgroup_set(struct model *m, enum cg_hier h, uint64_t id, const char *path);
const char *model_cgroup(const struct model *m, enum cg_hier h, uint64_t id);

struct proc *model_find(const struct model *m, uint32_t pid);
void model_seed(struct model *m, const struct rec_proc_seed *s);
void model_fork(struct model *m, uint64_t ts, uint32_t pid, uint32_t ppid, uint64_t start_ns,
		const char *comm, const char *cg_v2, const char *cg_mem);
void model_exec(struct model *m, const struct exec_info *e);
void model_exit(struct model *m, uint64_t ts, uint32_t pid, uint64_t start_ns, uint32_t status,
		const char *comm);
void model_mark(struct model *m, uint64_t ts, uint32_t pid, enum mark_kind k, const char *detail);
/* The deepest process below the job's root through parents inside the job. */
struct proc *job_deepest(const struct job *j);
/* A change of a process's RSS: a memory sample, or its exit (after samples at the same time). */
struct rss_ev {
	uint64_t ts;
	bool exit;
	double delta;
};

/* The RSS changes of j's processes in time order (malloc'd, *n); *start: what they held first. */
struct rss_ev *job_rss_events(const struct job *j, size_t *n, double *start);
/* The RSS job j's live processes hold now (as the mem concern last reported it), bytes. */
uint64_t job_rss_now(const struct job *j);
/* Timeline: bucket width for a recording (about 60 columns, at least 1 s). */
double model_interval_s(const struct model *m);
size_t model_nbuckets(const struct model *m, double interval_s);
/* Exec marks of job j per bucket into v[nb]. */
void model_series_execs(const struct model *m, const struct job *j, double interval_s, double *v,
			size_t nb);

/* Memory of pid at ts (cumulative faults, current RSS), from the mem concern. */
void model_mem(struct model *m, uint64_t ts, uint32_t pid, const struct memstat *st);
/* An OOM kill; victim/trigger are looked up by pid. */
void model_oom(struct model *m, const struct oom_kill *k);
/* Page faults and RSS of job j per bucket (faults as deltas, RSS at bucket end). */
void model_series_mem(const struct model *m, const struct job *j, double interval_s, double *faults,
		      double *rss, size_t nb);

/* TLS (user/tlsmodel.h): a handshake ended; CPU samples by phase; a library. */
void model_tls_hs(struct model *m, const struct tls_event *e);
void model_tls_cpu(struct model *m, uint32_t pid, const uint64_t *samples, uint64_t period_ns);
void model_tls_lib(struct model *m, uint32_t idx, const char *path, bool is_static);
/* Completed handshakes of job j per bucket. */
void model_series_tls(const struct model *m, const struct job *j, double interval_s, double *v,
		      size_t nb);

/* TCP (user/tcpmodel.h): a transition or reset; the kernel's exact counters. */
void model_tcp(struct model *m, const struct tcp_event *e);
void model_tcp_counts(struct model *m, const struct tcp_counts *c);
/* A connection whose end no record showed (ST_TCP_GONE): closed, and a MEV_TCP with no event. */
void model_tcp_gone(struct model *m, uint64_t sk, uint64_t ts);
/* Resets (received and sent) of job j's processes per bucket. */
void model_series_tcp(const struct model *m, const struct job *j, double interval_s, double *v,
		      size_t nb);

/* The cgroup path used for attribution: cgroup2 unless root, else v1 memory. */
const char *proc_cgroup(const struct proc *p);
/* Shell-style exit code (128 + signal when killed), -1 while alive. */
int proc_exit_code(const struct proc *p);
int proc_exit_signal(const struct proc *p);
/* Ancestors root first, the process last; returns how many were stored. */
size_t model_lineage(struct model *m, struct proc *p, const struct proc **out, size_t max);
/* A process that did something while recording (not only seeded). */
bool proc_active(const struct proc *p);

/*
 * The ranking metrics (docs/causes.md#ranking) and their weights in the
 * score; user/windows.c scores each timeline bucket with the same weights.
 */
enum rank_metric {
	RM_EXECS,
	RM_CONC, /* max_concurrency */
	RM_GROWTH, /* rss_growth */
	RM_PEAK, /* rss_peak */
	RM_FAULTS,
	RM_OOM,
	RM_TLS_CPU,
	RM_RESETS,
	RM_CPU,
	RM_NET, /* net_rx + net_tx */
	RM_NR,
};
extern const double rank_weights[RM_NR];
/* The value of ranking metric k for job j (after model_finalize). */
double job_rank_value(const struct job *j, enum rank_metric k);

struct job *model_job_of(struct model *m, struct proc *p);
/* Builds per-job aggregates and ranks m->jobs; t_end = end of recording. */
void model_finalize(struct model *m, uint64_t t_end);

#endif
