// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * st-tlsserver: a minimal blocking TLS server for the TLS handshake storm
 * (st-tlsstorm --server exec:PATH starts it).
 *
 *   st-tlsserver --port P --cert C --key K [--max-conns N]
 *
 * Listens on 127.0.0.1:P and serves one connection at a time: SSL_accept,
 * then SSL_read until the peer closes (what it reads is discarded), a
 * close_notify back if the peer sent one, SSL_free, close. Client-initiated
 * renegotiation is allowed (SSL_OP_ALLOW_CLIENT_RENEGOTIATION, off by default
 * in OpenSSL 3) and so is session resumption (the default server session
 * cache). --max-conns N exits after N connections (default 0: never).
 * SIGTERM and SIGINT end it. It prints nothing but a fatal error (one line).
 *
 * The Makefile builds it twice: st-tlsserver uses the shared libssl, and
 * st-tlsserver-static has OpenSSL linked in (glibc stays dynamic), so a
 * tracer finds SSL_do_handshake in the executable, not in libssl.so.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define PROG "st-tlsserver"
#define USAGE "usage: " PROG " --port P --cert C --key K [--max-conns N]"
#define SOCK_TIMEOUT_S 10 /* a stuck client cannot hold the server */
#define CONNS_MAX 100000000L
#define SID_CTX "st-tlsserver"

#include "tool.h"

static void fatal(const char *what, const char *arg)
{
	char ssl_err[256] = "";
	unsigned long e = ERR_peek_error(); /* the first: the cause */

	if (e)
		ERR_error_string_n(e, ssl_err, sizeof(ssl_err));
	else if (errno)
		snprintf(ssl_err, sizeof(ssl_err), "%s", strerror(errno));
	fprintf(stderr, PROG ": %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "",
		ssl_err[0] ? ssl_err : "failed");
	exit(1);
}

static SSL_CTX *server_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		fatal("SSL_CTX_new", NULL);
	SSL_CTX_set_options(ctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
	/* The cache is on by default; the context lets sessions be resumed. */
	if (!SSL_CTX_set_session_id_context(ctx, (const unsigned char *)SID_CTX,
					    sizeof(SID_CTX) - 1))
		fatal("SSL_CTX_set_session_id_context", NULL);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		fatal("cannot load certificate", cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		fatal("cannot load key", key);
	if (SSL_CTX_check_private_key(ctx) != 1)
		fatal("key does not match certificate", cert);
	return ctx;
}

static int listen_on(long port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		fatal("socket", NULL);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		fatal("SO_REUSEADDR", NULL);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 64)) {
		char where[32];

		snprintf(where, sizeof(where), "127.0.0.1:%ld", port);
		fatal("cannot listen on", where);
	}
	return fd;
}

/* One connection, start to end; its failures (a client that aborts) are not ours. */
static void serve(SSL_CTX *ctx, int fd)
{
	struct timeval tv = { .tv_sec = SOCK_TIMEOUT_S };
	char buf[4096];
	SSL *ssl;
	int n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	ssl = SSL_new(ctx);
	if (ssl && SSL_set_fd(ssl, fd) == 1 && SSL_accept(ssl) == 1) {
		/* Renegotiations the client starts are handled inside SSL_read. */
		while ((n = SSL_read(ssl, buf, sizeof(buf))) > 0)
			;
		if (SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN)
			SSL_shutdown(ssl); /* answer the client's close_notify */
	}
	SSL_free(ssl);
	ERR_clear_error();
	close(fd);
}

int main(int argc, char **argv)
{
	const char *cert = NULL, *key = NULL;
	long port = -1, max_conns = 0, served = 0;
	SSL_CTX *ctx;
	int i, lfd;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val;
		char k[32];

		opt_help(a);
		val = opt_value(argc, argv, &i, k, sizeof(k));

		if (!strcmp(k, "--port")) {
			if (parse_long(val, 1, 65535, &port))
				usage_error("--port wants 1..65535, got", val);
		} else if (!strcmp(k, "--cert")) {
			cert = val;
		} else if (!strcmp(k, "--key")) {
			key = val;
		} else if (!strcmp(k, "--max-conns")) {
			if (parse_long(val, 0, CONNS_MAX, &max_conns))
				usage_error("--max-conns wants 0..100000000, got", val);
		} else {
			usage_error("unknown option", k);
		}
	}
	if (port < 0 || !cert || !*cert || !key || !*key)
		usage_error("--port, --cert and --key are required", NULL);

	signal(SIGPIPE, SIG_IGN); /* a client that resets must not kill us */
	ctx = server_ctx(cert, key);
	lfd = listen_on(port);
	/* SIGTERM and SIGINT keep their default action: they end the process. */
	while (!max_conns || served < max_conns) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fatal("accept", NULL);
		}
		serve(ctx, fd);
		served++;
	}
	close(lfd);
	SSL_CTX_free(ctx);
	return 0;
}
