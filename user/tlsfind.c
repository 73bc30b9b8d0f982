// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tlsfind.h"
#include "util.h"

#if defined(__x86_64__)
#define LDCACHE_ABI "x86-64"
#elif defined(__aarch64__)
#define LDCACHE_ABI "AArch64"
#else
#error "spiketrace supports x86-64 and arm64 only"
#endif

#define DELETED " (deleted)"

struct devino {
	uint64_t dev, ino;
};

/* Files already reported by one walk: few, so a linear search will do. */
struct seen {
	struct devino *v;
	size_t n, cap;
};

/* Fills dev/ino from stat(c->path) and calls cb, unless not there or already seen. */
static int emit(struct seen *s, struct tls_cand *c, tls_cand_cb cb, void *ctx)
{
	struct stat st;
	size_t i;

	if (stat(c->path, &st))
		return 0;
	c->dev = (uint64_t)st.st_dev;
	c->ino = (uint64_t)st.st_ino;
	for (i = 0; i < s->n; i++)
		if (s->v[i].dev == c->dev && s->v[i].ino == c->ino)
			return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct devino *n = realloc(s->v, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->v = n;
		s->cap = cap;
	}
	s->v[s->n].dev = c->dev;
	s->v[s->n].ino = c->ino;
	s->n++;
	return cb(ctx, c);
}

bool tlsfind_is_ossl_name(const char *path)
{
	static const char *const prefixes[] = { "libssl", "libcrypto" };
	const char *base = strrchr(path, '/'), *p = NULL, *so;
	size_t i;

	base = base ? base + 1 : path;
	for (i = 0; i < ARRAY_SIZE(prefixes) && !p; i++)
		if (!strncmp(base, prefixes[i], strlen(prefixes[i])))
			p = base + strlen(prefixes[i]);
	/* Rules out NSS's libssl3.so and libcrypto++.so, which are not OpenSSL. */
	if (!p || (*p != '.' && *p != '-' && *p != '_'))
		return false;
	for (so = strstr(p, ".so"); so; so = strstr(so + 1, ".so"))
		if (so[3] == '\0' || so[3] == '.')
			return true;
	return false;
}

/* "libc6,x86-64, hwcap: ..., OS ABI: ...": is our ABI one of the items? */
static bool ldcache_abi_ok(char *tags)
{
	char *item, *save;

	for (item = strtok_r(tags, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		size_t n;

		while (*item == ' ')
			item++;
		n = strlen(item);
		while (n && item[n - 1] == ' ')
			item[--n] = '\0';
		if (!strcmp(item, LDCACHE_ABI))
			return true;
	}
	return false;
}

/*
 * Lines are "\tlibssl.so.3 (libc6,x86-64) => /lib/x86_64-linux-gnu/libssl.so.3";
 * the first ("N libs found in cache ...") has no "=>". On x86-64, i386
 * libraries are the ones tagged just "(libc6)".
 */
int tlsfind_parse_ldcache(FILE *in, tls_cand_cb cb, void *ctx)
{
	struct seen seen = { 0 };
	struct tls_cand c;
	size_t cap = 0;
	char *line = NULL;
	ssize_t len;
	int ret = 0;

	while (!ret && (len = getline(&line, &cap, in)) >= 0) {
		char *open = strchr(line, '('), *arrow = strstr(line, ") => "), *path;

		if (len && line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (!open || !arrow || arrow < open)
			continue;
		*arrow = '\0';
		path = arrow + 5;
		if (path[0] != '/' || !ldcache_abi_ok(open + 1) || !tlsfind_is_ossl_name(path))
			continue;
		memset(&c, 0, sizeof(c));
		if (st_strlcpy(c.path, path, sizeof(c.path)) >= sizeof(c.path))
			continue;
		st_strlcpy(c.name, path, sizeof(c.name));
		ret = emit(&seen, &c, cb, ctx);
	}
	if (!ret && ferror(in))
		ret = -EIO;
	free(line);
	free(seen.v);
	return ret;
}

int tlsfind_system(tls_cand_cb cb, void *ctx)
{
	static const char *const paths[] = { "/sbin/ldconfig", "/usr/sbin/ldconfig" };
	/* Untranslated output whatever our locale; ldconfig needs nothing else. */
	char *const envp[] = { "LC_ALL=C", NULL };
	const char *prog = NULL;
	posix_spawn_file_actions_t fa;
	int pfd[2], ret, status;
	size_t i;
	pid_t pid;
	FILE *fp;

	for (i = 0; i < ARRAY_SIZE(paths) && !prog; i++)
		if (!access(paths[i], X_OK))
			prog = paths[i];
	if (!prog)
		return -ENOENT;
	if (pipe2(pfd, O_CLOEXEC))
		return -errno;
	ret = posix_spawn_file_actions_init(&fa);
	if (ret) {
		close(pfd[0]);
		close(pfd[1]);
		return -ret;
	}
	/* dup2 clears O_CLOEXEC on the child's stdout; its errors are not ours to print. */
	ret = posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	if (!ret)
		ret = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (!ret)
		ret = posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY,
						       0);
	if (!ret) {
		char *const argv[] = { (char *)prog, "-p", NULL };

		ret = posix_spawn(&pid, prog, &fa, NULL, argv, envp);
	}
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (ret) {
		close(pfd[0]);
		return -ret;
	}
	fp = fdopen(pfd[0], "r");
	if (!fp) {
		ret = -errno;
		close(pfd[0]);
	} else {
		ret = tlsfind_parse_ldcache(fp, cb, ctx);
		/* Closed before waiting: a child still writing gets EPIPE, not a hang. */
		fclose(fp);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return ret ? ret : -errno;
	}
	/* If we stopped early, the child may have died of SIGPIPE: that is fine. */
	if (!ret && (!WIFEXITED(status) || WEXITSTATUS(status)))
		ret = -EIO;
	return ret;
}

/* One maps line; emits a candidate if it maps an OpenSSL-named file. */
static int process_line(const char *procfs, uint32_t pid, char *line, struct seen *seen,
			tls_cand_cb cb, void *ctx)
{
	unsigned long long start, end, pgoff, ino;
	unsigned int maj, min;
	struct tls_cand c;
	char perms[8], *name;
	bool deleted = false;
	size_t len;
	int pos = -1, n;

	/* "start-end perms offset maj:min inode    name", name possibly empty. */
	if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &pgoff, &maj,
		   &min, &ino, &pos) < 7 ||
	    pos < 0)
		return 0;
	name = line + pos;
	if (name[0] != '/')
		return 0; /* anonymous, [heap], [vdso] ... */
	len = strlen(name);
	if (len > strlen(DELETED) && !strcmp(name + len - strlen(DELETED), DELETED)) {
		deleted = true;
		name[len - strlen(DELETED)] = '\0';
	}
	if (!tlsfind_is_ossl_name(name))
		return 0;
	memset(&c, 0, sizeof(c));
	c.pid = pid;
	/*
	 * /proc/PID/root/NAME is the file in the process's mount namespace. A
	 * deleted (e.g. upgraded) library is only reachable through the
	 * mapping itself; map_files names have no zero padding.
	 */
	if (deleted)
		n = snprintf(c.path, sizeof(c.path), "%s/%u/map_files/%llx-%llx", procfs, pid,
			     start, end);
	else
		n = snprintf(c.path, sizeof(c.path), "%s/%u/root%s", procfs, pid, name);
	if (n < 0 || (size_t)n >= sizeof(c.path))
		return 0;
	snprintf(c.name, sizeof(c.name), "%s%s", name, deleted ? DELETED : "");
	return emit(seen, &c, cb, ctx);
}

int tlsfind_process(const char *procfs, uint32_t pid, tls_cand_cb cb, void *ctx)
{
	struct seen seen = { 0 };
	char path[PATH_MAX];
	struct tls_cand c;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *fp;
	int ret, n;

	n = snprintf(path, sizeof(path), "%s/%u/maps", procfs, pid);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	fp = fopen(path, "re");
	if (!fp)
		return errno == ESRCH ? -ENOENT : -errno;

	memset(&c, 0, sizeof(c));
	c.pid = pid;
	c.exe = true;
	n = snprintf(c.path, sizeof(c.path), "%s/%u/exe", procfs, pid);
	if (n < 0 || (size_t)n >= sizeof(c.path)) {
		fclose(fp);
		return -ENAMETOOLONG;
	}
	/* Kernel threads have no exe: stat fails and emit skips it. */
	len = readlink(c.path, c.name, sizeof(c.name) - 1);
	if (len > 0)
		c.name[len] = '\0';
	else
		st_strlcpy(c.name, c.path, sizeof(c.name));
	ret = emit(&seen, &c, cb, ctx);

	while (!ret && (len = getline(&line, &cap, fp)) >= 0) {
		if (len && line[len - 1] == '\n')
			line[len - 1] = '\0';
		ret = process_line(procfs, pid, line, &seen, cb, ctx);
	}
	if (!ret && ferror(fp))
		ret = errno == ESRCH ? -ENOENT : -EIO;
	free(line);
	free(seen.v);
	fclose(fp);
	return ret;
}
