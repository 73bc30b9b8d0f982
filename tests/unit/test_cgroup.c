// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for user/cgroup.c: mountinfo parsing, the walk, the cache. */
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
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "util.h"

/* A scratch directory per test, under $TMPDIR so it works without root. */
struct fix {
	char dir[1024]; /* short enough that "%s/rel" fits PATH_MAX */
};

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	struct fix *f = calloc(1, sizeof(*f));
	char *real;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/st_cg_XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	/* The resolver canonicalises its roots; compare against the same. */
	real = realpath(f->dir, NULL);
	assert_non_null(real);
	st_strlcpy(f->dir, real, sizeof(f->dir));
	free(real);
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

static void mkdirf(const struct fix *f, const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static uint64_t ino_of(const struct fix *f, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
	assert_int_equal(lstat(p, &st), 0);
	return st.st_ino;
}

static void parse(const char *text, char *v2, char *mem)
{
	FILE *fp = fmemopen((void *)text, strlen(text), "r");

	assert_non_null(fp);
	/* Pre-fill to check that absent hierarchies are reported as "". */
	strcpy(v2, "junk");
	strcpy(mem, "junk");
	assert_int_equal(cg_parse_mountinfo(fp, v2, PATH_MAX, mem, PATH_MAX), 0);
	fclose(fp);
}

static void test_mountinfo_hybrid(void **state)
{
	static const char text[] =
		"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
		"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
		"32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup "
		"rw,cpu,cpuacct\n"
		"33 31 0:30 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
		"35 31 0:32 / /sys/fs/cgroup/memory rw,nosuid shared:11 - cgroup cgroup rw,memory\n"
		"36 31 0:33 / /sys/fs/cgroup/memory2 rw - cgroup cgroup rw,memory\n"
		"40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
		"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
		"42 31 0:39 / /mnt/other rw,relatime - cgroup2 cgroup2 rw\n";
	char v2[PATH_MAX], mem[PATH_MAX];

	parse(text, v2, mem);
	assert_string_equal(v2, "/sys/fs/cgroup/unified");
	/* The first memory mount wins. */
	assert_string_equal(mem, "/sys/fs/cgroup/memory");
}

static void test_mountinfo_v2_only(void **state)
{
	/* memory_recursiveprot must not be mistaken for the memory controller. */
	static const char text[] =
		"24 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro\n"
		"26 23 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - "
		"cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
	char v2[PATH_MAX], mem[PATH_MAX];

	parse(text, v2, mem);
	assert_string_equal(v2, "/sys/fs/cgroup");
	assert_string_equal(mem, "");
}

static void test_mountinfo_no_memory(void **state)
{
	/* Also: escaped mount point, a "memory" word outside super options, junk lines. */
	static const char text[] =
		"garbage\n"
		"\n"
		"50 1 0:40 / /cg\\040v1 rw,memory - cgroup cgroup rw,cpu,memoryx\n"
		"51 1 0:41 / /my\\040cg\\134x rw - cgroup2 none rw\n"
		"52 1 0:42 / /tmp/memory rw - tmpfs memory rw,memory\n";
	char v2[PATH_MAX], mem[PATH_MAX];

	parse(text, v2, mem);
	assert_string_equal(v2, "/my cg\\x");
	assert_string_equal(mem, "");

	/* Empty input. */
	parse("", v2, mem);
	assert_string_equal(v2, "");
	assert_string_equal(mem, "");
}

static void test_scan_tree(void **state)
{
	struct fix *f = *state;
	char out[PATH_MAX], p[PATH_MAX], small[4];
	FILE *fp;

	mkdirf(f, "a");
	mkdirf(f, "a/b");
	mkdirf(f, "a/b/c");
	mkdirf(f, "x");
	snprintf(p, sizeof(p), "%s/a/file", f->dir);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fclose(fp);
	/* A symlink to a directory must not be followed nor reported. */
	snprintf(p, sizeof(p), "%s/x/link", f->dir);
	assert_int_equal(symlink("../a/b", p), 0);

	assert_int_equal(cg_scan(f->dir, ino_of(f, "a"), out, sizeof(out)), 0);
	assert_string_equal(out, "/a");
	assert_int_equal(cg_scan(f->dir, ino_of(f, "a/b"), out, sizeof(out)), 0);
	assert_string_equal(out, "/a/b");
	assert_int_equal(cg_scan(f->dir, ino_of(f, "a/b/c"), out, sizeof(out)), 0);
	assert_string_equal(out, "/a/b/c");
	assert_int_equal(cg_scan(f->dir, ino_of(f, "x"), out, sizeof(out)), 0);
	assert_string_equal(out, "/x");
	assert_int_equal(cg_scan(f->dir, ino_of(f, ""), out, sizeof(out)), 0);
	assert_string_equal(out, "/");

	assert_int_equal(cg_scan(f->dir, ino_of(f, "a/file"), out, sizeof(out)), -ENOENT);
	assert_int_equal(cg_scan(f->dir, ino_of(f, "x/link"), out, sizeof(out)), -ENOENT);
	assert_int_equal(cg_scan(f->dir, 0xfffffffffffULL, out, sizeof(out)), -ENOENT);
	/* A path that does not fit is an error, not a truncated answer. */
	assert_true(cg_scan(f->dir, ino_of(f, "a/b/c"), small, sizeof(small)) < 0);

	snprintf(p, sizeof(p), "%s/nonexistent", f->dir);
	assert_int_equal(cg_scan(p, 1, out, sizeof(out)), -ENOENT);
}

static void test_scan_depth_bound(void **state)
{
	struct fix *f = *state;
	char rel[256] = "", out[PATH_MAX];
	uint64_t ino64 = 0, ino65 = 0;
	int i;

	/* Depth 1 is a child of the root; the walk reports up to depth 64. */
	for (i = 1; i <= 66; i++) {
		strcat(rel, i == 1 ? "d" : "/d");
		mkdirf(f, rel);
		if (i == 64)
			ino64 = ino_of(f, rel);
		if (i == 65)
			ino65 = ino_of(f, rel);
	}
	assert_int_equal(cg_scan(f->dir, ino64, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 64 * 2);
	assert_int_equal(cg_scan(f->dir, ino65, out, sizeof(out)), -ENOENT);
}

static void test_resolver_paths(void **state)
{
	struct fix *f = *state;
	struct cg_resolver *r;
	const char *p1, *p2;
	uint64_t t0, t1, idnew;

	mkdirf(f, "a");
	mkdirf(f, "a/b");
	mkdirf(f, "a/b/c");
	mkdirf(f, "s");

	r = cg_new_roots(f->dir, NULL);
	assert_non_null(r);
	assert_string_equal(cg_root(r, CG_V2), f->dir);
	assert_null(cg_root(r, CG_MEM));
	assert_null(cg_path(r, CG_MEM, ino_of(f, "a")));

	t0 = now_mono_ns();
	p1 = cg_path(r, CG_V2, ino_of(f, "a/b"));
	assert_non_null(p1);
	assert_string_equal(p1, "/a/b");
	/* Cached: the same string, and the walk cached its siblings too. */
	p2 = cg_path(r, CG_V2, ino_of(f, "a/b"));
	assert_ptr_equal(p1, p2);
	assert_string_equal(cg_path(r, CG_V2, ino_of(f, "a/b/c")), "/a/b/c");
	assert_string_equal(cg_path(r, CG_V2, ino_of(f, "s")), "/s");
	assert_string_equal(cg_path(r, CG_V2, ino_of(f, "")), "/");

	mkdirf(f, "a/new");
	idnew = ino_of(f, "a/new");
	p1 = cg_path(r, CG_V2, idnew);
	t1 = now_mono_ns();
	/* Within 100 ms of the walk a miss must not rescan (only checkable when quick). */
	if (t1 - t0 < 100 * 1000000ULL)
		assert_null(p1);
	/* Past the rate limit the first miss for an id rescans and finds it. */
	usleep(120 * 1000);
	p1 = cg_path(r, CG_V2, idnew);
	assert_non_null(p1);
	assert_string_equal(p1, "/a/new");
	/* Earlier pointers stay valid across rescans. */
	assert_ptr_equal(cg_path(r, CG_V2, ino_of(f, "a/b")), p2);

	assert_null(cg_path(r, CG_V2, 0));
	assert_null(cg_path(r, CG_V2, 0xfffffffffffULL));
	cg_free(r);
}

static void test_negative_backoff(void **state)
{
	struct fix *f = *state;
	char root[1100], from[PATH_MAX], to[PATH_MAX];
	struct cg_resolver *r;
	uint64_t id, t0, t1;
	const char *p;

	mkdirf(f, "root");
	mkdirf(f, "outside");
	mkdirf(f, "outside/late");
	snprintf(root, sizeof(root), "%s/root", f->dir);
	id = ino_of(f, "outside/late");
	r = cg_new_roots(root, NULL);
	assert_non_null(r);

	/* A walk misses the id: it lives outside the hierarchy for now. */
	t0 = now_mono_ns();
	assert_null(cg_path(r, CG_V2, id));
	snprintf(from, sizeof(from), "%s/outside/late", f->dir);
	snprintf(to, sizeof(to), "%s/root/late", f->dir);
	assert_int_equal(rename(from, to), 0);

	/* Past the 100 ms rate limit, but a known miss waits longer (1 s). */
	usleep(150 * 1000);
	p = cg_path(r, CG_V2, id);
	t1 = now_mono_ns();
	if (t1 - t0 < 1000 * 1000000ULL)
		assert_null(p);
	usleep(1000 * 1000);
	p = cg_path(r, CG_V2, id);
	assert_non_null(p);
	assert_string_equal(p, "/late");
	cg_free(r);
}

static void test_lookup(void **state)
{
	struct fix *f = *state;
	char v2[1100], mem[1100], arg[PATH_MAX];
	struct cg_resolver *r;
	enum cg_hier h;
	uint64_t id;
	FILE *fp;

	mkdirf(f, "v2");
	mkdirf(f, "v2/sys");
	mkdirf(f, "v2/sys/cron");
	mkdirf(f, "v2/both");
	mkdirf(f, "mem");
	mkdirf(f, "mem/only");
	mkdirf(f, "mem/both");
	snprintf(v2, sizeof(v2), "%s/v2", f->dir);
	snprintf(mem, sizeof(mem), "%s/mem", f->dir);
	snprintf(arg, sizeof(arg), "%s/v2/file", f->dir);
	fp = fopen(arg, "w");
	assert_non_null(fp);
	fclose(fp);

	r = cg_new_roots(v2, mem);
	assert_non_null(r);

	/* Absolute under a mount. */
	snprintf(arg, sizeof(arg), "%s/sys/cron", v2);
	assert_int_equal(cg_lookup(r, arg, &h, &id), 0);
	assert_int_equal(h, CG_V2);
	assert_int_equal(id, ino_of(f, "v2/sys/cron"));
	assert_string_equal(cg_path(r, CG_V2, id), "/sys/cron");

	snprintf(arg, sizeof(arg), "%s/both/", mem);
	assert_int_equal(cg_lookup(r, arg, &h, &id), 0);
	assert_int_equal(h, CG_MEM);
	assert_int_equal(id, ino_of(f, "mem/both"));

	assert_int_equal(cg_lookup(r, mem, &h, &id), 0);
	assert_int_equal(h, CG_MEM);
	assert_int_equal(id, ino_of(f, "mem"));
	assert_string_equal(cg_path(r, CG_MEM, id), "/");

	/* Relative to a mount: v2 first, then memory. */
	assert_int_equal(cg_lookup(r, "/sys/cron", &h, &id), 0);
	assert_int_equal(h, CG_V2);
	assert_int_equal(id, ino_of(f, "v2/sys/cron"));
	assert_int_equal(cg_lookup(r, "sys", &h, &id), 0);
	assert_int_equal(id, ino_of(f, "v2/sys"));
	assert_int_equal(cg_lookup(r, "/both", &h, &id), 0);
	assert_int_equal(h, CG_V2);
	assert_int_equal(id, ino_of(f, "v2/both"));
	assert_int_equal(cg_lookup(r, "/only", &h, &id), 0);
	assert_int_equal(h, CG_MEM);
	assert_int_equal(id, ino_of(f, "mem/only"));
	assert_string_equal(cg_path(r, CG_MEM, id), "/only");
	assert_int_equal(cg_lookup(r, "/", &h, &id), 0);
	assert_int_equal(h, CG_V2);
	assert_int_equal(id, ino_of(f, "v2"));

	/* Not directories, missing, or escaping the mount. */
	assert_int_equal(cg_lookup(r, "/file", &h, &id), -ENOENT);
	assert_int_equal(cg_lookup(r, "/nope", &h, &id), -ENOENT);
	assert_int_equal(cg_lookup(r, "/../mem/only", &h, &id), 0);
	assert_int_equal(h, CG_MEM); /* resolved from the memory root, where it stays inside */
	assert_int_equal(cg_lookup(r, "/sys/../../..", &h, &id), -ENOENT);
	snprintf(arg, sizeof(arg), "%s/nope", v2);
	assert_int_equal(cg_lookup(r, arg, &h, &id), -ENOENT);
	assert_int_equal(cg_lookup(r, "", &h, &id), -ENOENT);
	cg_free(r);
}

static void test_absent(void **state)
{
	struct cg_resolver *r = cg_new_roots(NULL, "");
	enum cg_hier h;
	uint64_t id;

	assert_non_null(r);
	assert_null(cg_root(r, CG_V2));
	assert_null(cg_root(r, CG_MEM));
	assert_null(cg_path(r, CG_V2, 1));
	assert_int_equal(cg_lookup(r, "/", &h, &id), -ENOENT);
	cg_free(r);
	cg_free(NULL);
}

static void test_real_system(void **state)
{
	struct cg_resolver *r = cg_new();
	const char *root;
	struct stat st;

	assert_non_null(r);
	root = cg_root(r, CG_V2);
	if (root) {
		/* The mount root resolves to "/" (its id is 1 on a real kernel). */
		assert_int_equal(stat(root, &st), 0);
		assert_string_equal(cg_path(r, CG_V2, st.st_ino), "/");
	}
	root = cg_root(r, CG_MEM);
	if (root) {
		assert_int_equal(stat(root, &st), 0);
		assert_string_equal(cg_path(r, CG_MEM, st.st_ino), "/");
	}
	cg_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mountinfo_hybrid),
		cmocka_unit_test(test_mountinfo_v2_only),
		cmocka_unit_test(test_mountinfo_no_memory),
		cmocka_unit_test_setup_teardown(test_scan_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_depth_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolver_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negative_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
		cmocka_unit_test(test_absent),
		cmocka_unit_test(test_real_system),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
