// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * st-connstorm: a storm of short TCP connections on loopback (benchmark P4).
 *
 *   st-connstorm --count N [--port P] [--warm W] [--timeout S]
 *
 * One process listens on 127.0.0.1:P (P 0, the default: a free port the
 * kernel picks) and N times, one after the other: connects a new socket to
 * it, accepts the connection, closes the client side, then the accepted one.
 * No payload. The client closes first, so its side ends in TIME_WAIT (reused
 * after 1 s on loopback, net.ipv4.tcp_tw_reuse=2, the default) and the
 * accepted side goes CLOSE_WAIT -> LAST_ACK -> CLOSE. --warm W makes W more
 * connections first, untimed. --timeout S (default 300) bounds the run:
 * SIGALRM ends it early, and so do SIGINT and SIGTERM.
 *
 * Prints one JSON line:
 *   {"pid", "port", "count" (timed connections made), "warm", "failed"
 *    (connect or accept errors), "elapsed_s" (the timed part), "interrupted"}
 * Exit status 0, 1 when the listener could not be set up, 2 for bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROG "st-connstorm"
#define USAGE "usage: " PROG " --count N [--port P] [--warm W] [--timeout S]"
#define COUNT_MAX 10000000L
#define FAIL_MAX 100 /* errors in a row before we give up: the box is out of ports */

#include "tool.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int listener(long port, struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int fd, one = 1;

	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_port = htons((unsigned short)port);
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)addr, sizeof(*addr)) || listen(fd, 128) ||
	    getsockname(fd, (struct sockaddr *)addr, &len)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One connection: 0 when made and closed, -1 on an error (errno set). */
static int one_conn(int lfd, const struct sockaddr_in *addr)
{
	int c, s;

	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0)
		return -1;
	if (connect(c, (const struct sockaddr *)addr, sizeof(*addr))) {
		close(c);
		return -1;
	}
	s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	close(c);
	if (s < 0)
		return -1;
	close(s);
	return 0;
}

/* Up to n connections; counts them in *done, errors in *failed. */
static int storm(int lfd, const struct sockaddr_in *addr, long n, long *done, long *failed)
{
	long i, row = 0;

	for (i = 0; i < n && !stop_flag; i++) {
		if (one_conn(lfd, addr) == 0) {
			(*done)++;
			row = 0;
			continue;
		}
		if (errno == EINTR)
			continue;
		(*failed)++;
		if (++row >= FAIL_MAX) {
			fprintf(stderr, PROG ": %ld errors in a row, last: %s\n", row,
				strerror(errno));
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	long count = -1, port = 0, warm = 0, timeout = 300, done = 0, failed = 0, wdone = 0;
	const struct num_opt nums[] = {
		{ "--count", 1, COUNT_MAX, &count },
		{ "--port", 0, 65535, &port },
		{ "--warm", 0, COUNT_MAX, &warm },
		{ "--timeout", 1, 86400, &timeout },
	};
	struct sockaddr_in addr;
	double t0, t1;
	int i, lfd, rc;

	for (i = 1; i < argc; i++) {
		const char *val;
		char key[32];

		opt_help(argv[i]);
		val = opt_value(argc, argv, &i, key, sizeof(key));
		if (!opt_number(nums, sizeof(nums) / sizeof(nums[0]), key, val))
			usage_error("unknown option", key);
	}
	if (count < 0)
		usage_error("--count is required", NULL);
	stop_signals(on_signal, timeout);

	lfd = listener(port, &addr);
	if (lfd < 0) {
		fprintf(stderr, PROG ": listen on 127.0.0.1:%ld: %s\n", port, strerror(errno));
		return 1;
	}
	rc = storm(lfd, &addr, warm, &wdone, &failed);
	t0 = now_s();
	if (!rc)
		rc = storm(lfd, &addr, count, &done, &failed);
	t1 = now_s();
	close(lfd);

	printf("{\"pid\": %ld, \"port\": %u, \"count\": %ld, \"warm\": %ld, \"failed\": %ld, "
	       "\"elapsed_s\": %.6f, \"interrupted\": %s}\n",
	       (long)getpid(), ntohs(addr.sin_port), done, wdone, failed, t1 - t0,
	       stop_flag ? "true" : "false");
	if (fflush(stdout))
		return 1;
	return rc ? 1 : 0;
}
