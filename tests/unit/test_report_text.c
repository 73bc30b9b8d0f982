// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `report --format text` (user/report_text.c) on a hand-built model: a
 * cron-like job whose daemon is OOM-killed, then a job of busy workers.
 * Checks what an operator relies on: 100 columns (code points, the
 * sparklines are UTF-8), no escape codes off a terminal or with NO_COLOR,
 * colour on one, and a verdict that names the right job for each stretch.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "concern.h"
#include "model.h"
#include "report.h"
#include "tcpmodel.h"
#include "testmodel.h"

#define T0 (10 * SEC)
#define TS(s) (T0 + (uint64_t)((s)*SEC))
#define HOST_SAMPLES 400 /* four CPUs at 100 Hz for a second, none idle */
#define CRON "/st-cron-42"
#define NOISY "/st-noisy-42"
/* a job name far wider than any column */
#define LONG "/system.slice/a-unit-whose-name-is-much-longer-than-any-column-of-the-report.service"

static void exit_at(struct model *m, double s, uint32_t pid, uint32_t status)
{
	struct proc *p = model_find(m, pid);

	model_exit(m, TS(s), pid, p->start_ns, status, p->comm);
}

/*
 * flaky processes of another job that fail (exit 1) one after another
 * before anything else happens, each under its own name.
 */
static void flaky(struct model *m, int n)
{
	char comm[16];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(comm, sizeof(comm), "flaky%02d", i);
		tm_spawn(m, TS(0.01 + i * 0.02), 400 + i, 1, comm, "/st-flaky-42");
		exit_at(m, 0.02 + i * 0.02, 400 + i, 1 << 8);
	}
}

/*
 * 0-3 s: cron > run-parts > apt-update > pkgd, fwupd in /st-cron-42; pkgd
 * grows to 192 MiB and is OOM-killed at 1.5 s while fwupd allocates, which
 * goes on to 250 MiB.
 * 3-8 s: four workers of /st-noisy-42 burn a CPU each, then are killed.
 * A job with a very long name and comm does a little all along.
 */
static struct model *build(int nflaky)
{
	static const uint32_t workers[] = { 200, 201, 202, 203 };
	struct model *m = model_new(T0);
	struct oom_kill k = { .ts = TS(1.5), .victim_pid = 103, .trigger_pid = 104 };
	int s;

	assert_non_null(m);
	m->concerns = concern_by_name("proc")->bit | concern_by_name("mem")->bit | concern_cpu.bit;
	snprintf(m->host, sizeof(m->host), "testhost");
	snprintf(m->kernel, sizeof(m->kernel), "6.1.0");
	tm_spawn(m, TS(0.1), 100, 1, "cron", CRON);
	tm_spawn(m, TS(0.2), 101, 100, "run-parts", CRON);
	tm_spawn(m, TS(0.3), 102, 101, "apt-update", CRON);
	tm_spawn(m, TS(0.4), 103, 102, "pkgd", CRON);
	tm_spawn(m, TS(0.4), 104, 102, "fwupd", CRON);
	tm_mem(m, TS(0.9), 103, 16000, 64 * MIB);
	tm_mem(m, TS(1.4), 103, 50000, 192 * MIB);
	tm_mem(m, TS(1.4), 104, 9000, 40 * MIB);
	snprintf(k.victim_comm, sizeof(k.victim_comm), "pkgd");
	snprintf(k.trigger_comm, sizeof(k.trigger_comm), "fwupd");
	k.anon_rss = 190 * MIB;
	k.total_vm = 200 * MIB;
	k.memcg = model_intern(m, CRON);
	model_oom(m, &k);
	exit_at(m, 1.5, 103, 9);
	tm_mem(m, TS(2.4), 104, 40000, 250 * MIB);
	exit_at(m, 2.8, 104, 0);
	tm_spawn(m, TS(0.5), 300, 1, "averyverylongcomm", LONG);
	tm_spawn(m, TS(3.1), 200, 1, "st-worker", NOISY);
	tm_spawn(m, TS(3.1), 201, 200, "st-worker", NOISY);
	tm_spawn(m, TS(3.1), 202, 200, "st-worker", NOISY);
	tm_spawn(m, TS(3.1), 203, 200, "st-worker", NOISY);
	for (s = 0; s < 10; s++) {
		uint32_t lone = 300;

		tm_cpu(m, TS(s + 0.5), HOST_SAMPLES, 0, &lone, 1, 2);
		if (s >= 3 && s < 8)
			tm_cpu(m, TS(s + 0.6), HOST_SAMPLES, 0, workers, 4, 100);
	}
	for (s = 0; s < 4; s++)
		exit_at(m, 8.5, workers[s], 15);
	flaky(m, nflaky);
	model_finalize(m, TS(10));
	return m;
}

static int setup(void **state)
{
	*state = build(0);
	return 0;
}

static int teardown(void **state)
{
	model_free(*state);
	return 0;
}

/* The text report into a string (a memstream: not a terminal). Freed by the caller. */
static char *report(struct model *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	report_text(m, f, "test.rec");
	assert_int_equal(fclose(f), 0);
	assert_non_null(buf);
	return buf;
}

/* Columns of a line: UTF-8 code points (continuation bytes do not count). */
static size_t columns(const char *s, size_t n)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xc0) != 0x80;
	return c;
}

/* The lines after the one that starts with title, up to an empty line, into out. */
static size_t section(const char *text, const char *title, char out[][128], size_t max)
{
	const char *p = strstr(text, title), *e;
	size_t n = 0;

	if (!p)
		fail_msg("no section %s", title);
	p = strchr(p, '\n') + 1;
	while (*p && *p != '\n' && n < max) {
		e = strchr(p, '\n');
		if (!e)
			e = p + strlen(p);
		snprintf(out[n++], 128, "%.*s", (int)(e - p), p);
		p = *e ? e + 1 : e;
	}
	return n;
}

static void test_fits_100_columns(void **state)
{
	char *text = report(*state);
	const char *p = text, *e;
	int line = 1;

	for (; *p; p = e + 1, line++) {
		e = strchr(p, '\n');
		assert_non_null(e); /* every line ends */
		if (columns(p, (size_t)(e - p)) > 100)
			fail_msg("line %d: %zu columns: %.*s", line, columns(p, (size_t)(e - p)),
				 (int)(e - p), p);
	}
	assert_true(line > 30);
	free(text);
}

static void test_no_escapes_off_a_terminal(void **state)
{
	char *text;

	setenv("TERM", "xterm-256color", 1);
	unsetenv("NO_COLOR");
	text = report(*state);
	assert_null(strchr(text, '\033'));
	free(text);
}

static void test_sections(void **state)
{
	static const char *const titles[] = { "VERDICT",  "TOP CAUSES", "NOTABLE EVENTS",
					      "TIMELINE", "OOM KILLS",	"CPU (" };
	char *text = report(*state);
	const char *prev = text;
	size_t i;

	/* in this order */
	for (i = 0; i < sizeof(titles) / sizeof(titles[0]); i++) {
		const char *at = strstr(text, titles[i]);

		if (!at || at < prev)
			fail_msg("section %s missing or out of order", titles[i]);
		prev = at;
	}
	free(text);
}

/* One verdict line per window: the cron job with its OOM kill, then the workers' CPU. */
static void test_verdict(void **state)
{
	char *text = report(*state), v[8][128];
	size_t n = section(text, "VERDICT", v, 8);

	assert_int_equal(n, 2);
	assert_non_null(strstr(v[0], "  0.0-  3.0 s  st-cron-42 "));
	assert_non_null(strstr(v[0], "OOM kill (pkgd)"));
	/* what it held at once, 192 + 40 then 250 MiB, not only at interval ends */
	assert_non_null(strstr(v[0], "RSS +250M"));
	assert_non_null(strstr(v[1], "  3.0-"));
	assert_non_null(strstr(v[1], " st-noisy-42 "));
	assert_non_null(strstr(v[1], "CPU-s"));
	free(text);
}

/* Evidence under each cause; the notable events fold the workers' kills into one line. */
static void test_evidence_and_events(void **state)
{
	char *text = report(*state), ev[32][128];
	size_t n, i;
	bool oom = false, folded = false, first = false;

	assert_non_null(strstr(text, "    evidence: 1 OOM kill, +"));
	assert_non_null(strstr(text, "    evidence: 20.00 CPU-s, "));
	n = section(text, "NOTABLE EVENTS", ev, 32);
	for (i = 0; i < n; i++) {
		oom |= strstr(ev[i], "killed pkgd[103] (anon 190M), allocating: fwupd[104]") !=
		       NULL;
		folded |= strstr(ev[i], "st-worker killed by signal 15 (4 processes)") != NULL;
		first |= strstr(ev[i], "first exec: cron") != NULL;
		/* the OOM victim's own exit is its kill, not another line */
		assert_null(strstr(ev[i], "pkgd killed by signal 9"));
	}
	assert_true(oom && folded && first);
	/* the OOM kill is marked under the cron job's row */
	n = section(text, "TIMELINE", ev, 32);
	assert_true(n >= 4);
	assert_non_null(strstr(ev[0], "st-cron-42"));
	assert_non_null(strstr(ev[0], " rss "));
	assert_non_null(strstr(ev[0], "| 250M"));
	assert_string_equal(ev[1] + 30, "!");
	free(text);
}

/* Too many events: the OOM kill stays, failed exits go first, the rest in time order. */
static void test_events_bounded(void **state)
{
	struct model *m = build(40);
	char *text = report(m), ev[32][128];
	size_t n = section(text, "NOTABLE EVENTS", ev, 32), i;
	bool oom = false;
	double prev = 0, t;

	(void)state;
	assert_int_equal(n, 21);
	for (i = 0; i < 20; i++) {
		oom |= strstr(ev[i], "killed pkgd[103]") != NULL;
		t = strtod(ev[i], NULL);
		assert_true(t >= prev);
		prev = t;
	}
	assert_true(oom);
	assert_non_null(strstr(ev[20], " ... "));
	assert_non_null(strstr(ev[20], " more (report --format json has every mark)"));
	free(text);
	model_free(m);
}

/* Writes the report to a pseudo-terminal from a child; returns what the master read. */
static char *report_on_tty(struct model *m)
{
	static char buf[1 << 16];
	size_t len = 0;
	ssize_t r;
	int master, slave, status;
	pid_t pid;

	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) || unlockpt(master))
		return NULL;
	slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	if (slave < 0) {
		close(master);
		return NULL;
	}
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		FILE *f = fdopen(slave, "w");

		close(master);
		if (f) {
			report_text(m, f, "tty.rec");
			fclose(f);
		}
		_exit(f ? 0 : 1);
	}
	close(slave);
	/* EIO once the child closed the last slave descriptor */
	while (len < sizeof(buf) - 1 &&
	       ((r = read(master, buf + len, sizeof(buf) - 1 - len)) > 0 || errno == EINTR))
		len += r > 0 ? (size_t)r : 0;
	buf[len] = '\0';
	close(master);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return buf;
}

/* Bold top cause and red OOM on a terminal; none with NO_COLOR or TERM=dumb. */
static void test_colour_on_a_terminal(void **state)
{
	char *out;

	setenv("TERM", "xterm-256color", 1);
	unsetenv("NO_COLOR");
	out = report_on_tty(*state);
	if (!out)
		skip(); /* no pseudo-terminals here */
	assert_non_null(strstr(out, "\033[1mst-cron-42"));
	assert_non_null(strstr(out, "\033[31mOOM kill (pkgd)"));
	setenv("NO_COLOR", "1", 1);
	assert_null(strchr(report_on_tty(*state), '\033'));
	setenv("NO_COLOR", "", 1); /* empty: as if unset (no-color.org) */
	assert_non_null(strchr(report_on_tty(*state), '\033'));
	unsetenv("NO_COLOR");
	setenv("TERM", "dumb", 1);
	assert_null(strchr(report_on_tty(*state), '\033'));
}

/* Byte figures kept as doubles: no undefined cast past 2^64, nothing below 0. */
static void test_bytes_from_doubles(void **state)
{
	char b[16], max[16];

	(void)state;
	report_bytes(UINT64_MAX, max, sizeof(max));
	assert_string_equal(report_bytes_d(1e30, b, sizeof(b)), max);
	assert_string_equal(report_bytes_d(-5, b, sizeof(b)), "0B");
	assert_string_equal(report_bytes_d(0.0 / 0.0, b, sizeof(b)), "0B");
	assert_string_equal(report_bytes_d(1536, b, sizeof(b)), "1.5K");
}

/* A connection at socket 0xa1 whose end no record showed: its address comes back as a new one. */
static void tcp_gap(struct model *m)
{
	static const uint8_t path[][2] = { { TCP_ST_CLOSE, TCP_ST_SYN_SENT },
					   { TCP_ST_SYN_SENT, TCP_ST_ESTABLISHED },
					   { TCP_ST_ESTABLISHED, TCP_ST_FIN_WAIT1 },
					   { TCP_ST_CLOSE, TCP_ST_SYN_SENT } };
	struct tcp_event e = { .sk = 0xa1,
			       .pid = 101,
			       .family = AF_INET,
			       .lport = 40000,
			       .rport = 443,
			       .flags = TCP_F_OWNER | TCP_F_ROLE_KNOWN };
	size_t i;

	m->concerns |= concern_tcp.bit;
	strcpy(e.laddr, "10.0.0.1");
	strcpy(e.raddr, "10.0.0.2");
	strcpy(e.comm, "run-parts");
	for (i = 0; i < sizeof(path) / sizeof(path[0]); i++) {
		e.ts = TS(0.3 + i * 0.1);
		e.old = path[i][0];
		e.new = path[i][1];
		model_tcp(m, &e);
	}
}

/* The TCP section says how many records began where their socket was not. */
static void test_tcp_gaps(void **state)
{
	struct model *m = build(0);
	char lines[8][128], *text;
	size_t n, i;

	tcp_gap(m);
	text = report(m);
	n = section(text, "TCP (docs/tcp.md)", lines, 8);
	for (i = 0; i < n && strncmp(lines[i], " gaps: ", 7); i++)
		;
	if (i + 1 >= n)
		fail_msg("no gap lines in:\n%s", text);
	assert_string_equal(lines[i], " gaps: 1 records did not start where their socket was left, "
				      "1 connections ended unseen");
	assert_non_null(strstr(lines[i + 1], "docs/tcp.md"));
	for (i = 0; i < n; i++)
		assert_true(columns(lines[i], strlen(lines[i])) <= 100);
	free(text);
	model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes_from_doubles),
		cmocka_unit_test(test_fits_100_columns),
		cmocka_unit_test(test_no_escapes_off_a_terminal),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_verdict),
		cmocka_unit_test(test_evidence_and_events),
		cmocka_unit_test(test_events_bounded),
		cmocka_unit_test(test_colour_on_a_terminal),
		cmocka_unit_test(test_tcp_gaps),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
