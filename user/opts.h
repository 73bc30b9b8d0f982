/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Command-line options shared by all subcommands (../shared/CLI.md). */
#ifndef ST_OPTS_H
#define ST_OPTS_H

#include <stdbool.h>
#include <stdint.h>

enum opt_bit {
	OPT_DURATION = 1 << 0,
	OPT_OUTPUT = 1 << 1,
	OPT_ONLY = 1 << 2,
	OPT_PID = 1 << 3,
	OPT_CGROUP = 1 << 4,
	OPT_FREQ = 1 << 5,
	OPT_JSON = 1 << 6,
	OPT_FORMAT = 1 << 7,
	OPT_INTERVAL = 1 << 8,
	OPT_LISTEN = 1 << 9,
	OPT_BTF = 1 << 10,
	OPT_RINGBUF = 1 << 11,
	OPT_INPUT = 1 << 12, /* a positional FILE */
	OPT_PORTS = 1 << 13, /* --port, --lport, --rport (tcp) */
	OPT_FLIGHT = 1 << 14, /* --flight SECS, --trigger EXPR (record) */
};

#define OPT_MAX_TRIGGERS 8

#define OPT_TRACING (OPT_DURATION | OPT_PID | OPT_CGROUP | OPT_BTF | OPT_RINGBUF)

struct options {
	const char *cmd;
	double duration; /* seconds, 0 = until SIGINT/SIGTERM */
	const char *output;
	const char *input;
	unsigned int concerns; /* bitmask, 0 = all */
	uint32_t pid;
	const char *cgroup;
	unsigned int freq;
	bool json;
	const char *format;
	double interval;
	const char *listen;
	const char *btf_path;
	unsigned int ringbuf_kb;
	uint16_t port, lport, rport; /* tcp: either side, local, remote; 0 = any */
	double flight; /* --flight: seconds kept before and after a trigger; 0 = off */
	const char *triggers[OPT_MAX_TRIGGERS]; /* --trigger, parsed by user/flight.c */
	unsigned int ntriggers;
};

/*
 * Parses argv (argv[0] is the subcommand) into o, accepting only the
 * options in allowed. Returns 0, 2 after printing one usage error line,
 * or -1 when --help was printed.
 */
int opts_parse(int argc, char **argv, unsigned int allowed, const char *usage, struct options *o);

#endif
