// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for user/procnet.c: /proc/net/tcp{,6} lines and a fake /proc tree. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procnet.h"
#include "tcp.h"
#include "util.h"

/* Copied from this machine's /proc/net/tcp and tcp6, trailing blanks included. */
#define HDR4                                                                                  \
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  " \
	"timeout inode                                                     \n"
#define HDR6                                                                                    \
	"  sl  local_address                         remote_address                        st " \
	"tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
/* The columns after the endpoints and state, up to the inode. */
#define MID " 00000000:00000000 00:00000000 00000000     0        0 "
#define TAIL " 1 0000000062e13f1b 100 0 0 10 0                       \n"

#define NS1 4026531999u
#define NS2 4026532000u

static void test_parse_header(void **state)
{
	struct procnet_sock s;

	assert_int_equal(procnet_parse(HDR4, AF_INET, &s), -EINVAL);
	assert_int_equal(procnet_parse(HDR6, AF_INET6, &s), -EINVAL);
	assert_int_equal(procnet_parse("", AF_INET, &s), -EINVAL);
	assert_int_equal(procnet_parse("\n", AF_INET, &s), -EINVAL);
}

static void test_parse_v4(void **state)
{
	static const uint8_t lo[4] = { 127, 0, 0, 1 }, any[4] = { 0 };
	static const uint8_t a10[4] = { 10, 1, 2, 3 }, a192[4] = { 192, 168, 0, 9 };
	struct procnet_sock s;

	assert_int_equal(
		procnet_parse("   0: 0100007F:1F90 00000000:0000 0A" MID "501" TAIL, AF_INET, &s),
		0);
	assert_int_equal(s.family, AF_INET);
	assert_int_equal(s.state, TCP_ST_LISTEN);
	assert_int_equal(s.lport, 8080);
	assert_memory_equal(s.laddr, lo, 4);
	assert_int_equal(s.rport, 0);
	assert_memory_equal(s.raddr, any, 4);
	assert_int_equal(s.inode, 501);
	/* Only the line's own fields: the owner is procnet_scan's business. */
	assert_int_equal(s.pid, 0);
	assert_int_equal(s.netns, 0);

	/* An established connection, a big inode, and no trailing blanks. */
	assert_int_equal(
		procnet_parse("  12: 0302010A:D431 0900A8C0:01BB 01" MID "4294967302", AF_INET, &s),
		0);
	assert_int_equal(s.state, TCP_ST_ESTABLISHED);
	assert_int_equal(s.lport, 54321);
	assert_memory_equal(s.laddr, a10, 4);
	assert_int_equal(s.rport, 443);
	assert_memory_equal(s.raddr, a192, 4);
	assert_int_equal(s.inode, 4294967302ull);
}

static void test_parse_v6(void **state)
{
	static const uint8_t lo6[16] = { [15] = 1 };
	static const uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff, 10, 1, 2, 3 };
	static const uint8_t any6[16] = { 0 };
	struct procnet_sock s;

	assert_int_equal(procnet_parse("   0: 00000000000000000000000001000000:01BB "
				       "00000000000000000000000000000000:0000 0A" MID "317793" TAIL,
				       AF_INET6, &s),
			 0);
	assert_int_equal(s.family, AF_INET6);
	assert_int_equal(s.state, TCP_ST_LISTEN);
	assert_int_equal(s.lport, 443);
	assert_memory_equal(s.laddr, lo6, 16);
	assert_int_equal(s.rport, 0);
	assert_memory_equal(s.raddr, any6, 16);
	assert_int_equal(s.inode, 317793);

	/* ::ffff:10.1.2.3, as the kernel prints an IPv4 peer of a v6 socket. */
	assert_int_equal(procnet_parse("   1: 0000000000000000FFFF00000302010A:1F90 "
				       "0000000000000000FFFF00000302010A:D431 06" MID "0" TAIL,
				       AF_INET6, &s),
			 0);
	assert_int_equal(s.state, TCP_ST_TIME_WAIT);
	assert_memory_equal(s.laddr, mapped, 16);
	assert_memory_equal(s.raddr, mapped, 16);
	assert_int_equal(s.lport, 8080);
	assert_int_equal(s.rport, 54321);
	assert_int_equal(s.inode, 0);
}

static void test_parse_malformed(void **state)
{
	static const char *const v4[] = {
		/* Truncated: no inode, no state, no remote. */
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0",
		"   0: 0100007F:1F90 00000000:0000",
		"   0: 0100007F:1F90",
		"   0:",
		/* Bad hex in an address, a port, the state. */
		"   0: 0100007G:1F90 00000000:0000 0A" MID "501" TAIL,
		"   0: 0100007F:1F9Z 00000000:0000 0A" MID "501" TAIL,
		"   0: 0100007F:1F90 0000000X:0000 0A" MID "501" TAIL,
		"   0: 0100007F:1F90 00000000:0000 ZZ" MID "501" TAIL,
		/* strtoul would take a sign or 0x: still not 8 hex digits. */
		"   0: -100007F:1F90 00000000:0000 0A" MID "501" TAIL,
		"   0: 0x00007F:1F90 00000000:0000 0A" MID "501" TAIL,
		"   0: 0100007F:+1F9 00000000:0000 0A" MID "501" TAIL,
		/* Short or long fields, a missing ':'. */
		"   0: 100007F:1F90 00000000:0000 0A" MID "501" TAIL,
		"   0: 0100007F:1F900 00000000:0000 0A" MID "501" TAIL,
		"   0: 0100007F:1F9 00000000:00000 0A" MID "501" TAIL,
		"   0: 0100007F-1F90 00000000-0000 0A" MID "501" TAIL,
		/* A state that does not fit a byte. */
		"   0: 0100007F:1F90 00000000:0000 100" MID "501" TAIL,
		/* An IPv6 line read as IPv4: the wrong address length. */
		"   0: 00000000000000000000000001000000:01BB "
		"00000000000000000000000000000000:0000 0A" MID "317793" TAIL,
	};
	struct procnet_sock s;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(v4); i++) {
		if (procnet_parse(v4[i], AF_INET, &s) != -EINVAL)
			fail_msg("accepted as tcp: \"%s\"", v4[i]);
	}
	/* An IPv4 line read as IPv6, and a v6 line with a 7-digit word. */
	assert_int_equal(
		procnet_parse("   0: 0100007F:1F90 00000000:0000 0A" MID "501" TAIL, AF_INET6, &s),
		-EINVAL);
	assert_int_equal(procnet_parse("   0: 0000000000000000000000001000000:01BB "
				       "00000000000000000000000000000000:0000 0A" MID "1" TAIL,
				       AF_INET6, &s),
			 -EINVAL);
}

/*
 * The fake tree. Netns NS1 holds 100 ("srv", sockets 12345 and the v6
 * 12346) and 101 ("worker", 12347); both see the same table, as processes
 * in one netns do. Netns NS2 holds 200 ("cli", 22222). 99999 and 99998 are
 * in the tables but held by nobody. 300 has no fd dir, 301 no ns link, and
 * "self" is not a pid: what only they hold (33333, 33334, 44444) is unseen.
 */
struct fix {
	char dir[1024]; /* short enough that "%s/pid/name" fits PATH_MAX */
};

static void put(const struct fix *f, const char *rel, const char *s)
{
	char p[PATH_MAX];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
	fp = fopen(p, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(s, fp) >= 0, 1);
	fclose(fp);
}

static void mkdirf(const struct fix *f, const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void link_(const struct fix *f, const char *rel, const char *target)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
	assert_int_equal(symlink(target, p), 0);
}

/* A process directory: the dirs, its comm, its netns when ns is not 0. */
static void proc_dir(const struct fix *f, const char *pid, const char *comm, uint32_t ns, bool fd)
{
	char rel[64], target[64];

	mkdirf(f, pid);
	snprintf(rel, sizeof(rel), "%s/net", pid);
	mkdirf(f, rel);
	snprintf(rel, sizeof(rel), "%s/comm", pid);
	put(f, rel, comm);
	if (ns) {
		snprintf(rel, sizeof(rel), "%s/ns", pid);
		mkdirf(f, rel);
		snprintf(rel, sizeof(rel), "%s/ns/net", pid);
		snprintf(target, sizeof(target), "net:[%u]", ns);
		link_(f, rel, target);
	}
	if (fd) {
		snprintf(rel, sizeof(rel), "%s/fd", pid);
		mkdirf(f, rel);
	}
}

static const char ns1_tcp[] = HDR4 "   0: 00000000:1F90 00000000:0000 0A" MID "12345" TAIL
				   "   1: 0100007F:0050 00000000:0000 0A" MID "99999" TAIL
				   "   2: 0100007F:2328 0100007F:D431 01" MID "12347" TAIL
				   "   3: 0100007F:2329 0100007F:D432 06" MID "0" TAIL;
static const char ns1_tcp6[] = HDR6 "   0: 00000000000000000000000001000000:01BB "
				    "00000000000000000000000000000000:0000 0A" MID "12346" TAIL;
static const char ns2_tcp[] = HDR4 "   0: 0302010A:D431 0909090A:01BB 01" MID "22222" TAIL
				   "   1: 0302010A:D432 0909090A:01BB 01" MID "99998" TAIL;
static const char orphan_tcp[] = HDR4 "   0: 00000000:0016 00000000:0000 0A" MID "33333" TAIL
				      "   1: 00000000:0017 00000000:0000 0A" MID "33334" TAIL
				      "   2: 00000000:0018 00000000:0000 0A" MID "44444" TAIL;

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/st_net_XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));

	proc_dir(f, "100", "srv\n", NS1, true);
	link_(f, "100/fd/0", "/dev/null");
	link_(f, "100/fd/1", "pipe:[777]");
	link_(f, "100/fd/3", "socket:[12345]");
	link_(f, "100/fd/4", "socket:[12346]");
	link_(f, "100/fd/5", "anon_inode:[eventpoll]");
	put(f, "100/net/tcp", ns1_tcp);
	put(f, "100/net/tcp6", ns1_tcp6);

	proc_dir(f, "101", "worker\n", NS1, true);
	link_(f, "101/fd/7", "socket:[12347]");
	put(f, "101/net/tcp", ns1_tcp);
	put(f, "101/net/tcp6", ns1_tcp6);

	/* No tcp6 file: that table is simply not there. */
	proc_dir(f, "200", "cli\n", NS2, true);
	link_(f, "200/fd/3", "socket:[22222]");
	put(f, "200/net/tcp", ns2_tcp);

	proc_dir(f, "300", "nofd\n", 4026532001u, false);
	put(f, "300/net/tcp", orphan_tcp);
	proc_dir(f, "301", "nons\n", 0, true);
	link_(f, "301/fd/3", "socket:[33334]");
	put(f, "301/net/tcp", orphan_tcp);
	proc_dir(f, "self", "self\n", 4026532002u, true);
	link_(f, "self/fd/3", "socket:[44444]");
	put(f, "self/net/tcp", orphan_tcp);
	put(f, "77", "a file, not a process\n");

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

struct seen {
	struct procnet_sock s[16];
	int n;
	int stop_after; /* returns non-zero at this many, 0: never */
	uint64_t only; /* keep only this inode (the real /proc has many sockets) */
};

static int collect(void *ctx, const struct procnet_sock *s)
{
	struct seen *v = ctx;

	if (v->only && s->inode != v->only) {
		v->n++;
		return 0;
	}
	if (v->n < (int)ARRAY_SIZE(v->s))
		v->s[v->only ? 0 : v->n] = *s;
	v->n++;
	return v->stop_after && v->n >= v->stop_after;
}

static const struct procnet_sock *find(const struct seen *v, uint64_t inode)
{
	int i;

	for (i = 0; i < v->n && i < (int)ARRAY_SIZE(v->s); i++)
		if (v->s[i].inode == inode)
			return &v->s[i];
	return NULL;
}

static void check_sock(const struct procnet_sock *s, uint32_t pid, uint32_t ns, const char *comm,
		       uint8_t family, uint8_t state, uint16_t lport, uint16_t rport)
{
	assert_non_null(s);
	assert_int_equal(s->pid, pid);
	assert_int_equal(s->netns, ns);
	assert_string_equal(s->comm, comm);
	assert_int_equal(s->family, family);
	assert_int_equal(s->state, state);
	assert_int_equal(s->lport, lport);
	assert_int_equal(s->rport, rport);
}

static void test_scan_fake(void **state)
{
	static const uint8_t peer[4] = { 10, 9, 9, 9 };
	const struct fix *f = *state;
	struct seen v = { 0 };
	int n;

	n = procnet_scan(f->dir, collect, &v);
	assert_int_equal(n, 4);
	assert_int_equal(v.n, 4);
	check_sock(find(&v, 12345), 100, NS1, "srv", AF_INET, TCP_ST_LISTEN, 8080, 0);
	check_sock(find(&v, 12346), 100, NS1, "srv", AF_INET6, TCP_ST_LISTEN, 443, 0);
	/* Read from whichever table of NS1, but owned by 101, once. */
	check_sock(find(&v, 12347), 101, NS1, "worker", AF_INET, TCP_ST_ESTABLISHED, 9000, 54321);
	check_sock(find(&v, 22222), 200, NS2, "cli", AF_INET, TCP_ST_ESTABLISHED, 54321, 443);
	assert_memory_equal(find(&v, 22222)->raddr, peer, 4);
	/* Held by nobody, or only by what is skipped. */
	assert_null(find(&v, 99999));
	assert_null(find(&v, 99998));
	assert_null(find(&v, 33333));
	assert_null(find(&v, 33334));
	assert_null(find(&v, 44444));
	assert_null(find(&v, 0));
}

static void test_scan_stop(void **state)
{
	const struct fix *f = *state;
	struct seen v = { .stop_after = 1 };

	assert_int_equal(procnet_scan(f->dir, collect, &v), 1);
	assert_int_equal(v.n, 1);
}

static void test_scan_missing(void **state)
{
	const struct fix *f = *state;
	struct seen v = { 0 };
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/nonexistent", f->dir);
	assert_int_equal(procnet_scan(p, collect, &v), -ENOENT);
	assert_int_equal(v.n, 0);
}

/* One namespace's whole tables, whoever holds the sockets (the time-wait one too). */
static void test_table_fake(void **state)
{
	const struct fix *f = *state;
	struct seen v = { 0 };
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/100/net", f->dir);
	assert_int_equal(procnet_table(p, collect, &v), 5);
	assert_int_equal(v.n, 5);
	check_sock(find(&v, 99999), 0, 0, "", AF_INET, TCP_ST_LISTEN, 80, 0);
	check_sock(find(&v, 12346), 0, 0, "", AF_INET6, TCP_ST_LISTEN, 443, 0);
	check_sock(find(&v, 0), 0, 0, "", AF_INET, TCP_ST_TIME_WAIT, 9001, 54322);

	/* tcp6 missing is no error; both missing is. */
	memset(&v, 0, sizeof(v));
	snprintf(p, sizeof(p), "%s/200/net", f->dir);
	assert_int_equal(procnet_table(p, collect, &v), 2);
	snprintf(p, sizeof(p), "%s/100", f->dir);
	assert_int_equal(procnet_table(p, collect, &v), -ENOENT);

	memset(&v, 0, sizeof(v));
	v.stop_after = 2;
	snprintf(p, sizeof(p), "%s/100/net", f->dir);
	assert_int_equal(procnet_table(p, collect, &v), 2);
}

/* The real /proc: a listener of our own is found, with us as its owner. */
static void test_scan_real(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	const struct procnet_sock *s;
	struct seen v = { 0 };
	struct stat st;
	int fd, n;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	assert_int_equal(fstat(fd, &st), 0);

	v.only = st.st_ino;
	n = procnet_scan("/proc", collect, &v);
	assert_true(n >= 1);
	assert_int_equal(n, v.n);
	s = &v.s[0];
	assert_int_equal(s->inode, st.st_ino);
	assert_int_equal(s->pid, getpid());
	assert_true(s->netns > 0);
	assert_int_equal(s->family, AF_INET);
	assert_int_equal(s->state, TCP_ST_LISTEN);
	assert_int_equal(s->lport, ntohs(a.sin_port));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_header),
		cmocka_unit_test(test_parse_v4),
		cmocka_unit_test(test_parse_v6),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test_setup_teardown(test_scan_fake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_fake, setup, teardown),
		cmocka_unit_test(test_scan_real),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
