// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `report --format text`: what an operator reads first. Fits 100 columns,
 * plain ASCII framing, no colour (so NO_COLOR and pipes just work).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "concern.h"
#include "report.h"
#include "stream.h"

#define WIDTH 100
#define TOP_CAUSES 10
#define MAX_EVENTS 25

/* Lineage from the oldest ancestor down to the job's deepest process, left-trimmed. */
static void lineage_line(FILE *out, struct model *m, const struct job *j)
{
	const struct proc *chain[64];
	struct proc *leaf = job_deepest(j);
	char buf[1024], *s;
	size_t n, i, off = 0, room = WIDTH - 14;

	if (!leaf)
		return;
	n = model_lineage(m, leaf, chain, 64);
	buf[0] = '\0';
	for (i = 0; i < n && off < sizeof(buf); i++)
		off += snprintf(buf + off, sizeof(buf) - off, "%s%s", i ? " > " : "",
				chain[i]->comm);
	s = buf;
	if (strlen(s) > room) {
		s += strlen(s) - room + 3;
		fprintf(out, "    lineage: ...%s\n", s);
	} else {
		fprintf(out, "    lineage: %s\n", s);
	}
}

static void header(struct model *m, FILE *out, const char *source)
{
	char when[64] = "?";
	time_t t = (time_t)(m->start_real_ns / 1000000000ULL);
	struct tm tm;

	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	fprintf(out, "spiketrace report: %.80s\n", source);
	fprintf(out, "host %.40s, kernel %.40s\n", m->host, m->kernel);
	fprintf(out, "recorded %s for %.1f s, %llu lost events\n", when, model_time_s(m, m->t_end),
		(unsigned long long)(m->lost_bpf + m->lost_decode + m->lost_user));
	if (m->cut_short)
		fprintf(out, "INCOMPLETE: %.90s\n", m->cut_reason);
}

/* Bytes for people: 1.5G, 212M, 64K. */
static const char *human(uint64_t b, char *buf, size_t len)
{
	static const char units[] = "BKMGTP";
	double v = (double)b;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u && v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
	return buf;
}

static void causes(struct model *m, FILE *out)
{
	bool mem = m->concerns & concern_by_name("mem")->bit;
	bool cpu = m->concerns & concern_cpu.bit;
	const struct job *j;
	char a[16], b[16];
	int rank = 0;

	fprintf(out, "\nTOP CAUSES (ranked by score, docs/causes.md)\n");
	fprintf(out, " %-3s %-30s %5s %5s %4s", "#", "CAUSE", "PROCS", "EXECS", "CONC");
	if (cpu)
		fprintf(out, " %7s", "CPU-S");
	if (mem)
		fprintf(out, " %8s %8s %9s %3s", "RSS-PEAK", "GROWTH", "FAULTS", "OOM");
	fputc('\n', out);
	for (j = m->jobs; j && j->nprocs && rank < TOP_CAUSES; j = j->next) {
		fprintf(out, " %-3d %-30.30s %5zu %5u %4u", ++rank, j->name, j->nprocs, j->execs,
			j->max_concurrency);
		if (cpu)
			fprintf(out, " %7.2f", j->cpu_s);
		if (mem)
			fprintf(out, " %8s %8s %9llu %3u", human(j->rss_peak, a, sizeof(a)),
				human(j->rss_growth, b, sizeof(b)),
				(unsigned long long)j->page_faults, j->oom_kills);
		fputc('\n', out);
		if (j->cgroup)
			fprintf(out, "    cgroup:  %.86s\n", j->cgroup);
		lineage_line(out, m, j);
	}
	if (!rank)
		fprintf(out, " (no process activity recorded)\n");
}

static void events(struct model *m, FILE *out)
{
	static const char *const kinds[] = { "exec", "exit", "oom", "reset", "trigger" };
	size_t i;

	fprintf(out, "\nEVENTS (time order)\n");
	for (i = 0; i < m->nmarks && i < MAX_EVENTS; i++) {
		const struct mark *mk = &m->marks[i];
		struct proc *p = model_find(m, mk->pid);
		struct job *j = p ? model_job_of(m, p) : NULL;

		fprintf(out, " %9.3f  %-5s %-7u %-24.24s %.50s\n", model_time_s(m, mk->ts),
			kinds[mk->kind], mk->pid, j ? j->name : "?", mk->detail);
	}
	if (m->nmarks > MAX_EVENTS)
		fprintf(out, " ... %zu more (report --format json has them all)\n",
			m->nmarks - MAX_EVENTS);
	if (!m->nmarks)
		fprintf(out, " (none)\n");
}

/* One row per cause, one column per interval: the shape of the spike. */
static void timeline(struct model *m, FILE *out)
{
	static const char *const blocks[] = { " ",	"\u2581", "\u2582", "\u2583", "\u2584",
					      "\u2585", "\u2586", "\u2587", "\u2588" };
	double iv = model_interval_s(m), *v, max;
	size_t nb = model_nbuckets(m, iv), i;
	const struct job *j;
	int rows = 0;

	if (nb > 64)
		nb = 64;
	v = calloc(nb, sizeof(*v));
	if (!v)
		return;
	fprintf(out, "\nTIMELINE (execs per %.0f s, one column each; scale per row)\n", iv);
	for (j = m->jobs; j && j->nprocs && rows < TOP_CAUSES; j = j->next, rows++) {
		model_series_execs(m, j, iv, v, nb);
		for (max = 0, i = 0; i < nb; i++)
			max = v[i] > max ? v[i] : max;
		fprintf(out, " %-24.24s |", j->name);
		for (i = 0; i < nb; i++)
			fputs(blocks[max > 0 ? (int)((v[i] / max) * 8 + 0.999) : 0], out);
		fprintf(out, "| max %.0f\n", max);
	}
	free(v);
}

static void ooms(struct model *m, FILE *out)
{
	char a[16], f[16], s[16], v[16];
	size_t i;

	if (!m->nooms)
		return;
	fprintf(out, "\nOOM KILLS\n");
	for (i = 0; i < m->nooms; i++) {
		const struct oom_kill *k = &m->ooms[i];

		fprintf(out, " %9.3f  %s[%u] in %.40s, cause %.30s\n", model_time_s(m, k->ts),
			k->victim_comm, k->victim_pid, k->memcg ? k->memcg : "?",
			k->victim && k->victim->job ? k->victim->job->name : "?");
		fprintf(out,
			"            rss anon %s file %s shmem %s, total-vm %s; allocating: %s[%u]\n",
			human(k->anon_rss, a, sizeof(a)), human(k->file_rss, f, sizeof(f)),
			human(k->shmem_rss, s, sizeof(s)), human(k->total_vm, v, sizeof(v)),
			k->trigger_comm, k->trigger_pid);
	}
}

void report_text(struct model *m, FILE *out, const char *source)
{
	header(m, out, source);
	causes(m, out);
	ooms(m, out);
	report_text_cpu(m, out);
	report_text_tls(m, out);
	report_text_tcp(m, out);
	events(m, out);
	timeline(m, out);
}
