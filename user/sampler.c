// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "log.h"
#include "sampler.h"

static int perf_open(struct perf_event_attr *a, int cpu)
{
	return syscall(__NR_perf_event_open, a, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

int sampler_open(struct sampler *s, struct bpf_program *prog, unsigned int hz)
{
	struct perf_event_attr a = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(a),
		.config = PERF_COUNT_SW_CPU_CLOCK,
	};
	int cpu, err = 0;

	memset(s, 0, sizeof(*s));
	if (!hz)
		hz = SAMPLER_DEFAULT_HZ;
	if (hz > SAMPLER_MAX_HZ)
		return -EINVAL;
	s->period_ns = 1000000000ull / hz;
	a.sample_period = s->period_ns; /* cpu-clock counts nanoseconds */
	s->ncpu = libbpf_num_possible_cpus();
	if (s->ncpu <= 0)
		return -EINVAL;
	s->fds = malloc(s->ncpu * sizeof(*s->fds));
	s->links = calloc(s->ncpu, sizeof(*s->links));
	if (!s->fds || !s->links) {
		sampler_close(s);
		return -ENOMEM;
	}
	for (cpu = 0; cpu < s->ncpu; cpu++)
		s->fds[cpu] = -1;
	for (cpu = 0; cpu < s->ncpu; cpu++) {
		s->fds[cpu] = perf_open(&a, cpu);
		if (s->fds[cpu] < 0) {
			/* Possible but offline CPUs have nothing to sample. */
			if (errno != ENODEV)
				err = -errno;
			continue;
		}
		s->links[cpu] = bpf_program__attach_perf_event(prog, s->fds[cpu]);
		if (!s->links[cpu]) {
			err = -errno;
			continue;
		}
		s->attached++;
	}
	if (!s->attached) {
		sampler_close(s);
		return err ? err : -ENODEV;
	}
	if (err)
		log_warn("cpu sampler: %d of %d CPUs sampled (%s)", s->attached, s->ncpu,
			 strerror(-err));
	return 0;
}

void sampler_close(struct sampler *s)
{
	int cpu;

	for (cpu = 0; s->links && cpu < s->ncpu; cpu++)
		bpf_link__destroy(s->links[cpu]);
	for (cpu = 0; s->fds && cpu < s->ncpu; cpu++)
		if (s->fds[cpu] >= 0)
			close(s->fds[cpu]);
	free(s->links);
	free(s->fds);
	s->links = NULL;
	s->fds = NULL;
	s->attached = 0;
}
