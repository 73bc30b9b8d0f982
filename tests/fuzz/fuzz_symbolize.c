// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The stack symbolizer (user/symbolize.c): /proc/PID/maps lines, the ELF
 * files they name, /proc/kallsyms, and lookups of stack addresses.
 *
 * symbolize.c is compiled into this target with its fopen() pointed at the
 * input, so "/proc/PID/maps" and "/proc/kallsyms" read fuzzed text. The
 * input is four parts cut at "@@@@":
 *
 *   maps      extra lines of /proc/PID/maps
 *   kallsyms  the text of /proc/kallsyms
 *   lookups   lines "u ADDR" (user) or "k ADDR" (kernel), hex
 *   elf       an ELF file, mapped first at 0x400000 (the real inode, so
 *             the symbolizer opens it like any mapped file)
 */
#include <inttypes.h>

#include "fuzz.h"

static FILE *fuzz_fopen(const char *path, const char *mode);
#define fopen fuzz_fopen
#include "../../user/symbolize.c"
#undef fopen

static const char *maps_text, *ksyms_text;
static size_t maps_len, ksyms_len;

static FILE *fuzz_fopen(const char *path, const char *mode)
{
	const char *text = NULL;
	size_t len = 0;

	if (!strcmp(path, KALLSYMS)) {
		text = ksyms_text;
		len = ksyms_len;
	} else if (!strncmp(path, "/proc/", 6) && strstr(path, "/maps")) {
		text = maps_text;
		len = maps_len;
	} else {
		return fopen(path, mode);
	}
	/* fmemopen() refuses a size of 0. */
	return len ? fmemopen((void *)text, len, "r") : fopen("/dev/null", "re");
}

#define ELF_BASE 0x400000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_part parts[4] = { 0 };
	uint32_t pid = (uint32_t)getpid();
	struct symbolizer *s;
	struct sym_info info;
	const char *elf_path;
	char *maps, *lookups, *line, *save, buf[128];
	struct stat st;
	size_t np, len;
	int fd;

	np = fuzz_split(data, size, parts, 4);
	elf_path = fuzz_file(0, np > 3 ? parts[3].p : NULL, np > 3 ? parts[3].n : 0);
	fd = open(elf_path, O_RDONLY | O_CLOEXEC);
	FUZZ_CHECK(fd >= 0 && !fstat(fd, &st));
	close(fd);
	/* The ELF's own mapping first, then the input's lines. */
	len = (size_t)snprintf(NULL, 0, "%llx-%llx r-xp 00000000 00:01 %llu %s\n", ELF_BASE,
			       ELF_BASE + 0x100000, (unsigned long long)st.st_ino, elf_path);
	maps = malloc(len + 1 + parts[0].n);
	FUZZ_CHECK(maps);
	snprintf(maps, len + 1, "%llx-%llx r-xp 00000000 00:01 %llu %s\n", ELF_BASE,
		 ELF_BASE + 0x100000, (unsigned long long)st.st_ino, elf_path);
	if (parts[0].n)
		memcpy(maps + len, parts[0].p, parts[0].n);
	maps_text = maps;
	maps_len = len + parts[0].n;
	ksyms_text = np > 1 ? (const char *)parts[1].p : NULL;
	ksyms_len = np > 1 ? parts[1].n : 0;

	s = sym_new();
	FUZZ_CHECK(s);
	sym_capture(s, pid);
	lookups = np > 2 ? fuzz_strdup(&parts[2]) : strdup("");
	FUZZ_CHECK(lookups);
	for (line = strtok_r(lookups, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		uint64_t ip = strtoull(line + (line[0] ? 1 : 0), NULL, 16);
		int rc;

		if (line[0] == 'k')
			rc = sym_kernel(s, ip, buf, sizeof(buf), &info);
		else
			rc = sym_user(s, pid, ip, buf, sizeof(buf), &info);
		FUZZ_CHECK(rc == 0 || rc == 1);
		FUZZ_CHECK(memchr(buf, '\0', sizeof(buf)));
		/* For whoever writes seeds: what each lookup gave. */
		if (getenv("ST_FUZZ_DEBUG"))
			fprintf(stderr, "%s -> %s (%s)\n", line, buf,
				info.module ? info.module : "-");
		/* Short buffers are truncated, never overrun. */
		if (line[0] == 'k')
			sym_kernel(s, ip, buf, 4, NULL);
		else
			sym_user(s, pid, ip, buf, 4, NULL);
		FUZZ_CHECK(strlen(buf) < 4);
	}
	/* A second capture replaces the snapshot; files stay cached. */
	sym_capture(s, pid);
	sym_user(s, pid, ELF_BASE + 0x10, buf, sizeof(buf), NULL);
	sym_captured(s, pid);
	sym_nfiles(s);
	sym_forget(s, pid);
	sym_user(s, pid, ELF_BASE + 0x10, buf, sizeof(buf), NULL);
	sym_free(s);
	free(lookups);
	free(maps);
	maps_text = ksyms_text = NULL;
	return 0;
}
