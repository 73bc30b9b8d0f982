// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * st-tlsstorm: replays the TLS handshake storm: a TLS server on loopback and
 * a bounded flood of client handshakes against it, all on 127.0.0.0/8.
 *
 * The server (--server, default nginx) is started in a fresh work dir
 * (--workdir, default a mkdtemp under /tmp, removed at exit unless --keep)
 * with an RSA key (--rsa-bits, default 2048) and a self-signed certificate
 * (CN=localhost) made with libcrypto:
 *   nginx       /usr/sbin/nginx -p DIR -c DIR/nginx.conf, one worker; port P
 *               has no session cache, port P+1 a shared one (no tickets on
 *               either): the resumption port
 *   s_server    openssl s_server -accept 127.0.0.1:P ... -client_renegotiation
 *   exec:PATH   PATH --port P --cert C --key K (st-tlsserver)
 * The server runs in a process group of its own with PR_SET_PDEATHSIG(SIGKILL),
 * its stdout and stderr go to DIR/server.log, and it is stopped and reaped at
 * exit, also on SIGINT, SIGTERM and --timeout (default 120 s). Should we be
 * SIGKILLed, a forked guard kills the group (nginx's worker would outlive its
 * master) and removes the work dir.
 *
 * Once it accepts, one JSON line goes to stdout:
 *   {"type", "server", "server_pid" (nginx's master), "worker_pids",
 *    "port", "resume_port", "client_pid" (this process: the client side)}
 * then with --wait-stdin one line is read from stdin (a tracer starts
 * meanwhile) and the phases run, in this order:
 *   --full N     N full handshakes on P (TLS 1.3 or 1.2, no session reuse)
 *   --requests R R HTTP/1.1 GETs on one kept-alive connection to P (nginx
 *                only; its handshake counts as a full one): TLS reads and
 *                writes, no handshake, as a busy HTTPS server's steady state
 *   --resumed M  on the resumption port, TLS 1.2, all from one address: a
 *                seeding full handshake, then M handshakes offering its
 *                session (a new seed after one that was not resumed)
 *   --reneg K    one TLS 1.2 connection on P from 127.0.0.(C+2) that
 *                renegotiates K times (nginx refuses: reported, not a
 *                failure); its first handshake counts as a full one
 *   --abort F    F connections that send the ClientHello, wait 50 ms for the
 *                answer and reset (SO_LINGER 0)
 * Connections come round-robin from 127.0.0.2 .. 127.0.0.(C+1), --clients C
 * (default 4); the renegotiating one from 127.0.0.(C+2). Each socket has 10 s
 * send and receive timeouts. The final JSON line:
 *   {"type": "done", "server", "server_pid", "worker_pids", "full",
 *    "resumed" (as the client saw them: SSL_session_reused()), "requests"
 *    (answered),
 *    "renegotiations" (completed), "reneg_client", "aborted", "failed"
 *    (handshakes that failed unexpectedly), "handshakes" (full + resumed),
 *    "clients" (completed handshakes per source address), "elapsed_s" and
 *    "server_cpu_s" (utime + stime of the workers) over the phases}
 * and the exit status is 0: failed handshakes are counted, not fatal. It is 1
 * when the server could not be started or died during the run, 2 for bad
 * options, 128 + the signal after SIGINT or SIGTERM.
 *
 * --measure-ops N runs no server: it prints the CPU time per op (median of 5
 * rounds of N) of what a TLS 1.3 server computes per handshake:
 *   {"type": "ops", "rsa_bits", "rsa_pss_sign_us", "x25519_keygen_us",
 *    "x25519_derive_us", "rand32_us"}
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define PROG "st-tlsstorm"
#define NGINX_BIN "/usr/sbin/nginx"
#define OPENSSL_BIN "/usr/bin/openssl"
#define SOCK_TIMEOUT_S 10
#define START_WAIT_MS 10000
#define STOP_WAIT_MS 3000
#define ABORT_WAIT_MS 50
#define COUNT_MAX 1000000L
#define CLIENTS_MAX 64
#define WORKERS_MAX 16
#define ROUNDS 5
#define DRAIN_MAX 64 /* records read while waiting for the server's close_notify */
#define NOPS 4

#define USAGE                                                                                           \
	"usage: " PROG " [--server nginx|s_server|exec:PATH] [--port P] [--workdir DIR] [--keep] "      \
	"[--rsa-bits B] [--full N] [--requests R] [--resumed M] [--reneg K] [--abort F] [--clients C] " \
	"[--wait-stdin] [--timeout S] | " PROG " --measure-ops N [--rsa-bits B]"

#include "tool.h"

enum srv_kind { SRV_NGINX, SRV_S_SERVER, SRV_EXEC };

struct opts {
	enum srv_kind kind;
	const char *server; /* as given */
	const char *exec_path;
	const char *workdir;
	bool keep;
	bool wait_stdin;
	long rsa_bits;
	long port;
	long full;
	long requests;
	long resumed;
	long reneg;
	long aborts;
	long clients;
	long timeout;
	long measure_ops; /* 0: storm mode */
};

struct tally {
	long full;
	long requests;
	long resumed;
	long renegs;
	long aborted;
	long failed;
	long per_client[CLIENTS_MAX + 1]; /* [clients]: the renegotiating client */
	unsigned long rr; /* round-robin position over the client addresses */
	char first_err[512];
};

struct run {
	const struct opts *o;
	char dir[PATH_MAX]; /* "" when there is none (left) */
	bool made_dir;
	char cert[PATH_MAX + 16];
	char key[PATH_MAX + 16];
	pid_t pid; /* the server: nginx's master or the process itself; 0 if none */
	bool pid_reaped;
	int status;
	pid_t workers[WORKERS_MAX];
	unsigned long long ticks0[WORKERS_MAX]; /* their utime + stime at the start */
	int nworkers;
	int stdin_fd; /* write end of the server's stdin, never written */
	pid_t guard;
	int guard_fd;
	int port;
	int resume_port;
	struct tally t;
};

static const char *const work_files[] = { "key.pem",   "cert.pem",  "nginx.conf",
					  "nginx.pid", "error.log", "server.log" };
static const char *const work_dirs[] = { "client_body_temp", "proxy_temp", "fastcgi_temp",
					 "uwsgi_temp", "scgi_temp" };

static volatile sig_atomic_t got_signal;
static volatile sig_atomic_t server_pgid; /* 0: no server */

static void on_signal(int sig)
{
	got_signal = sig;
	/* Kill the server now: our blocking socket calls then return at once. */
	if (server_pgid > 0)
		kill(-(pid_t)server_pgid, SIGKILL);
}

static void parse_server(const char *val, struct opts *o)
{
	o->server = val;
	if (!strcmp(val, "nginx")) {
		o->kind = SRV_NGINX;
	} else if (!strcmp(val, "s_server")) {
		o->kind = SRV_S_SERVER;
	} else if (!strncmp(val, "exec:", 5) && val[5]) {
		o->kind = SRV_EXEC;
		o->exec_path = val + 5;
	} else {
		usage_error("--server wants nginx, s_server or exec:PATH, got", val);
	}
}

/* Options that take a number: name, range, where it goes. */
static bool parse_number(const char *key, const char *val, struct opts *o)
{
	const struct num_opt nums[] = {
		{ "--port", 1024, 65534, &o->port },
		{ "--rsa-bits", 1024, 8192, &o->rsa_bits },
		{ "--full", 0, COUNT_MAX, &o->full },
		{ "--requests", 0, COUNT_MAX, &o->requests },
		{ "--resumed", 0, COUNT_MAX, &o->resumed },
		{ "--reneg", 0, COUNT_MAX, &o->reneg },
		{ "--abort", 0, COUNT_MAX, &o->aborts },
		{ "--clients", 1, CLIENTS_MAX, &o->clients },
		{ "--timeout", 1, 3600, &o->timeout },
		{ "--measure-ops", 1, COUNT_MAX, &o->measure_ops },
	};

	return opt_number(nums, sizeof(nums) / sizeof(nums[0]), key, val);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->kind = SRV_NGINX;
	o->server = "nginx";
	o->rsa_bits = 2048;
	o->port = 14433;
	o->full = 200;
	o->clients = 4;
	o->timeout = 120;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val;
		char key[32];

		opt_help(a);
		if (!strcmp(a, "--keep")) {
			o->keep = true;
			continue;
		}
		if (!strcmp(a, "--wait-stdin")) {
			o->wait_stdin = true;
			continue;
		}
		val = opt_value(argc, argv, &i, key, sizeof(key));

		if (parse_number(key, val, o))
			continue;
		if (!strcmp(key, "--server")) {
			parse_server(val, o);
		} else if (!strcmp(key, "--workdir")) {
			if (!*val)
				usage_error("--workdir wants a path", NULL);
			o->workdir = val;
		} else {
			usage_error("unknown option", key);
		}
	}
	if (o->requests && o->kind != SRV_NGINX)
		usage_error("--requests needs --server nginx", NULL);
}

/* The last OpenSSL error as text (and the queue cleared). */
static const char *ossl_err(void)
{
	static char buf[256];
	unsigned long e = ERR_peek_last_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "no OpenSSL error recorded");
	ERR_clear_error();
	return buf;
}

/* ---- teardown ------------------------------------------------------------- */

/* Reaps whatever child exited; returns whether children are left. */
static bool reap_children(struct run *r)
{
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);

		if (pid > 0) {
			if (pid == r->pid) {
				r->pid_reaped = true;
				r->status = st;
			}
			continue;
		}
		if (pid < 0 && errno == EINTR)
			continue;
		return pid == 0;
	}
}

static void stop_guard(struct run *r)
{
	if (r->guard <= 0)
		return;
	/* A byte disarms it: it exits 0, so a tracer does not see a kill. */
	if (write(r->guard_fd, "d", 1) != 1)
		kill(r->guard, SIGKILL);
	while (waitpid(r->guard, NULL, 0) < 0 && errno == EINTR)
		;
	close(r->guard_fd);
	r->guard = 0;
}

/*
 * SIGTERM first (nginx then stops its workers and removes its pid file),
 * SIGKILL to the process group after STOP_WAIT_MS. We are a child subreaper,
 * so nginx's workers come back to us if the master goes first: once no child
 * is left, nothing of the server is.
 */
static void stop_server(struct run *r)
{
	long long deadline = now_ms() + STOP_WAIT_MS;

	if (!r->pid)
		return;
	if (!r->pid_reaped)
		kill(r->pid, SIGTERM);
	while (reap_children(r) && now_ms() < deadline)
		sleep_ms(20);
	if (reap_children(r))
		kill(-r->pid, SIGKILL);
	deadline = now_ms() + STOP_WAIT_MS;
	while (reap_children(r) && now_ms() < deadline)
		sleep_ms(20);
	server_pgid = 0;
	r->pid = 0;
	close(r->stdin_fd);
}

/* Removes what we (or nginx) made in the work dir, and the dir if we made it. */
static void remove_workdir(struct run *r)
{
	char path[PATH_MAX + 32];
	size_t i;

	if (!r->dir[0] || r->o->keep)
		return;
	for (i = 0; i < sizeof(work_files) / sizeof(work_files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", r->dir, work_files[i]);
		unlink(path);
	}
	for (i = 0; i < sizeof(work_dirs) / sizeof(work_dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", r->dir, work_dirs[i]);
		rmdir(path);
	}
	if (r->made_dir)
		rmdir(r->dir);
	r->dir[0] = '\0';
}

static void stop_all(struct run *r)
{
	stop_guard(r);
	stop_server(r);
	remove_workdir(r);
}

/* A runtime failure (or a signal): one line, everything stopped and removed, exit. */
static void bail(struct run *r, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	int code = 1;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (got_signal == SIGALRM) {
		snprintf(msg, sizeof(msg), "timed out after %ld s (--timeout)%s", r->o->timeout,
			 r->pid ? "; server stopped" : "");
	} else if (got_signal) {
		snprintf(msg, sizeof(msg), "%s%s",
			 got_signal == SIGINT ? "interrupted" : "terminated",
			 r->pid ? "; server stopped" : "");
		code = 128 + got_signal;
	}
	stop_all(r);
	fprintf(stderr, PROG ": %s\n", msg);
	exit(code);
}

static void check_signal(struct run *r)
{
	if (got_signal)
		bail(r, "signal");
}

/* ---- work dir, key and certificate ---------------------------------------- */

static void make_workdir(struct run *r)
{
	const char *want = r->o->workdir;
	char tmpl[] = "/tmp/" PROG ".XXXXXX";

	if (!want) {
		if (!mkdtemp(tmpl))
			bail(r, "mkdtemp in /tmp: %s", strerror(errno));
		want = tmpl;
		r->made_dir = true;
	} else if (mkdir(want, 0700) == 0) {
		r->made_dir = true;
	} else if (errno != EEXIST) {
		bail(r, "--workdir %s: %s", want, strerror(errno));
	}
	/* Absolute: nginx resolves everything against it (-p). */
	if (!realpath(want, r->dir)) {
		int e = errno;

		if (r->made_dir)
			rmdir(want);
		r->dir[0] = '\0';
		bail(r, "--workdir %s: %s", want, strerror(e));
	}
	snprintf(r->cert, sizeof(r->cert), "%s/cert.pem", r->dir);
	snprintf(r->key, sizeof(r->key), "%s/key.pem", r->dir);
}

static X509 *self_signed(EVP_PKEY *pkey)
{
	X509 *x = X509_new();
	X509_NAME *name;

	if (!x)
		return NULL;
	name = X509_get_subject_name(x);
	if (X509_set_version(x, X509_VERSION_3) &&
	    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL)) &&
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
	    X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400) && X509_set_pubkey(x, pkey) &&
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
				       -1, -1, 0) &&
	    X509_set_issuer_name(x, name) && X509_sign(x, pkey, EVP_sha256()))
		return x;
	X509_free(x);
	return NULL;
}

/* Writes the key (mode 0600) or the certificate as PEM; 0 or -1. */
static int write_pem(const char *path, EVP_PKEY *pkey, X509 *x)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, pkey ? 0600 : 0644);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	int ok;

	if (!f) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (pkey)
		ok = PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL);
	else
		ok = PEM_write_X509(f, x);
	return fclose(f) == 0 && ok ? 0 : -1;
}

static void make_cert(struct run *r)
{
	EVP_PKEY *pkey = EVP_RSA_gen((unsigned int)r->o->rsa_bits);
	X509 *x = pkey ? self_signed(pkey) : NULL;

	if (!x) {
		EVP_PKEY_free(pkey);
		bail(r, "cannot make the RSA key and certificate: %s", ossl_err());
	}
	if (write_pem(r->key, pkey, NULL) || write_pem(r->cert, NULL, x)) {
		int e = errno;

		X509_free(x);
		EVP_PKEY_free(pkey);
		bail(r, "cannot write the key and certificate in %s: %s", r->dir, strerror(e));
	}
	X509_free(x);
	EVP_PKEY_free(pkey);
}

/* ---- the server ------------------------------------------------------------ */

/* Paths are relative to the work dir: nginx resolves them against -p. */
static void write_nginx_conf(struct run *r)
{
	static const char *const cache[2] = { "off", "shared:st:1m" };
	char path[PATH_MAX + 16];
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "%s/nginx.conf", r->dir);
	f = fopen(path, "we");
	if (!f)
		bail(r, "cannot write %s: %s", path, strerror(errno));
	fprintf(f,
		"daemon off;\nmaster_process on;\nworker_processes 1;\nuser root;\n"
		"pid nginx.pid;\nerror_log error.log notice;\n"
		"events {\n\tworker_connections 1024;\n}\n"
		"http {\n\taccess_log off;\n"
		"\tclient_body_temp_path client_body_temp;\n\tproxy_temp_path proxy_temp;\n"
		"\tfastcgi_temp_path fastcgi_temp;\n\tuwsgi_temp_path uwsgi_temp;\n"
		"\tscgi_temp_path scgi_temp;\n"
		"\tssl_certificate cert.pem;\n\tssl_certificate_key key.pem;\n"
		"\tssl_protocols TLSv1.2 TLSv1.3;\n\tkeepalive_requests %ld;\n",
		COUNT_MAX + 1);
	/* Port P: full handshakes only; port P + 1: a session cache to resume from. */
	for (i = 0; i < 2; i++)
		fprintf(f,
			"\tserver {\n\t\tlisten 127.0.0.1:%d ssl;\n\t\tssl_session_cache %s;\n"
			"\t\tssl_session_tickets off;\n\t\treturn 200 \"ok\\n\";\n\t}\n",
			r->port + i, cache[i]);
	fprintf(f, "}\n");
	if (fclose(f))
		bail(r, "cannot write %s: %s", path, strerror(errno));
}

/*
 * Forks and execs ARGV in a process group of its own that dies with us.
 * stdin is a pipe we hold open and never write: s_server takes commands
 * from its stdin, and this one has none, nor an EOF (which ends a connection
 * when s_server runs without -quiet). stdout and stderr go to server.log.
 */
static void spawn_server(struct run *r, char *const argv[])
{
	char log[PATH_MAX + 16];
	int ep[2], in[2], logfd, e = 0;
	pid_t parent = getpid(), pid;
	ssize_t n;

	snprintf(log, sizeof(log), "%s/server.log", r->dir);
	logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0)
		bail(r, "cannot write %s: %s", log, strerror(errno));
	if (pipe2(ep, O_CLOEXEC) || pipe2(in, O_CLOEXEC))
		bail(r, "pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		bail(r, "fork: %s", strerror(errno));
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) /* we died before the prctl */
			_exit(127);
		dup2(in[0], 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		execv(argv[0], argv);
		e = errno; /* exec failed: tell the parent why on the close-on-exec pipe */
		if (write(ep[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	setpgid(pid, pid); /* also here, so that a kill(-pgid) right away finds the group */
	r->pid = pid;
	server_pgid = pid;
	r->stdin_fd = in[1];
	close(in[0]);
	close(ep[1]);
	close(logfd);
	do
		n = read(ep[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR && !got_signal);
	close(ep[0]);
	check_signal(r);
	if (n == (ssize_t)sizeof(e))
		bail(r, "cannot run %s: %s", argv[0], strerror(e));
}

static void start_server(struct run *r)
{
	char port[16], accept[32], prefix[PATH_MAX + 2], conf[PATH_MAX + 16];
	char *argv[12];
	int n = 0;

	snprintf(port, sizeof(port), "%d", r->port);
	snprintf(accept, sizeof(accept), "127.0.0.1:%d", r->port);
	snprintf(prefix, sizeof(prefix), "%s/", r->dir);
	snprintf(conf, sizeof(conf), "%s/nginx.conf", r->dir);
	if (r->o->kind == SRV_NGINX) {
		write_nginx_conf(r);
		argv[n++] = NGINX_BIN;
		argv[n++] = "-p";
		argv[n++] = prefix;
		argv[n++] = "-c";
		argv[n++] = conf;
	} else if (r->o->kind == SRV_S_SERVER) {
		argv[n++] = OPENSSL_BIN;
		argv[n++] = "s_server";
		argv[n++] = "-accept";
		argv[n++] = accept;
		argv[n++] = "-cert";
		argv[n++] = r->cert;
		argv[n++] = "-key";
		argv[n++] = r->key;
		argv[n++] = "-client_renegotiation"; /* off by default in OpenSSL 3 */
		argv[n++] = "-quiet";
	} else {
		argv[n++] = (char *)r->o->exec_path;
		argv[n++] = "--port";
		argv[n++] = port;
		argv[n++] = "--cert";
		argv[n++] = r->cert;
		argv[n++] = "--key";
		argv[n++] = r->key;
	}
	argv[n] = NULL;
	spawn_server(r, argv);
}

/*
 * nginx's workers are not our children and have no parent-death signal: were
 * we SIGKILLed, the master would die but its worker would live on, holding
 * the ports. This forked guard waits for our end (EOF on a pipe), then kills
 * the server's process group and removes the work dir. Every orderly exit
 * stops the guard first.
 */
static void start_guard(struct run *r)
{
	int p[2], nul;
	pid_t pid;
	ssize_t n;
	char c;

	if (pipe2(p, O_CLOEXEC))
		bail(r, "pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		bail(r, "fork: %s", strerror(errno));
	if (pid > 0) {
		close(p[0]);
		r->guard = pid;
		r->guard_fd = p[1];
		return;
	}
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	close(p[1]);
	close(r->stdin_fd);
	/* It must not hold our stdout or stderr open (callers read them to EOF). */
	nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
	}
	while ((n = read(p[0], &c, 1)) < 0 && errno == EINTR)
		;
	if (n == 1)
		_exit(0); /* disarmed: the generator stopped the server itself */
	kill(-r->pid, SIGKILL);
	sleep_ms(100);
	remove_workdir(r);
	_exit(0);
}

/* ppid and utime + stime (clock ticks) from /proc/PID/stat; 0 or -1 if gone. */
static int read_stat(pid_t pid, pid_t *ppid, unsigned long long *ticks)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	ssize_t n;
	int fd, pp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* comm may hold spaces: fields count from here */
	/* state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime */
	if (!p || sscanf(p + 1, " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &pp, &ut,
			 &st) != 3)
		return -1;
	if (ppid)
		*ppid = (pid_t)pp;
	if (ticks)
		*ticks = ut + st;
	return 0;
}

static int find_children(pid_t parent, pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while (n < max && (de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		pid_t pp;

		if (*end || pid <= 0)
			continue;
		if (!read_stat((pid_t)pid, &pp, NULL) && pp == parent)
			out[n++] = (pid_t)pid;
	}
	closedir(d);
	return n;
}

static struct sockaddr_in lo_addr(int octet, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	a.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)octet);
	return a;
}

/*
 * Nobody listens on 127.0.0.1:PORT. With SO_REUSEADDR on both sides (nginx,
 * s_server and st-tlsserver set it) a bind conflicts only with a listening
 * socket, not with TIME_WAIT leftovers nor with a server between its bind and
 * its listen: once the port is not free, the server accepts. Unlike a probe
 * connection, this shows the server (and a tracer) nothing.
 */
static bool port_free(int port)
{
	struct sockaddr_in a = lo_addr(1, port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	bool ok;

	if (fd < 0)
		return true; /* the server will say */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/*
 * A blocking TCP connection from 127.0.0.SRC to 127.0.0.1:PORT, with 10 s
 * send and receive timeouts (the send timeout also bounds connect); -1 and
 * errno on failure. The source port is picked at connect time, so many
 * connections from one address share the ephemeral range. TCP_NODELAY, as
 * browsers do: else Nagle holds our close_notify back until the server's
 * delayed ACK (40 ms) after a resumed TLS 1.2 handshake.
 */
static int tcp_connect(int src, int port)
{
	struct timeval tv = { .tv_sec = SOCK_TIMEOUT_S };
	struct sockaddr_in from = lo_addr(src, 0), to = lo_addr(1, port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, e;

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&from, sizeof(from)) ||
	    connect(fd, (struct sockaddr *)&to, sizeof(to))) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static const char *status_str(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else
		snprintf(buf, len, "killed by signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return buf;
}

/* The last non-empty line of the server's log, to say why it did not start. */
static const char *last_log_line(const struct run *r, char *buf, size_t len)
{
	char path[PATH_MAX + 16], line[512];
	FILE *f;

	snprintf(buf, len, "it printed nothing");
	snprintf(path, sizeof(path), "%s/server.log", r->dir);
	f = fopen(path, "re");
	if (!f)
		return buf;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0])
			snprintf(buf, len, "%s", line);
	}
	fclose(f);
	return buf;
}

/* Until the workers exist and the ports accept. */
static void wait_ready(struct run *r)
{
	long long deadline = now_ms() + START_WAIT_MS;
	char why[512], how[64];
	int st;

	for (;;) {
		check_signal(r);
		if (waitpid(r->pid, &st, WNOHANG) == r->pid) {
			r->pid_reaped = true;
			bail(r, "%s %s before it accepted connections: %s", r->o->server,
			     status_str(st, how, sizeof(how)), last_log_line(r, why, sizeof(why)));
		}
		if (r->o->kind == SRV_NGINX) {
			r->nworkers = find_children(r->pid, r->workers, WORKERS_MAX);
		} else {
			r->workers[0] = r->pid;
			r->nworkers = 1;
		}
		if (r->nworkers > 0 && !port_free(r->port) && !port_free(r->resume_port))
			return;
		if (now_ms() > deadline)
			bail(r, "%s did not accept on 127.0.0.1:%d within %d s: %s", r->o->server,
			     r->port, START_WAIT_MS / 1000, last_log_line(r, why, sizeof(why)));
		sleep_ms(20);
	}
}

static bool server_exited(struct run *r)
{
	int st;

	if (!r->pid_reaped && waitpid(r->pid, &st, WNOHANG) == r->pid) {
		r->pid_reaped = true;
		r->status = st;
	}
	return r->pid_reaped;
}

/* utime + stime of the workers since the start of the phases, in ticks. */
static unsigned long long workers_ticks(struct run *r, bool start)
{
	unsigned long long sum = 0, t;
	int i;

	for (i = 0; i < r->nworkers; i++) {
		if (read_stat(r->workers[i], NULL, &t))
			continue; /* gone: its time is lost */
		if (start)
			r->ticks0[i] = t;
		else
			sum += t - r->ticks0[i];
	}
	return sum;
}

/* ---- the client side ------------------------------------------------------- */

static SSL_CTX *client_ctx(bool tls12)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		return NULL;
	/* Sessions are reused only by hand (SSL_set_session) and only by session id. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* self-signed, and only loopback */
	if (tls12 && !SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* Client IDX: 127.0.0.(IDX + 2). */
static int next_client(struct run *r)
{
	return (int)(r->t.rr++ % (unsigned long)r->o->clients);
}

static void note_fail(struct run *r, int idx, const char *what, const char *why)
{
	if (got_signal)
		return; /* a consequence: we killed the server */
	r->t.failed++;
	if (!r->t.first_err[0])
		snprintf(r->t.first_err, sizeof(r->t.first_err), "%s from 127.0.0.%d: %s", what,
			 idx + 2, why);
}

static const char *ssl_why(SSL *ssl, int ret, char *buf, size_t len)
{
	int e = errno, se = SSL_get_error(ssl, ret);

	if (ERR_peek_last_error())
		snprintf(buf, len, "%s", ossl_err());
	else if (se == SSL_ERROR_SYSCALL)
		snprintf(buf, len, "%s", e ? strerror(e) : "unexpected EOF");
	else
		snprintf(buf, len, "SSL error %d", se);
	return buf;
}

/* A connection from client IDX with a completed, counted handshake; NULL if it failed. */
static SSL *tls_open(struct run *r, SSL_CTX *ctx, int idx, int port, SSL_SESSION *sess)
{
	char why[256];
	int fd = tcp_connect(idx + 2, port), ret;
	SSL *ssl;

	if (fd < 0) {
		note_fail(r, idx, "connect", strerror(errno));
		return NULL;
	}
	ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1 || (sess && SSL_set_session(ssl, sess) != 1)) {
		note_fail(r, idx, "SSL setup", ossl_err());
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	ERR_clear_error();
	ret = SSL_connect(ssl);
	if (ret != 1) {
		note_fail(r, idx, "handshake", ssl_why(ssl, ret, why, sizeof(why)));
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	r->t.per_client[idx]++;
	if (SSL_session_reused(ssl))
		r->t.resumed++;
	else
		r->t.full++;
	return ssl;
}

/*
 * close_notify both ways. Reading up to the server's close_notify also
 * consumes the TLS 1.3 session tickets it sent, so our close is a FIN, not a
 * RST for unread data.
 */
static void tls_close(SSL *ssl)
{
	int fd = SSL_get_fd(ssl), i;
	char buf[512];

	if (SSL_shutdown(ssl) == 0)
		for (i = 0; i < DRAIN_MAX && SSL_read(ssl, buf, sizeof(buf)) > 0; i++)
			;
	SSL_free(ssl);
	ERR_clear_error();
	close(fd);
}

static void phase_full(struct run *r, SSL_CTX *ctx)
{
	long i;

	for (i = 0; i < r->o->full && !got_signal; i++) {
		SSL *ssl = tls_open(r, ctx, next_client(r), r->port, NULL);

		if (ssl)
			tls_close(ssl);
	}
}

/* One GET and its whole answer (nginx's "ok\n", Content-Length 3); false on an error. */
static bool one_request(SSL *ssl)
{
	static const char get[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
	char buf[1024];
	size_t have = 0;
	int n;

	if (SSL_write(ssl, get, sizeof(get) - 1) != (int)sizeof(get) - 1)
		return false;
	while (have < sizeof(buf) - 1) {
		n = SSL_read(ssl, buf + have, (int)(sizeof(buf) - 1 - have));
		if (n <= 0)
			return false;
		have += (size_t)n;
		buf[have] = '\0';
		if (have >= 7 && !strcmp(buf + have - 7, "\r\n\r\nok\n"))
			return true;
	}
	return false;
}

static void phase_requests(struct run *r, SSL_CTX *ctx)
{
	int idx = next_client(r);
	SSL *ssl;
	long i;

	if (!r->o->requests)
		return;
	ssl = tls_open(r, ctx, idx, r->port, NULL);
	for (i = 0; ssl && i < r->o->requests && !got_signal; i++) {
		if (!one_request(ssl)) {
			note_fail(r, idx, "request", ossl_err());
			break;
		}
		r->t.requests++;
	}
	if (ssl)
		tls_close(ssl);
}

/*
 * Attempt 0 seeds a session; a handshake that was not resumed seeds the next
 * one. All from one address, the next in the round-robin: a returning client
 * resumes its own session.
 */
static void phase_resumed(struct run *r, SSL_CTX *ctx12)
{
	SSL_SESSION *sess = NULL;
	int idx;
	long i;

	if (!r->o->resumed)
		return;
	idx = next_client(r);
	for (i = 0; i <= r->o->resumed && !got_signal; i++) {
		SSL *ssl = tls_open(r, ctx12, idx, r->resume_port, sess);

		if (!ssl)
			continue;
		if (!SSL_session_reused(ssl)) {
			SSL_SESSION_free(sess);
			sess = SSL_get1_session(ssl);
		}
		tls_close(ssl);
	}
	SSL_SESSION_free(sess);
}

/* One client renegotiation; 0 once it completed. */
static int renegotiate(SSL *ssl, char *why, size_t len)
{
	static const char ping[] = "ping\n";
	int ret = 0, i;

	ERR_clear_error();
	if (SSL_renegotiate(ssl) != 1) {
		ssl_why(ssl, 0, why, len);
		return -1;
	}
	for (i = 0; i < 8 && ret != 1; i++) {
		int se;

		ret = SSL_do_handshake(ssl);
		se = ret == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, ret);
		if (se != SSL_ERROR_NONE && se != SSL_ERROR_WANT_READ &&
		    se != SSL_ERROR_WANT_WRITE) {
			ssl_why(ssl, ret, why, len);
			return -1;
		}
	}
	if (ret != 1 || SSL_renegotiate_pending(ssl)) {
		snprintf(why, len, "the renegotiation is still pending");
		return -1;
	}
	/* The server renegotiates inside SSL_read: give that read some data to return. */
	if (SSL_write(ssl, ping, sizeof(ping) - 1) <= 0)
		ssl_why(ssl, -1, why, len);
	return 0;
}

static void phase_reneg(struct run *r, SSL_CTX *ctx12)
{
	const struct opts *o = r->o;
	int idx = (int)o->clients;
	char why[256] = "";
	SSL *ssl;
	long i;

	if (!o->reneg)
		return;
	ssl = tls_open(r, ctx12, idx, r->port, NULL);
	if (!ssl)
		return;
	for (i = 0; i < o->reneg && !got_signal; i++) {
		if (renegotiate(ssl, why, sizeof(why)))
			break;
		r->t.renegs++;
		if (why[0])
			break; /* renegotiated, but the write after it failed */
	}
	if (why[0] && !got_signal)
		fprintf(stderr,
			PROG ": note: %ld of %ld renegotiations completed with %s; then: %s\n",
			r->t.renegs, o->reneg, o->server, why);
	tls_close(ssl);
}

/*
 * Sends the ClientHello, waits for the answer, then resets the connection.
 * SSL reads from an empty memory BIO, so SSL_connect stops after the
 * ClientHello (WANT_READ) however fast the server answers; a non-blocking
 * socket would let it finish a TLS 1.3 handshake when the answer is there in time.
 */
static void abort_one(struct run *r, SSL_CTX *ctx, int idx)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int fd = tcp_connect(idx + 2, r->port), ret;
	BIO *rb, *wb;
	char why[256];
	SSL *ssl;

	if (fd < 0) {
		note_fail(r, idx, "connect", strerror(errno));
		return;
	}
	ssl = SSL_new(ctx);
	rb = BIO_new(BIO_s_mem());
	wb = BIO_new_socket(fd, BIO_NOCLOSE);
	if (!ssl || !rb || !wb) {
		note_fail(r, idx, "SSL setup", ossl_err());
		BIO_free(rb);
		BIO_free(wb);
	} else {
		BIO_set_mem_eof_return(rb, -1); /* empty: "retry", not EOF */
		SSL_set_bio(ssl, rb, wb);
		ERR_clear_error();
		ret = SSL_connect(ssl);
		if (ret < 0 && SSL_get_error(ssl, ret) == SSL_ERROR_WANT_READ) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			poll(&p, 1, ABORT_WAIT_MS);
			r->t.aborted++;
		} else {
			note_fail(r, idx, "aborted handshake", ssl_why(ssl, ret, why, sizeof(why)));
		}
	}
	/* SSL_free sends nothing; SO_LINGER {1, 0} turns close into a RST. */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	SSL_free(ssl);
	ERR_clear_error();
	close(fd);
}

static void phase_abort(struct run *r, SSL_CTX *ctx)
{
	long i;

	for (i = 0; i < r->o->aborts && !got_signal; i++)
		abort_one(r, ctx, next_client(r));
}

/* ---- output ---------------------------------------------------------------- */

static void print_head(const struct run *r, const char *type)
{
	int i;

	printf("{\"type\": \"%s\", \"server\": ", type);
	json_str(r->o->server);
	printf(", \"server_pid\": %d, \"worker_pids\": [", (int)r->pid);
	for (i = 0; i < r->nworkers; i++)
		printf("%s%d", i ? ", " : "", (int)r->workers[i]);
	printf("]");
}

static void print_ready(const struct run *r)
{
	print_head(r, "ready");
	printf(", \"port\": %d, \"resume_port\": %d, \"client_pid\": %d}\n", r->port,
	       r->resume_port, (int)getpid());
	fflush(stdout);
}

static void print_done(const struct run *r, double elapsed, double cpu)
{
	const struct tally *t = &r->t;
	long i, n = r->o->clients + (r->o->reneg ? 1 : 0);

	print_head(r, "done");
	printf(", \"full\": %ld, \"requests\": %ld, \"resumed\": %ld, \"renegotiations\": %ld, "
	       "\"reneg_client\": ",
	       t->full, t->requests, t->resumed, t->renegs);
	if (r->o->reneg)
		printf("\"127.0.0.%ld\"", r->o->clients + 2);
	else
		printf("null");
	printf(", \"aborted\": %ld, \"failed\": %ld, \"handshakes\": %ld, \"clients\": {",
	       t->aborted, t->failed, t->full + t->resumed);
	for (i = 0; i < n; i++)
		printf("%s\"127.0.0.%ld\": %ld", i ? ", " : "", i + 2, t->per_client[i]);
	printf("}, \"elapsed_s\": %.3f, \"server_cpu_s\": %.3f}\n", elapsed, cpu);
	fflush(stdout);
}

/* ---- the two modes --------------------------------------------------------- */

static void check_signal_cb(void *r)
{
	check_signal(r);
}

static int run_storm(struct run *r)
{
	SSL_CTX *ctx = client_ctx(false), *ctx12 = client_ctx(true);
	double t0, t1, cpu;
	bool died;

	if (!ctx || !ctx12)
		bail(r, "SSL_CTX_new: %s", ossl_err());
	prctl(PR_SET_CHILD_SUBREAPER, 1); /* nginx's workers come back to us for reaping */
	r->port = (int)r->o->port;
	r->resume_port = r->o->kind == SRV_NGINX ? r->port + 1 : r->port;
	if (!port_free(r->port) || !port_free(r->resume_port))
		bail(r, "something already listens on 127.0.0.1:%d%s; pick another --port", r->port,
		     r->resume_port != r->port ? " or the next port" : "");
	make_workdir(r);
	make_cert(r);
	check_signal(r);
	start_server(r);
	start_guard(r);
	wait_ready(r);
	print_ready(r);
	if (r->o->wait_stdin)
		/* The caller starts a tracer meanwhile. */
		wait_line(check_signal_cb, r);

	workers_ticks(r, true);
	t0 = now_s();
	phase_full(r, ctx);
	phase_requests(r, ctx);
	phase_resumed(r, ctx12);
	phase_reneg(r, ctx12);
	phase_abort(r, ctx);
	check_signal(r);
	t1 = now_s();
	cpu = (double)workers_ticks(r, false) / (double)sysconf(_SC_CLK_TCK);
	died = server_exited(r);

	print_done(r, t1 - t0, cpu);
	if (r->t.failed)
		fprintf(stderr, PROG ": warning: %ld handshakes failed; the first: %s\n",
			r->t.failed, r->t.first_err);
	SSL_CTX_free(ctx);
	SSL_CTX_free(ctx12);
	if (r->o->keep)
		fprintf(stderr, PROG ": work dir kept: %s\n", r->dir);
	stop_all(r);
	if (died) {
		char how[64];

		fprintf(stderr, PROG ": %s %s during the run\n", r->o->server,
			status_str(r->status, how, sizeof(how)));
		return 1;
	}
	return 0;
}

struct ops {
	EVP_PKEY *rsa;
	EVP_PKEY *xa;
	EVP_PKEY *xb;
	EVP_PKEY_CTX *kg;
	unsigned char msg[32];
};

/* CertificateVerify of a TLS 1.3 server: RSA-PSS, SHA-256, salt as long as the hash. */
static int op_sign(struct ops *c)
{
	unsigned char sig[1024]; /* 8192 bits */
	size_t len = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx;
	int ok = md && EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, c->rsa) == 1 &&
		 EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
		 EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0 &&
		 EVP_DigestSign(md, sig, &len, c->msg, sizeof(c->msg)) == 1;

	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

static int op_keygen(struct ops *c)
{
	EVP_PKEY *k = NULL;
	int ok = EVP_PKEY_keygen(c->kg, &k) == 1;

	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

static int op_derive(struct ops *c)
{
	unsigned char secret[64];
	size_t len = sizeof(secret);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(c->xa, NULL);
	int ok = ctx && EVP_PKEY_derive_init(ctx) == 1 &&
		 EVP_PKEY_derive_set_peer(ctx, c->xb) == 1 &&
		 EVP_PKEY_derive(ctx, secret, &len) == 1;

	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : -1;
}

static int op_rand(struct ops *c)
{
	unsigned char buf[32];

	return RAND_bytes(buf, sizeof(buf)) == 1 ? 0 : -1;
}

static double thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* CPU microseconds per op: the median of ROUNDS rounds of N ops; -1 if an op failed. */
static double median_us(int (*op)(struct ops *), struct ops *c, long n)
{
	double us[ROUNDS];
	int k;
	long i;

	for (k = 0; k < ROUNDS; k++) {
		double t0 = thread_cpu_s();

		for (i = 0; i < n; i++)
			if (got_signal || op(c))
				return -1;
		us[k] = (thread_cpu_s() - t0) * 1e6 / (double)n;
	}
	qsort(us, ROUNDS, sizeof(us[0]), cmp_double);
	return us[ROUNDS / 2];
}

static int run_measure(struct run *r)
{
	static const char *const names[NOPS] = { "rsa_pss_sign_us", "x25519_keygen_us",
						 "x25519_derive_us", "rand32_us" };
	int (*const fns[NOPS])(struct ops *) = { op_sign, op_keygen, op_derive, op_rand };
	struct ops c = { 0 };
	double us[NOPS];
	int i;

	c.rsa = EVP_RSA_gen((unsigned int)r->o->rsa_bits);
	c.xa = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	c.xb = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	c.kg = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL);
	if (!c.rsa || !c.xa || !c.xb || !c.kg || EVP_PKEY_keygen_init(c.kg) != 1 ||
	    RAND_bytes(c.msg, sizeof(c.msg)) != 1)
		bail(r, "cannot make the keys: %s", ossl_err());
	for (i = 0; i < NOPS; i++) {
		us[i] = median_us(fns[i], &c, r->o->measure_ops);
		check_signal(r);
		if (us[i] < 0)
			bail(r, "%s: an op failed: %s", names[i], ossl_err());
	}
	printf("{\"type\": \"ops\", \"rsa_bits\": %ld", r->o->rsa_bits);
	for (i = 0; i < NOPS; i++)
		printf(", \"%s\": %.3f", names[i], us[i]);
	printf("}\n");
	EVP_PKEY_CTX_free(c.kg);
	EVP_PKEY_free(c.xb);
	EVP_PKEY_free(c.xa);
	EVP_PKEY_free(c.rsa);
	return fflush(stdout) ? 1 : 0;
}

int main(int argc, char **argv)
{
	static struct run r;
	struct opts o;

	parse_args(argc, argv, &o);
	r.o = &o;
	stop_signals(on_signal, o.timeout);
	if (o.measure_ops)
		return run_measure(&r);
	return run_storm(&r);
}
