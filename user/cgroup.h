/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Cgroup ids (kernfs node ids, what BPF sees) to paths. On 64-bit kernels a
 * cgroup directory's inode number is its kernfs id, so a walk of the
 * mounted hierarchy finds it. Results are cached; a miss rescans (rate
 * limited), since cgroups appear while we run.
 */
#ifndef ST_CGROUP_H
#define ST_CGROUP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "recording.h" /* enum cg_hier */

struct cg_resolver;

/* Finds the cgroup2 and v1 memory mounts from /proc/self/mountinfo. */
struct cg_resolver *cg_new(void);
/* For tests: explicit roots ("" or NULL when a hierarchy is absent). */
struct cg_resolver *cg_new_roots(const char *v2_root, const char *mem_root);
void cg_free(struct cg_resolver *r);

/* Mount point of a hierarchy, or NULL when it is not mounted. */
const char *cg_root(const struct cg_resolver *r, enum cg_hier h);
/* Path relative to the mount ("/" for the root), or NULL when not found. */
const char *cg_path(struct cg_resolver *r, enum cg_hier h, uint64_t id);
/*
 * Resolves a user-given cgroup (absolute path under a mount, or a path
 * relative to a mount such as "/system.slice/cron.service") to its
 * hierarchy and id. 0 or -ENOENT.
 */
int cg_lookup(struct cg_resolver *r, const char *arg, enum cg_hier *h, uint64_t *id);

/*
 * Parses mountinfo lines: fills v2 with the first cgroup2 mount point and
 * mem with the first cgroup v1 mount that has the memory controller ("" if
 * none). Returns 0.
 */
int cg_parse_mountinfo(FILE *f, char *v2, size_t v2len, char *mem, size_t memlen);
/* Walks root for a directory whose inode is ino; out gets "/a/b". 0/-ENOENT. */
int cg_scan(const char *root, uint64_t ino, char *out, size_t outlen);

#endif
