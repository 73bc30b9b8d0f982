// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * report --format perfetto: the trace is one JSON document in the Trace
 * Event Format (every event on a line of its own), each cause a process
 * group with a thread per process, slices that nest on every thread, all
 * times within the recording, the OOM kill a global instant on its victim,
 * TLS handshakes on their process (overlapping ones on an extra lane),
 * resets on the process that owned the socket then, and hostile names
 * escaped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "concern.h"
#include "cpumodel.h"
#include "model.h"
#include "report.h"
#include "version.h"
#include "tcpmodel.h"
#include "testmodel.h"
#include "testutil.h"
#include "tlsmodel.h"

#define T0 5000000000ULL
#define T(ms) (T0 + (uint64_t)(ms)*1000000ULL)
#define DUR_US 3000000.0
#define EVIL "\"\n</script>" /* a comm a process can give itself */

struct trace {
	struct model *m;
	char *buf;
	size_t len;
};

/* ---- a small JSON syntax check: the whole document, strictly ---- */

static const char *js_value(const char *s);

static const char *js_ws(const char *s)
{
	while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
		s++;
	return s;
}

static const char *js_string(const char *s)
{
	if (*s++ != '"')
		return NULL;
	for (; *s != '"'; s++) {
		if ((unsigned char)*s < 0x20)
			return NULL; /* raw control characters are not JSON */
		if (*s != '\\')
			continue;
		s++;
		if (*s == 'u') {
			if (!isxdigit(s[1]) || !isxdigit(s[2]) || !isxdigit(s[3]) ||
			    !isxdigit(s[4]))
				return NULL;
			s += 4;
		} else if (!strchr("\"\\/bfnrt", *s) || !*s) {
			return NULL;
		}
	}
	return s + 1;
}

static const char *js_number(const char *s)
{
	char *end;

	if (*s != '-' && !isdigit((unsigned char)*s))
		return NULL;
	strtod(s, &end);
	return end > s ? end : NULL;
}

static const char *js_list(const char *s, char close, bool obj)
{
	s = js_ws(s + 1);
	if (*s == close)
		return s + 1;
	for (;;) {
		if (obj) {
			s = js_string(js_ws(s));
			if (!s || *(s = js_ws(s)) != ':')
				return NULL;
			s++;
		}
		s = js_value(s);
		if (!s)
			return NULL;
		s = js_ws(s);
		if (*s == close)
			return s + 1;
		if (*s++ != ',')
			return NULL;
	}
}

static const char *js_value(const char *s)
{
	s = js_ws(s);
	if (*s == '{')
		return js_list(s, '}', true);
	if (*s == '[')
		return js_list(s, ']', false);
	if (*s == '"')
		return js_string(s);
	if (!strncmp(s, "true", 4) || !strncmp(s, "null", 4))
		return s + 4;
	if (!strncmp(s, "false", 5))
		return s + 5;
	return js_number(s);
}

static bool json_valid(const char *doc)
{
	const char *end = js_value(doc);

	return end && !*js_ws(end);
}

/* ---- the model ---- */

static void hs(struct model *m, uint32_t pid, uint64_t start, uint64_t end, uint32_t flags,
	       const char *addr)
{
	struct tls_event e = { .ts = end, .start_ns = start, .pid = pid, .tid = pid + 1000 };

	e.flags = flags | TLS_F_SERVER | TLS_F_ROLE_KNOWN;
	e.port = 443;
	strcpy(e.comm, "nginx");
	strcpy(e.addr, addr);
	model_tls_hs(m, &e);
}

static void reset(struct model *m, uint64_t ts, uint32_t pid)
{
	struct tcp_event e = { .ts = ts,
			       .sk = 0x1000 + pid,
			       .reset = true,
			       .pid = pid,
			       .family = AF_INET,
			       .old = TCP_ST_ESTABLISHED,
			       .new = TCP_ST_ESTABLISHED,
			       .flags = TCP_F_OWNER | TCP_F_IDLE,
			       .lport = 443,
			       .rport = 50000,
			       .idle_rx_ns = 7000000000ULL };

	strcpy(e.laddr, "127.0.0.1");
	strcpy(e.raddr, "127.0.0.9");
	model_tcp(m, &e);
}

/* count samples of pid at ms; the host as busy as idle. */
static void cpu_samples(struct model *m, uint64_t ms, uint32_t pid, uint32_t count)
{
	tm_cpu(m, T(ms), 2 * count, count, &pid, 1, count);
}

static void oom(struct model *m, uint64_t ts, uint32_t victim, uint32_t trigger)
{
	struct oom_kill k;
	struct memstat st = { .faults = 50000, .rss = 200 << 20, .rss_anon = 200 << 20 };

	st.rss_peak = st.rss;
	model_mem(m, T(1000), victim, &st);
	memset(&k, 0, sizeof(k));
	k.ts = ts;
	k.victim_pid = victim;
	k.trigger_pid = trigger;
	strcpy(k.victim_comm, "hog");
	strcpy(k.trigger_comm, "hog");
	k.anon_rss = 200 << 20;
	model_oom(m, &k);
	model_exit(m, ts, victim, T(200), 9, "hog");
}

/*
 * Three causes. EVIL[201] (cron's child, named EVIL) with its child hog
 * (202, OOM killed): first. nginx.service: worker 101 with three handshakes
 * (two overlap) and a reset; it later forks 203, a pid cron's child "old"
 * used before: old[203], whose reset at 300 ms is its own, not the later
 * 203's.
 */
static struct model *two_causes(void)
{
	struct model *m = tm_recording(T0, "box" EVIL);

	tm_seed(m, T0, 1, 0, "/usr/sbin/systemd", "/init.scope");
	tm_seed(m, T0, 100, 1, "/usr/sbin/nginx", "/system.slice/nginx.service");
	tm_seed(m, T0, 200, 1, "/usr/sbin/cron", "/system.slice/cron.service");
	model_fork(m, T(5), 101, 100, T(5), "nginx", "/system.slice/nginx.service", "/");
	model_fork(m, T(100), 201, 200, T(100), EVIL, "/system.slice/cron.service", "/");
	model_fork(m, T(100), 203, 200, T(100), "old", "/system.slice/cron.service", "/");
	model_fork(m, T(200), 202, 201, T(200), "hog", "/system.slice/cron.service", "/");
	reset(m, T(300), 203);
	model_exit(m, T(400), 203, T(100), 0, "old");
	model_fork(m, T(600), 203, 100, T(600), "nginx", "/system.slice/nginx.service", "/");
	hs(m, 101, T(990), T(1000), TLS_F_OK, "127.0.0.2");
	hs(m, 101, T(995), T(1010), TLS_F_OK | TLS_F_RESUMED, "::1");
	hs(m, 101, T(1100), T(1101), TLS_F_FAILED, "127.0.0.3");
	hs(m, 999, T(1100), T(1102), TLS_F_OK, ""); /* a process the model never saw */
	cpu_samples(m, 1000, 101, 40);
	cpu_samples(m, 2000, 101, 60);
	oom(m, T(1500), 202, 202);
	reset(m, T(2000), 101);
	model_mark(m, T(2500), 201, MARK_TRIGGER, "oom" EVIL);
	model_finalize(m, T(3000));
	return m;
}

static void write_trace(struct trace *tr)
{
	FILE *f = open_memstream(&tr->buf, &tr->len);

	assert_non_null(f);
	assert_int_equal(report_perfetto(tr->m, f), 0);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	struct trace *tr = calloc(1, sizeof(*tr));

	assert_non_null(tr);
	tr->m = two_causes();
	write_trace(tr);
	test_keep("ST_PERFETTO_OUT", tr->buf, tr->len); /* to open it in ui.perfetto.dev */
	*state = tr;
	return 0;
}

static int teardown(void **state)
{
	struct trace *tr = *state;

	model_free(tr->m);
	free(tr->buf);
	free(tr);
	return 0;
}

/* ---- looking at events: one per line ---- */

struct ev {
	char ph;
	double ts, dur;
	long pid, tid;
	const char *line; /* NUL-terminated copy */
};

static double num_after(const char *line, const char *key, double none)
{
	const char *p = strstr(line, key);

	return p ? strtod(p + strlen(key), NULL) : none;
}

/* The events of the trace, each line that holds one; returns how many. */
static size_t events(const struct trace *tr, struct ev *v, size_t max)
{
	char *copy = strdup(tr->buf), *line, *save = NULL;
	size_t n = 0;

	assert_non_null(copy);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *ph = strstr(line, "\"ph\":\"");

		if (*line == ',')
			line++;
		if (*line != '{' || !ph)
			continue;
		assert_true(n < max);
		v[n].ph = ph[6];
		v[n].ts = num_after(line, "\"ts\":", -1);
		v[n].dur = num_after(line, "\"dur\":", -1);
		v[n].pid = (long)num_after(line, "\"pid\":", -1);
		v[n].tid = (long)num_after(line, "\"tid\":", -1);
		v[n].line = strdup(line);
		assert_non_null(v[n].line);
		n++;
	}
	free(copy);
	return n;
}

static void events_free(struct ev *v, size_t n)
{
	while (n--)
		free((char *)v[n].line);
}

static size_t count_ph(const struct ev *v, size_t n, char ph, const char *also)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		k += v[i].ph == ph && (!also || strstr(v[i].line, also));
	return k;
}

#define MAXEV 512

static void test_document_is_json(void **state)
{
	const struct trace *tr = *state;

	assert_int_equal(strlen(tr->buf), tr->len);
	assert_true(json_valid(tr->buf));
	assert_true(!strncmp(tr->buf, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n{", 41));
	assert_true(tr->len > 2 && !strcmp(tr->buf + tr->len - 2, "}\n"));
	assert_non_null(
		strstr(tr->buf, "],\"metadata\":{\"spiketrace_version\":\"" ST_VERSION "\","));
	assert_non_null(strstr(tr->buf, "\"duration_s\":3,\"lost_events\":0,"));
	/* the checker itself rejects what is not JSON */
	assert_false(json_valid("{\"a\":\"x\ny\"}"));
	assert_false(json_valid("{\"a\":1,}"));
	assert_false(json_valid("[1] 2"));
}

static void test_event_counts_and_times(void **state)
{
	const struct trace *tr = *state;
	struct ev v[MAXEV];
	size_t n = events(tr, v, MAXEV), i;

	/* 4 groups (3 causes, host), 6 threads (5 processes, a TLS lane): name + index */
	assert_int_equal(count_ph(v, n, 'M', NULL), 20);
	assert_int_equal(count_ph(v, n, 'M', "\"process_name\""), 4);
	/* 5 lifetimes (203 twice) and 3 handshakes (the unknown process's is left out) */
	assert_int_equal(count_ph(v, n, 'X', NULL), 8);
	assert_int_equal(count_ph(v, n, 'X', "\"cat\":\"tls\""), 3);
	/* exits of 203 and 202, the OOM kill, the trigger, two resets */
	assert_int_equal(count_ph(v, n, 'i', NULL), 6);
	/* 4 buckets x 3 causes x (cpu, rss, faults, handshakes, resets, net in, out) + 2 host */
	assert_int_equal(count_ph(v, n, 'C', NULL), 4 * 3 * 7 + 2);
	assert_int_equal(count_ph(v, n, 'C', "\"name\":\"net in (bytes/s)\""), 12);
	assert_int_equal(count_ph(v, n, 'C', "\"name\":\"cpu busy (cores)\""), 2);
	assert_int_equal(count_ph(v, n, 'C', "\"name\":\"handshakes/s\""), 12);
	for (i = 0; i < n; i++) {
		if (v[i].ph == 'M') {
			assert_true(v[i].ts == -1); /* metadata events have no time */
			assert_non_null(strstr(v[i].line, "\"args\":{"));
			continue;
		}
		assert_true(v[i].ts >= 0 && v[i].ts <= DUR_US);
		if (v[i].ph == 'X')
			assert_true(v[i].dur >= 0 && v[i].ts + v[i].dur <= DUR_US + 1e-3);
		if (v[i].ph == 'i')
			assert_non_null(strstr(v[i].line, "\"s\":\""));
		if (v[i].ph == 'C')
			assert_non_null(strstr(v[i].line, "\"args\":{\"value\":"));
	}
	events_free(v, n);
}

/* Slices of one thread either nest or do not touch: what the readers need. */
static void test_slices_nest_per_thread(void **state)
{
	const struct trace *tr = *state;
	struct ev v[MAXEV];
	size_t n = events(tr, v, MAXEV), i, k;

	for (i = 0; i < n; i++) {
		for (k = 0; v[i].ph == 'X' && k < n; k++) {
			double a0 = v[i].ts, a1 = a0 + v[i].dur, b0 = v[k].ts, b1 = b0 + v[k].dur;

			if (k == i || v[k].ph != 'X' || v[k].pid != v[i].pid ||
			    v[k].tid != v[i].tid)
				continue;
			if (a1 <= b0 || b1 <= a0 || (a0 <= b0 && b1 <= a1) ||
			    (b0 <= a0 && a1 <= b1))
				continue;
			fail_msg("overlap:\n%s\n%s", v[i].line, v[k].line);
		}
	}
	events_free(v, n);
}

/* The pid of the group whose process_name is name (JSON-escaped). */
static long group_pid(const struct ev *v, size_t n, const char *name)
{
	char needle[128];
	size_t i;

	snprintf(needle, sizeof(needle), "\"args\":{\"name\":\"%s\"}", name);
	for (i = 0; i < n; i++)
		if (strstr(v[i].line, "\"process_name\"") && strstr(v[i].line, needle))
			return v[i].pid;
	fail_msg("no group %s", name);
	return -1;
}

#define EVIL_CAUSE "\\\"\\n</script>[201]"

static void test_causes_threads_and_names(void **state)
{
	const struct trace *tr = *state;
	struct ev v[MAXEV];
	size_t n = events(tr, v, MAXEV), i;
	long evil = group_pid(v, n, EVIL_CAUSE), nginx = group_pid(v, n, "nginx.service"),
	     old = group_pid(v, n, "old[203]");

	/* the causes as groups in rank order, with pids that are no real pid */
	assert_int_equal(evil, 10000001);
	assert_int_equal(nginx, 10000002);
	assert_int_equal(old, 10000003);
	assert_non_null(strstr(tr->buf, "\"process_sort_index\",\"ph\":\"M\",\"pid\":10000001,"
					"\"tid\":10000001,\"args\":{\"sort_index\":1}"));
	assert_non_null(strstr(tr->buf, "\"args\":{\"name\":\"host box\\\"\\n</script>\"}"));
	/* a thread per process, in its cause's group */
	for (i = 0; i < n; i++) {
		if (v[i].ph != 'X' || !strstr(v[i].line, "\"cat\":\"process\""))
			continue;
		if (v[i].tid == 201 || v[i].tid == 202)
			assert_int_equal(v[i].pid, evil);
		else if (v[i].tid == 101 || v[i].ts == 600000)
			assert_int_equal(v[i].pid, nginx);
		else
			assert_true(v[i].tid == 203 && v[i].pid == old && v[i].ts == 100000);
	}
	/* named "comm pid"; the hostile comm is escaped text: no raw newline, the quote escaped */
	assert_int_equal(test_count(tr->buf, "\"args\":{\"name\":\"nginx 101\"}"), 1);
	assert_int_equal(test_count(tr->buf, "\"args\":{\"name\":\"hog 202\"}"), 1);
	assert_int_equal(test_count(tr->buf, "\"args\":{\"name\":\"\\\"\\n</script> 201\"}"), 1);
	assert_int_equal(test_count(tr->buf, "{\"name\":\"\\\"\\n</script>\",\"cat\":\"process\","
					     "\"ph\":\"X\""),
			 1);
	assert_null(strstr(tr->buf, "\"\n<"));
	/* the lifetime says how it ended */
	assert_non_null(strstr(tr->buf, "\"ph\":\"X\",\"ts\":200000,\"pid\":10000001,\"tid\":202,"
					"\"dur\":1300000,\"args\":{\"pid\":202,\"ppid\":201,"
					"\"cause\":\"" EVIL_CAUSE "\","));
	assert_non_null(strstr(tr->buf, "\"exit_code\":137,\"cpu_s\":0,"
					"\"rss_peak_bytes\":209715200,\"page_faults\":50000,"
					"\"oom_killed\":true}"));
	events_free(v, n);
}

static void test_oom_trigger_and_resets(void **state)
{
	const struct trace *tr = *state;
	struct ev v[MAXEV];
	size_t n = events(tr, v, MAXEV), i, ooms = 0, resets = 0;
	long evil = group_pid(v, n, EVIL_CAUSE), nginx = group_pid(v, n, "nginx.service"),
	     old = group_pid(v, n, "old[203]");

	for (i = 0; i < n; i++) {
		if (v[i].ph != 'i' || !strstr(v[i].line, "\"name\":\"OOM kill"))
			continue;
		ooms++;
		/* global, so it stands out; on the victim's thread in its cause */
		assert_non_null(strstr(v[i].line, "\"s\":\"g\""));
		assert_true(v[i].pid == evil && v[i].tid == 202 && v[i].ts == 1500000);
		assert_non_null(strstr(v[i].line, "\"victim_pid\":202,"));
	}
	assert_int_equal(ooms, 1);
	for (i = 0; i < n; i++) {
		if (v[i].ph != 'i' || !strstr(v[i].line, "\"name\":\"TCP reset"))
			continue;
		resets++;
		assert_non_null(strstr(v[i].line, "\"s\":\"t\""));
		assert_non_null(strstr(v[i].line, "\"raddr\":\"127.0.0.9\",\"rport\":50000,"
						  "\"state\":\"ESTABLISHED\",\"idle_ms\":7000,"));
		/* 203 at 300 ms was old's; the later 203 is nginx's */
		if (v[i].tid == 203)
			assert_true(v[i].pid == old && v[i].ts == 300000);
		else
			assert_true(v[i].tid == 101 && v[i].pid == nginx);
	}
	assert_int_equal(resets, 2);
	assert_int_equal(
		test_count(tr->buf, "\"name\":\"trigger\",\"cat\":\"trigger\",\"ph\":\"i\""), 1);
	assert_non_null(strstr(tr->buf, "\"s\":\"g\",\"args\":{\"pid\":201,"
					"\"detail\":\"oom\\\"\\n</script>\"}"));
	events_free(v, n);
}

static void test_tls_slices(void **state)
{
	const struct trace *tr = *state;

	/* the first and the failed one on the process, the overlapping one on a lane */
	assert_non_null(strstr(tr->buf, "{\"name\":\"TLS full\",\"cat\":\"tls\",\"ph\":\"X\","
					"\"ts\":990000,\"pid\":10000002,\"tid\":101,\"dur\":10000,"
					"\"args\":{\"pid\":101,\"tid\":1101,\"latency_us\":10000,"
					"\"peer\":\"127.0.0.2:443\"}}"));
	assert_non_null(strstr(tr->buf, "{\"name\":\"TLS resumed\",\"cat\":\"tls\",\"ph\":\"X\","
					"\"ts\":995000,\"pid\":10000002,\"tid\":20000000,"
					"\"dur\":15000,"));
	assert_non_null(strstr(tr->buf, "\"peer\":\"[::1]:443\""));
	assert_non_null(strstr(tr->buf,
			       "{\"name\":\"TLS failed\",\"cat\":\"tls\",\"ph\":\"X\","
			       "\"ts\":1100000,\"pid\":10000002,\"tid\":101,\"dur\":1000,"));
	assert_int_equal(
		test_count(tr->buf, "\"tid\":20000000,\"args\":{\"name\":\"nginx 101 TLS 2\"}"), 1);
	assert_non_null(strstr(tr->buf, "\"tls_handshakes_kept\":4,\"tls_handshakes_not_kept\":0,"
					"\"tls_truncated\":false,\"tls_handshakes_unplaced\":1}"));
}

/* The model keeps the first TLS_HS_KEPT handshakes and counts the rest; the trace says so. */
static void test_tls_list_is_bounded(void **state)
{
	struct trace tr = { .m = model_new(T0) };
	const struct tls_proc *p;
	uint64_t i, n = TLS_HS_KEPT + 5;

	(void)state;
	assert_non_null(tr.m);
	tr.m->concerns = concern_by_name("proc")->bit | concern_by_name("tls")->bit;
	model_fork(tr.m, T(1), 101, 1, T(1), "nginx", "/system.slice/nginx.service", "/");
	for (i = 0; i < n; i++)
		hs(tr.m, 101, T0 + 2000000 + i * 100000, T0 + 2000000 + i * 100000 + 50000,
		   TLS_F_OK, "127.0.0.2");
	model_finalize(tr.m, T(3000));
	assert_int_equal(tr.m->tls->nhs, TLS_HS_KEPT);
	assert_int_equal(tr.m->tls->hs_dropped, 5);
	p = hmap_get(&tr.m->tls->procs, 101);
	assert_non_null(p);
	assert_int_equal(p->handshakes, n); /* the aggregates still count every one */
	assert_int_equal(tr.m->tls->hs[TLS_HS_KEPT - 1].ts,
			 T0 + 2000000 + (TLS_HS_KEPT - 1) * 100000 + 50000);
	write_trace(&tr);
	assert_true(json_valid(tr.buf));
	assert_int_equal(test_count(tr.buf, "{\"name\":\"TLS full\""), TLS_HS_KEPT);
	assert_null(strstr(tr.buf, "TLS 2")); /* none overlap: no lane */
	assert_non_null(strstr(tr.buf,
			       "\"tls_handshakes_kept\":20000,\"tls_handshakes_not_kept\":5,"
			       "\"tls_truncated\":true,"));
	model_free(tr.m);
	free(tr.buf);
}

static void test_empty_model_is_a_trace(void **state)
{
	struct trace tr = { .m = model_new(T0) };

	(void)state;
	assert_non_null(tr.m);
	model_finalize(tr.m, T0);
	write_trace(&tr);
	assert_true(json_valid(tr.buf));
	assert_int_equal(test_count(tr.buf, "\"ph\":\"M\""), 2); /* the host group only */
	assert_null(strstr(tr.buf, "\"ph\":\"X\""));
	assert_non_null(strstr(tr.buf, "\"duration_s\":0,"));
	model_free(tr.m);
	free(tr.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_document_is_json),
		cmocka_unit_test(test_event_counts_and_times),
		cmocka_unit_test(test_slices_nest_per_thread),
		cmocka_unit_test(test_causes_threads_and_names),
		cmocka_unit_test(test_oom_trigger_and_resets),
		cmocka_unit_test(test_tls_slices),
	};
	const struct CMUnitTest alone[] = {
		cmocka_unit_test(test_tls_list_is_bounded),
		cmocka_unit_test(test_empty_model_is_a_trace),
	};

	return cmocka_run_group_tests(tests, setup, teardown) |
	       cmocka_run_group_tests(alone, NULL, NULL);
}
