// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Cgroup id -> path resolution by walking the mounted hierarchies. Paths
 * returned by cg_path() are owned by the resolver and stay valid (and
 * unchanged) until cg_free(), so callers may keep the pointer.
 */
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

#include "cgroup.h"
#include "util.h"

#define CG_NHIER 2
#define CG_MAX_DEPTH 64
/* At most one full walk per hierarchy per this interval. */
#define CG_RESCAN_NS (100ULL * 1000000ULL)
/*
 * An id that a walk already failed to find (deleted cgroup, or one outside
 * our mount's view) is retried less often, so a stream of events from it
 * cannot keep us walking every 100 ms.
 */
#define CG_NEG_RETRY_NS (1000ULL * 1000000ULL)
#define CG_NEG_MAX 4096

#ifndef FILEID_KERNFS
#define FILEID_KERNFS 0xfe /* include/linux/exportfs.h */
#endif

struct cg_tree {
	char *root; /* mount point, NULL when absent */
	struct hmap paths; /* id -> strdup'd path relative to root */
	struct hmap neg; /* ids a walk did not find */
	uint64_t last_scan_ns;
	bool scanned;
};

struct cg_resolver {
	struct cg_tree t[CG_NHIER];
};

/* Directory walk shared by cg_scan (stop at a match) and the cache fill. */
struct cg_walk {
	char path[PATH_MAX]; /* relative path of the current dir, "" for root */
	size_t len;
	dev_t dev;
	/* > 0 stops the walk successfully, < 0 aborts with that error. */
	int (*cb)(struct cg_walk *w, uint64_t ino, const char *path);
	void *ctx;
};

static int walk_dir(struct cg_walk *w, int fd, int depth)
{
	struct dirent *de;
	int ret = 0;
	DIR *d;

	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	while (!ret && (de = readdir(d))) {
		const char *name = de->d_name;
		size_t nlen = strlen(name), old = w->len;
		struct stat st;

		/* cgroupfs fills d_type: skip the many control files cheaply. */
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISDIR(st.st_mode))
			continue;
		/* Another mount below us is not part of this hierarchy. */
		if (st.st_dev != w->dev)
			continue;
		if (old + 1 + nlen >= sizeof(w->path))
			continue;
		w->path[w->len++] = '/';
		memcpy(w->path + w->len, name, nlen + 1);
		w->len += nlen;

		ret = w->cb(w, st.st_ino, w->path);
		if (!ret && depth + 1 < CG_MAX_DEPTH) {
			int cfd = openat(dirfd(d), name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (cfd >= 0)
				ret = walk_dir(w, cfd, depth + 1);
		}
		w->len = old;
		w->path[old] = '\0';
	}
	closedir(d);
	return ret;
}

/* Calls w->cb for root ("/") then every directory below it. */
static int walk(const char *root, struct cg_walk *w)
{
	struct stat st;
	int fd, ret;

	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	w->dev = st.st_dev;
	w->len = 0;
	w->path[0] = '\0';
	ret = w->cb(w, st.st_ino, "/");
	if (ret) {
		close(fd);
		return ret;
	}
	return walk_dir(w, fd, 0);
}

struct scan_ctx {
	uint64_t ino;
	char *out;
	size_t outlen;
};

static int scan_cb(struct cg_walk *w, uint64_t ino, const char *path)
{
	struct scan_ctx *c = w->ctx;

	if (ino != c->ino)
		return 0;
	if (st_strlcpy(c->out, path, c->outlen) >= c->outlen)
		return -ENAMETOOLONG;
	return 1;
}

int cg_scan(const char *root, uint64_t ino, char *out, size_t outlen)
{
	struct scan_ctx c = { .ino = ino, .out = out, .outlen = outlen };
	struct cg_walk *w;
	int ret;

	if (!root || !*root || !out || !outlen)
		return -EINVAL;
	/* PATH_MAX is too big for the stack of a library call. */
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->cb = scan_cb;
	w->ctx = &c;
	ret = walk(root, w);
	free(w);
	if (ret > 0)
		return 0;
	return ret ? ret : -ENOENT;
}

/* Caches without replacing: pointers handed out earlier must stay valid. */
static const char *under(const char *path, const char *root);

static int tree_add(struct cg_tree *t, uint64_t id, const char *path)
{
	char *p;

	if (!id || hmap_get(&t->paths, id))
		return 0;
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	if (hmap_put(&t->paths, id, p)) {
		free(p);
		return -ENOMEM;
	}
	return 0;
}

static int fill_cb(struct cg_walk *w, uint64_t ino, const char *path)
{
	return tree_add(w->ctx, ino, path);
}

static void tree_scan(struct cg_tree *t)
{
	struct cg_walk *w = calloc(1, sizeof(*w));

	if (!w)
		return;
	w->cb = fill_cb;
	w->ctx = t;
	walk(t->root, w);
	free(w);
}

static void tree_free(struct cg_tree *t)
{
	hmap_free_all(&t->paths);
	hmap_free(&t->neg);
	free(t->root);
	t->root = NULL;
}

struct cg_resolver *cg_new_roots(const char *v2_root, const char *mem_root)
{
	const char *roots[CG_NHIER] = { [CG_V2] = v2_root, [CG_MEM] = mem_root };
	struct cg_resolver *r;
	int i;

	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	for (i = 0; i < CG_NHIER; i++) {
		hmap_init(&r->t[i].paths);
		hmap_init(&r->t[i].neg);
		if (!roots[i] || !*roots[i])
			continue;
		/* Canonical, so that cg_lookup can compare prefixes. */
		r->t[i].root = realpath(roots[i], NULL);
		if (!r->t[i].root)
			r->t[i].root = strdup(roots[i]);
		if (!r->t[i].root) {
			cg_free(r);
			return NULL;
		}
	}
	return r;
}

struct cg_resolver *cg_new(void)
{
	char v2[PATH_MAX] = "", mem[PATH_MAX] = "";
	FILE *f;

	/* Without mountinfo we still return a resolver that resolves nothing. */
	f = fopen("/proc/self/mountinfo", "re");
	if (f) {
		cg_parse_mountinfo(f, v2, sizeof(v2), mem, sizeof(mem));
		fclose(f);
	}
	return cg_new_roots(v2, mem);
}

void cg_free(struct cg_resolver *r)
{
	int i;

	if (!r)
		return;
	for (i = 0; i < CG_NHIER; i++)
		tree_free(&r->t[i]);
	free(r);
}

static bool hier_ok(enum cg_hier h)
{
	return (int)h >= 0 && (int)h < CG_NHIER;
}

static struct cg_tree *tree_of(struct cg_resolver *r, enum cg_hier h)
{
	if (!r || !hier_ok(h) || !r->t[h].root)
		return NULL;
	return &r->t[h];
}

const char *cg_root(const struct cg_resolver *r, enum cg_hier h)
{
	return r && hier_ok(h) ? r->t[h].root : NULL;
}

/*
 * Exact lookup: cgroup ids are kernfs file handles (FILEID_KERNFS), so
 * open_by_handle_at() finds the directory of a cgroup created a moment ago
 * without walking anything. Needs CAP_DAC_READ_SEARCH; -errno otherwise.
 */
static int by_handle(struct cg_tree *t, uint64_t id)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = { .fh = { .handle_bytes = sizeof(uint64_t), .handle_type = FILEID_KERNFS } };
	char link[64], full[PATH_MAX];
	const char *rel;
	int mfd, fd, err = 0;
	ssize_t n;

	memcpy(h.fh.f_handle, &id, sizeof(id));
	mfd = open(t->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0)
		return -errno;
	fd = open_by_handle_at(mfd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		close(mfd);
		return err;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, full, sizeof(full) - 1);
	close(fd);
	close(mfd);
	if (n <= 0)
		return -ENOENT;
	full[n] = '\0';
	rel = under(full, t->root);
	if (!rel)
		return -ENOENT;
	return tree_add(t, id, *rel ? rel : "/");
}

const char *cg_path(struct cg_resolver *r, enum cg_hier h, uint64_t id)
{
	struct cg_tree *t = tree_of(r, h);
	const char *p;
	uint64_t now;

	if (!t || !id)
		return NULL;
	p = hmap_get(&t->paths, id);
	if (p)
		return p;
	if (!by_handle(t, id)) {
		p = hmap_get(&t->paths, id);
		if (p)
			return p;
	}
	now = now_mono_ns();
	if (t->scanned && now - t->last_scan_ns < CG_RESCAN_NS)
		return NULL;
	if (t->scanned && hmap_get(&t->neg, id) && now - t->last_scan_ns < CG_NEG_RETRY_NS)
		return NULL;
	tree_scan(t);
	/* Measured after the walk, so walks cannot take all of our time. */
	t->last_scan_ns = now_mono_ns();
	t->scanned = true;
	p = hmap_get(&t->paths, id);
	if (!p) {
		if (t->neg.len >= CG_NEG_MAX)
			hmap_free(&t->neg);
		hmap_put(&t->neg, id, (void *)1);
	}
	return p;
}

/* Suffix of path below root ("" for root itself), or NULL if outside. */
static const char *under(const char *path, const char *root)
{
	size_t n = strlen(root);

	if (n == 1 && root[0] == '/')
		return path[0] == '/' ? path : NULL;
	if (strncmp(path, root, n) || (path[n] && path[n] != '/'))
		return NULL;
	return path + n;
}

static int lookup_in(struct cg_resolver *r, enum cg_hier h, const char *rel, enum cg_hier *hout,
		     uint64_t *id)
{
	struct cg_tree *t = tree_of(r, h);
	char full[PATH_MAX], *real;
	struct stat st, rst;
	const char *sfx;
	int n, ret = -ENOENT;

	if (!t)
		return -ENOENT;
	n = snprintf(full, sizeof(full), "%s%s%s", t->root, rel[0] == '/' ? "" : "/", rel);
	if (n < 0 || (size_t)n >= sizeof(full))
		return -ENOENT;
	/* Resolves "..", "//" and symlinks; the result must stay in the tree. */
	real = realpath(full, NULL);
	if (!real)
		return -ENOENT;
	sfx = under(real, t->root);
	if (!sfx || stat(real, &st) || !S_ISDIR(st.st_mode))
		goto out;
	if (stat(t->root, &rst) || rst.st_dev != st.st_dev)
		goto out;
	*hout = h;
	*id = st.st_ino;
	/* A canonical path: worth caching for the events that will follow. */
	tree_add(t, st.st_ino, *sfx ? sfx : "/");
	ret = 0;
out:
	free(real);
	return ret;
}

int cg_lookup(struct cg_resolver *r, const char *arg, enum cg_hier *h, uint64_t *id)
{
	int i, best = -1;
	size_t bestlen = 0;
	const char *sfx = NULL;

	if (!r || !arg || !*arg || !h || !id)
		return -ENOENT;
	/* Absolute path under a mount point: the longest matching mount wins. */
	for (i = 0; i < CG_NHIER; i++) {
		const char *root = r->t[i].root, *s;

		if (!root || !(s = under(arg, root)))
			continue;
		if (best < 0 || strlen(root) > bestlen) {
			best = i;
			bestlen = strlen(root);
			sfx = s;
		}
	}
	if (best >= 0)
		return lookup_in(r, best, sfx, h, id);
	if (!lookup_in(r, CG_V2, arg, h, id))
		return 0;
	return lookup_in(r, CG_MEM, arg, h, id);
}

/* Undoes mountinfo's octal escapes (\040 for space, ...) in place. */
static void unescape(char *s)
{
	char *d = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 4;
		} else {
			*d++ = *s++;
		}
	}
	*d = '\0';
}

static bool has_item(const char *list, const char *item)
{
	size_t n = strlen(item);
	const char *p = list;

	while (p && *p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len == n && !strncmp(p, item, n))
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

int cg_parse_mountinfo(FILE *f, char *v2, size_t v2len, char *mem, size_t memlen)
{
	char *line = NULL, *fields[64], *save, *tok;
	size_t cap = 0;
	int n, sep;

	if (v2 && v2len)
		v2[0] = '\0';
	if (mem && memlen)
		mem[0] = '\0';
	while (getline(&line, &cap, f) > 0) {
		n = 0;
		for (tok = strtok_r(line, " \n", &save); tok && n < (int)ARRAY_SIZE(fields);
		     tok = strtok_r(NULL, " \n", &save))
			fields[n++] = tok;
		/* id parent maj:min root mountpoint opts [optional...] - fstype src superopts */
		for (sep = 6; sep < n && strcmp(fields[sep], "-"); sep++)
			;
		if (sep + 3 >= n)
			continue;
		unescape(fields[4]);
		if (!strcmp(fields[sep + 1], "cgroup2")) {
			if (v2 && v2len && !v2[0] && st_strlcpy(v2, fields[4], v2len) >= v2len)
				v2[0] = '\0';
		} else if (!strcmp(fields[sep + 1], "cgroup") &&
			   has_item(fields[sep + 3], "memory")) {
			if (mem && memlen && !mem[0] &&
			    st_strlcpy(mem, fields[4], memlen) >= memlen)
				mem[0] = '\0';
		}
	}
	free(line);
	return 0;
}
