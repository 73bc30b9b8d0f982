// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * st-netpump: moves a known number of bytes over loopback (or any address).
 *
 *   st-netpump server --port P [--conns N] [--udp] [--max-s S]
 *   st-netpump client --port P [--host ADDR] --down BYTES --up BYTES
 *                     [--conns N] [--udp] [--max-s S]
 *
 * TCP: the client sends a 16-byte request (down, up: two little-endian u64),
 * then `up` bytes; the server reads them, answers with `down` bytes and
 * closes; the client reads to EOF. Each side counts what its own read() and
 * write() calls moved, the request included. The server serves --conns
 * connections (0: until stopped), one after another.
 *
 * UDP (--udp): the client sends `up` bytes as 1400-byte datagrams (no
 * request, no answer); the server counts what it receives and stops after
 * --conns * up bytes are in or 2 s without a datagram after the first.
 *
 * The server prints {"type":"ready","pid","port"} once it listens; each side
 * ends with one line:
 *   {"type":"done","role","pid","rx_bytes","tx_bytes","conns","elapsed_s"}
 * Exit status: 0 done, 1 a socket error or --max-s (default 120) reached,
 * 2 bad usage.
 */
#define PROG "st-netpump"
#define USAGE                                                                     \
	"usage: " PROG " server --port P [--conns N] [--udp] [--max-s S] | " PROG \
	" client --port P [--host ADDR] --down BYTES --up BYTES [--conns N] [--udp] [--max-s S]"
#include "tool.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#define BUF_SZ (256 * 1024)
#define DGRAM 1400

static volatile sig_atomic_t stop;
static char buf[BUF_SZ];

struct opts {
	bool server, udp;
	long port, conns, max_s;
	long down, up;
	const char *host;
};

struct tally {
	uint64_t rx, tx;
	long conns;
};

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int write_all(int fd, const char *p, size_t n, struct tally *t)
{
	while (n && !stop) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		t->tx += (uint64_t)w;
		p += w;
		n -= (size_t)w;
	}
	return n ? -1 : 0;
}

/* Sends n bytes of filler. */
static int send_n(int fd, uint64_t n, struct tally *t)
{
	while (n && !stop) {
		size_t k = n < sizeof(buf) ? (size_t)n : sizeof(buf);

		if (write_all(fd, buf, k, t))
			return -1;
		n -= k;
	}
	return n ? -1 : 0;
}

/* Reads exactly n bytes (into buf, or into dst for the first len bytes); -1 short. */
static int recv_n(int fd, uint64_t n, char *dst, size_t len, struct tally *t)
{
	uint64_t got = 0;

	while (got < n && !stop) {
		size_t k = n - got < sizeof(buf) ? (size_t)(n - got) : sizeof(buf);
		ssize_t r = read(fd, buf, k);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (dst && got < len)
			memcpy(dst + got, buf, (size_t)r < len - got ? (size_t)r : len - got);
		t->rx += (uint64_t)r;
		got += (uint64_t)r;
	}
	return got == n ? 0 : -1;
}

static void done(const char *role, const struct tally *t, double t0)
{
	printf("{\"type\":\"done\",\"role\":\"%s\",\"pid\":%d,\"rx_bytes\":%llu,"
	       "\"tx_bytes\":%llu,\"conns\":%ld,\"elapsed_s\":%.3f}\n",
	       role, (int)getpid(), (unsigned long long)t->rx, (unsigned long long)t->tx, t->conns,
	       now_s() - t0);
	fflush(stdout);
}

static int bind_any(const struct opts *o, int type)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o->port) };
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (o->host && inet_pton(AF_INET, o->host, &a.sin_addr) != 1)
		usage_error("--host wants an IPv4 address, got", o->host);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || (type == SOCK_STREAM && listen(fd, 16))) {
		fprintf(stderr, PROG ": cannot listen on port %ld: %s\n", o->port, strerror(errno));
		exit(1);
	}
	printf("{\"type\":\"ready\",\"pid\":%d,\"port\":%ld}\n", (int)getpid(), o->port);
	fflush(stdout);
	return fd;
}

static int serve_tcp(const struct opts *o, struct tally *t)
{
	int lfd = bind_any(o, SOCK_STREAM);

	while (!stop && (!o->conns || t->conns < o->conns)) {
		unsigned char req[16];
		uint64_t down = 0, up = 0;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), i;

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (recv_n(fd, sizeof(req), (char *)req, sizeof(req), t)) {
			close(fd);
			return -1;
		}
		for (i = 7; i >= 0; i--) {
			down = down << 8 | req[i];
			up = up << 8 | req[8 + i];
		}
		if (recv_n(fd, up, NULL, 0, t) || send_n(fd, down, t)) {
			close(fd);
			return -1;
		}
		close(fd);
		t->conns++;
	}
	close(lfd);
	return stop ? -1 : 0;
}

static int serve_udp(const struct opts *o, struct tally *t)
{
	int fd = bind_any(o, SOCK_DGRAM);
	struct timeval tv = { .tv_sec = 2 };
	uint64_t want = (uint64_t)(o->conns ? o->conns : 1) * (uint64_t)o->up;

	while (!stop && (!want || t->rx < want)) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			break; /* 2 s quiet after the first datagram */
		if (r < 0)
			return -1;
		t->rx += (uint64_t)r;
		if (t->rx == (uint64_t)r)
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	t->conns = 1;
	close(fd);
	return 0;
}

static int connect_to(const struct opts *o, int type)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o->port) };
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (o->host && inet_pton(AF_INET, o->host, &a.sin_addr) != 1)
		usage_error("--host wants an IPv4 address, got", o->host);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		fprintf(stderr, PROG ": cannot connect to port %ld: %s\n", o->port,
			strerror(errno));
		return -1;
	}
	return fd;
}

static int client_tcp(const struct opts *o, struct tally *t)
{
	for (t->conns = 0; t->conns < (o->conns ? o->conns : 1) && !stop; t->conns++) {
		unsigned char req[16];
		int fd = connect_to(o, SOCK_STREAM), i;
		ssize_t r;

		if (fd < 0)
			return -1;
		for (i = 0; i < 8; i++) {
			req[i] = (unsigned char)((uint64_t)o->down >> (8 * i));
			req[8 + i] = (unsigned char)((uint64_t)o->up >> (8 * i));
		}
		if (write_all(fd, (char *)req, sizeof(req), t) || send_n(fd, (uint64_t)o->up, t) ||
		    recv_n(fd, (uint64_t)o->down, NULL, 0, t)) {
			close(fd);
			return -1;
		}
		/* To EOF: the server closes after the last byte. */
		while ((r = read(fd, buf, sizeof(buf))) > 0)
			t->rx += (uint64_t)r;
		close(fd);
	}
	return stop ? -1 : 0;
}

static int client_udp(const struct opts *o, struct tally *t)
{
	int fd = connect_to(o, SOCK_DGRAM);
	uint64_t left = (uint64_t)o->up;

	if (fd < 0)
		return -1;
	while (left && !stop) {
		size_t k = left < DGRAM ? (size_t)left : DGRAM;
		ssize_t w = send(fd, buf, k, 0);

		if (w < 0 && (errno == EINTR || errno == ENOBUFS || errno == ECONNREFUSED))
			continue;
		if (w < 0)
			return -1;
		t->tx += (uint64_t)w;
		left -= (uint64_t)w;
		/* Loopback drops what the receiver has no room for: pace a little. */
		if ((t->tx / DGRAM) % 64 == 0)
			usleep(200);
	}
	t->conns = 1;
	close(fd);
	return 0;
}

static void parse(int argc, char **argv, struct opts *o)
{
	const struct num_opt nums[] = {
		{ "--port", 1, 65535, &o->port },  { "--conns", 0, 1000000, &o->conns },
		{ "--max-s", 1, 3600, &o->max_s }, { "--down", 0, 1L << 40, &o->down },
		{ "--up", 0, 1L << 40, &o->up },
	};
	char key[32];
	int i;

	if (argc < 2)
		usage_error("server or client?", NULL);
	opt_help(argv[1]);
	if (strcmp(argv[1], "server") && strcmp(argv[1], "client"))
		usage_error("unknown mode", argv[1]);
	o->server = !strcmp(argv[1], "server");
	for (i = 2; i < argc; i++) {
		const char *v;

		opt_help(argv[i]);
		if (!strcmp(argv[i], "--udp")) {
			o->udp = true;
			continue;
		}
		v = opt_value(argc, argv, &i, key, sizeof(key));
		if (!strcmp(key, "--host"))
			o->host = v;
		else if (!opt_number(nums, sizeof(nums) / sizeof(nums[0]), key, v))
			usage_error("unknown option", key);
	}
	if (!o->port)
		usage_error("--port is required", NULL);
}

int main(int argc, char **argv)
{
	struct opts o = { .max_s = 120, .conns = 1 };
	struct tally t = { 0 };
	double t0;
	int rc;

	parse(argc, argv, &o);
	memset(buf, 'x', sizeof(buf));
	stop_signals(on_signal, o.max_s);
	t0 = now_s();
	if (o.server)
		rc = o.udp ? serve_udp(&o, &t) : serve_tcp(&o, &t);
	else
		rc = o.udp ? client_udp(&o, &t) : client_tcp(&o, &t);
	done(o.server ? "server" : "client", &t, t0);
	if (rc)
		fprintf(stderr, PROG ": stopped early: %s\n",
			stop ? "signal or --max-s" : strerror(errno));
	return rc ? 1 : 0;
}
