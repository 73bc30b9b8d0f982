/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What every scenario generator in tools/ shares: option parsing, the one
 * usage-error line, waiting for a line on stdin, JSON string output and
 * monotonic time. Each tool is a
 * single file; it defines PROG and USAGE, then includes this.
 */
#ifndef ST_TOOL_H
#define ST_TOOL_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static inline void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL); /* an interruption only shortens a poll interval */
}

#endif
