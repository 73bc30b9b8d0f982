/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The little HTTP/1.1 that `spiketrace serve` speaks (docs/serve.md): the
 * --listen address, the request head, the response. No sockets here: pure
 * functions, unit tested; user/serve.c does the I/O.
 */
#ifndef ST_HTTP_H
#define ST_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define HTTP_DEFAULT_LISTEN "127.0.0.1:9464"
#define HTTP_REQ_MAX 4096 /* bytes of a request head; longer ones get 431 */

/*
 * Parses ADDR:PORT: an IPv4 address, [IPv6] or localhost, then a port in
 * 1..65535. 0, or -EINVAL with a reason in why.
 */
int http_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, const char **why);
/* "127.0.0.1:9464" or "[::1]:9464". */
void http_addr_str(const struct sockaddr_storage *ss, char *buf, size_t len);

struct http_req {
	char method[16];
	char path[256]; /* without the query string */
};

enum {
	HTTP_MORE = 1, /* the head is not complete yet */
};

/*
 * Parses the request head in buf[0..len): 0 when complete (req filled),
 * HTTP_MORE when more is needed, or an HTTP status for a bad request
 * (400, 431 when the head fills max bytes and is still not complete,
 * 505 for a version other than HTTP/1.x).
 */
int http_parse_request(const char *buf, size_t len, size_t max, struct http_req *req);
/* The status of a parsed request: 200 for GET or HEAD /metrics, 404, 405. */
int http_route(const struct http_req *req);
/*
 * The response into a new buffer (*out, free()d by the caller): status line,
 * headers (Content-Type, Content-Length, Connection: close) and, unless
 * head_only, the body. Returns its length, 0 when out of memory.
 */
size_t http_response(int status, const char *body, size_t body_len, bool head_only, char **out);

#endif
