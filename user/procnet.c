// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "procnet.h"
#include "util.h"

/* n hex digits and nothing else: strtoul would also take blanks, a sign, 0x. */
static bool all_hex(const char *s, size_t n)
{
	while (n--)
		if (!isxdigit((unsigned char)*s++))
			return false;
	return true;
}

static int hex_word(const char *s, uint32_t *v)
{
	char buf[9], *end;

	if (!all_hex(s, 8))
		return -EINVAL;
	memcpy(buf, s, 8);
	buf[8] = 0;
	errno = 0;
	*v = strtoul(buf, &end, 16);
	return errno || end != buf + 8 ? -EINVAL : 0;
}

/*
 * "0100007F:1F90": the kernel prints each 32-bit word of the address as it
 * sits in memory, read as a host integer; copying the integer back gives
 * the bytes in network order on any host. The port is a host-order number.
 */
static int parse_endpoint(const char *s, int family, uint8_t *addr, uint16_t *port)
{
	int words = family == AF_INET6 ? 4 : 1, i;
	unsigned long p;
	char *end;
	uint32_t w;

	for (i = 0; i < words; i++) {
		if (hex_word(s + 8 * i, &w))
			return -EINVAL;
		memcpy(addr + 4 * i, &w, 4);
	}
	s += 8 * words;
	if (*s != ':' || !all_hex(s + 1, 4))
		return -EINVAL;
	p = strtoul(s + 1, &end, 16);
	if (end != s + 5 || p > 0xffff)
		return -EINVAL;
	*port = p;
	return 0;
}

int procnet_parse(const char *line, int family, struct procnet_sock *s)
{
	char local[64], remote[64];
	unsigned int st;
	uint64_t inode;
	int n = 0;

	memset(s, 0, sizeof(*s));
	/* sl local remote st tx:rx tr:when retrnsmt uid timeout inode */
	if (sscanf(line, " %*u: %63s %63s %x %*x:%*x %*x:%*x %*x %*u %*u %" SCNu64 " %n", local,
		   remote, &st, &inode, &n) != 4 ||
	    !n)
		return -EINVAL;
	if (strlen(local) != (family == AF_INET6 ? 37 : 13) || strlen(remote) != strlen(local))
		return -EINVAL;
	if (parse_endpoint(local, family, s->laddr, &s->lport) ||
	    parse_endpoint(remote, family, s->raddr, &s->rport) || st > 0xff)
		return -EINVAL;
	s->family = family;
	s->state = st;
	s->inode = inode;
	return 0;
}

/* "prefix:[N]" -> N, else 0. */
static uint64_t link_num(int dirfd, const char *name, const char *prefix)
{
	char buf[64];
	size_t pl = strlen(prefix);
	ssize_t n = readlinkat(dirfd, name, buf, sizeof(buf) - 1);

	if (n <= (ssize_t)pl + 2)
		return 0;
	buf[n] = 0;
	if (strncmp(buf, prefix, pl) || buf[pl] != ':' || buf[pl + 1] != '[')
		return 0;
	return strtoull(buf + pl + 2, NULL, 10);
}

struct scan {
	const char *procdir;
	struct hmap inodes; /* socket inode -> pid << 32 | netns */
	struct hmap netns; /* netns -> a pid in it */
};

static void scan_pid(struct scan *sc, int procfd, const char *name)
{
	uint64_t ns, ino, pid;
	struct dirent *d;
	DIR *fds;
	int pfd, fdd;

	/*
	 * pid and netns share one word in the inodes map (pid << 32 | ns): a
	 * pid or an ns inode above 32 bits (never from a real /proc) would
	 * spill into the other and name the wrong owner.
	 */
	if (st_parse_u64(name, 1, UINT32_MAX, &pid))
		return;
	pfd = openat(procfd, name, O_RDONLY | O_DIRECTORY);
	if (pfd < 0)
		return;
	ns = link_num(pfd, "ns/net", "net");
	if (ns > UINT32_MAX)
		ns = 0;
	fdd = ns ? openat(pfd, "fd", O_RDONLY | O_DIRECTORY) : -1;
	fds = fdd >= 0 ? fdopendir(fdd) : NULL;
	if (!fds) {
		if (fdd >= 0)
			close(fdd);
		close(pfd);
		return;
	}
	while ((d = readdir(fds))) {
		ino = d->d_name[0] != '.' ? link_num(fdd, d->d_name, "socket") : 0;
		if (!ino || hmap_get(&sc->inodes, ino))
			continue;
		hmap_put(&sc->inodes, ino, (void *)(uintptr_t)(pid << 32 | ns));
		if (!hmap_get(&sc->netns, ns))
			hmap_put(&sc->netns, ns, (void *)(uintptr_t)pid);
	}
	closedir(fds);
	close(pfd);
}

static void read_comm(const char *procdir, uint32_t pid, char *comm, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%u/comm", procdir, pid);
	comm[0] = 0;
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(comm, len, f))
		comm[strcspn(comm, "\n")] = 0;
	fclose(f);
}

/* Calls fn on each socket of one table until it returns non-zero (returned). -errno: no table. */
static int each_sock(const char *path, int family, int (*fn)(void *ctx, struct procnet_sock *s),
		     void *ctx)
{
	char line[512];
	struct procnet_sock s;
	FILE *f = fopen(path, "re");
	int rc = 0;

	if (!f)
		return -errno;
	while (!rc && fgets(line, sizeof(line), f))
		if (!procnet_parse(line, family, &s))
			rc = fn(ctx, &s);
	fclose(f);
	return rc;
}

struct owned {
	struct scan *sc;
	int (*cb)(void *ctx, const struct procnet_sock *s);
	void *ctx;
	int count;
};

/* A socket some process holds: named after it, passed on. */
static int owned_sock(void *ctx, struct procnet_sock *s)
{
	struct owned *o = ctx;
	uintptr_t who = s->inode ? (uintptr_t)hmap_get(&o->sc->inodes, s->inode) : 0;

	if (!who)
		return 0;
	s->pid = who >> 32;
	s->netns = (uint32_t)who;
	read_comm(o->sc->procdir, s->pid, s->comm, sizeof(s->comm));
	o->count++;
	return o->cb(o->ctx, s);
}

static int scan_table(struct owned *o, uint32_t pid, int family)
{
	char path[PATH_MAX];
	int rc;

	snprintf(path, sizeof(path), "%s/%u/net/%s", o->sc->procdir, pid,
		 family == AF_INET6 ? "tcp6" : "tcp");
	rc = each_sock(path, family, owned_sock, o);
	return rc < 0 ? 0 : rc;
}

struct passed {
	int (*cb)(void *ctx, const struct procnet_sock *s);
	void *ctx;
	int count;
};

static int pass_sock(void *ctx, struct procnet_sock *s)
{
	struct passed *p = ctx;

	p->count++;
	return p->cb(p->ctx, s);
}

int procnet_table(const char *netdir, int (*cb)(void *ctx, const struct procnet_sock *s), void *ctx)
{
	struct passed p = { .cb = cb, .ctx = ctx };
	char path[PATH_MAX];
	int rc4, rc6;

	snprintf(path, sizeof(path), "%s/tcp", netdir);
	rc4 = each_sock(path, AF_INET, pass_sock, &p);
	snprintf(path, sizeof(path), "%s/tcp6", netdir);
	rc6 = rc4 > 0 ? 0 : each_sock(path, AF_INET6, pass_sock, &p);
	if (rc4 < 0 && rc6 < 0)
		return rc4;
	return p.count;
}

int procnet_scan(const char *procdir, int (*cb)(void *ctx, const struct procnet_sock *s), void *ctx)
{
	struct scan sc = { .procdir = procdir };
	struct owned o = { .sc = &sc, .cb = cb, .ctx = ctx };
	int procfd = open(procdir, O_RDONLY | O_DIRECTORY), rc = 0;
	struct dirent *d;
	uint64_t ns;
	size_t it = 0;
	void *pid;
	DIR *dir;

	dir = procfd >= 0 ? fdopendir(procfd) : NULL;
	if (!dir) {
		rc = -errno;
		if (procfd >= 0)
			close(procfd);
		return rc;
	}
	hmap_init(&sc.inodes);
	hmap_init(&sc.netns);
	while ((d = readdir(dir)))
		if (isdigit((unsigned char)d->d_name[0]))
			scan_pid(&sc, procfd, d->d_name);
	closedir(dir);
	while (!rc && hmap_next(&sc.netns, &it, &ns, &pid)) {
		rc = scan_table(&o, (uint32_t)(uintptr_t)pid, AF_INET);
		if (!rc)
			rc = scan_table(&o, (uint32_t)(uintptr_t)pid, AF_INET6);
	}
	hmap_free(&sc.inodes);
	hmap_free(&sc.netns);
	return o.count;
}
