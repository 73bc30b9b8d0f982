// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procfs.h"
#include "util.h"

#define PF_KTHREAD 0x00200000U

/* Reads up to size bytes of dirfd/name; returns the count or -errno. */
static ssize_t read_at(int dirfd, const char *name, char *buf, size_t size)
{
	size_t len = 0;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (len < size) {
		ssize_t n = read(fd, buf + len, size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			close(fd);
			return n;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	return (ssize_t)len;
}

/* As read_at, NUL-terminated (buf holds at most size - 1 bytes of data). */
static ssize_t read_str_at(int dirfd, const char *name, char *buf, size_t size)
{
	ssize_t n = read_at(dirfd, name, buf, size - 1);

	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/*
 * "pid (comm) S ppid pgrp session tty_nr tpgid flags ...". comm may hold
 * spaces and ')', so it ends at the LAST ')'. Fields after it are counted
 * from 3 (state).
 */
static int parse_stat(char *buf, struct rec_proc_seed *s)
{
	char *open = strchr(buf, '('), *close = strrchr(buf, ')'), *p, *end;
	unsigned long long v;
	int field;

	if (!open || !close || close < open)
		return -EINVAL;
	*close = '\0';
	/* Only a fallback: the comm file is preferred by the caller. */
	st_strlcpy(s->comm, open + 1, sizeof(s->comm));
	p = close + 1;
	for (field = 3; field <= 9; field++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return -EINVAL;
		if (field == 4 || field == 9) {
			errno = 0;
			v = strtoull(p, &end, 10);
			if (errno || end == p || v > UINT32_MAX)
				return -EINVAL;
			if (field == 4)
				s->ppid = (uint32_t)v;
			else
				s->kthread = (v & PF_KTHREAD) ? 1 : 0;
		}
		while (*p && *p != ' ')
			p++;
	}
	return 0;
}

static void parse_uid(const char *buf, struct rec_proc_seed *s)
{
	const char *line = strstr(buf, "\nUid:");
	unsigned long v;
	char *end;

	/* Not readable: an unknown uid, not root. */
	s->uid = UINT32_MAX;
	if (!strncmp(buf, "Uid:", 4))
		line = buf;
	else if (line)
		line++;
	else
		return;
	line += 4;
	while (*line == ' ' || *line == '\t')
		line++;
	errno = 0;
	v = strtoul(line, &end, 10);
	if (!errno && end != line && v <= UINT32_MAX)
		s->uid = (uint32_t)v;
}

static bool has_item(const char *list, size_t len, const char *item)
{
	size_t n = strlen(item);
	const char *p = list, *e = list + len;

	while (p < e) {
		const char *c = memchr(p, ',', (size_t)(e - p));
		size_t l = c ? (size_t)(c - p) : (size_t)(e - p);

		if (l == n && !strncmp(p, item, n))
			return true;
		if (!c)
			break;
		p = c + 1;
	}
	return false;
}

/* "0::PATH" is the v2 hierarchy; "N:a,memory,b:PATH" the v1 memory one. */
static void parse_cgroup(char *buf, struct rec_proc_seed *s)
{
	char *line, *save;

	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2;

		if (!c1)
			continue;
		c2 = strchr(c1 + 1, ':');
		if (!c2)
			continue;
		if (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1) {
			if (!s->cg_v2[0])
				st_strlcpy(s->cg_v2, c2 + 1, sizeof(s->cg_v2));
		} else if (has_item(c1 + 1, (size_t)(c2 - c1 - 1), "memory")) {
			if (!s->cg_mem[0])
				st_strlcpy(s->cg_mem, c2 + 1, sizeof(s->cg_mem));
		}
	}
}

int procfs_read(const char *procdir, uint32_t pid, struct rec_proc_seed *s)
{
	char path[PATH_MAX], buf[4096];
	ssize_t n;
	int dfd, ret;

	memset(s, 0, sizeof(*s));
	s->pid = pid;
	n = snprintf(path, sizeof(path), "%s/%u", procdir, pid);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	/* One dir fd: every read below is about the same process, even if the pid is reused. */
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ESRCH ? -ENOENT : -errno;

	n = read_str_at(dfd, "stat", buf, sizeof(buf));
	if (n <= 0) {
		ret = (n == 0 || n == -ESRCH) ? -ENOENT : (int)n;
		goto out;
	}
	ret = parse_stat(buf, s);
	if (ret)
		goto out;

	n = read_str_at(dfd, "comm", buf, sizeof(buf));
	if (n > 0) {
		buf[strcspn(buf, "\n")] = '\0';
		if (buf[0])
			st_strlcpy(s->comm, buf, sizeof(s->comm));
	}

	n = read_str_at(dfd, "status", buf, sizeof(buf));
	parse_uid(n > 0 ? buf : "", s);

	/* Bytes that do not fit are dropped; the kept prefix is still useful. */
	n = read_at(dfd, "cmdline", s->args, sizeof(s->args));
	s->args_len = n > 0 ? (uint32_t)n : 0;

	/* Fails for kernel threads and others' processes: filename stays "". */
	n = readlinkat(dfd, "exe", s->filename, sizeof(s->filename) - 1);
	s->filename[n > 0 ? n : 0] = '\0';

	n = read_str_at(dfd, "cgroup", buf, sizeof(buf));
	if (n > 0)
		parse_cgroup(buf, s);
	ret = 0;
out:
	close(dfd);
	return ret;
}

int procfs_scan(const char *procdir, int (*cb)(void *ctx, const struct rec_proc_seed *s), void *ctx)
{
	struct rec_proc_seed *s;
	struct dirent *de;
	int ret = 0;
	DIR *d;

	d = opendir(procdir);
	if (!d)
		return -errno;
	s = malloc(sizeof(*s));
	if (!s) {
		closedir(d);
		return -ENOMEM;
	}
	while (!ret && (de = readdir(d))) {
		uint64_t pid;

		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		/* "012" would name a different directory than pid 12. */
		if (de->d_name[0] == '0' || st_parse_u64(de->d_name, 1, UINT32_MAX, &pid))
			continue;
		/* Vanished (or unreadable) processes are skipped, not fatal. */
		if (procfs_read(procdir, (uint32_t)pid, s))
			continue;
		s->ts = now_mono_ns();
		ret = cb(ctx, s);
	}
	free(s);
	closedir(d);
	return ret;
}

int procfs_exists(const char *procdir, uint32_t pid)
{
	char path[PATH_MAX];
	struct stat st;
	int n;

	n = snprintf(path, sizeof(path), "%s/%u", procdir, pid);
	if (n < 0 || (size_t)n >= sizeof(path))
		return 0;
	return stat(path, &st) == 0;
}
