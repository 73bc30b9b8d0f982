// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* serve's HTTP/1.1: listen address, request head, response (user/http.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "util.h"

static int parse_port(const char *s, uint16_t *port, const char **why)
{
	uint64_t v;

	if (st_parse_u64(s, 1, 65535, &v)) {
		*why = "the port must be a number from 1 to 65535";
		return -EINVAL;
	}
	*port = htons((uint16_t)v);
	return 0;
}

static int parse_v6(const char *s, struct sockaddr_storage *ss, socklen_t *len, const char **why)
{
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
	const char *end = strchr(s, ']');
	char host[INET6_ADDRSTRLEN];

	if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host)) {
		*why = "an IPv6 address goes in brackets, then :PORT, e.g. [::1]:9464";
		return -EINVAL;
	}
	memcpy(host, s + 1, (size_t)(end - s - 1));
	host[end - s - 1] = '\0';
	a->sin6_family = AF_INET6;
	if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) {
		*why = "not an IPv6 address between the brackets";
		return -EINVAL;
	}
	*len = sizeof(*a);
	return parse_port(end + 2, &a->sin6_port, why);
}

static int parse_v4(const char *s, struct sockaddr_storage *ss, socklen_t *len, const char **why)
{
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	const char *colon = strrchr(s, ':');
	char host[INET_ADDRSTRLEN];

	if (!colon || strchr(s, ':') != colon) {
		*why = colon ? "an IPv6 address goes in brackets: [::1]:9464" :
			       "want ADDR:PORT, e.g. 127.0.0.1:9464";
		return -EINVAL;
	}
	if (colon == s) {
		*why = "give the address too: 127.0.0.1:PORT (this host) or 0.0.0.0:PORT (every "
		       "interface)";
		return -EINVAL;
	}
	if ((size_t)(colon - s) >= sizeof(host)) {
		*why = "not an IPv4 address";
		return -EINVAL;
	}
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	a->sin_family = AF_INET;
	if (!strcmp(host, "localhost"))
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
		*why = "not an IPv4 address (or [IPv6], or localhost)";
		return -EINVAL;
	}
	*len = sizeof(*a);
	return parse_port(colon + 1, &a->sin_port, why);
}

int http_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, const char **why)
{
	memset(ss, 0, sizeof(*ss));
	*len = 0;
	*why = NULL;
	if (!s || !*s) {
		*why = "want ADDR:PORT, e.g. 127.0.0.1:9464";
		return -EINVAL;
	}
	return s[0] == '[' ? parse_v6(s, ss, len, why) : parse_v4(s, ss, len, why);
}

void http_addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(a->sin_port));
	}
}

/* The end of the head: after the blank line (CRLF CRLF, or bare LF LF). */
static const char *head_end(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (buf[i] == '\n' && buf[i + 1] == '\n')
			return buf + i + 2;
		if (i + 3 < len && !memcmp(buf + i, "\r\n\r\n", 4))
			return buf + i + 4;
	}
	return NULL;
}

/* Copies the token at *p up to a space into out; 0 or -1 (empty, too long). */
static int token(const char **p, const char *end, char *out, size_t outlen)
{
	size_t n = 0;

	while (*p < end && **p != ' ' && **p != '\r' && **p != '\n') {
		if (n + 1 >= outlen || (unsigned char)**p < 0x21)
			return -1;
		out[n++] = *(*p)++;
	}
	out[n] = '\0';
	return n ? 0 : -1;
}

int http_parse_request(const char *buf, size_t len, size_t max, struct http_req *req)
{
	const char *end = head_end(buf, len), *p = buf, *eol;
	char version[16];

	if (!end)
		return len >= max ? 431 : HTTP_MORE;
	eol = memchr(buf, '\n', (size_t)(end - buf));
	if (token(&p, eol, req->method, sizeof(req->method)) || *p++ != ' ' ||
	    token(&p, eol, req->path, sizeof(req->path)) || *p++ != ' ' ||
	    token(&p, eol, version, sizeof(version)))
		return 400;
	if (*p == '\r')
		p++;
	if (p != eol)
		return 400;
	if (strncmp(version, "HTTP/1.", 7))
		return strncmp(version, "HTTP/", 5) ? 400 : 505;
	req->path[strcspn(req->path, "?#")] = '\0';
	return 0;
}

int http_route(const struct http_req *req)
{
	if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD"))
		return 405;
	return strcmp(req->path, "/metrics") ? 404 : 200;
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}

size_t http_response(int status, const char *body, size_t body_len, bool head_only, char **out)
{
	char head[512], msg[96];
	size_t hlen, total;
	int n;

	if (status != 200) {
		/* Errors explain themselves in a line of text. */
		n = snprintf(msg, sizeof(msg), "%d %s%s\n", status, reason(status),
			     status == 404 ? ": the metrics are at /metrics" : "");
		body = msg;
		body_len = n > 0 ? (size_t)n : 0;
	}
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\n"
		     "Content-Type: %s\r\n"
		     "Content-Length: %zu\r\n"
		     "%s"
		     "Cache-Control: no-store\r\n"
		     "Connection: close\r\n\r\n",
		     status, reason(status),
		     status == 200 ? "text/plain; version=0.0.4; charset=utf-8" :
				     "text/plain; charset=utf-8",
		     body_len, status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return 0;
	hlen = (size_t)n;
	total = hlen + (head_only ? 0 : body_len);
	*out = malloc(total ? total : 1);
	if (!*out)
		return 0;
	memcpy(*out, head, hlen);
	if (!head_only && body_len)
		memcpy(*out + hlen, body, body_len);
	return total;
}
