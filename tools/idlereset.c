// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * st-idlereset: replays a load balancer that forgets idle flows. A middlebox
 * drops its state for a TCP flow idle longer than its timeout and answers
 * the next packet of that flow with a RST: the client gets "connection reset
 * by peer" on a long-lived connection, the server never hears of it.
 *
 * Three network namespaces, PREFIX-cli, PREFIX-mbx and PREFIX-srv (--prefix,
 * default st-ir-PID), joined by two veth pairs:
 *   cli  to-mbx 10.231.1.2/24 fd00:231:1::2/64
 *   mbx  to-cli 10.231.1.1/24 fd00:231:1::1/64, to-srv 10.231.2.1/24 fd00:231:2::1/64
 *   srv  to-mbx 10.231.2.2/24 fd00:231:2::2/64
 * (IPv6 addresses only with --family 6 or both, all "nodad", and no DAD on
 * the link-local ones either), routes through mbx, forwarding on in mbx, and
 * there nf_conntrack_tcp_timeout_established=T (--timeout-s, default 3; the
 * one sysctl serves IPv4 and IPv6), nf_conntrack_tcp_loose=0 (a non-SYN
 * packet of an unknown flow is invalid, not picked up) and this nftables rule:
 *   table inet st_idlereset { chain forward { type filter hook forward ...;
 *     ct state invalid tcp flags & (syn | rst) == 0 counter reject with tcp reset } }
 * which also engages conntrack for forwarded traffic. Everything is done with
 * `ip`, `ip netns exec ... nft` and `... sysctl` (execvp, no shell). Then we
 * wait until every veth end has its carrier (up to a second: linkwatch).
 * Traffic only ever goes to the addresses above, inside these namespaces.
 *
 * A server in srv (a forked child that setns()es there) listens on
 * 10.231.2.2:P and/or [fd00:231:2::2]:P (--port, default 18080) and echoes
 * what it reads; a connection stays open until the peer closes or resets.
 * A client in cli (forked, waiting on a pipe) is ready too; then one JSON
 * line goes to stdout:
 *   {"type": "ready", "server_pid", "client_pid", "namespaces" [cli, mbx, srv],
 *    "server_addr" (null without IPv4), "server_addr6" (null without IPv6),
 *    "client_addr", "client_addr6", "port", "timeout_s"}
 * and with --wait-stdin one line is read from stdin (a tracer attaches).
 *
 * The client opens one connection per --idle value (seconds, up to 3
 * decimals, default 1,5) and family (--family 4, 6 or both: IPv4 then IPv6
 * for each value): it sends a 5-byte message and reads the echo, sleeps the
 * idle time, then sends again and waits up to 5 s for the echo. Outcome "ok"
 * if it comes back, "reset" if the send or the read fails with ECONNRESET
 * (or EPIPE), else "error". idle_ms is measured (CLOCK_MONOTONIC) from the
 * end of the first echo to the second send. The client's ACK of the first
 * echo may follow it by up to a delayed-ACK time (40 ms) and refreshes the
 * conntrack entry: idle times within ~50 ms of T can go either way.
 * Connections run one after the other, or all at once with --parallel (the
 * run then lasts max(idle), not the sum; one process, non-blocking sockets,
 * so one connection never delays another); each is closed as soon as its
 * outcome is known, so that a FIN cannot become one more invalid packet.
 *
 * The final line:
 *   {"type": "done", "timeout_s", "connections": [{"idle_s", "idle_ms"
 *    (measured, null if not reached), "outcome", "family", "laddr", "lport",
 *    "raddr", "rport", "client_pid", "error" (why, for "error"; else null)}],
 *    "resets", "ok", "errors", "mbx_resets_sent" (the packets the mbx rule
 *    answered with a RST: its nftables counter, null if unreadable)}
 * Then the children are killed and the namespaces deleted (their veths, nft
 * ruleset and sysctls go with them); --keep leaves the namespaces of a
 * completed run in place (`ip netns del` them by hand).
 *
 * Exit status: 0 after the done line (connections that failed are counted in
 * it, not fatal), 1 on a setup or runtime failure or after --max-s (default
 * 120 s, the bound of the whole run, --wait-stdin included), 2 for bad
 * options, 128 + the signal after SIGINT or SIGTERM; each time everything is
 * torn down first. Should we be SIGKILLed, the server and the client die
 * with us (PR_SET_PDEATHSIG) and a forked guard deletes the namespaces.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROG "st-idlereset"
#define NETNS_DIR "/run/netns" /* where `ip netns add` puts the names */
#define NFT_TABLE "st_idlereset"
#define NFT_CHAIN "forward"
#define IDLE_MAX 32
#define CONN_MAX (2 * IDLE_MAX) /* one per idle value and family */
#define IDLE_MAX_MS 3600000L
#define PREFIX_MAX 32
#define CMD_WAIT_MS 10000 /* one ip, nft or sysctl command */
#define LINK_WAIT_MS 5000 /* the veths, until they have their carrier */
#define START_WAIT_MS 5000 /* the server, until it listens */
#define STOP_WAIT_MS 2000
#define OPEN_WAIT_MS 5000 /* connect and the first echo */
#define ECHO_WAIT_MS 5000 /* the echo after the idle time */
#define SETUP_S 15 /* what --max-s must leave beyond the idle times */
#define OUT_MAX 4096
#define MSG "ping\n"
#define MSG_LEN (sizeof(MSG) - 1)
#define NS_PER_MS 1000000LL
#define SLICE_NS (10 * NS_PER_MS)

#define USAGE                                                                                \
	"usage: " PROG " [--timeout-s T] [--idle S,S,...] [--parallel] [--family 4|6|both] " \
	"[--port P] [--prefix NAME] [--wait-stdin] [--keep] [--max-s S]"

#include "tool.h"

enum { NS_CLI, NS_MBX, NS_SRV, NNS };
enum { F4, F6, NFAM };
enum { ST_NEW, ST_CONNECT, ST_FIRST, ST_IDLE, ST_ECHO, ST_DONE };
enum { OUT_NONE, OUT_OK, OUT_RESET, OUT_ERROR };

static const char *const ns_suffix[NNS] = { "cli", "mbx", "srv" };
static const char *const step_name[] = { "start", "connect", "first echo", "idle", "echo", "done" };
static const char *const outcome_name[] = { "error", "ok", "reset", "error" };
static const char *const cli_addr[NFAM] = { "10.231.1.2", "fd00:231:1::2" };
static const char *const srv_addr[NFAM] = { "10.231.2.2", "fd00:231:2::2" };

/* The veth ends and their addresses. */
static const struct {
	int ns;
	const char *dev;
	const char *addr[NFAM];
} links[] = {
	{ NS_CLI, "to-mbx", { "10.231.1.2/24", "fd00:231:1::2/64" } },
	{ NS_MBX, "to-cli", { "10.231.1.1/24", "fd00:231:1::1/64" } },
	{ NS_MBX, "to-srv", { "10.231.2.1/24", "fd00:231:2::1/64" } },
	{ NS_SRV, "to-mbx", { "10.231.2.2/24", "fd00:231:2::2/64" } },
};

/* Each end host reaches the other side's subnet, and only it, through mbx. */
static const struct {
	int ns;
	const char *dst[NFAM];
	const char *via[NFAM];
} routes[] = {
	{ NS_CLI, { "10.231.2.0/24", "fd00:231:2::/64" }, { "10.231.1.1", "fd00:231:1::1" } },
	{ NS_SRV, { "10.231.1.0/24", "fd00:231:1::/64" }, { "10.231.2.1", "fd00:231:2::1" } },
};

static const char ruleset[] =
	"table inet " NFT_TABLE " {\n"
	"\tchain " NFT_CHAIN " {\n"
	"\t\ttype filter hook forward priority filter; policy accept;\n"
	"\t\tct state invalid tcp flags & (syn | rst) == 0 counter reject with tcp reset\n"
	"\t}\n"
	"}\n";

struct opts {
	long timeout_s;
	long idle_ms[IDLE_MAX];
	int nidle;
	bool parallel;
	bool fam[NFAM];
	long port;
	char prefix[PREFIX_MAX + 1];
	bool wait_stdin;
	bool keep;
	long max_s;
};

/* One connection. In shared memory: the client fills it in, we print it. */
struct conn {
	int family; /* F4 or F6 */
	long idle_ms; /* as asked */
	double real_ms; /* measured; < 0 if never reached */
	int outcome;
	char error[96];
	char laddr[INET6_ADDRSTRLEN];
	int lport;
	int pid;
	/* The client's own bookkeeping. */
	int state;
	int fd;
	size_t got;
	long long t_rx; /* ns: the end of the first echo */
	long long due; /* ns: when to send again (ST_IDLE), else when to give up */
};

struct run {
	const struct opts *o;
	char ns[NNS][PREFIX_MAX + 8];
	bool made[NNS]; /* we ran `ip netns add` for it */
	struct conn *conns;
	int nconns;
	pid_t server;
	pid_t client;
	pid_t guard;
	int guard_fd;
	int go_fd; /* the client starts when it reads a byte here */
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

/* ---- options -------------------------------------------------------------- */

static void parse_idle(const char *arg, struct opts *o)
{
	const char *p = arg;

	o->nidle = 0;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (o->nidle == IDLE_MAX || parse_secs_n(p, n, IDLE_MAX_MS, &o->idle_ms[o->nidle]))
			usage_error("--idle wants 1..32 comma-separated seconds (0..3600, up to 3 "
				    "decimals), got",
				    arg);
		o->nidle++;
		if (!comma)
			return;
		p = comma + 1;
	}
}

static void parse_family(const char *val, struct opts *o)
{
	o->fam[F4] = !strcmp(val, "4") || !strcmp(val, "both");
	o->fam[F6] = !strcmp(val, "6") || !strcmp(val, "both");
	if (!o->fam[F4] && !o->fam[F6])
		usage_error("--family wants 4, 6 or both, got", val);
}

/* Letters, digits, '.', '_', '-'; not starting with '.' or '-': a file and netns name. */
static void parse_prefix(const char *val, struct opts *o)
{
	size_t n = strlen(val), i;
	bool ok = n > 0 && n <= PREFIX_MAX && val[0] != '.' && val[0] != '-';

	for (i = 0; ok && i < n; i++) {
		char ch = val[i];

		ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		     (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
	}
	if (!ok)
		usage_error("--prefix wants 1..32 of [A-Za-z0-9._-], not starting with '.' or '-', "
			    "got",
			    val);
	memcpy(o->prefix, val, n + 1);
}

/* Options that take a number: name, range, where it goes. */
static bool parse_number(const char *key, const char *val, struct opts *o)
{
	const struct num_opt nums[] = {
		{ "--timeout-s", 1, 3600, &o->timeout_s },
		{ "--port", 1, 65535, &o->port },
		{ "--max-s", 1, 7200, &o->max_s },
	};

	return opt_number(nums, sizeof(nums) / sizeof(nums[0]), key, val);
}

/* How long the connections take, idle times only: ms. */
static long schedule_ms(const struct opts *o)
{
	long sum = 0, max = 0;
	int i;

	for (i = 0; i < o->nidle; i++) {
		sum += o->idle_ms[i];
		if (o->idle_ms[i] > max)
			max = o->idle_ms[i];
	}
	return o->parallel ? max : sum * (o->fam[F4] + o->fam[F6]);
}

static bool parse_flag(const char *a, struct opts *o)
{
	opt_help(a);
	if (!strcmp(a, "--parallel"))
		o->parallel = true;
	else if (!strcmp(a, "--wait-stdin"))
		o->wait_stdin = true;
	else if (!strcmp(a, "--keep"))
		o->keep = true;
	else
		return false;
	return true;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	char what[96], num[24];
	int i;

	memset(o, 0, sizeof(*o));
	o->timeout_s = 3;
	o->idle_ms[0] = 1000;
	o->idle_ms[1] = 5000;
	o->nidle = 2;
	o->fam[F4] = true;
	o->port = 18080;
	o->max_s = 120;
	snprintf(o->prefix, sizeof(o->prefix), "st-ir-%ld", (long)getpid());

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val;
		char key[32];

		if (parse_flag(a, o))
			continue;
		val = opt_value(argc, argv, &i, key, sizeof(key));

		if (parse_number(key, val, o))
			continue;
		if (!strcmp(key, "--idle"))
			parse_idle(val, o);
		else if (!strcmp(key, "--family"))
			parse_family(val, o);
		else if (!strcmp(key, "--prefix"))
			parse_prefix(val, o);
		else
			usage_error("unknown option", key);
	}
	if ((schedule_ms(o) + 999) / 1000 + SETUP_S > o->max_s) {
		snprintf(what, sizeof(what),
			 "the idle times take %ld s: --max-s wants %ld or more, got",
			 (schedule_ms(o) + 999) / 1000, (schedule_ms(o) + 999) / 1000 + SETUP_S);
		snprintf(num, sizeof(num), "%ld", o->max_s);
		usage_error(what, num);
	}
}

/* ---- running commands ------------------------------------------------------ */

static void join_argv(const char *const argv[], char *buf, size_t len)
{
	size_t have = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; argv[i] && have < len; i++)
		have += (size_t)snprintf(buf + have, len - have, "%s%s", i ? " " : "", argv[i]);
}

/* Reads FD into OUT until EOF or DEADLINE (ms); what does not fit is read and dropped. */
static void collect(int fd, char *out, size_t outlen, long long deadline)
{
	size_t have = 0;
	char buf[512];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0)
			return;
		if (poll(&p, 1, (int)left) <= 0)
			continue; /* EINTR, or the deadline */
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		if (have + (size_t)n < outlen) {
			memcpy(out + have, buf, (size_t)n);
			have += (size_t)n;
			out[have] = '\0';
		}
	}
}

/* Exit status, 128 + signal, or -1 if it ran over DEADLINE (then it is killed). */
static int reap_cmd(pid_t pid, long long deadline)
{
	int st;

	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (w < 0 && errno != EINTR)
			return -1;
		if (now_ms() > deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			return -1;
		}
		sleep_ms(5);
	}
}

/*
 * Runs ARGV (execvp: no shell) with INPUT on its stdin, its stdout and stderr
 * in OUT; returns as reap_cmd(). Signals do not cut it short: the commands
 * are quick, and one killed half-way could leave something nobody knows of.
 */
static int run_cmd(const char *const argv[], const char *input, char *out, size_t outlen)
{
	long long deadline = now_ms() + CMD_WAIT_MS;
	int in[2], op[2];
	pid_t pid;

	out[0] = '\0';
	if (pipe2(in, O_CLOEXEC)) {
		snprintf(out, outlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe2(op, O_CLOEXEC)) {
		snprintf(out, outlen, "pipe: %s", strerror(errno));
		close(in[0]);
		close(in[1]);
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		dup2(in[0], 0);
		dup2(op[1], 1);
		dup2(op[1], 2);
		execvp(argv[0], (char *const *)argv); /* it does not write to them */
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(op[1]);
	if (pid > 0 && input && write(in[1], input, strlen(input)) < 0)
		snprintf(out, outlen, "write to %s: %s", argv[0], strerror(errno));
	close(in[1]); /* small input: it fits in the pipe, the write did not block */
	if (pid < 0) {
		snprintf(out, outlen, "fork: %s", strerror(errno));
		close(op[0]);
		return -1;
	}
	collect(op[0], out, outlen, deadline);
	close(op[0]);
	return reap_cmd(pid, deadline);
}

/* The first non-empty line of OUT (nft puts its reason there, then the rule). */
static const char *first_line(char *out)
{
	char *p = out + strspn(out, "\n");

	p[strcspn(p, "\n")] = '\0';
	return *p ? p : "no output";
}

/* ---- teardown --------------------------------------------------------------- */

static void stop_child(pid_t *pid)
{
	long long deadline = now_ms() + STOP_WAIT_MS;

	if (*pid <= 0)
		return;
	kill(*pid, SIGKILL);
	while (waitpid(*pid, NULL, WNOHANG) == 0 && now_ms() < deadline)
		sleep_ms(5);
	*pid = 0;
}

static void del_netns(const char *name, bool quiet)
{
	const char *argv[] = { "ip", "netns", "del", name, NULL };
	char out[OUT_MAX];

	if (run_cmd(argv, NULL, out, sizeof(out)) && !quiet)
		fprintf(stderr, PROG ": warning: ip netns del %s: %s\n", name, first_line(out));
}

/*
 * The guard outlives a SIGKILLed generator: it learns from us which
 * namespaces we are about to create (one byte each, '0' + index, written
 * before `ip netns add`), and when the pipe reaches EOF without it having
 * been stopped it deletes them. Every orderly end deletes the namespaces
 * itself, then stops the guard. Its own process group: a kill of ours
 * (Ctrl-C, or SIGKILL to the group) spares it.
 */
static void guard_main(struct run *r, int fd)
{
	bool mark[NNS] = { false };
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC), i;
	char ch;
	ssize_t n;

	setpgid(0, 0);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	/* It must not hold our stdout or stderr open (callers read them to EOF). */
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
	}
	while ((n = read(fd, &ch, 1)) != 0) {
		if (n < 0 && errno != EINTR)
			break;
		if (n == 1 && ch >= '0' && ch < '0' + NNS)
			mark[ch - '0'] = true;
	}
	for (i = 0; i < NNS; i++)
		if (mark[i])
			del_netns(r->ns[i], true);
	_exit(0);
}

static void stop_guard(struct run *r)
{
	if (r->guard <= 0)
		return;
	kill(r->guard, SIGKILL);
	while (waitpid(r->guard, NULL, 0) < 0 && errno == EINTR)
		;
	close(r->guard_fd);
	r->guard = 0;
}

static void teardown(struct run *r, bool keep)
{
	int i;

	if (r->go_fd >= 0) {
		close(r->go_fd);
		r->go_fd = -1;
	}
	stop_child(&r->client);
	stop_child(&r->server);
	for (i = 0; i < NNS && !keep; i++) {
		if (r->made[i])
			del_netns(r->ns[i], false);
		r->made[i] = false;
	}
	stop_guard(r);
}

/* A runtime failure (or a signal): one line, everything torn down, exit. */
static void __attribute__((format(printf, 2, 3))) bail(struct run *r, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	int code = 1;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (got_signal == SIGALRM) {
		snprintf(msg, sizeof(msg), "timed out after %ld s (--max-s); torn down",
			 r->o->max_s);
	} else if (got_signal) {
		snprintf(msg, sizeof(msg), "%s; torn down",
			 got_signal == SIGINT ? "interrupted" : "terminated");
		code = 128 + got_signal;
	}
	teardown(r, false);
	fprintf(stderr, PROG ": %s\n", msg);
	exit(code);
}

static void check_signal(struct run *r)
{
	if (got_signal)
		bail(r, "signal");
}

/* Runs ARGV with INPUT on its stdin; a failure ends the run. */
static void cmd(struct run *r, const char *input, const char *const argv[])
{
	char out[OUT_MAX], line[512];
	int st;

	check_signal(r);
	st = run_cmd(argv, input, out, sizeof(out));
	check_signal(r); /* a Ctrl-C reaches the command too: report the signal */
	if (st == 0)
		return;
	join_argv(argv, line, sizeof(line));
	if (st < 0 && !out[0])
		bail(r, "%s: no answer within %d s", line, CMD_WAIT_MS / 1000);
	bail(r, "%s: exit %d: %s", line, st, first_line(out));
}

/* ---- the network -------------------------------------------------------------- */

static void start_guard(struct run *r)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		bail(r, "pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		bail(r, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[1]);
		guard_main(r, p[0]);
	}
	close(p[0]);
	r->guard = pid;
	r->guard_fd = p[1];
}

static void add_netns(struct run *r, int i)
{
	char path[PATH_MAX], ch = (char)('0' + i);

	snprintf(path, sizeof(path), NETNS_DIR "/%s", r->ns[i]);
	if (access(path, F_OK) == 0)
		bail(r, "network namespace %s already exists; pick another --prefix", r->ns[i]);
	if (write(r->guard_fd, &ch, 1) != 1)
		bail(r, "the guard process is gone: %s", strerror(errno));
	r->made[i] = true;
	cmd(r, NULL, (const char *[]){ "ip", "netns", "add", r->ns[i], NULL });
}

/*
 * No DAD on the veths' link-local addresses either ("nodad" covers only
 * ours): while mbx's is tentative it sends no neighbour solicitation for a
 * forwarded packet (whose source is not its own), and wait_links() would
 * wait a second longer for the end of DAD.
 */
static void no_ipv6_dad(struct run *r)
{
	int i;

	for (i = 0; i < NNS && r->o->fam[F6]; i++)
		cmd(r, NULL,
		    (const char *[]){ "ip", "netns", "exec", r->ns[i], "sysctl", "-q", "-w",
				      "net.ipv6.conf.all.accept_dad=0",
				      "net.ipv6.conf.default.accept_dad=0", NULL });
}

static void add_links(struct run *r)
{
	const struct opts *o = r->o;
	size_t i;
	int f;

	/* Created inside the namespaces: no name can clash with the host's interfaces. */
	cmd(r, NULL,
	    (const char *[]){ "ip", "-n", r->ns[NS_CLI], "link", "add", "to-mbx", "type", "veth",
			      "peer", "name", "to-cli", "netns", r->ns[NS_MBX], NULL });
	cmd(r, NULL,
	    (const char *[]){ "ip", "-n", r->ns[NS_MBX], "link", "add", "to-srv", "type", "veth",
			      "peer", "name", "to-mbx", "netns", r->ns[NS_SRV], NULL });
	for (i = 0; i < NNS; i++)
		cmd(r, NULL,
		    (const char *[]){ "ip", "-n", r->ns[i], "link", "set", "lo", "up", NULL });
	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		const char *ns = r->ns[links[i].ns], *dev = links[i].dev;

		/* IPv4: the NULL in place of "nodad" ends the command. */
		for (f = 0; f < NFAM; f++)
			if (o->fam[f])
				cmd(r, NULL,
				    (const char *[]){ "ip", "-n", ns, "addr", "add",
						      links[i].addr[f], "dev", dev,
						      f == F6 ? "nodad" : NULL, NULL });
		cmd(r, NULL, (const char *[]){ "ip", "-n", ns, "link", "set", dev, "up", NULL });
	}
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		for (f = 0; f < NFAM; f++)
			if (o->fam[f])
				cmd(r, NULL,
				    (const char *[]){ "ip", "-n", r->ns[routes[i].ns], "route",
						      "add", routes[i].dst[f], "via",
						      routes[i].via[f], NULL });
}

/* Every line of OUT has WORD (an empty OUT has none to check). */
static bool all_lines_have(const char *out, const char *word)
{
	const char *p = out;

	while (*p) {
		const char *nl = strchr(p, '\n'), *w = strstr(p, word);

		if (!w || (nl && w > nl))
			return false;
		p = nl ? nl + 1 : p + strlen(p);
	}
	return true;
}

/* The veths of namespace I have their carrier, and (IPv6) no address is tentative. */
static bool links_ready(struct run *r, int i)
{
	char out[OUT_MAX];

	if (run_cmd((const char *[]){ "ip", "-n", r->ns[i], "-o", "link", "show", "type", "veth",
				      NULL },
		    NULL, out, sizeof(out)) ||
	    !out[0] || !all_lines_have(out, " state UP "))
		return false;
	return !r->o->fam[F6] || (!run_cmd((const char *[]){ "ip", "-n", r->ns[i], "-6", "-o",
							     "addr", "show", "tentative", NULL },
					   NULL, out, sizeof(out)) &&
				  !out[0]);
}

/*
 * The kernel learns of a veth's carrier through linkwatch, which may take up
 * to a second; until then the end is "NO-CARRIER", its IPv6 addresses are
 * not usable and mbx ignores neighbour solicitations: the first IPv6 SYN
 * would wait for a retransmit. Wait for that before anything connects.
 */
static void wait_links(struct run *r)
{
	long long deadline = now_ms() + LINK_WAIT_MS;
	int i = 0;

	while (i < NNS) {
		check_signal(r);
		if (links_ready(r, i)) {
			i++;
			continue;
		}
		if (now_ms() > deadline)
			bail(r, "the veths in %s did not come up within %d s", r->ns[i],
			     LINK_WAIT_MS / 1000);
		sleep_ms(20);
	}
}

/* The middlebox: the rule first (it engages conntrack), then its sysctls. */
static void setup_mbx(struct run *r)
{
	char timeout[96];
	const char *mbx = r->ns[NS_MBX];

	snprintf(timeout, sizeof(timeout), "net.netfilter.nf_conntrack_tcp_timeout_established=%ld",
		 r->o->timeout_s);
	cmd(r, ruleset, (const char *[]){ "ip", "netns", "exec", mbx, "nft", "-f", "-", NULL });
	cmd(r, NULL,
	    (const char *[]){ "ip", "netns", "exec", mbx, "sysctl", "-q", "-w",
			      "net.ipv4.ip_forward=1", timeout,
			      "net.netfilter.nf_conntrack_tcp_loose=0",
			      r->o->fam[F6] ? "net.ipv6.conf.all.forwarding=1" : NULL, NULL });
}

/* The packets the rule answered with a RST; -1 if the counter cannot be read. */
static long long mbx_resets(struct run *r)
{
	char out[OUT_MAX];
	const char *p;
	long long v;

	if (run_cmd((const char *[]){ "ip", "netns", "exec", r->ns[NS_MBX], "nft", "list", "chain",
				      "inet", NFT_TABLE, NFT_CHAIN, NULL },
		    NULL, out, sizeof(out)))
		return -1;
	p = strstr(out, "counter packets ");
	if (!p || sscanf(p, "counter packets %lld", &v) != 1)
		return -1;
	return v;
}

/* ---- server and client --------------------------------------------------------- */

/* In a forked child: dies with us, enters namespace NS, leaves our stdout alone. */
static void child_init(struct run *r, pid_t parent, int ns)
{
	char path[PATH_MAX];
	int fd, nul = open("/dev/null", O_RDWR | O_CLOEXEC);

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent) /* we died before the prctl */
		_exit(1);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	close(r->guard_fd); /* else the guard would wait for us too */
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
	}
	snprintf(path, sizeof(path), NETNS_DIR "/%s", r->ns[ns]);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET)) {
		fprintf(stderr, PROG ": cannot enter %s: %s\n", r->ns[ns], strerror(errno));
		_exit(1);
	}
	close(fd);
}

static socklen_t make_addr(int f, const char *ip, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (f == F6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, ip, &a->sin6_addr);
		return sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, ip, &a->sin_addr);
		return sizeof(*a);
	}
}

/* A listening socket on the server's address of family F; -1 and errno on failure. */
static int listen_on(int f, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(f, srv_addr[f], port, &ss);
	int fd = socket(f == F6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, e;

	if (fd < 0)
		return -1;
	if ((f == F6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&ss, len) || listen(fd, CONN_MAX)) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Echoes one read; false once the peer closed or reset. */
static bool echo(int fd)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0)
		return false;
	return send(fd, buf, (size_t)n, MSG_NOSIGNAL) == n;
}

/* Listeners in P[0..NL), connections after them. Runs until it is killed. */
static void __attribute__((noreturn)) serve(struct pollfd *p, int nl)
{
	int n = nl, i;

	for (;;) {
		if (poll(p, (nfds_t)n, -1) < 0)
			continue;
		/* Backwards: a connection removed gets the last slot, already handled. */
		for (i = n - 1; i >= 0; i--) {
			if (!p[i].revents)
				continue;
			if (i < nl) {
				int fd = accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC);

				if (fd >= 0 && n < nl + CONN_MAX)
					p[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
				else if (fd >= 0)
					close(fd);
			} else if (!echo(p[i].fd)) {
				close(p[i].fd);
				p[i] = p[--n];
			}
		}
	}
}

/* The server: listens in srv, reports errno (0: listening) on FD, then serves. */
static void server_main(struct run *r, pid_t parent, int fd)
{
	struct pollfd p[NFAM + CONN_MAX];
	int f, nl = 0, e = 0;

	child_init(r, parent, NS_SRV);
	for (f = 0; f < NFAM && !e; f++) {
		if (!r->o->fam[f])
			continue;
		p[nl] = (struct pollfd){ .fd = listen_on(f, (int)r->o->port), .events = POLLIN };
		if (p[nl++].fd < 0)
			e = errno;
	}
	if (write(fd, &e, sizeof(e)) != sizeof(e) || e)
		_exit(1);
	close(fd);
	serve(p, nl);
}

static void start_server(struct run *r)
{
	long long deadline = now_ms() + START_WAIT_MS;
	pid_t parent = getpid(), pid;
	int p[2], e = -1;
	ssize_t n = -1;

	if (pipe2(p, O_CLOEXEC))
		bail(r, "pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		bail(r, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[0]);
		server_main(r, parent, p[1]);
	}
	r->server = pid;
	close(p[1]);
	while (!got_signal && now_ms() < deadline) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };

		if (poll(&pf, 1, 100) > 0) {
			n = read(p[0], &e, sizeof(e));
			break;
		}
	}
	close(p[0]);
	check_signal(r);
	if (n == 0)
		bail(r, "the server in %s exited before it listened", r->ns[NS_SRV]);
	if (n != (ssize_t)sizeof(e))
		bail(r, "the server in %s did not listen within %d s", r->ns[NS_SRV],
		     START_WAIT_MS / 1000);
	if (e)
		bail(r, "the server cannot listen on port %ld in %s: %s", r->o->port, r->ns[NS_SRV],
		     strerror(e));
}

static void finish(struct conn *c, int outcome, const char *step, int err)
{
	c->outcome = outcome;
	if (outcome == OUT_ERROR)
		snprintf(c->error, sizeof(c->error), "%s: %s", step,
			 err ? strerror(err) : "connection closed by the server");
	if (c->fd >= 0)
		close(c->fd); /* now: after the idle time its FIN would be invalid too */
	c->fd = -1;
	c->state = ST_DONE;
}

/* After the idle time a reset is the expected failure; before it, any is an error. */
static void finish_err(struct conn *c, int err)
{
	bool reset = c->state == ST_ECHO && (err == ECONNRESET || err == EPIPE);

	finish(c, reset ? OUT_RESET : OUT_ERROR, step_name[c->state], err);
}

/* The 5-byte message in one send; 0, or -1 and errno. */
static int send_msg(int fd)
{
	ssize_t n = send(fd, MSG, MSG_LEN, MSG_NOSIGNAL);

	if (n == (ssize_t)MSG_LEN)
		return 0;
	if (n >= 0)
		errno = EIO; /* a short send of 5 bytes into an empty buffer: not expected */
	return -1;
}

static void local_addr(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const void *a = c->family == F6 ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr :
					  (void *)&((struct sockaddr_in *)&ss)->sin_addr;

	if (getsockname(c->fd, (struct sockaddr *)&ss, &len))
		return;
	inet_ntop(ss.ss_family, a, c->laddr, sizeof(c->laddr));
	c->lport = ntohs(((struct sockaddr_in *)&ss)->sin_port); /* same offset in v6 */
}

/*
 * Everything is non-blocking, driven by one ppoll() loop: with --parallel a
 * connection being opened must not hold up another whose idle time is over.
 */
static void start_conn(struct conn *c, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(c->family, srv_addr[c->family], port, &ss);
	int one = 1;

	c->pid = (int)getpid();
	c->state = ST_CONNECT;
	c->due = now_ns() + OPEN_WAIT_MS * NS_PER_MS;
	c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0 || setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    (connect(c->fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS))
		finish_err(c, errno);
}

/* Writable: connected (or failed); sends the first message. */
static void on_connected(struct conn *c)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		finish_err(c, err ? err : errno);
		return;
	}
	local_addr(c);
	c->state = ST_FIRST;
	c->got = 0;
	if (send_msg(c->fd))
		finish_err(c, errno);
}

/* The idle time is over: the send that the middlebox may answer with a RST. */
static void send_again(struct conn *c)
{
	long long t = now_ns();

	c->real_ms = (double)(t - c->t_rx) / 1e6;
	c->state = ST_ECHO;
	c->got = 0;
	c->due = t + ECHO_WAIT_MS * NS_PER_MS;
	if (send_msg(c->fd))
		finish_err(c, errno);
}

/* Readable: (part of) an echo, EOF or an error. The idle time starts at the first echo. */
static void on_readable(struct conn *c)
{
	char buf[MSG_LEN];
	ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		finish_err(c, n ? errno : 0);
		return;
	}
	c->got += (size_t)n;
	if (c->got < MSG_LEN)
		return;
	if (c->state == ST_ECHO) {
		finish(c, OUT_OK, NULL, 0);
		return;
	}
	c->t_rx = now_ns();
	c->due = c->t_rx + c->idle_ms * NS_PER_MS;
	c->state = ST_IDLE;
}

/*
 * Waits for the sockets in P[0..NP) until WAKE (ns). ppoll() may overshoot
 * by 0.1% of its timeout (select_estimate_accuracy()): with sockets to watch
 * it waits in slices of SLICE_NS; without, clock_nanosleep() keeps to the
 * timer slack (50 us), so that idle_ms is what was asked.
 */
static int wait_until(struct pollfd *p, int np, long long wake)
{
	long long left = wake - now_ns();
	struct timespec ts;

	if (left <= 0)
		return 0;
	if (!np) {
		ts.tv_sec = wake / 1000000000LL;
		ts.tv_nsec = wake % 1000000000LL;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		return 0;
	}
	if (left > SLICE_NS)
		left = SLICE_NS;
	ts.tv_sec = left / 1000000000LL;
	ts.tv_nsec = left % 1000000000LL;
	return ppoll(p, (nfds_t)np, &ts, NULL);
}

static void on_event(struct conn *c)
{
	if (c->state == ST_CONNECT)
		on_connected(c);
	else
		on_readable(c);
}

/* After the events: the sends that are due, the waits that ran out. */
static void on_time(struct conn *c)
{
	if (c->state == ST_DONE || now_ns() < c->due)
		return;
	if (c->state == ST_IDLE)
		send_again(c);
	else
		finish(c, OUT_ERROR, step_name[c->state], ETIMEDOUT);
}

/* Waits for the next thing to do among C[0..N), does it; returns how many are done. */
static int client_step(struct conn *c, int n)
{
	struct pollfd p[CONN_MAX];
	int idx[CONN_MAX], np = 0, i, done = 0;
	long long wake = LLONG_MAX;

	for (i = 0; i < n; i++) {
		if (c[i].state == ST_DONE)
			continue;
		if (c[i].state != ST_IDLE) {
			idx[np] = i;
			p[np].fd = c[i].fd;
			p[np++].events = c[i].state == ST_CONNECT ? POLLOUT : POLLIN;
		}
		if (c[i].due < wake)
			wake = c[i].due;
	}
	if (wake != LLONG_MAX && wait_until(p, np, wake) > 0) {
		for (i = 0; i < np; i++)
			if (p[i].revents)
				on_event(&c[idx[i]]);
	}
	for (i = 0; i < n; i++) {
		on_time(&c[i]);
		done += c[i].state == ST_DONE;
	}
	return done;
}

/* One at a time, or with PARALLEL all started at once. */
static void client_run(struct conn *c, int n, bool parallel, int port)
{
	int started = 0, done = 0;

	while (done < n) {
		while (started < n && (parallel || started == done))
			start_conn(&c[started++], port);
		done = client_step(c, started);
	}
}

/* The client: waits in cli for a byte on FD (EOF: give up), then runs the connections. */
static void client_main(struct run *r, pid_t parent, int fd)
{
	char ch;
	ssize_t n;

	child_init(r, parent, NS_CLI);
	while ((n = read(fd, &ch, 1)) < 0 && errno == EINTR)
		;
	if (n != 1 || ch != 'g') /* EOF: the run was called off */
		_exit(1);
	client_run(r->conns, r->nconns, r->o->parallel, (int)r->o->port);
	_exit(0);
}

static void start_client(struct run *r)
{
	pid_t parent = getpid(), pid;
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		bail(r, "pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		bail(r, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[1]);
		client_main(r, parent, p[0]);
	}
	r->client = pid;
	r->go_fd = p[1];
	close(p[0]);
}

static void plan_conns(struct run *r)
{
	const struct opts *o = r->o;
	int i, f;

	r->conns = mmap(NULL, sizeof(struct conn) * CONN_MAX, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r->conns == MAP_FAILED)
		bail(r, "mmap: %s", strerror(errno));
	for (i = 0; i < o->nidle; i++) {
		for (f = 0; f < NFAM; f++) {
			struct conn *c = &r->conns[r->nconns];

			if (!o->fam[f])
				continue;
			memset(c, 0, sizeof(*c));
			c->family = f;
			c->idle_ms = o->idle_ms[i];
			c->real_ms = -1;
			c->fd = -1;
			r->nconns++;
		}
	}
}

/* ---- output ---------------------------------------------------------------- */

static void str_or_null(const char *s, bool have)
{
	if (have && s[0])
		json_str(s);
	else
		printf("null");
}

static void print_ready(const struct run *r)
{
	const struct opts *o = r->o;
	int i;

	printf("{\"type\": \"ready\", \"server_pid\": %d, \"client_pid\": %d, \"namespaces\": [",
	       (int)r->server, (int)r->client);
	for (i = 0; i < NNS; i++) {
		printf("%s", i ? ", " : "");
		json_str(r->ns[i]);
	}
	printf("], \"server_addr\": ");
	str_or_null(srv_addr[F4], o->fam[F4]);
	printf(", \"server_addr6\": ");
	str_or_null(srv_addr[F6], o->fam[F6]);
	printf(", \"client_addr\": ");
	str_or_null(cli_addr[F4], o->fam[F4]);
	printf(", \"client_addr6\": ");
	str_or_null(cli_addr[F6], o->fam[F6]);
	printf(", \"port\": %ld, \"timeout_s\": %ld}\n", o->port, o->timeout_s);
	fflush(stdout);
}

static void print_conn(const struct conn *c, long port)
{
	printf("{\"idle_s\": %ld.%03ld, \"idle_ms\": ", c->idle_ms / 1000, c->idle_ms % 1000);
	if (c->real_ms >= 0)
		printf("%.1f", c->real_ms);
	else
		printf("null");
	printf(", \"outcome\": \"%s\", \"family\": %d, \"laddr\": ", outcome_name[c->outcome],
	       c->family == F6 ? 6 : 4);
	str_or_null(c->laddr, true);
	printf(", \"lport\": ");
	if (c->laddr[0])
		printf("%d", c->lport);
	else
		printf("null");
	printf(", \"raddr\": \"%s\", \"rport\": %ld, \"client_pid\": %d, \"error\": ",
	       srv_addr[c->family], port, c->pid);
	if (c->outcome == OUT_NONE)
		printf("\"not run\"");
	else
		str_or_null(c->error, c->outcome == OUT_ERROR);
	printf("}");
}

static void print_done(const struct run *r, long long resets_sent)
{
	int i, count[4] = { 0 };

	printf("{\"type\": \"done\", \"timeout_s\": %ld, \"connections\": [", r->o->timeout_s);
	for (i = 0; i < r->nconns; i++) {
		printf("%s", i ? ", " : "");
		print_conn(&r->conns[i], r->o->port);
		count[r->conns[i].outcome]++;
	}
	printf("], \"resets\": %d, \"ok\": %d, \"errors\": %d, \"mbx_resets_sent\": ",
	       count[OUT_RESET], count[OUT_OK], count[OUT_ERROR] + count[OUT_NONE]);
	if (resets_sent >= 0)
		printf("%lld}\n", resets_sent);
	else
		printf("null}\n");
	fflush(stdout);
}

/* ---- the run --------------------------------------------------------------- */

static bool in_path(const char *prog)
{
	const char *p = getenv("PATH");
	char buf[PATH_MAX];

	for (p = p ? p : "/bin:/usr/bin";;) {
		const char *colon = strchr(p, ':');
		int n = colon ? (int)(colon - p) : (int)strlen(p);

		snprintf(buf, sizeof(buf), "%.*s/%s", n, p, prog);
		if (n && access(buf, X_OK) == 0)
			return true;
		if (!colon)
			return false;
		p = colon + 1;
	}
}

static void check_env(struct run *r)
{
	static const char *const progs[][2] = { { "ip", "iproute2" },
						{ "nft", "nftables" },
						{ "sysctl", "procps" } };
	size_t i;

	if (geteuid() != 0)
		bail(r, "network namespaces need root; run as root");
	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++)
		if (!in_path(progs[i][0]))
			bail(r, "%s not found in PATH; apt-get install %s", progs[i][0],
			     progs[i][1]);
}

static void check_signal_cb(void *r)
{
	check_signal(r);
}

static void wait_client(struct run *r)
{
	int st;

	for (;;) {
		pid_t w = waitpid(r->client, &st, WNOHANG);

		check_signal(r); /* SIGALRM too: --max-s bounds this wait */
		if (w == r->client)
			break;
		if (w < 0 && errno != EINTR)
			bail(r, "waitpid: %s", strerror(errno));
		sleep_ms(20);
	}
	r->client = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		bail(r, "the client failed: %s %d", WIFEXITED(st) ? "exit" : "signal",
		     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

static int run(struct run *r)
{
	const char go = 'g';
	long long resets_sent;
	int i;

	for (i = 0; i < NNS; i++)
		snprintf(r->ns[i], sizeof(r->ns[i]), "%s-%s", r->o->prefix, ns_suffix[i]);
	check_env(r);
	plan_conns(r);
	start_guard(r);
	for (i = 0; i < NNS; i++)
		add_netns(r, i);
	no_ipv6_dad(r); /* before the veths exist: they take the default */
	add_links(r);
	setup_mbx(r);
	wait_links(r);
	start_server(r);
	start_client(r);
	check_signal(r);
	print_ready(r);
	if (r->o->wait_stdin)
		/* The caller starts a tracer meanwhile. */
		wait_line(check_signal_cb, r);
	if (write(r->go_fd, &go, 1) != 1)
		bail(r, "cannot start the client: %s", strerror(errno));
	wait_client(r);
	resets_sent = mbx_resets(r);
	print_done(r, resets_sent);
	if (r->o->keep)
		fprintf(stderr,
			PROG ": namespaces kept: ip netns del %s; ip netns del %s; "
			     "ip netns del %s\n",
			r->ns[0], r->ns[1], r->ns[2]);
	teardown(r, r->o->keep);
	return 0;
}

int main(int argc, char **argv)
{
	static struct run r = { .go_fd = -1, .guard_fd = -1 };
	struct opts o;

	parse_args(argc, argv, &o);
	r.o = &o;
	stop_signals(on_signal, o.max_s);
	return run(&r);
}
