/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What every scenario generator in tools/ shares: option parsing, the one
 * usage-error line, waiting for a line on stdin, JSON string output,
 * monotonic time and the teardown of the cgroups a tool made. Each tool is
 * a single file; it defines PROG and USAGE, then includes this.
 */
#ifndef ST_TOOL_H
#define ST_TOOL_H

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if !defined(PROG) || !defined(USAGE)
#error "define PROG and USAGE before including tool.h"
#endif

/* A decimal integer in [min, max]; 0, or -1 for anything else. */
static inline int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * "2", "0.25", "1.5": seconds with up to 3 decimals in the n bytes at s,
 * kept as whole ms (no rounding), at most max_ms; 0, or -1 for anything else.
 */
static inline int parse_secs_n(const char *s, size_t n, long max_ms, long *ms)
{
	long v = 0, scale = 1000;
	bool dot = false, digit = false;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '.' && !dot) {
			dot = true;
			continue;
		}
		if (s[i] < '0' || s[i] > '9' || (dot && scale == 1))
			return -1;
		digit = true;
		if (dot) {
			scale /= 10;
			v += (s[i] - '0') * scale;
		} else {
			v = v * 10 + (s[i] - '0') * 1000L;
		}
		if (v > max_ms)
			return -1;
	}
	*ms = v;
	return digit ? 0 : -1;
}

/* The same for the whole string s. */
static inline int parse_secs(const char *s, long max_ms, long *ms)
{
	return parse_secs_n(s, strlen(s), max_ms, ms);
}

/* Bad usage: one line on stderr, exit 2. */
static inline void usage_error(const char *what, const char *arg)
{
	fprintf(stderr, PROG ": %s%s%s (" USAGE ")\n", what, arg ? " " : "", arg ? arg : "");
	exit(2);
}

/* An option that takes a number: its name, its range, where it goes. */
struct num_opt {
	const char *name;
	long min, max;
	long *dst;
};

/*
 * If key names one of the n options in t, parses val into it (bad usage
 * exits 2) and returns true; false for any other key.
 */
static inline bool opt_number(const struct num_opt *t, size_t n, const char *key, const char *val)
{
	char what[64];
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(key, t[i].name))
			continue;
		if (parse_long(val, t[i].min, t[i].max, t[i].dst)) {
			snprintf(what, sizeof(what), "%s wants %ld..%ld, got", key, t[i].min,
				 t[i].max);
			usage_error(what, val);
		}
		return true;
	}
	return false;
}

/*
 * SIGINT, SIGTERM and the SIGALRM of the max_s bound all go to on; without
 * SA_RESTART, so blocking calls return EINTR. A write to a reset connection
 * is an error to report, not our death: SIGPIPE is ignored.
 */
static inline void stop_signals(void (*on)(int), long max_s)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned int)max_s);
}

/* -h/--help: the usage line on stdout, exit 0. */
static inline void opt_help(const char *a)
{
	if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
		printf("%s\n", USAGE);
		exit(0);
	}
}

/*
 * argv[*i] is "--key=value" or "--key" followed by the value: copies the
 * key into key[keylen] and returns the value, advancing *i past it. Bad
 * usage (not an option, no value) exits 2.
 */
static inline const char *opt_value(int argc, char **argv, int *i, char *key, size_t keylen)
{
	const char *a = argv[*i], *eq = strchr(a, '=');
	size_t klen = eq ? (size_t)(eq - a) : strlen(a);

	if (strncmp(a, "--", 2) || klen >= keylen)
		usage_error("unknown argument", a);
	memcpy(key, a, klen);
	key[klen] = '\0';
	if (eq)
		return eq + 1;
	if (*i + 1 < argc)
		return argv[++*i];
	usage_error("missing value for", key);
	return NULL;
}

/* A short option and the long one it stands for: "-d", "--duration". */
struct short_opt {
	const char *name, *full;
};

/*
 * opt_value(), and the n short options in t, whose value is the next
 * argument: for "-d 2", copies "--duration" into key and returns "2".
 */
static inline const char *opt_value_short(int argc, char **argv, int *i, char *key, size_t keylen,
					  const struct short_opt *t, size_t n)
{
	const char *a = argv[*i];
	size_t k;

	for (k = 0; k < n && strcmp(a, t[k].name); k++)
		;
	if (k == n)
		return opt_value(argc, argv, i, key, keylen);
	snprintf(key, keylen, "%s", t[k].full);
	if (*i + 1 >= argc)
		usage_error("missing value for", a);
	return argv[++*i];
}

/* Reads stdin until a newline or EOF, calling each(arg) after every read. */
static inline void wait_line(void (*each)(void *arg), void *arg)
{
	ssize_t n;
	char c;

	for (;;) {
		n = read(0, &c, 1);
		each(arg);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || c == '\n')
			return;
	}
}

/* A JSON string on stdout, escaped. */
static inline void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL); /* an interruption only shortens a poll interval */
}

/* SIGKILLs what is left in cgroup DIR; returns how many pids were listed. */
static inline int kill_cgroup(const char *dir)
{
	char path[PATH_MAX];
	long pid;
	int n = 0;
	FILE *f;

	/* A longer path could not be opened anyway (ENAMETOOLONG). */
	if (snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= (int)sizeof(path))
		return 0;
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fscanf(f, "%ld", &pid) == 1) {
		if (pid > 0)
			kill((pid_t)pid, SIGKILL);
		n++;
	}
	fclose(f);
	return n;
}

/* True when we have no child at all, alive or zombie (nothing is reaped). */
static inline bool no_children(void)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD;
}

/*
 * rmdir()s the cgroup DIR we made. The last task may still be leaving it:
 * EBUSY for a moment, retried for up to wait_ms; a warning if it stays.
 */
static inline void remove_cgroup(const char *dir, long wait_ms)
{
	long long deadline = now_ms() + wait_ms;

	while (rmdir(dir) && errno == EBUSY && now_ms() < deadline)
		sleep_ms(10);
	if (access(dir, F_OK) == 0)
		fprintf(stderr, PROG ": warning: could not remove cgroup %s: %s\n", dir,
			strerror(errno));
}

#endif
