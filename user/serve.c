// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `spiketrace serve` (docs/serve.md): every selected concern live, a model
 * finalized each second into serve's own counters (user/metrics.c), and
 * GET /metrics answered from the spine's poll loop. One thread: the
 * listening socket and the connections are non-blocking, each loop turn
 * spends at most SERVE_BUDGET_NS on them, and a connection that has not
 * finished within SERVE_CONN_NS is closed, so a slow client never holds
 * the tracer up.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "live.h"
#include "log.h"
#include "metrics.h"
#include "opts.h"
#include "spine.h"

#define SERVE_MAX_CONNS 8
#define SERVE_CONN_NS (3 * 1000000000ULL) /* a connection's whole life */
#define SERVE_BUDGET_NS (5 * 1000000ULL) /* per poll-loop turn */
#define SERVE_BACKLOG 64

const char serve_usage[] =
	"Usage: spiketrace serve [--listen ADDR:PORT] [--only LIST] [-p PID] [-c CGROUP] [-F HZ]\n"
	"                        [-d SECS]\n"
	"Trace live and serve Prometheus metrics at http://ADDR:PORT/metrics: per cause CPU,\n"
	"page faults and RSS, OOM kills per memory cgroup, TLS handshakes and their CPU per\n"
	"process name, TCP resets and state transitions, lost events. Label values are\n"
	"bounded: the first 20 causes (and process names, memory cgroups) to show activity\n"
	"keep their label, the rest add up in \"other\".\n"
	"\n"
	"      --listen ADDR:PORT  where to listen (default " HTTP_DEFAULT_LISTEN
	": this host only);\n"
	"                          IPv4, [IPv6] or localhost; 0.0.0.0:9464 for every interface\n"
	"      --only LIST         comma list of concerns: proc,mem,tls,tcp,cpu (default all)\n"
	"  -F, --freq HZ           CPU sampling rate (default 99)\n"
	"  -p, --pid PID           only this process and its descendants\n"
	"  -c, --cgroup PATH       only this cgroup and below\n"
	"  -d, --duration SECS     stop after SECS (default: at SIGINT/SIGTERM)\n"
	"\n"
	"Examples:\n"
	"  spiketrace serve\n"
	"  spiketrace serve --listen 0.0.0.0:9464 --only proc,cpu,mem\n"
	"  curl -s localhost:9464/metrics | grep ^spiketrace_cause_cpu\n";

struct conn {
	int fd; /* -1 when free */
	uint64_t deadline;
	size_t rlen;
	char req[HTTP_REQ_MAX];
	char *out; /* the response once the request is read */
	size_t olen, ooff;
};

struct serve {
	struct model *m;
	struct metrics mx;
	int lfd;
	struct conn conns[SERVE_MAX_CONNS];
	char *body; /* the exposition, rendered when asked after an update */
	size_t body_len;
	bool stale; /* a second went by since the last update */
	bool dirty; /* updated since the last rendering */
	bool warned_nomem;
};

static void conn_close(struct conn *c)
{
	if (c->fd >= 0) {
		shutdown(c->fd, SHUT_WR);
		close(c->fd);
	}
	free(c->out);
	c->fd = -1;
	c->out = NULL;
	c->rlen = c->olen = c->ooff = 0;
}

/* The model's totals into serve's counters. */
static void update(struct serve *s)
{
	model_finalize(s->m, now_mono_ns());
	if (mx_update(&s->mx, s->m) && !s->warned_nomem) {
		log_warn("serve: out of memory: some counts went to \"other\" or were dropped");
		s->warned_nomem = true;
	}
	s->stale = false;
	s->dirty = true;
}

/* Updates the counters when stale, renders them when they changed. */
static int render(struct serve *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int err;

	if (s->stale || !s->body)
		update(s);
	if (!s->dirty && s->body)
		return 0;
	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	err = mx_write(&s->mx, f);
	if (fclose(f) || err) {
		free(buf);
		return -ENOMEM;
	}
	free(s->body);
	s->body = buf;
	s->body_len = len;
	s->dirty = false;
	return 0;
}

/* The request head is in: the response to send. */
static void respond(struct serve *s, struct conn *c, int status, const struct http_req *req)
{
	bool head = req && !strcmp(req->method, "HEAD");

	if (status == 200 && render(s))
		status = 503;
	c->olen = http_response(status, s->body, s->body_len, head, &c->out);
	if (!c->olen)
		conn_close(c);
}

static void conn_read(struct serve *s, struct conn *c)
{
	struct http_req req;
	bool parsed;
	ssize_t n;
	int st;

	for (;;) {
		n = recv(c->fd, c->req + c->rlen, sizeof(c->req) - c->rlen, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			conn_close(c); /* gone before it asked anything */
			return;
		}
		c->rlen += (size_t)n;
		st = http_parse_request(c->req, c->rlen, sizeof(c->req), &req);
		if (st == HTTP_MORE)
			continue;
		parsed = st == 0;
		if (parsed)
			st = http_route(&req);
		respond(s, c, st, parsed ? &req : NULL);
		return;
	}
}

static void conn_write(struct conn *c)
{
	ssize_t n;

	while (c->ooff < c->olen) {
		n = send(c->fd, c->out + c->ooff, c->olen - c->ooff, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0)
			break;
		c->ooff += (size_t)n;
	}
	conn_close(c);
}

/*
 * A free slot; when there is none, the slot of the oldest connection still
 * sending its request (a client that connects and says nothing must not
 * keep the next scrape waiting), else NULL.
 */
static struct conn *slot_for_new(struct serve *s)
{
	struct conn *oldest = NULL;
	size_t i;

	for (i = 0; i < SERVE_MAX_CONNS; i++) {
		struct conn *c = &s->conns[i];

		if (c->fd < 0)
			return c;
		if (!c->out && (!oldest || c->deadline < oldest->deadline))
			oldest = c;
	}
	if (oldest)
		conn_close(oldest);
	return oldest;
}

static void accept_new(struct serve *s, uint64_t now)
{
	struct conn *c;
	size_t i;
	int fd;

	for (i = 0; i < SERVE_MAX_CONNS; i++) {
		fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_dbg("serve: accept: %s", strerror(errno));
			return;
		}
		c = slot_for_new(s);
		if (!c) {
			close(fd); /* every slot is sending a response */
			continue;
		}
		c->fd = fd;
		c->deadline = now + SERVE_CONN_NS;
	}
}

/* One pass over the connections; returns how many are still open. */
static size_t service(struct serve *s, uint64_t now)
{
	size_t i, open = 0;

	for (i = 0; i < SERVE_MAX_CONNS; i++) {
		struct conn *c = &s->conns[i];

		if (c->fd < 0)
			continue;
		if (now >= c->deadline) {
			conn_close(c); /* too slow: it must not hold the tracer */
			continue;
		}
		if (!c->out)
			conn_read(s, c);
		if (c->fd >= 0 && c->out)
			conn_write(c);
		open += c->fd >= 0;
	}
	return open;
}

/* Waits up to ns for the listener or an open connection to be ready. */
static void wait_io(struct serve *s, uint64_t ns)
{
	struct pollfd pfd[SERVE_MAX_CONNS + 1];
	nfds_t n = 0;
	size_t i;

	pfd[n++] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
	for (i = 0; i < SERVE_MAX_CONNS; i++)
		if (s->conns[i].fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = s->conns[i].fd,
						    .events = s->conns[i].out ? POLLOUT : POLLIN };
	if (poll(pfd, n, (int)((ns + 999999) / 1000000)) < 0 && errno != EINTR)
		log_dbg("serve: poll: %s", strerror(errno));
}

/* Each turn of the spine's loop: accept and serve within a short budget. */
static int serve_poll(void *ctx, uint64_t now)
{
	struct serve *s = ctx;
	uint64_t end = now + SERVE_BUDGET_NS;

	for (;;) {
		accept_new(s, now);
		if (!service(s, now))
			return 0;
		now = now_mono_ns();
		if (now >= end || st_exiting)
			return 0;
		wait_io(s, end - now);
		now = now_mono_ns();
	}
}

/*
 * Each second the counters go stale; the next scrape brings them up to date
 * (model_finalize walks every process seen: done per scrape, not per second).
 */
static void serve_tick(void *ctx, uint64_t now)
{
	struct serve *s = ctx;

	(void)now;
	s->stale = true;
}

static int listen_on(const char *spec, struct sockaddr_storage *ss, char *name, size_t len)
{
	socklen_t sl;
	const char *why;
	int one = 1, fd;

	if (http_parse_listen(spec, ss, &sl, &why)) {
		log_err("serve: bad --listen '%s': %s", spec, why);
		return -2;
	}
	http_addr_str(ss, name, len);
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_err("serve: cannot make a socket for %s: %s", name, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (!bind(fd, (struct sockaddr *)ss, sl) && !listen(fd, SERVE_BACKLOG))
		return fd;
	if (errno == EADDRINUSE)
		log_err("serve: %s is already in use (another exporter or spiketrace serve?): "
			"stop it or pick another --listen ADDR:PORT",
			name);
	else if (errno == EACCES)
		log_err("serve: not allowed to listen on %s: ports below 1024 need "
			"CAP_NET_BIND_SERVICE; pick a port from 1024 up",
			name);
	else if (errno == EADDRNOTAVAIL)
		log_err("serve: %s is not an address of this host: use 127.0.0.1, 0.0.0.0 or one "
			"of its own addresses",
			name);
	else
		log_err("serve: cannot listen on %s: %s", name, strerror(errno));
	close(fd);
	return -1;
}

static unsigned int families_of(unsigned int mask)
{
	unsigned int f = 0;

	if (mask & concern_cpu.bit)
		f |= MXF_CPU;
	if (mask & concern_mem.bit)
		f |= MXF_MEM;
	if (mask & concern_tls.bit)
		f |= MXF_TLS;
	if (mask & concern_tcp.bit)
		f |= MXF_TCP;
	if (mask & concern_net.bit)
		f |= MXF_NET;
	return f;
}

/* Traces until -d or a signal, serving meanwhile; mirrors main.c's trace(). */
static int serve_run(struct serve *s, struct spine *sp, struct options *o, const char *name)
{
	char desc[512];
	int rc;

	sp->tick_cb = serve_tick;
	sp->tick_ctx = s;
	sp->poll_cb = serve_poll;
	sp->poll_ctx = s;
	rc = spine_start(sp, o, s->m, NULL);
	if (!rc) {
		spine_describe(sp, desc, sizeof(desc));
		fprintf(stderr,
			"spiketrace: tracing %s, serving http://%s/metrics (Ctrl-C to stop)\n",
			desc, name);
		rc = spine_run(sp);
	}
	spine_stop(sp);
	if (st_exiting)
		log_dbg("stopped by signal %d", (int)st_exiting);
	return rc;
}

static void serve_free(struct serve *s)
{
	size_t i;

	for (i = 0; i < SERVE_MAX_CONNS; i++)
		conn_close(&s->conns[i]);
	if (s->lfd >= 0)
		close(s->lfd);
	mx_free(&s->mx);
	model_free(s->m);
	free(s->body);
	free(s);
}

int serve_main(struct options *o)
{
	struct sockaddr_storage ss;
	struct spine sp = { 0 };
	struct serve *s;
	char name[64];
	unsigned int want = o->concerns ? o->concerns : ~0u;
	size_t i;
	int rc;

	s = calloc(1, sizeof(*s));
	if (!s) {
		log_err("out of memory");
		return 1;
	}
	for (i = 0; i < SERVE_MAX_CONNS; i++)
		s->conns[i].fd = -1;
	/* Bound before the BPF side loads: a busy port fails fast, nothing attached. */
	s->lfd = listen_on(o->listen ? o->listen : HTTP_DEFAULT_LISTEN, &ss, name, sizeof(name));
	if (s->lfd < 0) {
		rc = s->lfd == -2 ? 2 : 1;
		s->lfd = -1;
		serve_free(s);
		return rc;
	}
	rc = spine_preflight(o, &sp.feat);
	if (!rc) {
		s->m = model_new(now_mono_ns());
		if (!s->m || mx_init(&s->mx, families_of(want), MX_CAP)) {
			log_err("out of memory");
			rc = 1;
		}
	}
	if (!rc) {
		s->m->concerns = want;
		rc = serve_run(s, &sp, o, name);
	}
	serve_free(s);
	return rc;
}
