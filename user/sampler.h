/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The CPU sampler: a software cpu-clock perf event per CPU (VMs often have
 * no hardware PMU) driving a BPF perf_event program. With a fixed period
 * every sample stands for exactly period_ns of CPU, so counts convert to
 * seconds without guessing. Any concern can hang its program on it.
 */
#ifndef ST_SAMPLER_H
#define ST_SAMPLER_H

#include <stdint.h>

struct bpf_program;
struct bpf_link;

struct sampler {
	int ncpu; /* possible CPUs: fds/links are indexed by CPU */
	int *fds;
	struct bpf_link **links;
	uint64_t period_ns;
	int attached; /* CPUs with a live event */
};

#define SAMPLER_DEFAULT_HZ 99
#define SAMPLER_MAX_HZ 10000

/* Opens one event per online CPU at hz and attaches prog. 0 or -errno. */
int sampler_open(struct sampler *s, struct bpf_program *prog, unsigned int hz);
void sampler_close(struct sampler *s);

#endif
