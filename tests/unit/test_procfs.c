// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for user/procfs.c against a fake /proc tree and the real one. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "procfs.h"
#include "util.h"

static const char *argv0;

struct fix {
	char dir[1024]; /* short enough that "%s/pid/name" fits PATH_MAX */
};

static void put(const struct fix *f, const char *rel, const void *data, size_t len)
{
	char p[PATH_MAX];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
	fp = fopen(p, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	fclose(fp);
}

static void puts_(const struct fix *f, const char *rel, const char *s)
{
	put(f, rel, s, strlen(s));
}

static void mkdirf(const struct fix *f, const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static const char cmd1234[] = "prog\0--flag\0arg with space";

/*
 * The fake tree: 1234 a normal process with a hostile comm, 42 a kernel
 * thread, 7 with a long cmdline and few files, 555 gone (no stat), 66 a
 * broken stat, plus entries that are not processes.
 */
static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	struct fix *f = calloc(1, sizeof(*f));
	char p[PATH_MAX], big[600];
	size_t i;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/st_proc_XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));

	mkdirf(f, "1234");
	puts_(f, "1234/comm", "(a) b)\n");
	puts_(f, "1234/stat",
	      "1234 ((a) b)) S 77 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 12345 "
	      "1000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n");
	puts_(f, "1234/status",
	      "Name:\t(a) b)\nUmask:\t0022\nState:\tS (sleeping)\nPPid:\t77\n"
	      "Uid:\t1000\t1001\t1002\t1003\nGid:\t5\t5\t5\t5\n");
	/* sizeof includes the final NUL, which cmdline has too. */
	put(f, "1234/cmdline", cmd1234, sizeof(cmd1234));
	snprintf(p, sizeof(p), "%s/1234/exe", f->dir);
	assert_int_equal(symlink("/usr/bin/fake prog", p), 0);
	puts_(f, "1234/cgroup",
	      "12:memoryx:/wrong\n11:cpu,memory,blkio:/mem/path\n4:cpu:/x\n"
	      "0::/v2/path:with:colons\n");

	mkdirf(f, "42");
	/* No comm file: the stat comm is used. flags 0x4208060 has PF_KTHREAD. */
	puts_(f, "42/stat", "42 (kworker/0:1 x) I 2 0 0 0 -1 69238880 0 0 0 0 0 0\n");
	puts_(f, "42/status", "Uid:\t0\t0\t0\t0\n");
	put(f, "42/cmdline", "", 0);
	puts_(f, "42/cgroup", "0::/\n");

	mkdirf(f, "7");
	puts_(f, "7/comm", "averyveryverylongname\n");
	puts_(f, "7/stat", "7 (short) R 1 7 7 0 -1 0 0\n");
	for (i = 0; i < sizeof(big); i++)
		big[i] = (i % 10 == 9) ? '\0' : (char)('a' + i % 26);
	put(f, "7/cmdline", big, sizeof(big));

	mkdirf(f, "555");
	puts_(f, "555/comm", "gone\n");

	mkdirf(f, "66");
	puts_(f, "66/stat", "66 no parenthesis here\n");

	mkdirf(f, "self2");
	mkdirf(f, "12a");
	mkdirf(f, "0042");
	puts_(f, "77", "a file, not a process\n");

	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	test_rmtree(f->dir);
	free(f);
	return 0;
}

static void test_read_normal(void **state)
{
	struct fix *f = *state;
	struct rec_proc_seed s;

	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(procfs_read(f->dir, 1234, &s), 0);
	assert_int_equal(s.ts, 0);
	assert_int_equal(s.pid, 1234);
	assert_int_equal(s.ppid, 77);
	assert_int_equal(s.uid, 1000);
	assert_int_equal(s.kthread, 0);
	assert_int_equal(s.pad, 0);
	assert_string_equal(s.comm, "(a) b)");
	assert_string_equal(s.filename, "/usr/bin/fake prog");
	assert_int_equal(s.args_len, sizeof(cmd1234));
	assert_memory_equal(s.args, cmd1234, sizeof(cmd1234));
	assert_string_equal(s.cg_v2, "/v2/path:with:colons");
	assert_string_equal(s.cg_mem, "/mem/path");
}

static void test_read_kthread(void **state)
{
	struct fix *f = *state;
	struct rec_proc_seed s;

	assert_int_equal(procfs_read(f->dir, 42, &s), 0);
	assert_int_equal(s.pid, 42);
	assert_int_equal(s.ppid, 2);
	assert_int_equal(s.uid, 0);
	assert_int_equal(s.kthread, 1);
	/* From stat, since there is no comm file. */
	assert_string_equal(s.comm, "kworker/0:1 x");
	assert_string_equal(s.filename, "");
	assert_int_equal(s.args_len, 0);
	assert_string_equal(s.cg_v2, "/");
	assert_string_equal(s.cg_mem, "");
}

static void test_read_truncation(void **state)
{
	struct fix *f = *state;
	struct rec_proc_seed s;
	size_t i;

	assert_int_equal(procfs_read(f->dir, 7, &s), 0);
	assert_int_equal(s.ppid, 1);
	assert_string_equal(s.comm, "averyveryverylo");
	/* No status file: uid unknown, which is not root. */
	assert_int_equal(s.uid, UINT32_MAX);
	assert_int_equal(s.args_len, sizeof(s.args));
	for (i = 0; i < sizeof(s.args); i++)
		assert_int_equal(s.args[i], (i % 10 == 9) ? '\0' : (char)('a' + i % 26));
	assert_string_equal(s.filename, "");
	assert_string_equal(s.cg_v2, "");
	assert_string_equal(s.cg_mem, "");
}

static void test_read_gone(void **state)
{
	struct fix *f = *state;
	struct rec_proc_seed s;

	assert_int_equal(procfs_read(f->dir, 555, &s), -ENOENT);
	assert_int_equal(procfs_read(f->dir, 999, &s), -ENOENT);
	assert_true(procfs_read(f->dir, 66, &s) < 0);
	assert_int_equal(procfs_exists(f->dir, 1234), 1);
	assert_int_equal(procfs_exists(f->dir, 555), 1);
	assert_int_equal(procfs_exists(f->dir, 999), 0);
}

struct seen {
	uint32_t pids[16];
	int n;
	int stop_after; /* 0: never */
};

static int collect(void *ctx, const struct rec_proc_seed *s)
{
	struct seen *c = ctx;

	assert_true(c->n < (int)ARRAY_SIZE(c->pids));
	assert_true(s->ts > 0);
	c->pids[c->n++] = s->pid;
	return c->stop_after && c->n >= c->stop_after ? 5 : 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void test_scan(void **state)
{
	struct fix *f = *state;
	struct seen c = { 0 };

	assert_int_equal(procfs_scan(f->dir, collect, &c), 0);
	assert_int_equal(c.n, 3);
	qsort(c.pids, (size_t)c.n, sizeof(c.pids[0]), cmp_u32);
	assert_int_equal(c.pids[0], 7);
	assert_int_equal(c.pids[1], 42);
	assert_int_equal(c.pids[2], 1234);

	/* A non-zero callback result stops the scan and is returned. */
	memset(&c, 0, sizeof(c));
	c.stop_after = 1;
	assert_int_equal(procfs_scan(f->dir, collect, &c), 5);
	assert_int_equal(c.n, 1);

	assert_true(procfs_scan("/nonexistent/st_proc", collect, &c) < 0);
}

static void test_real_self(void **state)
{
	struct rec_proc_seed s;
	char exe[sizeof(s.filename)] = "", comm[16], path[64], cmd[4096];
	ssize_t n;
	int dfd, cfd;

	assert_int_equal(procfs_read("/proc", (uint32_t)getpid(), &s), 0);
	/* The kernel's own comm (under valgrind it is the tool's, not our name). */
	memset(comm, 0, sizeof(comm));
	assert_int_equal(prctl(PR_GET_NAME, comm), 0);
	assert_string_equal(s.comm, comm);
	assert_int_equal(s.pid, getpid());
	assert_int_equal(s.ppid, getppid());
	assert_int_equal(s.uid, getuid());
	assert_int_equal(s.kthread, 0);
	/* Relative to the pid's directory, as the reader does: valgrind rewrites a
	 * readlink of /proc/self/exe (or /proc/PID/exe) to its client. */
	snprintf(path, sizeof(path), "/proc/%d", (int)getpid());
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	n = readlinkat(dfd, "exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	assert_string_equal(s.filename, exe);
	/* The first argument as the kernel has it (valgrind's own when under valgrind). */
	cfd = openat(dfd, "cmdline", O_RDONLY | O_CLOEXEC);
	close(dfd);
	assert_true(cfd >= 0);
	n = read(cfd, cmd, sizeof(cmd) - 1);
	close(cfd);
	assert_true(n > 0);
	cmd[n] = '\0';
	assert_true(s.args_len > strlen(cmd));
	assert_string_equal(s.args, cmd);
	/* Both hierarchies, when present, name paths relative to the mount. */
	assert_true(s.cg_v2[0] == '\0' || s.cg_v2[0] == '/');
	assert_true(s.cg_mem[0] == '\0' || s.cg_mem[0] == '/');
	assert_int_equal(procfs_exists("/proc", (uint32_t)getpid()), 1);
}

static int find_self(void *ctx, const struct rec_proc_seed *s)
{
	/* Stop as soon as we see ourselves. */
	return s->pid == (uint32_t)getpid() ? 1 : 0;
}

static void test_real_scan(void **state)
{
	struct rec_proc_seed s;

	assert_int_equal(procfs_scan("/proc", find_self, NULL), 1);
	/* pid 2 is kthreadd outside of pid namespaces. */
	if (!procfs_read("/proc", 2, &s) && !strcmp(s.comm, "kthreadd")) {
		assert_int_equal(s.kthread, 1);
		assert_int_equal(s.args_len, 0);
		assert_string_equal(s.filename, "");
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_normal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_kthread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_truncation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
		cmocka_unit_test(test_real_self),
		cmocka_unit_test(test_real_scan),
	};

	argv0 = argv[0];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
