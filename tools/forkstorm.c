// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * st-forkstorm: a fork+exec storm of known size (benchmark P3).
 *
 *   st-forkstorm --count N [--exec PATH] [--warm W] [--timeout S]
 *
 * N times, one after the other as a shell loop does: fork(), the child
 * execs PATH (default /bin/true) with no arguments, the parent waits for it.
 * --warm W runs W more of them first, untimed (page cache, the loader, the
 * allocator), so the timed part measures the storm and not a cold start.
 * --timeout S (default 300) bounds the whole run: SIGALRM ends it early, and
 * so do SIGINT and SIGTERM; what was done by then is reported.
 *
 * Prints one JSON line:
 *   {"pid", "exec", "count" (timed children started), "warm", "failed"
 *    (children that did not exit 0: exec failed, or PATH failed),
 *    "elapsed_s" (the timed part), "interrupted" (bool)}
 * Every child's parent is this process (its pid), which is how a tracer's
 * count of the storm's execs is told from the rest of the box's.
 * Exit status 0, 1 when fork() itself failed, 2 for bad usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROG "st-forkstorm"
#define USAGE "usage: " PROG " --count N [--exec PATH] [--warm W] [--timeout S]"
#define COUNT_MAX 10000000L

#include "tool.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* One fork+exec+wait: 0 when the child exited 0, 1 when not, -1 when fork failed. */
static int one_child(const char *path)
{
	int status;
	pid_t pid, w;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	do {
		w = waitpid(pid, &status, 0);
	} while (w < 0 && errno == EINTR);
	if (w < 0)
		return 1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

/* Runs up to n children; counts them in *done and failures in *failed. */
static int storm(const char *path, long n, long *done, long *failed)
{
	long i;
	int rc;

	for (i = 0; i < n && !stop_flag; i++) {
		rc = one_child(path);
		if (rc < 0) {
			fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
			return -1;
		}
		(*done)++;
		*failed += rc;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long count = -1, warm = 0, timeout = 300, done = 0, failed = 0, wdone = 0, wfailed = 0;
	const char *path = "/bin/true";
	const struct num_opt nums[] = {
		{ "--count", 1, COUNT_MAX, &count },
		{ "--warm", 0, COUNT_MAX, &warm },
		{ "--timeout", 1, 86400, &timeout },
	};
	double t0, t1;
	int i, rc;

	for (i = 1; i < argc; i++) {
		const char *val;
		char key[32];

		opt_help(argv[i]);
		val = opt_value(argc, argv, &i, key, sizeof(key));
		if (opt_number(nums, sizeof(nums) / sizeof(nums[0]), key, val))
			continue;
		if (!strcmp(key, "--exec"))
			path = val;
		else
			usage_error("unknown option", key);
	}
	if (count < 0)
		usage_error("--count is required", NULL);
	if (access(path, X_OK))
		usage_error("not an executable:", path);
	stop_signals(on_signal, timeout);

	rc = storm(path, warm, &wdone, &wfailed);
	t0 = now_s();
	if (!rc)
		rc = storm(path, count, &done, &failed);
	t1 = now_s();

	printf("{\"pid\": %ld, \"exec\": ", (long)getpid());
	json_str(path);
	printf(", \"count\": %ld, \"warm\": %ld, \"failed\": %ld, \"elapsed_s\": %.6f, "
	       "\"interrupted\": %s}\n",
	       done, wdone, failed + wfailed, t1 - t0, stop_flag ? "true" : "false");
	if (fflush(stdout))
		return 1;
	return rc ? 1 : 0;
}
