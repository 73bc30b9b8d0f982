// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <string.h>

#include "json.h"
#include "stream.h"

void stream_lineage(FILE *out, struct model *m, struct proc *p, const char *sep)
{
	const struct proc *chain[64];
	size_t n = model_lineage(m, p, chain, 64), i;

	for (i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? sep : "", chain[i]->comm);
}

static void json_args(struct json_w *w, const struct proc *p)
{
	uint32_t off = 0;

	json_arr_begin(w);
	while (p->args && off < p->args_len) {
		size_t n = strnlen(p->args + off, p->args_len - off);

		json_strn(w, p->args + off, n);
		off += n + 1;
	}
	json_arr_end(w);
}

static void json_exec(struct stream *s, struct json_w *w, const struct mev *ev)
{
	const struct proc *p = ev->p, *chain[64];
	size_t n = model_lineage(s->m, ev->p, chain, 64), i;
	struct job *j = model_job_of(s->m, ev->p);

	json_kuint(w, "ppid", p->ppid);
	json_kuint(w, "uid", p->uid);
	json_kstr(w, "comm", p->comm);
	json_kstr(w, "filename", p->filename);
	json_key(w, "args");
	json_args(w, p);
	json_kstr(w, "cgroup", proc_cgroup(p));
	json_kstr(w, "cgroup_v2", p->cg_v2);
	json_kstr(w, "memcg", p->cg_mem);
	json_key(w, "lineage");
	json_arr_begin(w);
	for (i = 0; i < n; i++)
		json_str(w, chain[i]->comm);
	json_arr_end(w);
	json_kstr(w, "job", j ? j->name : NULL);
}

static double duration_ms(const struct proc *p)
{
	if (!p->start_ns || p->exit_ns < p->start_ns)
		return -1;
	return (double)(p->exit_ns - p->start_ns) / 1e6;
}

static void json_line(struct stream *s, const struct mev *ev)
{
	static const char *const kinds[] = { "fork", "exec", "exit" };
	struct json_w *w = json_new(s->out, false);
	const struct proc *p = ev->p;

	if (!w)
		return;
	json_obj_begin(w);
	json_kstr(w, "type", kinds[ev->kind]);
	json_kdouble(w, "time_s", model_time_s(s->m, ev->ts));
	json_kuint(w, "pid", p->pid);
	if (ev->kind == MEV_EXEC) {
		json_exec(s, w, ev);
	} else if (ev->kind == MEV_EXIT) {
		json_kstr(w, "comm", p->comm);
		json_kint(w, "exit_code", proc_exit_code(p));
		if (proc_exit_signal(p))
			json_kint(w, "exit_signal", proc_exit_signal(p));
		else
			json_knull(w, "exit_signal");
		if (duration_ms(p) >= 0)
			json_kdouble(w, "duration_ms", duration_ms(p));
		else
			json_knull(w, "duration_ms");
	} else {
		json_kuint(w, "ppid", p->ppid);
		json_kstr(w, "comm", p->comm);
	}
	json_obj_end(w);
	json_free(w);
}

static void text_args(FILE *out, const struct proc *p)
{
	uint32_t off = 0;

	while (p->args && off < p->args_len) {
		size_t n = strnlen(p->args + off, p->args_len - off);

		fprintf(out, "%s%.*s", off ? " " : "", (int)n, p->args + off);
		off += n + 1;
	}
}

static void text_line(struct stream *s, const struct mev *ev)
{
	const struct proc *p = ev->p;

	if (!s->header_done) {
		fprintf(s->out, "%-9s %-5s %-7s %-7s %-16s %s\n", "TIME(s)", "EVENT", "PID", "PPID",
			"COMM", "DETAIL");
		s->header_done = true;
	}
	if (ev->kind == MEV_FORK)
		return; /* forks are implied by the exec/exit lines; JSON has them */
	fprintf(s->out, "%-9.3f %-5s %-7u %-7u %-16s ", model_time_s(s->m, ev->ts),
		ev->kind == MEV_EXEC ? "exec" : "exit", p->pid, p->ppid, p->comm);
	if (ev->kind == MEV_EXEC) {
		stream_lineage(s->out, s->m, ev->p, ">");
		fputs("  ", s->out);
		text_args(s->out, p);
	} else if (proc_exit_signal(p)) {
		fprintf(s->out, "killed by signal %d after %.0f ms", proc_exit_signal(p),
			duration_ms(p));
	} else {
		fprintf(s->out, "exit %d after %.0f ms", proc_exit_code(p), duration_ms(p));
	}
	fputc('\n', s->out);
}

void stream_event(void *ctx, const struct mev *ev)
{
	struct stream *s = ctx;

	if (s->json)
		json_line(s, ev);
	else
		text_line(s, ev);
	fflush(s->out);
}
