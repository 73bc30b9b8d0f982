// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The socket-owner scan (user/procnet.c) over a fake /proc: one process
 * whose files are the input, cut at "@@@@":
 *
 *   net/tcp @@@@ net/tcp6 @@@@ fd links @@@@ ns/net link @@@@ comm
 *
 * "fd links" are lines, each the target of one fd/N symlink ("socket:[N]").
 * Every line of both tables is also parsed alone, for both families.
 */
#include <sys/socket.h>

#include "fuzz.h"
#include "procnet.h"

static char procdir[128], piddir[160];

static int scan_cb(void *ctx, const struct procnet_sock *s)
{
	FUZZ_CHECK(memchr(s->comm, '\0', sizeof(s->comm)));
	FUZZ_CHECK(s->family == AF_INET || s->family == AF_INET6);
	FUZZ_CHECK(s->pid == 4242);
	++*(int *)ctx;
	return 0;
}

static void parse_lines(const struct fuzz_part *part)
{
	char *text = fuzz_strdup(part), *line, *save;
	struct procnet_sock s;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!procnet_parse(line, AF_INET, &s))
			FUZZ_CHECK(s.family == AF_INET);
		if (!procnet_parse(line, AF_INET6, &s))
			FUZZ_CHECK(s.family == AF_INET6);
	}
	free(text);
}

static void clear_dir(const char *dir)
{
	char path[512];
	int i;

	for (i = 0; i < 64; i++) {
		snprintf(path, sizeof(path), "%s/%d", dir, i);
		unlink(path);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_part parts[5] = { 0 };
	char dir[256], path[512], *links, *line, *save;
	size_t np;
	int n = 0, fd = 0, rc;

	if (!procdir[0]) {
		snprintf(procdir, sizeof(procdir), "%s/proc", fuzz_tmpdir());
		snprintf(piddir, sizeof(piddir), "%s/4242", procdir);
		FUZZ_CHECK(!mkdir(procdir, 0700) && !mkdir(piddir, 0700));
		snprintf(dir, sizeof(dir), "%s/net", piddir);
		FUZZ_CHECK(!mkdir(dir, 0700));
		snprintf(dir, sizeof(dir), "%s/fd", piddir);
		FUZZ_CHECK(!mkdir(dir, 0700));
		snprintf(dir, sizeof(dir), "%s/ns", piddir);
		FUZZ_CHECK(!mkdir(dir, 0700));
	}
	np = fuzz_split(data, size, parts, 5);
	parse_lines(&parts[0]);
	if (np > 1)
		parse_lines(&parts[1]);

	snprintf(dir, sizeof(dir), "%s/net", piddir);
	fuzz_put(dir, "tcp", &parts[0]);
	snprintf(path, sizeof(path), "%s/tcp6", dir);
	unlink(path);
	if (np > 1)
		fuzz_put(dir, "tcp6", &parts[1]);
	snprintf(dir, sizeof(dir), "%s/fd", piddir);
	clear_dir(dir);
	links = np > 2 ? fuzz_strdup(&parts[2]) : strdup("");
	FUZZ_CHECK(links);
	for (line = strtok_r(links, "\n", &save); line && fd < 64;
	     line = strtok_r(NULL, "\n", &save)) {
		snprintf(path, sizeof(path), "%s/%d", dir, fd++);
		symlink(line, path);
	}
	free(links);
	snprintf(path, sizeof(path), "%s/ns/net", piddir);
	unlink(path);
	if (np > 3) {
		char *t = fuzz_strdup(&parts[3]);

		if (t[0])
			symlink(t, path);
		free(t);
	}
	snprintf(path, sizeof(path), "%s/comm", piddir);
	unlink(path);
	if (np > 4)
		fuzz_put(piddir, "comm", &parts[4]);

	rc = procnet_scan(procdir, scan_cb, &n);
	FUZZ_CHECK(rc == n);
	return 0;
}
