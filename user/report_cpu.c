// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The CPU parts of the reports: the "cpu" JSON object, the CPU section of
 * the text report, and the profile formats (folded, pprof), all from one
 * stackset so their totals agree.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "concern.h"
#include "cpumodel.h"
#include "json.h"
#include "log.h"
#include "report.h"
#include "stacks.h"

static double samples_s(const struct model *m, uint64_t n)
{
	return (double)n * (double)m->cpu->period_ns / 1e9;
}

void report_json_cpu(struct json_w *w, struct model *m)
{
	const struct cpu_model *c = m->cpu;

	json_key(w, "cpu");
	json_obj_begin(w);
	json_kuint(w, "period_ns", c ? c->period_ns : 0);
	json_kuint(w, "samples", c ? c->samples : 0);
	json_kuint(w, "idle_samples", c ? c->idle : 0);
	json_kdouble(w, "host_busy_pct",
		     c && c->samples ? 100.0 * (double)(c->samples - c->idle) / (double)c->samples :
				       0);
	json_kuint(w, "profiled_samples", c ? c->profiled : 0);
	json_kdouble(w, "profiled_s", c ? samples_s(m, c->profiled) : 0);
	json_kuint(w, "unknown_process_samples", c ? c->unknown : 0);
	json_kuint(w, "no_stack_samples", c ? c->nostack : 0);
	json_kuint(w, "truncated_stack_samples", c ? c->truncated : 0);
	json_kuint(w, "lost_stack_samples", c ? c->lost_stacks : 0);
	json_kuint(w, "stacks", c ? c->stacks.len : 0);
	json_kbool(w, "sched", c && c->sched);
	json_obj_end(w);
}

struct leaf {
	uint32_t frame;
	uint64_t count;
};

static const struct stackset *leaf_names; /* for ties: qsort has no context */

static int leaf_cmp(const void *a, const void *b)
{
	const struct leaf *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(leaf_names->names[x->frame], leaf_names->names[y->frame]);
}

#define TOP_LEAVES 5

/* The functions the job's samples were in (self time), most first. */
static void top_leaves(struct model *m, const struct job *j, FILE *out)
{
	struct stackset s;
	struct leaf *v;
	size_t i, n = 0, k;

	stackset_init(&s, 0);
	if (model_profile(m, j, &s) || !s.total || !(v = calloc(s.n, sizeof(*v)))) {
		stackset_free(&s);
		return;
	}
	for (i = 0; i < s.n; i++) {
		uint32_t f = s.v[i].frames[s.v[i].nframes - 1];

		for (k = 0; k < n && v[k].frame != f; k++)
			;
		if (k == n)
			v[n++].frame = f;
		v[k].count += s.v[i].count;
	}
	leaf_names = &s;
	qsort(v, n, sizeof(*v), leaf_cmp);
	for (i = 0; i < n && i < TOP_LEAVES; i++)
		fprintf(out, "      %5.1f%%  %.80s\n", 100.0 * (double)v[i].count / (double)s.total,
			s.names[v[i].frame]);
	free(v);
	stackset_free(&s);
}

#define CPU_CAUSES 5

void report_text_cpu(struct model *m, FILE *out)
{
	const struct cpu_model *c = m->cpu;
	const struct job *j;
	int rows = 0;

	if (!(m->concerns & concern_cpu.bit))
		return;
	fprintf(out, "\nCPU (sampled every %.1f ms", c ? (double)c->period_ns / 1e6 : 0);
	if (!c || !c->samples) {
		fprintf(out, "; no samples)\n");
		return;
	}
	fprintf(out, "; host busy %.0f%%, %.1f CPU-s profiled, %.0f%% of them with a cut stack)\n",
		100.0 * (double)(c->samples - c->idle) / (double)c->samples,
		samples_s(m, c->profiled),
		c->profiled ? 100.0 * (double)c->truncated / (double)c->profiled : 0);
	fprintf(out, " %-30s %8s %9s %11s  top functions (self)\n", "CAUSE", "CPU-S", "RUNNABLE",
		"RUN-DELAY-S");
	for (j = m->jobs; j && j->nprocs && rows < CPU_CAUSES; j = j->next) {
		if (j->cpu_s <= 0 && j->run_delay_s <= 0)
			continue;
		rows++;
		fprintf(out, " %-30.30s %8.2f %9u %11.3f\n", j->name, j->cpu_s, j->max_concurrency,
			j->run_delay_s);
		top_leaves(m, j, out);
	}
}

/* The whole profile; NULL after an error line. */
static struct stackset *profile(struct model *m)
{
	struct stackset *s = calloc(1, sizeof(*s));

	if (!s) {
		log_err("out of memory");
		return NULL;
	}
	stackset_init(s, 0);
	if (model_profile(m, NULL, s)) {
		log_err("out of memory building the profile");
		stackset_free(s);
		free(s);
		return NULL;
	}
	if (!(m->concerns & concern_cpu.bit))
		log_warn("this recording has no CPU samples (record with the cpu concern)");
	return s;
}

int report_folded(struct model *m, FILE *out)
{
	struct stackset *s = profile(m);
	int err;

	if (!s)
		return 1;
	err = folded_write(out, s);
	stackset_free(s);
	free(s);
	if (err)
		log_err("cannot write the folded stacks: %s", strerror(-err));
	return err ? 1 : 0;
}

int report_pprof(struct model *m, FILE *out)
{
	struct stackset *s = profile(m);
	int err;

	if (!s)
		return 1;
	/* Folded stacks have no place for it; a profile says what it lacks. */
	snprintf(s->comment, sizeof(s->comment), "spiketrace: %llu lost events",
		 (unsigned long long)model_lost(m));
	err = pprof_write(out, s, m->start_real_ns, m->t_end > m->t0 ? m->t_end - m->t0 : 0);
	stackset_free(s);
	free(s);
	if (err)
		log_err("cannot write the pprof profile: %s", strerror(-err));
	return err ? 1 : 0;
}
