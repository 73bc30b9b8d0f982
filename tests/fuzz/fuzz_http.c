// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * serve's HTTP (user/http.c): a request head from the network, in whatever
 * pieces it arrives, and the --listen address. The head is parsed from an
 * exact-size copy so that any read past what was received is caught, then
 * again one byte at a time as serve.c would grow its buffer.
 */
#include <netinet/in.h>

#include "fuzz.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ss;
	struct http_req req = { 0 };
	const char *why;
	char *buf, *resp = NULL, addr[128];
	size_t i, n;
	socklen_t sl;
	int st, st2;

	buf = malloc(size ? size : 1);
	FUZZ_CHECK(buf);
	if (size)
		memcpy(buf, data, size);
	st = http_parse_request(buf, size, HTTP_REQ_MAX, &req);
	FUZZ_CHECK(st == 0 || st == HTTP_MORE || st == 400 || st == 431 || st == 505);
	if (!st) {
		FUZZ_CHECK(memchr(req.method, '\0', sizeof(req.method)));
		FUZZ_CHECK(memchr(req.path, '\0', sizeof(req.path)));
		st = http_route(&req);
		FUZZ_CHECK(st == 200 || st == 404 || st == 405);
	}
	if (st != HTTP_MORE) {
		n = http_response(st, buf, size, req.method[0] == 'H', &resp);
		FUZZ_CHECK(n && resp);
		free(resp);
	}
	/* A complete head is complete in every longer prefix too: the first verdict holds. */
	for (i = 0, st2 = HTTP_MORE; i <= size && i <= HTTP_REQ_MAX + 1 && st2 == HTTP_MORE; i++)
		st2 = http_parse_request(buf, i, HTTP_REQ_MAX, &req);
	free(buf);

	buf = malloc(size + 1);
	FUZZ_CHECK(buf);
	if (size)
		memcpy(buf, data, size);
	buf[size] = '\0';
	if (!http_parse_listen(buf, &ss, &sl, &why)) {
		FUZZ_CHECK(sl == sizeof(struct sockaddr_in) || sl == sizeof(struct sockaddr_in6));
		http_addr_str(&ss, addr, sizeof(addr));
		http_addr_str(&ss, addr, 3);
		FUZZ_CHECK(strlen(addr) < 3);
	} else {
		FUZZ_CHECK(why && why[0]);
	}
	free(buf);
	return 0;
}
