// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * st-uprobeloop: calls one exported function of a shared library in a tight
 * loop and reports the CPU time per call, so the price of a uprobe on it is
 * the difference between a run with the probe and one without (bench/).
 *
 *   st-uprobeloop [--lib PATH] [--func NAME] [--calls N]
 *
 * The function is called as int f(unsigned char *buf, int len) with a
 * 1-byte buffer: the defaults, libcrypto.so.3 and RAND_bytes, fit that.
 * The library is dlopen()ed, so this links nothing but libc. 1000 untimed
 * calls come first (lazy binding, the DRBG's first seeding).
 *
 * Prints one JSON line:
 *   {"pid", "lib", "func", "addr" (the function's offset in the library
 *    file, where a uprobe on its entry goes), "calls", "cpu_ns_per_call"
 *    (CLOCK_PROCESS_CPUTIME_ID: preemption by other work is not in it),
 *    "wall_ns_per_call", "failed" (calls that did not return 1)}
 */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROG "st-uprobeloop"
#define USAGE "usage: " PROG " [--lib PATH] [--func NAME] [--calls N]"
#define WARM_CALLS 1000

#include "tool.h"

typedef int (*fill_fn)(unsigned char *buf, int len);

static double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	const char *lib = "libcrypto.so.3", *func = "RAND_bytes";
	long calls = 200000, i, failed = 0;
	const struct num_opt nums[] = { { "--calls", 1, 100000000L, &calls } };
	unsigned char buf[1];
	double c0, c1, w0, w1;
	struct link_map *lm;
	fill_fn f;
	void *h;

	for (int a = 1; a < argc; a++) {
		const char *val;
		char key[32];

		opt_help(argv[a]);
		val = opt_value(argc, argv, &a, key, sizeof(key));
		if (opt_number(nums, 1, key, val))
			continue;
		if (!strcmp(key, "--lib"))
			lib = val;
		else if (!strcmp(key, "--func"))
			func = val;
		else
			usage_error("unknown option", key);
	}
	h = dlopen(lib, RTLD_NOW);
	if (!h) {
		fprintf(stderr, PROG ": %s\n", dlerror());
		return 1;
	}
	f = (fill_fn)dlsym(h, func);
	if (!f || dlinfo(h, RTLD_DI_LINKMAP, &lm)) {
		fprintf(stderr, PROG ": %s: no %s\n", lib, func);
		return 1;
	}
	for (i = 0; i < WARM_CALLS; i++)
		f(buf, 1);
	w0 = (double)now_ns();
	c0 = cpu_ns();
	for (i = 0; i < calls; i++)
		failed += f(buf, 1) != 1;
	c1 = cpu_ns();
	w1 = (double)now_ns();

	printf("{\"pid\": %ld, \"lib\": ", (long)getpid());
	json_str(lm->l_name);
	printf(", \"func\": ");
	json_str(func);
	/* For a shared library the file offset of .text equals its vaddr. */
	printf(", \"addr\": \"0x%lx\", \"calls\": %ld, \"cpu_ns_per_call\": %.1f, "
	       "\"wall_ns_per_call\": %.1f, \"failed\": %ld}\n",
	       (unsigned long)((char *)f - (char *)lm->l_addr), calls, (c1 - c0) / (double)calls,
	       (w1 - w0) / (double)calls, failed);
	return fflush(stdout) ? 1 : 0;
}
