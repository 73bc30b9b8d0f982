// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests for user/tlsfind.c: OpenSSL file names, `ldconfig -p` output
 * and process maps in a fake /proc tree, plus the live system and self.
 */
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
#include <unistd.h>

#include "tlsfind.h"
#include "util.h"

struct fix {
	char dir[256];
};

struct seen {
	struct tls_cand c[32];
	int n;
	int stop_after; /* 0: never */
};

static int collect(void *ctx, const struct tls_cand *c)
{
	struct seen *s = ctx;

	assert_true(s->n < (int)ARRAY_SIZE(s->c));
	s->c[s->n++] = *c;
	return s->stop_after && s->n >= s->stop_after ? 7 : 0;
}

static void mkpath(const struct fix *f, const char *rel, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", f->dir, rel);

	assert_true(n > 0 && (size_t)n < len);
}

/* Creates dir/rel (and its parents) as a small file. */
static void touch(const struct fix *f, const char *rel)
{
	char p[PATH_MAX], *s;
	FILE *fp;

	mkpath(f, rel, p, sizeof(p));
	for (s = p + strlen(f->dir) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
		*s = '/';
	}
	fp = fopen(p, "w");
	assert_non_null(fp);
	fclose(fp);
}

static void put(const struct fix *f, const char *rel, const char *text)
{
	char p[PATH_MAX];
	FILE *fp;

	mkpath(f, rel, p, sizeof(p));
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void link_rel(const struct fix *f, const char *target_rel, const char *rel, bool sym)
{
	char t[PATH_MAX], p[PATH_MAX];

	mkpath(f, target_rel, t, sizeof(t));
	mkpath(f, rel, p, sizeof(p));
	assert_int_equal(sym ? symlink(t, p) : link(t, p), 0);
}

/* Asserts candidate c is dir/rel (when rel is not absolute) with that stat and name. */
static void expect(const struct fix *f, const struct tls_cand *c, const char *rel, const char *name,
		   uint32_t pid, bool exe)
{
	char p[PATH_MAX];
	struct stat st;

	if (rel[0] == '/')
		st_strlcpy(p, rel, sizeof(p));
	else
		mkpath(f, rel, p, sizeof(p));
	assert_string_equal(c->path, p);
	assert_string_equal(c->name, name);
	assert_int_equal(c->pid, pid);
	assert_int_equal(c->exe, exe);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(c->dev, (uint64_t)st.st_dev);
	assert_int_equal(c->ino, (uint64_t)st.st_ino);
}

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/st_tls_XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
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

static void test_names(void **state)
{
	static const char *const yes[] = {
		"libssl.so.3",
		"/usr/lib/x86_64-linux-gnu/libssl.so.3",
		"/opt/app/lib/libssl.so.1.1",
		"libssl.so.1.0.0",
		"libssl.so.10",
		"libssl.so",
		"libcrypto.so.3",
		"/lib/libcrypto.so.1.1",
		"/site-packages/cryptography.libs/libcrypto-abc123.so.3",
		"libssl-9f8e7d.so.1.1",
		"libssl_1_1.so",
		"/opt/my app/libssl.so.3",
	};
	static const char *const no[] = {
		"",
		"libssl",
		"libssl.a",
		"libssl.sock",
		"libssl.so3",
		"libssl3.so", /* NSS */
		"/usr/lib/x86_64-linux-gnu/libssl3.so",
		"libcrypto++.so.8",
		"libcryptopp.so.8",
		"libk5crypto.so.3",
		"libgnutls-openssl.so.27",
		"libxmlsec1-openssl.so.1",
		"libsslx.so",
		"xlibssl.so.3",
		"/usr/lib/libssl.so.3/", /* the basename is empty */
		"/usr/lib/libssl.so.3/libz.so.1",
		"libz.so.1",
		"ssl.so",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(yes); i++)
		if (!tlsfind_is_ossl_name(yes[i]))
			fail_msg("%s: should be an OpenSSL name", yes[i]);
	for (i = 0; i < ARRAY_SIZE(no); i++)
		if (tlsfind_is_ossl_name(no[i]))
			fail_msg("%s: should not be an OpenSSL name", no[i]);
}

/* ldconfig -p output; %1$s is the fake root. */
static const char ldcache_fmt[] =
	"654 libs found in cache `/etc/ld.so.cache'\n"
	"\tlibz.so.1 (libc6,x86-64) => %1$s/lib64/libz.so.1\n"
	"\tlibssl3.so (libc6,x86-64) => %1$s/lib64/libssl3.so\n"
	"\tlibssl.so.3 (libc6,x86-64) => %1$s/lib64/libssl.so.3\n"
	"\tlibssl.so (libc6,x86-64) => %1$s/lib64/libssl.so\n"
	"\tlibssl.so.3 (libc6) => %1$s/lib32/libssl.so.3\n"
	"\tlibssl.so.3 (libc6,x32) => %1$s/libx32/libssl.so.3\n"
	"\tlibssl.so.1.1 (libc6,x86-64, OS ABI: Linux 3.2.0) => %1$s/lib64/libssl.so.1.1\n"
	"\tlibk5crypto.so.3 (libc6,x86-64) => %1$s/lib64/libk5crypto.so.3\n"
	"\tlibcrypto.so.3 (libc6,x86-64, hwcap: \"x86-64-v3\") => "
	"%1$s/lib64/glibc-hwcaps/x86-64-v3/libcrypto.so.3\n"
	"\tlibcrypto.so.3 (libc6,x86-64) => %1$s/lib64/libcrypto.so.3\n"
	"\tlibcrypto.so.1.1 (libc6,x86-64) => %1$s/lib64/missing/libcrypto.so.1.1\n"
	"\tlibcrypto.so.1.1 (libc6,x86-64) => relative/libcrypto.so.1.1\n"
	"\tlibcrypto.so.1.1 (libc6,AArch64) => %1$s/lib64/libcrypto.so.1.1\n"
	"\tlibcrypto.so.1.1 (ELF) => %1$s/lib64/libcrypto.so.1.1\n"
	"garbage line without arrow (libc6,x86-64)\n"
	"\tlibcrypto.so.1.1 (libc6,x86-64) => %1$s/lib64/libcrypto.so.1.1";

static FILE *ldcache(const struct fix *f)
{
	static const char *const files[] = {
		"lib64/libz.so.1",	  "lib64/libssl3.so",
		"lib64/libssl.so.3",	  "lib32/libssl.so.3",
		"libx32/libssl.so.3",	  "lib64/libssl.so.1.1",
		"lib64/libk5crypto.so.3", "lib64/glibc-hwcaps/x86-64-v3/libcrypto.so.3",
		"lib64/libcrypto.so.3",	  "lib64/libcrypto.so.1.1",
	};
	char text[4096];
	size_t i;
	FILE *fp;
	int n;

	for (i = 0; i < ARRAY_SIZE(files); i++)
		touch(f, files[i]);
	/* The development symlink is the same file as libssl.so.3. */
	link_rel(f, "lib64/libssl.so.3", "lib64/libssl.so", true);
	n = snprintf(text, sizeof(text), ldcache_fmt, f->dir);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	fp = fmemopen(NULL, (size_t)n + 1, "w+");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, (size_t)n, fp), (size_t)n);
	rewind(fp);
	return fp;
}

static void test_ldcache(void **state)
{
	struct fix *f = *state;
	struct seen s = { 0 };
	char p[PATH_MAX];
	FILE *fp = ldcache(f);

	assert_int_equal(tlsfind_parse_ldcache(fp, collect, &s), 0);
	fclose(fp);
#if defined(__x86_64__)
	assert_int_equal(s.n, 5);
	mkpath(f, "lib64/libssl.so.3", p, sizeof(p));
	expect(f, &s.c[0], p, p, 0, false);
	mkpath(f, "lib64/libssl.so.1.1", p, sizeof(p));
	expect(f, &s.c[1], p, p, 0, false);
	mkpath(f, "lib64/glibc-hwcaps/x86-64-v3/libcrypto.so.3", p, sizeof(p));
	expect(f, &s.c[2], p, p, 0, false);
	mkpath(f, "lib64/libcrypto.so.3", p, sizeof(p));
	expect(f, &s.c[3], p, p, 0, false);
	mkpath(f, "lib64/libcrypto.so.1.1", p, sizeof(p));
	expect(f, &s.c[4], p, p, 0, false);
#else
	assert_int_equal(s.n, 1);
	mkpath(f, "lib64/libcrypto.so.1.1", p, sizeof(p));
	expect(f, &s.c[0], p, p, 0, false);
#endif
}

static void test_ldcache_stop_and_empty(void **state)
{
	struct fix *f = *state;
	struct seen s = { .stop_after = 1 };
	FILE *fp = ldcache(f);

	assert_int_equal(tlsfind_parse_ldcache(fp, collect, &s), 7);
	assert_int_equal(s.n, 1);
	fclose(fp);

	memset(&s, 0, sizeof(s));
	fp = tmpfile();
	assert_non_null(fp);
	assert_int_equal(tlsfind_parse_ldcache(fp, collect, &s), 0);
	assert_int_equal(s.n, 0);
	fclose(fp);
}

static void test_system(void **state)
{
	struct seen s = { 0 };
	bool libssl3 = false;
	int i, j;

	/* Debian's libssl3 is a build dependency (libssl-dev). */
	assert_int_equal(tlsfind_system(collect, &s), 0);
	for (i = 0; i < s.n; i++) {
		const char *base = strrchr(s.c[i].path, '/');

		assert_non_null(base);
		assert_true(tlsfind_is_ossl_name(s.c[i].path));
		assert_string_equal(s.c[i].path, s.c[i].name);
		assert_int_equal(s.c[i].pid, 0);
		assert_false(s.c[i].exe);
		assert_string_not_equal(base, "/libssl3.so");
		if (!strcmp(base, "/libssl.so.3"))
			libssl3 = true;
		for (j = 0; j < i; j++)
			assert_false(s.c[i].dev == s.c[j].dev && s.c[i].ino == s.c[j].ino);
	}
	assert_true(libssl3);
}

/*
 * Process 1234: an executable, a deleted libssl (two mappings, reached by
 * map_files; the second is a hard link of the first, so the same file), a
 * libssl at an odd path mapped twice, libcrypto, one in a directory with a
 * space, anonymous and special mappings, NSS's libssl3.so, a library gone
 * from the root, and a deleted one at a low address (map_files names have
 * no zero padding).
 */
static const char maps1234[] =
	"55d4c0000000-55d4c0001000 r--p 00000000 fd:01 100                        /usr/bin/app\n"
	"55d4c0001000-55d4c0005000 r-xp 00001000 fd:01 100                        /usr/bin/app\n"
	"55d4c1000000-55d4c1021000 rw-p 00000000 00:00 0                          [heap]\n"
	"7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n"
	"7f0000001000-7f0000002000 r--p 00000000 fd:01 200                        "
	"/usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)\n"
	"7f0000002000-7f0000003000 r-xp 00001000 fd:01 200                        "
	"/usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)\n"
	"7f0000010000-7f0000011000 r--p 00000000 fd:01 300                        "
	"/opt/app/lib/libssl.so.1.1\n"
	"7f0000011000-7f0000012000 r-xp 00001000 fd:01 300                        "
	"/opt/app/lib/libssl.so.1.1\n"
	"7f0000020000-7f0000021000 r-xp 00000000 fd:01 400                        "
	"/usr/lib/x86_64-linux-gnu/libcrypto.so.3\n"
	"7f0000030000-7f0000031000 r-xp 00000000 fd:01 500                        "
	"/usr/lib/x86_64-linux-gnu/libz.so.1\n"
	"7f0000040000-7f0000041000 r-xp 00000000 fd:01 600                        /usr/lib/libssl3.so\n"
	"7f0000050000-7f0000051000 r-xp 00000000 fd:01 700                        "
	"/gone/libcrypto.so.1.1\n"
	"7f0000060000-7f0000061000 r-xp 00000000 fd:01 800                        "
	"/opt/my app/libssl.so.3\n"
	"7f0000070000-7f0000071000 rw-s 00000000 00:01 900                        /memfd:libssl.so (deleted)\n"
	"7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n"
	"00400000-00401000 r-xp 00000000 fd:01 1000                               "
	"/usr/lib/libcrypto.so.1.0.0 (deleted)\n"
	"truncated line\n"
	"7f0000080000-7f0000081000 r-xp 00000000 fd:01 1100";

static void make_proc(const struct fix *f)
{
	touch(f, "bin/app");
	touch(f, "1234/root/usr/bin/app");
	touch(f, "1234/map_files/7f0000001000-7f0000002000");
	link_rel(f, "1234/map_files/7f0000001000-7f0000002000",
		 "1234/map_files/7f0000002000-7f0000003000", false);
	touch(f, "1234/root/opt/app/lib/libssl.so.1.1");
	touch(f, "1234/root/usr/lib/x86_64-linux-gnu/libcrypto.so.3");
	touch(f, "1234/root/usr/lib/x86_64-linux-gnu/libz.so.1");
	touch(f, "1234/root/usr/lib/libssl3.so");
	touch(f, "1234/root/opt/my app/libssl.so.3");
	touch(f, "1234/map_files/400000-401000");
	/* A current libssl.so.3 in the root: not the deleted one that is mapped. */
	touch(f, "1234/root/usr/lib/x86_64-linux-gnu/libssl.so.3");
	put(f, "1234/maps", maps1234);
	link_rel(f, "bin/app", "1234/exe", true);

	/* 2: a kernel thread, no exe and nothing mapped. */
	touch(f, "2/maps");
}

static void test_process(void **state)
{
	struct fix *f = *state;
	struct seen s = { 0 };
	char exe[PATH_MAX];

	make_proc(f);
	mkpath(f, "bin/app", exe, sizeof(exe));
	assert_int_equal(tlsfind_process(f->dir, 1234, collect, &s), 0);
	assert_int_equal(s.n, 6);
	expect(f, &s.c[0], "1234/exe", exe, 1234, true);
	expect(f, &s.c[1], "1234/map_files/7f0000001000-7f0000002000",
	       "/usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)", 1234, false);
	expect(f, &s.c[2], "1234/root/opt/app/lib/libssl.so.1.1", "/opt/app/lib/libssl.so.1.1",
	       1234, false);
	expect(f, &s.c[3], "1234/root/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
	       "/usr/lib/x86_64-linux-gnu/libcrypto.so.3", 1234, false);
	expect(f, &s.c[4], "1234/root/opt/my app/libssl.so.3", "/opt/my app/libssl.so.3", 1234,
	       false);
	expect(f, &s.c[5], "1234/map_files/400000-401000", "/usr/lib/libcrypto.so.1.0.0 (deleted)",
	       1234, false);

	/* A non-zero callback result stops the walk and is returned. */
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	assert_int_equal(tlsfind_process(f->dir, 1234, collect, &s), 7);
	assert_int_equal(s.n, 2);

	memset(&s, 0, sizeof(s));
	assert_int_equal(tlsfind_process(f->dir, 2, collect, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(tlsfind_process(f->dir, 999, collect, &s), -ENOENT);
	assert_int_equal(s.n, 0);
}

static void test_process_self(void **state)
{
	struct seen s = { 0 };
	char p[64], name[PATH_MAX];
	struct stat st;
	ssize_t n;
	int i;

	assert_int_equal(tlsfind_process("/proc", (uint32_t)getpid(), collect, &s), 0);
	/* Not linked with OpenSSL: just the executable. */
	assert_true(s.n >= 1);
	snprintf(p, sizeof(p), "/proc/%d/exe", (int)getpid());
	assert_string_equal(s.c[0].path, p);
	n = readlink("/proc/self/exe", name, sizeof(name) - 1);
	assert_true(n > 0);
	name[n] = '\0';
	assert_string_equal(s.c[0].name, name);
	assert_true(s.c[0].exe);
	assert_int_equal(s.c[0].pid, getpid());
	assert_int_equal(stat("/proc/self/exe", &st), 0);
	assert_int_equal(s.c[0].dev, (uint64_t)st.st_dev);
	assert_int_equal(s.c[0].ino, (uint64_t)st.st_ino);
	for (i = 1; i < s.n; i++)
		assert_true(tlsfind_is_ossl_name(s.c[i].name));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_ldcache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ldcache_stop_and_empty, setup, teardown),
		cmocka_unit_test(test_system),
		cmocka_unit_test_setup_teardown(test_process, setup, teardown),
		cmocka_unit_test(test_process_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
