// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `report --format text`: what an operator reads first. Fits 100 columns,
 * plain ASCII framing, no colour (so NO_COLOR and pipes just work).
 */
#include <string.h>
#include <time.h>

#include "report.h"
#include "stream.h"

#define WIDTH 100
#define TOP_CAUSES 10
#define MAX_EVENTS 25

/* The longest chain of parent -> child inside the job, starting at its root. */
static const struct proc *deepest(const struct job *j, const struct proc *from, int *depth)
{
	const struct proc *best = from;
	int bd = 0;
	size_t i;

	for (i = 0; i < j->nprocs; i++) {
		const struct proc *c = j->procs[i];
		int d;

		if (c->parent != from || c == from)
			continue;
		c = deepest(j, c, &d);
		if (d + 1 > bd) {
			bd = d + 1;
			best = c;
		}
	}
	*depth = bd;
	return best;
}

/* Lineage from the oldest ancestor down to the job's deepest process, left-trimmed. */
static void lineage_line(FILE *out, struct model *m, const struct job *j)
{
	const struct proc *chain[64], *leaf;
	char buf[1024], *s;
	size_t n, i, off = 0, room = WIDTH - 14;
	int depth;

	if (!j->root)
		return;
	leaf = deepest(j, j->root, &depth);
	n = model_lineage(m, (struct proc *)leaf, chain, 64);
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
	fprintf(out, "recorded %s for %.1f s, %llu lost events%s\n", when,
		model_time_s(m, m->t_end), (unsigned long long)(m->lost_bpf + m->lost_user),
		m->cut_short ? ", CUT SHORT (recorder did not finish)" : "");
}

static void causes(struct model *m, FILE *out)
{
	const struct job *j;
	int rank = 0;

	fprintf(out, "\nTOP CAUSES (ranked by score, docs/causes.md)\n");
	fprintf(out, " %-3s %-32s %6s %6s %5s  %s\n", "#", "CAUSE", "PROCS", "EXECS", "CONC",
		"CGROUP");
	for (j = m->jobs; j && j->nprocs && rank < TOP_CAUSES; j = j->next) {
		fprintf(out, " %-3d %-32.32s %6zu %6u %5u  %.40s\n", ++rank, j->name, j->nprocs,
			j->execs, j->max_concurrency, j->cgroup ? j->cgroup : "-");
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

void report_text(struct model *m, FILE *out, const char *source)
{
	header(m, out, source);
	causes(m, out);
	events(m, out);
}
