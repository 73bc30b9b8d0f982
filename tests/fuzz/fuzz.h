/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the libFuzzer targets share (tests/fuzz/README.md): the input as a
 * file (the parsers under test open paths), the input cut into parts, and a
 * scratch directory for the targets that read a tree (a fake /proc).
 */
#ifndef ST_FUZZ_H
#define ST_FUZZ_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fuzz target has nowhere to report a broken harness but a crash. */
#define FUZZ_CHECK(cond)                                                                      \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "fuzz harness: %s failed (%s:%d)\n", #cond, __FILE__, \
				__LINE__);                                                    \
			abort();                                                              \
		}                                                                             \
	} while (0)

/*
 * The input as a file at the returned path ("/proc/self/fd/N" of a memfd,
 * so nothing is left on disk): one per slot, overwritten by the next call.
 */
static inline const char *fuzz_file(int slot, const void *data, size_t size)
{
	static int fds[4] = { -1, -1, -1, -1 };
	static char paths[4][32];
	const unsigned char *p = data;
	size_t off = 0;

	FUZZ_CHECK(slot >= 0 && slot < 4);
	if (fds[slot] < 0) {
		fds[slot] = memfd_create("fuzz", MFD_CLOEXEC);
		FUZZ_CHECK(fds[slot] >= 0);
		snprintf(paths[slot], sizeof(paths[slot]), "/proc/self/fd/%d", fds[slot]);
	}
	FUZZ_CHECK(ftruncate(fds[slot], 0) == 0);
	while (off < size) {
		ssize_t n = pwrite(fds[slot], p + off, size - off, (off_t)off);

		FUZZ_CHECK(n > 0);
		off += (size_t)n;
	}
	return paths[slot];
}

/* Parts of an input are separated by this; a dictionary entry helps the fuzzer. */
#define FUZZ_SEP "@@@@"
#define FUZZ_SEP_LEN 4

struct fuzz_part {
	const uint8_t *p;
	size_t n;
};

/* Cuts data at each FUZZ_SEP into at most max parts (the last takes the rest); returns how many. */
static inline size_t fuzz_split(const uint8_t *data, size_t size, struct fuzz_part *parts,
				size_t max)
{
	size_t n = 0, start = 0, i = 0;

	while (n + 1 < max && i + FUZZ_SEP_LEN <= size) {
		if (!memcmp(data + i, FUZZ_SEP, FUZZ_SEP_LEN)) {
			parts[n].p = data + start;
			parts[n].n = i - start;
			n++;
			i += FUZZ_SEP_LEN;
			start = i;
		} else {
			i++;
		}
	}
	parts[n].p = data + start;
	parts[n].n = size - start;
	return n + 1;
}

/* A NUL-terminated copy of a part (free()). */
static inline char *fuzz_strdup(const struct fuzz_part *part)
{
	char *s = malloc(part->n + 1);

	FUZZ_CHECK(s);
	if (part->n)
		memcpy(s, part->p, part->n);
	s[part->n] = '\0';
	return s;
}

/* Writes a part into dir/name (created or replaced). */
static inline void fuzz_put(const char *dir, const char *name, const struct fuzz_part *part)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	FUZZ_CHECK(f);
	if (part->n)
		FUZZ_CHECK(fwrite(part->p, 1, part->n, f) == part->n);
	FUZZ_CHECK(fclose(f) == 0);
}

static int fuzz_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static char fuzz_tmp_dir[64];

static void fuzz_tmp_cleanup(void)
{
	if (fuzz_tmp_dir[0])
		nftw(fuzz_tmp_dir, fuzz_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A private scratch directory for this process, removed at exit. */
static inline const char *fuzz_tmpdir(void)
{
	if (!fuzz_tmp_dir[0]) {
		/* run.sh points this into build-fuzz/, so a crashed run leaves nothing elsewhere. */
		const char *base = getenv("ST_FUZZ_TMP");

		if (!base || !*base)
			base = access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm";

		snprintf(fuzz_tmp_dir, sizeof(fuzz_tmp_dir), "%s/st-fuzz-XXXXXX", base);
		FUZZ_CHECK(mkdtemp(fuzz_tmp_dir));
		atexit(fuzz_tmp_cleanup);
	}
	return fuzz_tmp_dir;
}

/* Little-endian integers from the input, 0 past its end. */
static inline uint64_t fuzz_u64(const uint8_t *p, size_t n, size_t off)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < 8 && off + i < n; i++)
		v |= (uint64_t)p[off + i] << (8 * i);
	return v;
}

#endif
