// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * st-faultstorm: a page-fault storm of known size.
 *
 *   st-faultstorm --mb N [--rounds R] [--warm]
 *
 * Each round mmaps N MiB of fresh anonymous memory (MAP_PRIVATE |
 * MAP_ANONYMOUS, no MAP_POPULATE), marks it MADV_NOHUGEPAGE so that
 * transparent huge pages (2 MiB, or the smaller mTHP sizes) do not serve it
 * and every 4 KiB page takes exactly one minor fault, writes one byte per
 * 4 KiB page, then munmaps it. R rounds (default 1) are timed and reported.
 *
 * --warm runs one more round of the same size first, untimed: it faults in
 * this program's own code, stack and libc pages and warms the kernel's page
 * allocator. Its page faults are not reported at all: not in "minflt_delta",
 * and not separately either; only the pages it touched are, as
 * "warm_pages" (0 without --warm).
 *
 * Prints one JSON line:
 *   {"pid", "mb", "rounds", "pages_touched" (reported rounds only),
 *    "warm_pages", "elapsed_s" (reported rounds), "minflt_delta"
 *    (getrusage(RUSAGE_SELF) ru_minflt across the reported rounds)}
 * so minflt_delta is pages_touched plus a handful of faults of its own.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PROG "st-faultstorm"
#define USAGE "usage: " PROG " --mb N [--rounds R] [--warm]"
#define PAGE_STRIDE 4096 /* one write per 4 KiB page */
#define MB_MAX 16384
#define ROUNDS_MAX 100000
#define MIB (1024ULL * 1024)

#include "tool.h"

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* One round: map, touch every 4 KiB page once, unmap. Returns pages touched. */
static unsigned long long one_round(size_t len)
{
	unsigned long long pages = 0;
	volatile char *p;
	size_t off;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, PROG ": mmap %zu bytes: %s\n", len, strerror(errno));
		exit(1);
	}
	if (madvise((void *)p, len, MADV_NOHUGEPAGE))
		fprintf(stderr, PROG ": warning: madvise(MADV_NOHUGEPAGE): %s\n", strerror(errno));
	for (off = 0; off < len; off += PAGE_STRIDE) {
		p[off] = 1;
		pages++;
	}
	if (munmap((void *)p, len)) {
		fprintf(stderr, PROG ": munmap: %s\n", strerror(errno));
		exit(1);
	}
	return pages;
}

int main(int argc, char **argv)
{
	unsigned long long pages = 0, warm_pages = 0;
	long mb = -1, rounds = 1, flt0, flt1, r;
	bool warm = false;
	double t0, t1;
	size_t len;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val;
		char key[32];

		opt_help(a);
		if (!strcmp(a, "--warm")) {
			warm = true;
			continue;
		}
		val = opt_value(argc, argv, &i, key, sizeof(key));

		if (!strcmp(key, "--mb")) {
			if (parse_long(val, 1, MB_MAX, &mb))
				usage_error("--mb wants 1..16384, got", val);
		} else if (!strcmp(key, "--rounds")) {
			if (parse_long(val, 1, ROUNDS_MAX, &rounds))
				usage_error("--rounds wants 1..100000, got", val);
		} else {
			usage_error("unknown option", key);
		}
	}
	if (mb < 0)
		usage_error("--mb is required", NULL);
	len = (size_t)((unsigned long long)mb * MIB);

	if (warm)
		warm_pages = one_round(len);

	flt0 = minflt();
	t0 = now_s();
	for (r = 0; r < rounds; r++)
		pages += one_round(len);
	t1 = now_s();
	flt1 = minflt();

	printf("{\"pid\": %ld, \"mb\": %ld, \"rounds\": %ld, \"pages_touched\": %llu, "
	       "\"warm_pages\": %llu, \"elapsed_s\": %.6f, \"minflt_delta\": %ld}\n",
	       (long)getpid(), mb, rounds, pages, warm_pages, t1 - t0, flt1 - flt0);
	return fflush(stdout) ? 1 : 0;
}
