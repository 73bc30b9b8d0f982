// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "trigger.h"
#include "util.h"

#define TRIG_LIST "oom, cpu>PCT, handshakes>N, resets>N, exec=NAME, psi-mem>PCT"
#define TRIG_RATE_MAX 1e9

struct trig_word {
	const char *word;
	enum trig_kind kind;
	char op; /* '>' or '=' or 0 */
	const char *form; /* for messages: "cpu>PCT" */
};

static const struct trig_word words[] = {
	{ "oom", TRIG_OOM, 0, "oom" },
	{ "cpu", TRIG_CPU, '>', "cpu>PCT" },
	{ "handshakes", TRIG_HANDSHAKES, '>', "handshakes>N" },
	{ "resets", TRIG_RESETS, '>', "resets>N" },
	{ "exec", TRIG_EXEC, '=', "exec=NAME" },
	{ "psi-mem", TRIG_PSI_MEM, '>', "psi-mem>PCT" },
};

/* s without leading and trailing blanks, into buf; NULL when it does not fit. */
static char *trim(const char *s, char *buf, size_t len)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n >= len)
		return NULL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return buf;
}

static const struct trig_word *find_word(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(words); i++)
		if (strlen(words[i].word) == n && !strncasecmp(words[i].word, s, n))
			return &words[i];
	return NULL;
}

static int fail(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
	snprintf(err, errlen, fmt, a, b);
	return -1;
}

static int parse_pct(const struct trig_word *w, const char *v, struct trigger *t, char *err,
		     size_t errlen)
{
	double d;

	if (st_parse_secs(v, 0, 1e18, &d))
		return fail(err, errlen, "%s needs a percentage (a number), got '%s'", w->form, v);
	if (d >= 100)
		return fail(err, errlen, "%s needs a percentage below 100, got '%s'", w->form, v);
	t->threshold = d;
	return 0;
}

static int parse_rate(const struct trig_word *w, const char *v, struct trigger *t, char *err,
		      size_t errlen)
{
	double d;

	if (st_parse_secs(v, 0, 1e18, &d))
		return fail(err, errlen, "%s needs a number per second, got '%s'", w->form, v);
	if (d > TRIG_RATE_MAX)
		return fail(err, errlen, "%s needs a rate of at most 1000000000, got '%s'", w->form,
			    v);
	t->threshold = d;
	return 0;
}

static int parse_name(const char *v, struct trigger *t, char *err, size_t errlen)
{
	size_t i, n = strlen(v), off;

	if (!n)
		return fail(err, errlen, "%s needs a process name, got '%s'", "exec=NAME", v);
	if (n > TRIG_NAME_MAX || strchr(v, '/'))
		return fail(err, errlen,
			    "%s needs a name without '/' of at most 255 bytes, got '%s'",
			    "exec=NAME", v);
	for (i = 0; i < n; i++)
		if (iscntrl((unsigned char)v[i]))
			return fail(err, errlen, "%s: NAME has a control character%s", "exec=NAME",
				    "");
	memcpy(t->name, v, n + 1);
	off = (size_t)snprintf(t->label, sizeof(t->label), "exec-");
	for (i = 0; i < n && off + 1 < sizeof(t->label); i++)
		t->label[off++] = isalnum((unsigned char)v[i]) || strchr("._-", v[i]) ? v[i] : '_';
	t->label[off] = '\0';
	return 0;
}

int trigger_parse(const char *expr, struct trigger *t, char *err, size_t errlen)
{
	char buf[TRIG_NAME_MAX + 64], *op, *v;
	const struct trig_word *w;
	size_t n;

	memset(t, 0, sizeof(*t));
	t->armed = true;
	if (!expr || !trim(expr, buf, sizeof(buf)) || !buf[0])
		return fail(err, errlen, "empty or too long trigger '%s' (%s)", expr ? expr : "",
			    TRIG_LIST);
	n = strcspn(buf, "<>=!");
	op = buf + n;
	while (n && isspace((unsigned char)buf[n - 1]))
		n--;
	w = find_word(buf, n);
	if (!w)
		return fail(err, errlen, "unknown trigger '%s' (%s)", buf, TRIG_LIST);
	t->kind = w->kind;
	st_strlcpy(t->label, w->word, sizeof(t->label));
	if (!w->op) {
		if (*op)
			return fail(err, errlen, "'%s' takes no value: write just '%s'", buf,
				    w->form);
		return 0;
	}
	if (*op != w->op || op[1] == '=' || op[1] == '>' || op[1] == '<')
		return fail(err, errlen, "'%s' is not valid: write it as %s", buf, w->form);
	v = op + 1;
	while (isspace((unsigned char)*v))
		v++;
	switch (w->kind) {
	case TRIG_CPU:
	case TRIG_PSI_MEM:
		return parse_pct(w, v, t, err, errlen);
	case TRIG_HANDSHAKES:
	case TRIG_RESETS:
		return parse_rate(w, v, t, err, errlen);
	case TRIG_EXEC:
		return parse_name(v, t, err, errlen);
	case TRIG_OOM:
		break;
	}
	return 0;
}

const char *trigger_concern(const struct trigger *t)
{
	switch (t->kind) {
	case TRIG_OOM:
		return "mem";
	case TRIG_CPU:
		return "cpu";
	case TRIG_HANDSHAKES:
		return "tls";
	case TRIG_RESETS:
		return "tcp";
	case TRIG_EXEC:
		return "proc";
	case TRIG_PSI_MEM:
		break;
	}
	return NULL;
}

static bool eval_oom(const struct trig_sample *s, struct trig_fire *f)
{
	const struct trig_oom *k = s->ooms;

	if (!s->nooms)
		return false;
	f->pid = k->pid;
	f->ts = k->ts;
	if (s->nooms > 1)
		snprintf(f->detail, sizeof(f->detail), "OOM kill of %.16s[%u] (+%zu more)",
			 k->comm ? k->comm : "?", k->pid, s->nooms - 1);
	else
		snprintf(f->detail, sizeof(f->detail), "OOM kill of %.16s[%u]",
			 k->comm ? k->comm : "?", k->pid);
	return true;
}

static bool eval_exec(const struct trigger *t, const struct trig_sample *s, struct trig_fire *f)
{
	size_t i;

	for (i = 0; i < s->nexecs; i++) {
		const struct trig_exec *e = &s->execs[i];

		bool named = (e->comm && !strcmp(e->comm, t->name)) ||
			     (e->base && !strcmp(e->base, t->name));

		if (named) {
			f->pid = e->pid;
			f->ts = e->ts;
			snprintf(f->detail, sizeof(f->detail), "exec of %.64s[%u]", t->name,
				 e->pid);
			return true;
		}
	}
	return false;
}

/* A level above the threshold fires once, then waits to fall back. */
static bool eval_level(struct trigger *t, bool ok, double v, const char *what, const char *unit,
		       struct trig_fire *f)
{
	if (!ok)
		return false;
	if (v <= t->threshold) {
		t->armed = true;
		return false;
	}
	if (!t->armed)
		return false;
	t->armed = false;
	snprintf(f->detail, sizeof(f->detail), "%s %.1f%s above %g%s", what, v, unit, t->threshold,
		 unit);
	return true;
}

bool trigger_eval(struct trigger *t, const struct trig_sample *s, struct trig_fire *f)
{
	memset(f, 0, sizeof(*f));
	switch (t->kind) {
	case TRIG_OOM:
		return eval_oom(s, f);
	case TRIG_EXEC:
		return eval_exec(t, s, f);
	case TRIG_CPU:
		return eval_level(t, s->cpu_ok, s->cpu_pct, "host CPU", "%", f);
	case TRIG_HANDSHAKES:
		return eval_level(t, s->hs_ok, s->hs_per_s, "TLS handshakes", "/s", f);
	case TRIG_RESETS:
		return eval_level(t, s->resets_ok, s->resets_per_s, "TCP resets", "/s", f);
	case TRIG_PSI_MEM:
		return eval_level(t, s->psi_ok, s->psi_mem, "memory pressure", "%", f);
	}
	return false;
}
