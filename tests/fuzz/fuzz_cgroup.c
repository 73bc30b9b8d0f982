// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Cgroup paths (user/cgroup.c): /proc/self/mountinfo lines, a user's
 * --cgroup argument, and ids from BPF events, against a small tree made
 * once (directories, a symlink out of it, a deep chain). The input, cut
 * at "@@@@":
 *
 *   mountinfo @@@@ lookups @@@@ ids
 *
 * lookups are lines given to cg_lookup ("=" at the start stands for the
 * tree's mount point, so absolute paths can name it); ids are hex lines.
 * The ids of the tree's own directories are looked up too.
 */
#include <inttypes.h>

#include "cgroup.h"
#include "fuzz.h"

#define NDIRS 6

static char root[128], memroot[160];
static uint64_t dir_ids[NDIRS];

static void make_tree(void)
{
	static const char *const dirs[NDIRS] = { "a", "a/b", "a/b/c", "x", "x/y y", "deep" };
	char path[4096];
	struct stat st;
	size_t i, len;

	snprintf(root, sizeof(root), "%s/cg", fuzz_tmpdir());
	snprintf(memroot, sizeof(memroot), "%s/cg/x", fuzz_tmpdir());
	FUZZ_CHECK(!mkdir(root, 0700));
	for (i = 0; i < NDIRS; i++) {
		snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
		FUZZ_CHECK(!mkdir(path, 0700) && !stat(path, &st));
		dir_ids[i] = st.st_ino;
	}
	snprintf(path, sizeof(path), "%s/a/out", root);
	FUZZ_CHECK(!symlink("/", path));
	/* Deeper than the walk goes (64 levels). */
	len = (size_t)snprintf(path, sizeof(path), "%s/deep", root);
	for (i = 0; i < 80 && len + 3 < sizeof(path); i++) {
		memcpy(path + len, "/d", 3);
		len += 2;
		FUZZ_CHECK(!mkdir(path, 0700));
	}
}

static void check_path(const char *p)
{
	if (p)
		FUZZ_CHECK(p[0] == '/');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_part parts[3] = { 0 };
	char v2[4096], mem[64], *text, *line, *save, arg[4096];
	struct cg_resolver *r;
	enum cg_hier h;
	uint64_t id;
	size_t np, i;
	FILE *f;

	if (!root[0])
		make_tree();
	np = fuzz_split(data, size, parts, 3);
	if (parts[0].n) {
		f = fmemopen((void *)parts[0].p, parts[0].n, "r");
		FUZZ_CHECK(f);
		/* A short buffer for the v1 path: a long mount point must not overrun it. */
		cg_parse_mountinfo(f, v2, sizeof(v2), mem, sizeof(mem));
		fclose(f);
		FUZZ_CHECK(strlen(v2) < sizeof(v2) && strlen(mem) < sizeof(mem));
	}
	r = cg_new_roots(root, memroot);
	FUZZ_CHECK(r);
	text = np > 1 ? fuzz_strdup(&parts[1]) : strdup("");
	FUZZ_CHECK(text);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '=')
			snprintf(arg, sizeof(arg), "%s%s", cg_root(r, CG_V2), line + 1);
		else
			snprintf(arg, sizeof(arg), "%s", line);
		if (!cg_lookup(r, arg, &h, &id)) {
			FUZZ_CHECK(h == CG_V2 || h == CG_MEM);
			check_path(cg_path(r, h, id));
		}
	}
	free(text);
	text = np > 2 ? fuzz_strdup(&parts[2]) : strdup("");
	FUZZ_CHECK(text);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		id = strtoull(line, NULL, 16);
		check_path(cg_path(r, CG_V2, id));
		check_path(cg_path(r, CG_MEM, id));
		check_path(cg_path(r, (enum cg_hier)(id & 3), id));
	}
	free(text);
	for (i = 0; i < NDIRS; i++)
		FUZZ_CHECK(cg_path(r, CG_V2, dir_ids[i]));
	cg_free(r);
	return 0;
}
