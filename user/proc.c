// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The proc concern: exec/fork/exit records into the model's process table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "concern.h"
#include "log.h"
#include "proc.h"
#include "proc.skel.h"
#include "spine.h"

struct proc_priv {
	struct proc_bpf *skel;
	char variant[96];
};

static int proc_open(struct spine *sp, void **priv)
{
	struct proc_priv *p = calloc(1, sizeof(*p));
	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = sp->o->btf_path);

	if (!p)
		return -ENOMEM;
	p->skel = proc_bpf__open_opts(&oo);
	if (!p->skel) {
		int err = -errno;

		free(p);
		return err;
	}
	*priv = p;
	return 0;
}

static int proc_configure(struct spine *sp, void *priv)
{
	struct proc_priv *p = priv;
	struct proc_bpf *s = p->skel;
	const char *e, *f, *x;

	/* features also configures without a filter: o may be bare. */
	SPINE_SET_FILTERS(s, sp);
	e = spine_pick(sp, s->progs.exec_btf, s->progs.exec_tp, "sched_process_exec", "sched",
		       "sched_process_exec");
	f = spine_pick(sp, s->progs.fork_btf, s->progs.fork_tp, "sched_process_fork", "task",
		       "task_newtask");
	x = spine_pick(sp, s->progs.exit_btf, s->progs.exit_tp, "sched_process_exit", "sched",
		       "sched_process_exit");
	snprintf(p->variant, sizeof(p->variant), "exec=%s fork=%s exit=%s", e, f, x);
	if (!strcmp(e, "missing") || !strcmp(f, "missing") || !strcmp(x, "missing")) {
		log_err("proc: this kernel lacks a tracepoint we need (%s)", p->variant);
		return -ENOENT;
	}
	return 0;
}

static int proc_load(void *priv)
{
	return proc_bpf__load(((struct proc_priv *)priv)->skel);
}

static int proc_attach(struct spine *sp, void *priv)
{
	return proc_bpf__attach(((struct proc_priv *)priv)->skel);
}

static struct bpf_object *proc_object(void *priv)
{
	return ((struct proc_priv *)priv)->skel->obj;
}

static void proc_detach(void *priv)
{
	proc_bpf__detach(((struct proc_priv *)priv)->skel);
}

static void proc_destroy(void *priv)
{
	struct proc_priv *p = priv;

	proc_bpf__destroy(p->skel);
	free(p);
}

static const char *proc_variant(void *priv)
{
	return ((struct proc_priv *)priv)->variant;
}

/* Records may be shorter than the struct (args trimmed): zero-fill a copy. */
static void copy_rec(void *dst, size_t dstlen, const struct st_hdr *h, size_t len)
{
	memset(dst, 0, dstlen);
	memcpy(dst, h, len < dstlen ? len : dstlen);
}

static void on_exec(struct spine *sp, const struct st_hdr *h, size_t len)
{
	struct proc_exec e;
	struct exec_info ei;
	char comm[ST_COMM_LEN + 1], file[ST_PATH_LEN + 1];

	copy_rec(&e, sizeof(e), h, len);
	st_strfix(comm, sizeof(comm), e.comm, sizeof(e.comm));
	st_strfix(file, sizeof(file), e.filename, sizeof(e.filename));
	ei = (struct exec_info){
		.ts = e.h.ts,
		.pid = e.pid,
		.ppid = e.ppid,
		.uid = e.uid,
		.start_ns = e.start_ns,
		.comm = comm,
		.filename = file,
		.args = e.args,
		.args_len = e.args_len < ST_ARGS_LEN ? e.args_len : ST_ARGS_LEN,
		.cg_v2 = spine_cgroup(sp, CG_V2, e.cgroup_id),
		.cg_mem = spine_cgroup(sp, CG_MEM, e.memcg_id),
	};
	model_exec(sp->model, &ei);
}

static void on_fork(struct spine *sp, const struct st_hdr *h, size_t len)
{
	struct proc_fork f;
	char comm[ST_COMM_LEN + 1];

	copy_rec(&f, sizeof(f), h, len);
	st_strfix(comm, sizeof(comm), f.comm, sizeof(f.comm));
	model_fork(sp->model, f.h.ts, f.pid, f.ppid, f.start_ns, comm,
		   spine_cgroup(sp, CG_V2, f.cgroup_id), spine_cgroup(sp, CG_MEM, f.memcg_id));
}

static void on_exit_rec(struct spine *sp, const struct st_hdr *h, size_t len)
{
	struct proc_exit x;
	char comm[ST_COMM_LEN + 1];

	copy_rec(&x, sizeof(x), h, len);
	st_strfix(comm, sizeof(comm), x.comm, sizeof(x.comm));
	model_exit(sp->model, x.h.ts, x.pid, x.start_ns, x.exit_status, comm);
}

static void proc_handle(struct spine *sp, const struct st_hdr *h, size_t len)
{
	switch (h->type) {
	case ST_PROC_EXEC:
		on_exec(sp, h, len);
		break;
	case ST_PROC_FORK:
		on_fork(sp, h, len);
		break;
	case ST_PROC_EXIT:
		on_exit_rec(sp, h, len);
		break;
	default:
		sp->lost_user++;
	}
}

const struct concern concern_proc = {
	.name = "proc",
	.bit = 1 << 0,
	.type_min = ST_PROC_EXEC,
	.type_max = ST_PROC_EXIT,
	.open = proc_open,
	.configure = proc_configure,
	.load = proc_load,
	.attach = proc_attach,
	.object = proc_object,
	.detach = proc_detach,
	.destroy = proc_destroy,
	.variant = proc_variant,
	.handle = proc_handle,
};
