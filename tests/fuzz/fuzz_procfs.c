// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The process table's seed reader (user/procfs.c) over a fake /proc/PID:
 * the input is the files of one process, cut at "@@@@":
 *
 *   stat @@@@ comm @@@@ status @@@@ cmdline @@@@ cgroup @@@@ exe
 *
 * (exe is the symlink's target). A part that is not there is a missing
 * file, as for a process that exits while it is read. The seed must come
 * out with every string terminated and args within bounds.
 */
#include "fuzz.h"
#include "procfs.h"

static const char *const files[] = { "stat", "comm", "status", "cmdline", "cgroup" };

static char procdir[128], piddir[160];

static void check(const struct rec_proc_seed *s)
{
	FUZZ_CHECK(memchr(s->comm, '\0', sizeof(s->comm)));
	FUZZ_CHECK(memchr(s->filename, '\0', sizeof(s->filename)));
	FUZZ_CHECK(memchr(s->cg_v2, '\0', sizeof(s->cg_v2)));
	FUZZ_CHECK(memchr(s->cg_mem, '\0', sizeof(s->cg_mem)));
	FUZZ_CHECK(s->args_len <= sizeof(s->args));
}

static int scan_cb(void *ctx, const struct rec_proc_seed *s)
{
	check(s);
	++*(int *)ctx;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_part parts[6] = { 0 };
	struct rec_proc_seed s;
	char path[256], *target;
	size_t np, i;
	int n = 0, rc;

	if (!procdir[0]) {
		snprintf(procdir, sizeof(procdir), "%s/proc", fuzz_tmpdir());
		snprintf(piddir, sizeof(piddir), "%s/4242", procdir);
		FUZZ_CHECK(!mkdir(procdir, 0700) && !mkdir(piddir, 0700));
	}
	np = fuzz_split(data, size, parts, 6);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (i < np) {
			fuzz_put(piddir, files[i], &parts[i]);
		} else {
			snprintf(path, sizeof(path), "%s/%s", piddir, files[i]);
			unlink(path);
		}
	}
	snprintf(path, sizeof(path), "%s/exe", piddir);
	unlink(path);
	if (np > 5) {
		target = fuzz_strdup(&parts[5]);
		if (target[0])
			symlink(target, path);
		free(target);
	}
	rc = procfs_read(procdir, 4242, &s);
	FUZZ_CHECK(rc <= 0);
	if (!rc) {
		check(&s);
		FUZZ_CHECK(s.pid == 4242);
	}
	FUZZ_CHECK(procfs_exists(procdir, 4242) == 1);
	procfs_scan(procdir, scan_cb, &n);
	FUZZ_CHECK(n == !rc);
	return 0;
}
