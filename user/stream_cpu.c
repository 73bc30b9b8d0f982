// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `spiketrace cpu`: a per-job table of CPU, runnable threads and run-queue delay. */
#include <stdint.h>

#include "json.h"
#include "stream.h"

#define CPU_TABLE_ROWS 10

static void row_json(struct stream *s, const struct job *j, uint64_t now, double pct)
{
	struct json_w *w = json_new(s->out, false);

	if (!w)
		return;
	json_obj_begin(w);
	json_kstr(w, "type", "cpu");
	json_kdouble(w, "time_s", model_time_s(s->m, now));
	json_kstr(w, "cause", j->name);
	json_kdouble(w, "cpu_pct", pct);
	json_kdouble(w, "cpu_s", j->cpu_s);
	json_kuint(w, "max_concurrency", j->max_concurrency);
	json_kdouble(w, "run_delay_s", j->run_delay_s);
	json_obj_end(w);
	json_free(w);
}

void stream_cpu_tick(void *ctx, uint64_t now)
{
	struct stream *s = ctx;
	const struct job *j;
	double elapsed;
	int rows = 0;

	if (!stream_table_due(s, now, &elapsed))
		return;
	if (!s->json)
		fprintf(s->out, "\n%-9.3f %-30s %6s %9s %9s %12s\n", model_time_s(s->m, now), "JOB",
			"CPU%", "CPU-S", "RUNNABLE", "RUN-DELAY-S");
	for (j = s->m->jobs; j && j->nprocs && rows < CPU_TABLE_ROWS; j = j->next) {
		uint64_t us = (uint64_t)(j->cpu_s * 1e6);
		uintptr_t prev = (uintptr_t)hmap_get(&s->prev_cpu, (uintptr_t)j);
		double pct = elapsed > 0 ?
				     100.0 * (double)(us - (prev ? prev - 1 : 0)) / 1e6 / elapsed :
				     0;

		hmap_put(&s->prev_cpu, (uintptr_t)j, (void *)(uintptr_t)(us + 1));
		if (j->cpu_s <= 0 && j->run_delay_s <= 0)
			continue;
		rows++;
		if (s->json)
			row_json(s, j, now, pct);
		else
			fprintf(s->out, "%-9s %-30.30s %6.1f %9.2f %9u %12.3f\n", "", j->name, pct,
				j->cpu_s, j->max_concurrency, j->run_delay_s);
	}
	fflush(s->out);
}
