// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * serve's exposition (user/metrics.c) and its HTTP (user/http.c), without
 * sockets or BPF: the state is fed as serve feeds it each second, directly
 * or from a model built in memory, and the text is read back line by line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "metrics.h"
#include "model.h"
#include "tcp.h"
#include "tcpmodel.h"
#include "testutil.h"
#include "tls.h"
#include "tlsmodel.h"

#define ALL (MXF_CPU | MXF_MEM | MXF_TLS | MXF_TCP | MXF_NET)
#define T0 5000000000ULL
#define T(ms) (T0 + (uint64_t)(ms)*1000000ULL)
#define CPU "spiketrace_cause_cpu_seconds_total"
#define FAULTS "spiketrace_cause_page_faults_total"
#define RSS "spiketrace_cause_rss_bytes"

/* One series and its value, as read back from the text. */
struct series {
	char *key; /* name{labels} */
	double v;
};

struct snap {
	struct series *s;
	size_t n;
};

struct fx {
	struct metrics mx;
	bool mx_ok;
	struct model *m;
	char *text;
	struct snap prev, cur;
};

static void snap_free(struct snap *sn)
{
	size_t i;

	for (i = 0; i < sn->n; i++)
		free(sn->s[i].key);
	free(sn->s);
	sn->s = NULL;
	sn->n = 0;
}

static int setup(void **state)
{
	*state = calloc(1, sizeof(struct fx));
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->mx_ok)
		mx_free(&f->mx);
	model_free(f->m);
	free(f->text);
	snap_free(&f->prev);
	snap_free(&f->cur);
	free(f);
	return 0;
}

static struct metrics *mx_new(struct fx *f, unsigned int families, size_t cap)
{
	assert_int_equal(mx_init(&f->mx, families, cap), 0);
	f->mx_ok = true;
	return &f->mx;
}

/* Renders the exposition into f->text and parses its samples into f->cur. */
static const char *render(struct fx *f)
{
	size_t len = 0;
	char *line, *save = NULL, *copy;
	FILE *mf;

	free(f->text);
	f->text = NULL;
	mf = open_memstream(&f->text, &len);
	assert_non_null(mf);
	assert_int_equal(mx_write(&f->mx, mf), 0);
	assert_int_equal(fclose(mf), 0);
	assert_true(len > 0 && f->text[len - 1] == '\n');
	snap_free(&f->cur);
	copy = strdup(f->text);
	assert_non_null(copy);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strrchr(line, ' ');

		if (line[0] == '#')
			continue;
		assert_non_null(sp);
		f->cur.s = realloc(f->cur.s, (f->cur.n + 1) * sizeof(*f->cur.s));
		assert_non_null(f->cur.s);
		f->cur.s[f->cur.n].key = strndup(line, (size_t)(sp - line));
		f->cur.s[f->cur.n].v = strtod(sp + 1, NULL);
		f->cur.n++;
	}
	free(copy);
	return f->text;
}

static double value(const struct fx *f, const char *key)
{
	size_t i;

	for (i = 0; i < f->cur.n; i++)
		if (!strcmp(f->cur.s[i].key, key))
			return f->cur.s[i].v;
	return NAN;
}

static double valuef(const struct fx *f, const char *fmt, ...)
{
	char key[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	return value(f, key);
}

/* Series whose key starts with prefix. */
static size_t count(const struct fx *f, const char *prefix)
{
	size_t i, n = 0;

	for (i = 0; i < f->cur.n; i++)
		n += !strncmp(f->cur.s[i].key, prefix, strlen(prefix));
	return n;
}

/* Sum of the series whose key starts with prefix. */
static double sum(const struct fx *f, const char *prefix)
{
	double t = 0;
	size_t i;

	for (i = 0; i < f->cur.n; i++)
		if (!strncmp(f->cur.s[i].key, prefix, strlen(prefix)))
			t += f->cur.s[i].v;
	return t;
}

/*
 * Every counter series of the previous rendering is still there and no
 * smaller; then the current rendering becomes the previous one.
 */
static void expect_monotonic(struct fx *f)
{
	size_t i;

	for (i = 0; i < f->prev.n; i++) {
		const char *k = f->prev.s[i].key;
		double now = value(f, k);

		if (!strstr(k, "_total"))
			continue;
		if (isnan(now))
			fail_msg("counter series %s disappeared", k);
		if (now < f->prev.s[i].v)
			fail_msg("counter %s went from %f to %f", k, f->prev.s[i].v, now);
	}
	snap_free(&f->prev);
	f->prev = f->cur;
	f->cur = (struct snap){ 0 };
}

/* ---- the format -------------------------------------------------------- */

/*
 * HELP then TYPE once per family, before its samples, which come together;
 * counters end in _total, gauges do not.
 */
static void expect_well_formed(const char *text)
{
	char fam[128] = "", name[128], needle[160], *copy = strdup(text), *line, *save = NULL;
	char type[16] = "";

	assert_non_null(copy);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "# HELP ", 7)) {
			assert_int_equal(sscanf(line + 7, "%127s", fam), 1);
			type[0] = '\0';
			snprintf(needle, sizeof(needle), "# HELP %s ", fam);
			assert_int_equal(test_count(text, needle), 1);
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			assert_int_equal(sscanf(line + 7, "%127s %15s", name, type), 2);
			assert_string_equal(name, fam);
			snprintf(needle, sizeof(needle), "# TYPE %s ", fam);
			assert_int_equal(test_count(text, needle), 1);
			assert_true(!strcmp(type, "counter") || !strcmp(type, "gauge"));
			if (!strcmp(type, "counter"))
				assert_non_null(strstr(fam, "_total"));
			else
				assert_null(strstr(fam, "_total"));
			continue;
		}
		assert_true(line[0] != '#');
		/* A sample of the family just announced. */
		assert_true(type[0]);
		assert_int_equal(strncmp(line, fam, strlen(fam)), 0);
		assert_true(line[strlen(fam)] == '{' || line[strlen(fam)] == ' ');
	}
	free(copy);
}

/* Every family of the contract. */
static const char *const contract[] = {
	CPU,
	FAULTS,
	RSS,
	"spiketrace_oom_kills_total",
	"spiketrace_tls_handshakes_total",
	"spiketrace_tls_cpu_seconds_total",
	"spiketrace_tcp_resets_total",
	"spiketrace_tcp_transitions_total",
	"spiketrace_lost_events_total",
	"spiketrace_cause_net_bytes_total",
};

static void test_help_type_once_per_family(void **state)
{
	struct fx *f = *state;
	size_t i;
	struct metrics *mx = mx_new(f, ALL, MX_CAP);
	const double tls[MX_T_NR] = { 5, 2, 0.1, 0.2, 0.01, 0.05 };
	uint64_t trans[MX_TCP_ST * MX_TCP_ST] = { 0 };
	const char *t;

	mx_begin(mx);
	assert_int_equal(mx_cause(mx, "k1", "a", 1.5, 10, 4096), 0);
	assert_int_equal(
		mx_cause_all(mx, "k2", "b", (const double[MX_C_NR]){ 0.5, 3, 0, 7e8, 2e6 }), 0);
	assert_int_equal(mx_tls(mx, "100", "nginx", tls), 0);
	assert_int_equal(mx_oom(mx, "/cron/job"), 0);
	trans[TCP_ST_CLOSE * MX_TCP_ST + TCP_ST_SYN_SENT] = 7;
	mx_tcp(mx, trans, 2, 1);
	mx_lost(mx, 3);
	t = render(f);
	expect_well_formed(t);
	for (i = 0; i < ARRAY_SIZE(contract); i++) {
		char needle[128];

		snprintf(needle, sizeof(needle), "# TYPE %s ", contract[i]);
		if (!strstr(t, needle))
			fail_msg("family %s missing", contract[i]);
	}
	assert_true(value(f, "spiketrace_cause_net_bytes_total{cause=\"b\",direction=\"rx\"}") ==
		    7e8);
	assert_true(value(f, "spiketrace_cause_net_bytes_total{cause=\"b\",direction=\"tx\"}") ==
		    2e6);
	assert_true(value(f, "spiketrace_cause_net_bytes_total{cause=\"a\",direction=\"rx\"}") ==
		    0);
	assert_non_null(strstr(t, "# TYPE " RSS " gauge\n"));
	assert_true(value(f, CPU "{cause=\"a\"}") == 1.5);
	assert_true(value(f, FAULTS "{cause=\"b\"}") == 3);
	assert_true(value(f, RSS "{cause=\"a\"}") == 4096);
	assert_true(value(f, CPU "{cause=\"other\"}") == 0);
	assert_true(value(f, "spiketrace_oom_kills_total{memcg=\"/cron/job\"}") == 1);
	assert_true(value(f, "spiketrace_tls_handshakes_total{comm=\"nginx\",kind=\"full\"}") == 5);
	assert_true(value(f, "spiketrace_tls_handshakes_total{comm=\"nginx\",kind=\"resumed\"}") ==
		    2);
	assert_true(fabs(value(f, "spiketrace_tls_cpu_seconds_total{comm=\"nginx\","
				  "phase=\"signature\"}") -
			 0.2) < 1e-9);
	assert_true(value(f, "spiketrace_tcp_resets_total{direction=\"received\"}") == 2);
	assert_true(value(f, "spiketrace_tcp_resets_total{direction=\"sent\"}") == 1);
	assert_true(value(f, "spiketrace_tcp_transitions_total{from=\"CLOSE\",to=\"SYN_SENT\"}") ==
		    7);
	assert_int_equal(count(f, "spiketrace_tcp_transitions_total{"), 1);
	assert_true(value(f, "spiketrace_lost_events_total") == 3);
	/* Nothing went to other in the small groups: no series for it. */
	assert_int_equal(count(f, "spiketrace_oom_kills_total{memcg=\"other\""), 0);
	assert_int_equal(count(f, "spiketrace_tls_handshakes_total{comm=\"other\""), 0);
}

static void test_families_follow_concerns(void **state)
{
	struct fx *f = *state;
	const char *t;

	mx_new(f, MXF_CPU, MX_CAP);
	t = render(f);
	expect_well_formed(t);
	assert_non_null(strstr(t, "# TYPE " CPU " counter"));
	assert_null(strstr(t, FAULTS));
	assert_null(strstr(t, "spiketrace_oom_kills_total"));
	assert_null(strstr(t, "spiketrace_tls_"));
	assert_null(strstr(t, "spiketrace_tcp_"));
	assert_non_null(strstr(t, "spiketrace_lost_events_total 0\n"));
	/* TLS without the sampler: handshakes, no CPU by phase. */
	mx_free(&f->mx);
	mx_new(f, MXF_TLS, MX_CAP);
	t = render(f);
	assert_non_null(strstr(t, "spiketrace_tls_handshakes_total"));
	assert_null(strstr(t, "spiketrace_tls_cpu_seconds_total"));
}

static void test_label_values_escaped(void **state)
{
	struct fx *f = *state;
	struct metrics *mx = mx_new(f, ALL, MX_CAP);
	const char *t;

	mx_begin(mx);
	mx_cause(mx, "k", "a\\b\"c\nd", 1, 1, 1);
	mx_cause(mx, "bad", "x\xff\xc3(y\xe2\x82", 1, 1, 1); /* invalid UTF-8 */
	mx_cause(mx, "ok", "caf\xc3\xa9 \xe2\x82\xac", 1, 1, 1); /* valid: kept */
	mx_oom(mx, "/a \"b\"\n");
	t = render(f);
	expect_well_formed(t);
	assert_non_null(strstr(t, CPU "{cause=\"a\\\\b\\\"c\\nd\"} 1.000000\n"));
	assert_non_null(strstr(t, CPU "{cause=\"x?"
				      "?(y?"
				      "?\"} 1.000000\n"));
	assert_non_null(strstr(t, CPU "{cause=\"caf\xc3\xa9 \xe2\x82\xac\"} 1.000000\n"));
	assert_non_null(strstr(t, "spiketrace_oom_kills_total{memcg=\"/a \\\"b\\\"\\n\"} 1\n"));
	/* No raw newline inside any sample line: every line is a sample or a comment. */
	for (const char *p = t; *p; p = strchr(p, '\n') + 1)
		assert_true(!strncmp(p, "# ", 2) || !strncmp(p, "spiketrace_", 11));
}

/* cap 2: a and b keep their labels, c and d go to other; everything adds up. */
static void test_sticky_labels_and_other(void **state)
{
	struct fx *f = *state;
	struct metrics *mx = mx_new(f, ALL, 2);

	mx_begin(mx);
	mx_cause(mx, "ka", "a", 1, 10, 100);
	mx_cause(mx, "kc0", "idle", 0, 0, 0); /* nothing to show: takes no label */
	mx_cause(mx, "kb", "b", 2, 20, 200);
	mx_cause(mx, "kc", "c", 3, 30, 300);
	render(f);
	assert_true(value(f, CPU "{cause=\"a\"}") == 1);
	assert_true(value(f, CPU "{cause=\"b\"}") == 2);
	assert_true(value(f, CPU "{cause=\"other\"}") == 3);
	assert_true(isnan(value(f, CPU "{cause=\"idle\"}")));
	assert_true(value(f, RSS "{cause=\"other\"}") == 300);
	expect_monotonic(f);

	/* a is gone; c grows; d arrives ranked first: the set is full, d is other. */
	mx_begin(mx);
	mx_cause(mx, "kd", "d", 5, 50, 500);
	mx_cause(mx, "kb", "b", 2.5, 25, 250);
	mx_cause(mx, "kc", "c", 4, 40, 400);
	render(f);
	assert_true(value(f, CPU "{cause=\"a\"}") == 1); /* kept, not reset */
	assert_true(value(f, RSS "{cause=\"a\"}") == 0); /* gone: 0 */
	assert_true(value(f, CPU "{cause=\"b\"}") == 2.5);
	assert_true(value(f, CPU "{cause=\"other\"}") == 3 + 1 + 5);
	assert_true(value(f, FAULTS "{cause=\"other\"}") == 30 + 10 + 50);
	assert_true(value(f, RSS "{cause=\"other\"}") == 400 + 500);
	assert_int_equal(count(f, CPU "{"), 3);
	expect_monotonic(f);

	/* A source whose cumulative value shrinks takes nothing back. */
	mx_begin(mx);
	mx_cause(mx, "kb", "b", 1, 5, 0);
	render(f);
	assert_true(value(f, CPU "{cause=\"b\"}") == 2.5);
	assert_true(value(f, FAULTS "{cause=\"b\"}") == 25);
	expect_monotonic(f);
	mx_begin(mx);
	mx_cause(mx, "kb", "b", 3, 25, 0); /* grows past its most: only the growth */
	render(f);
	assert_true(value(f, CPU "{cause=\"b\"}") == 3);
	expect_monotonic(f);
}

/* Two jobs with one name (two paths, one last component) share their label. */
static void test_same_name_two_keys(void **state)
{
	struct fx *f = *state;
	struct metrics *mx = mx_new(f, ALL, 1);

	mx_begin(mx);
	mx_cause(mx, "/a/web.service", "web.service", 1, 0, 10);
	mx_cause(mx, "/b/web.service", "web.service", 2, 0, 20);
	mx_cause(mx, "x", "x", 4, 0, 0);
	render(f);
	assert_true(value(f, CPU "{cause=\"web.service\"}") == 3);
	assert_true(value(f, RSS "{cause=\"web.service\"}") == 30);
	assert_true(value(f, CPU "{cause=\"other\"}") == 4);
	/* A job literally named "other" adds to the other row. */
	mx_begin(mx);
	mx_cause(mx, "o", "other", 1, 0, 0);
	render(f);
	assert_true(value(f, CPU "{cause=\"other\"}") == 5);
	assert_int_equal(count(f, CPU "{cause=\"other\"}"), 1);
}

/*
 * 1000 jobs come and go, a few at a time, each growing over three updates:
 * at most cap + 1 cause values, every counter monotonic, and nothing lost
 * (the labels add up to everything fed).
 */
static void test_cardinality_1000_jobs(void **state)
{
	struct fx *f = *state;
	struct metrics *mx = mx_new(f, ALL, MX_CAP);
	const size_t njobs = 1000, per_tick = 7, life = 3;
	double fed_cpu = 0, fed_faults = 0;
	size_t tick, j;

	for (tick = 0; tick * per_tick < njobs + life * per_tick; tick++) {
		double rss = 0;

		mx_begin(mx);
		/* Alive this tick: the jobs started in the last `life` ticks. */
		for (j = tick >= life ? (tick - life + 1) * per_tick : 0;
		     j < (tick + 1) * per_tick && j < njobs; j++) {
			char key[32], name[32];
			size_t age = tick - j / per_tick; /* 0, 1, 2 */

			snprintf(key, sizeof(key), "key%zu", j);
			snprintf(name, sizeof(name), "job[%zu]", 1000 + j);
			mx_cause(mx, key, name, 0.25 * (double)(age + 1), (double)(10 * (age + 1)),
				 4096.0 * (double)(j % 5));
			rss += 4096.0 * (double)(j % 5);
			if (age == life - 1) {
				fed_cpu += 0.25 * (double)life;
				fed_faults += 10.0 * (double)life;
			}
		}
		render(f);
		expect_well_formed(f->text);
		assert_true(count(f, CPU "{") <= MX_CAP + 1);
		assert_true(count(f, FAULTS "{") <= MX_CAP + 1);
		assert_true(count(f, RSS "{") <= MX_CAP + 1);
		assert_true(fabs(sum(f, RSS "{") - rss) < 1e-6);
		expect_monotonic(f);
	}
	/* f->prev holds the last rendering. */
	f->cur = f->prev;
	f->prev = (struct snap){ 0 };
	assert_int_equal(count(f, CPU "{"), MX_CAP + 1);
	assert_true(fabs(sum(f, CPU "{") - fed_cpu) < 1e-6);
	assert_true(fabs(sum(f, FAULTS "{") - fed_faults) < 1e-6);
	/* The first MX_CAP jobs kept their labels; the others are in other. */
	assert_true(valuef(f, CPU "{cause=\"job[%d]\"}", 1000) == 0.75);
	assert_true(valuef(f, CPU "{cause=\"job[%d]\"}", 1000 + MX_CAP - 1) == 0.75);
	assert_true(isnan(valuef(f, CPU "{cause=\"job[%d]\"}", 1000 + MX_CAP)));
	assert_true(fabs(value(f, CPU "{cause=\"other\"}") - 0.75 * (njobs - MX_CAP)) < 1e-6);
	assert_true(value(f, RSS "{cause=\"other\"}") == 0);
	assert_int_equal(f->mx.causes.nsrcs, njobs);
}

/* TLS comms and OOM memcgs are bounded the same way. */
static void test_comm_and_memcg_bounded(void **state)
{
	struct fx *f = *state;
	struct metrics *mx = mx_new(f, ALL, 3);
	char key[16], comm[16], cg[32];
	double v[MX_T_NR] = { 0 };
	int i;

	mx_begin(mx);
	for (i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "%d", 100 + i);
		snprintf(comm, sizeof(comm), "srv%d", i % 10);
		v[MX_T_FULL] = 2;
		v[MX_T_RESUMED] = 1;
		v[MX_T_SIG] = 0.5;
		mx_tls(mx, key, comm, v);
		snprintf(cg, sizeof(cg), "/job%d", i);
		mx_oom(mx, cg);
	}
	mx_oom(mx, NULL);
	render(f);
	expect_well_formed(f->text);
	assert_int_equal(count(f, "spiketrace_tls_handshakes_total{"), 2 * (3 + 1));
	assert_int_equal(count(f, "spiketrace_tls_cpu_seconds_total{"), 4 * (3 + 1));
	/* srv0..srv2 have 5 processes each; the 35 others are in other. */
	assert_true(value(f, "spiketrace_tls_handshakes_total{comm=\"srv1\",kind=\"full\"}") == 10);
	assert_true(value(f, "spiketrace_tls_handshakes_total{comm=\"other\",kind=\"resumed\"}") ==
		    35);
	assert_true(value(f, "spiketrace_tls_cpu_seconds_total{comm=\"other\","
			     "phase=\"signature\"}") == 17.5);
	assert_int_equal(count(f, "spiketrace_oom_kills_total{"), 3 + 1);
	assert_true(value(f, "spiketrace_oom_kills_total{memcg=\"other\"}") == 48);
	assert_true(sum(f, "spiketrace_oom_kills_total{") == 51);
}

static void test_tcp_and_lost_never_decrease(void **state)
{
	struct fx *f = *state;
	struct metrics *mx = mx_new(f, ALL, MX_CAP);
	uint64_t trans[MX_TCP_ST * MX_TCP_ST] = { 0 };

	trans[TCP_ST_ESTABLISHED * MX_TCP_ST + TCP_ST_CLOSE] = 4;
	mx_tcp(mx, trans, 5, 6);
	mx_lost(mx, 9);
	render(f);
	expect_monotonic(f);
	trans[TCP_ST_ESTABLISHED * MX_TCP_ST + TCP_ST_CLOSE] = 2; /* a counter restarted */
	mx_tcp(mx, trans, 1, 7);
	mx_lost(mx, 0);
	mx_tcp(mx, NULL, 0, 0);
	render(f);
	assert_true(value(f, "spiketrace_tcp_transitions_total{from=\"ESTABLISHED\","
			     "to=\"CLOSE\"}") == 4);
	assert_true(value(f, "spiketrace_tcp_resets_total{direction=\"sent\"}") == 7);
	assert_true(value(f, "spiketrace_lost_events_total") == 9);
	expect_monotonic(f);
}

/* ---- from a model ------------------------------------------------------ */

static void spawn(struct model *m, uint64_t ts, uint32_t pid, uint32_t ppid, const char *comm)
{
	struct exec_info e = { .ts = ts + 1000,
			       .pid = pid,
			       .ppid = ppid,
			       .start_ns = ts,
			       .comm = comm,
			       .filename = comm,
			       .args = comm,
			       .args_len = (uint32_t)strlen(comm) + 1 };

	model_fork(m, ts, pid, ppid, ts, "sh", NULL, NULL);
	model_exec(m, &e);
}

static void mem(struct model *m, uint64_t ts, uint32_t pid, uint64_t faults, uint64_t rss)
{
	struct memstat st = { .faults = faults, .rss = rss, .rss_peak = rss, .seen = true };

	model_mem(m, ts, pid, &st);
}

static void seed_shell(struct model *m)
{
	struct rec_proc_seed s = { .ts = T0, .pid = 10, .ppid = 1 };

	memcpy(s.comm, "sh", 2);
	snprintf(s.filename, sizeof(s.filename), "/bin/sh");
	model_seed(m, &s);
}

/*
 * What serve does each second, on a model: a shell starts 1000 short
 * children, each a job of its own ("true[pid]"), 10 per second; OOM kills,
 * TLS handshakes and TCP counters come in between.
 */
static void test_update_from_model(void **state)
{
	struct fx *f = *state;
	struct metrics *mx = mx_new(f, ALL, MX_CAP);
	struct model *m = f->m = model_new(T0);
	uint32_t pid = 1000;
	int sec, i;

	assert_non_null(m);
	seed_shell(m);
	for (sec = 1; sec <= 100; sec++) {
		struct tcp_counts c = { 0 };
		struct tls_event e = { .pid = 77, .flags = TLS_F_OK, .comm = "nginx" };

		for (i = 0; i < 10; i++, pid++) {
			uint64_t ts = T(sec * 1000 + i * 10);

			spawn(m, ts, pid, 10, "true");
			mem(m, ts + 2000, pid, 50, 1 << 20);
			if (i % 2)
				model_exit(m, ts + 5000, pid, ts, 0, "true");
		}
		e.ts = T(sec * 1000 + 500);
		e.flags |= sec % 4 ? 0 : TLS_F_RESUMED;
		model_tls_hs(m, &e);
		c.trans[TCP_ST_CLOSE * TCP_ST_NR + TCP_ST_SYN_SENT] = (uint64_t)sec;
		c.resets_rx = (uint64_t)sec / 10;
		model_tcp_counts(m, &c);
		if (sec == 50) {
			struct oom_kill k = { .ts = T(sec * 1000 + 900), .victim_pid = pid - 1 };

			k.memcg = model_intern(m, "/st-cron");
			model_oom(m, &k);
		}
		model_finalize(m, T(sec * 1000 + 999));
		assert_int_equal(mx_update(mx, m), 0);
		render(f);
		assert_true(count(f, FAULTS "{") <= MX_CAP + 1);
		expect_monotonic(f);
	}
	f->cur = f->prev;
	f->prev = (struct snap){ 0 };
	/* Every child's faults are counted once: in its label or in other. */
	assert_true(sum(f, FAULTS "{") == 1000 * 50);
	assert_int_equal(count(f, FAULTS "{"), MX_CAP + 1);
	assert_true(valuef(f, FAULTS "{cause=\"true[%d]\"}", 1000) == 50);
	/* RSS now: the live half of the children, each 1 MiB. */
	assert_true(sum(f, RSS "{") == 500.0 * (1 << 20));
	assert_true(value(f, "spiketrace_oom_kills_total{memcg=\"/st-cron\"}") == 1);
	assert_true(value(f, "spiketrace_tls_handshakes_total{comm=\"nginx\",kind=\"full\"}") ==
		    75);
	assert_true(value(f, "spiketrace_tls_handshakes_total{comm=\"nginx\",kind=\"resumed\"}") ==
		    25);
	assert_true(value(f, "spiketrace_tcp_transitions_total{from=\"CLOSE\",to=\"SYN_SENT\"}") ==
		    100);
	assert_true(value(f, "spiketrace_tcp_resets_total{direction=\"received\"}") == 10);
}

/* ---- HTTP -------------------------------------------------------------- */

static void expect_listen(const char *spec, int family, const char *addr, unsigned int port)
{
	struct sockaddr_storage ss;
	const char *why;
	char buf[64], want[64];
	socklen_t len;

	if (http_parse_listen(spec, &ss, &len, &why))
		fail_msg("'%s' refused: %s", spec, why);
	assert_int_equal(ss.ss_family, family);
	assert_int_equal(len, family == AF_INET ? sizeof(struct sockaddr_in) :
						  sizeof(struct sockaddr_in6));
	http_addr_str(&ss, buf, sizeof(buf));
	snprintf(want, sizeof(want), family == AF_INET ? "%s:%u" : "[%s]:%u", addr, port);
	assert_string_equal(buf, want);
}

static void test_parse_listen(void **state)
{
	static const char *const bad[] = { "",
					   "9464",
					   ":9464",
					   "127.0.0.1",
					   "127.0.0.1:",
					   "127.0.0.1:0",
					   "1.2.3:80",
					   "::1:9464",
					   "[::1]",
					   "[::1]9464",
					   "[zz]:1",
					   "host:80",
					   "1.2.3.4:65536",
					   "1.2.3.4:-1",
					   "1.2.3.4:80x" };
	struct sockaddr_storage ss;
	const char *why;
	socklen_t len;
	size_t i;

	(void)state;
	expect_listen(HTTP_DEFAULT_LISTEN, AF_INET, "127.0.0.1", 9464);
	expect_listen("0.0.0.0:1", AF_INET, "0.0.0.0", 1);
	expect_listen("localhost:65535", AF_INET, "127.0.0.1", 65535);
	expect_listen("[::1]:9464", AF_INET6, "::1", 9464);
	expect_listen("[::]:80", AF_INET6, "::", 80);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		if (!http_parse_listen(bad[i], &ss, &len, &why))
			fail_msg("'%s' accepted", bad[i]);
		assert_non_null(why);
	}
}

static int parse(const char *s, struct http_req *r)
{
	return http_parse_request(s, strlen(s), HTTP_REQ_MAX, r);
}

static void test_parse_request_and_route(void **state)
{
	struct http_req r;
	char big[HTTP_REQ_MAX];

	(void)state;
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
	assert_string_equal(r.method, "GET");
	assert_string_equal(r.path, "/metrics");
	assert_int_equal(http_route(&r), 200);
	assert_int_equal(parse("HEAD /metrics?x=1 HTTP/1.0\n\n", &r), 0);
	assert_string_equal(r.path, "/metrics");
	assert_int_equal(http_route(&r), 200);
	assert_int_equal(parse("GET / HTTP/1.1\r\n\r\n", &r), 0);
	assert_int_equal(http_route(&r), 404);
	assert_int_equal(parse("GET /metricsx HTTP/1.1\r\n\r\n", &r), 0);
	assert_int_equal(http_route(&r), 404);
	assert_int_equal(parse("POST /metrics HTTP/1.1\r\n\r\n", &r), 0);
	assert_int_equal(http_route(&r), 405);
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n", &r), HTTP_MORE);
	assert_int_equal(parse("GET /metr", &r), HTTP_MORE);
	assert_int_equal(parse("GET  /metrics HTTP/1.1\r\n\r\n", &r), 400);
	assert_int_equal(parse("GET /metrics\r\n\r\n", &r), 400);
	assert_int_equal(parse("GET /metrics HTTP/1.1 x\r\n\r\n", &r), 400);
	assert_int_equal(parse("\r\n\r\n", &r), 400);
	assert_int_equal(parse("GET /metrics HTTP/2.0\r\n\r\n", &r), 505);
	assert_int_equal(parse("GET /metrics FTP/1.0\r\n\r\n", &r), 400);
	memset(big, 'a', sizeof(big));
	assert_int_equal(http_parse_request(big, sizeof(big), sizeof(big), &r), 431);
	assert_int_equal(http_parse_request(big, sizeof(big) - 1, sizeof(big), &r), HTTP_MORE);
}

static void test_response(void **state)
{
	char *out = NULL;
	size_t n;

	(void)state;
	n = http_response(200, "a 1\n", 4, false, &out);
	assert_true(n > 4);
	assert_int_equal(strncmp(out, "HTTP/1.1 200 OK\r\n", 17), 0);
	assert_non_null(
		memmem(out, n, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n", 56));
	assert_non_null(memmem(out, n, "Content-Length: 4\r\n", 19));
	assert_non_null(memmem(out, n, "Connection: close\r\n", 19));
	assert_int_equal(memcmp(out + n - 8, "\r\n\r\na 1\n", 8), 0);
	free(out);
	/* HEAD: the same head, no body. */
	n = http_response(200, "a 1\n", 4, true, &out);
	assert_non_null(memmem(out, n, "Content-Length: 4\r\n", 19));
	assert_int_equal(memcmp(out + n - 4, "\r\n\r\n", 4), 0);
	free(out);
	n = http_response(405, NULL, 0, false, &out);
	assert_int_equal(strncmp(out, "HTTP/1.1 405 Method Not Allowed\r\n", 33), 0);
	assert_non_null(memmem(out, n, "Allow: GET, HEAD\r\n", 18));
	free(out);
	n = http_response(404, NULL, 0, false, &out);
	assert_non_null(memmem(out, n, "/metrics", 8));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_help_type_once_per_family, setup, teardown),
		cmocka_unit_test_setup_teardown(test_families_follow_concerns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_label_values_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sticky_labels_and_other, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_name_two_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cardinality_1000_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_comm_and_memcg_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_and_lost_never_decrease, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_from_model, setup, teardown),
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_parse_request_and_route),
		cmocka_unit_test(test_response),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
