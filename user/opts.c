// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "concern.h"
#include "log.h"
#include "opts.h"
#include "util.h"

enum {
	LO_ONLY = 256,
	LO_JSON,
	LO_FORMAT,
	LO_LISTEN,
	LO_BTF,
	LO_RINGBUF,
	LO_PORT,
	LO_LPORT,
	LO_RPORT,
	LO_FLIGHT,
	LO_TRIGGER,
};

static const struct option longopts[] = {
	{ "duration", required_argument, NULL, 'd' },
	{ "output", required_argument, NULL, 'o' },
	{ "pid", required_argument, NULL, 'p' },
	{ "cgroup", required_argument, NULL, 'c' },
	{ "freq", required_argument, NULL, 'F' },
	{ "interval", required_argument, NULL, 'i' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "only", required_argument, NULL, LO_ONLY },
	{ "json", no_argument, NULL, LO_JSON },
	{ "format", required_argument, NULL, LO_FORMAT },
	{ "listen", required_argument, NULL, LO_LISTEN },
	{ "btf", required_argument, NULL, LO_BTF },
	{ "ringbuf-kb", required_argument, NULL, LO_RINGBUF },
	{ "port", required_argument, NULL, LO_PORT },
	{ "lport", required_argument, NULL, LO_LPORT },
	{ "rport", required_argument, NULL, LO_RPORT },
	{ "flight", required_argument, NULL, LO_FLIGHT },
	{ "trigger", required_argument, NULL, LO_TRIGGER },
	{ 0 },
};

static int bad(const char *cmd, const char *what)
{
	log_err("%s: %s (see 'spiketrace %s --help')", cmd, what, cmd);
	return 2;
}

static int allow(const char *cmd, unsigned int allowed, unsigned int bit, const char *name)
{
	char msg[96];

	if (allowed & bit)
		return 0;
	snprintf(msg, sizeof(msg), "option %s is not valid here", name);
	return bad(cmd, msg);
}

/* --port, --lport, --rport: a TCP port, 1..65535. */
static int parse_port(const char *cmd, const char *name, const char *arg, uint16_t *out)
{
	char msg[160];
	uint64_t v;

	if (st_parse_u64(arg, 1, 65535, &v)) {
		snprintf(msg, sizeof(msg), "%s needs a port from 1 to 65535, got '%s'", name, arg);
		return bad(cmd, msg);
	}
	*out = v;
	return 0;
}

static int parse_one(int c, const char *arg, unsigned int allowed, struct options *o)
{
	char msg[160], badname[32];
	uint64_t v;
	double d;

	switch (c) {
	case 'd':
		if (allow(o->cmd, allowed, OPT_DURATION, "-d"))
			return 2;
		if (st_parse_secs(arg, 0.001, 86400.0 * 365, &d)) {
			snprintf(msg, sizeof(msg), "-d needs seconds > 0, got '%s'", arg);
			return bad(o->cmd, msg);
		}
		o->duration = d;
		return 0;
	case 'o':
		if (allow(o->cmd, allowed, OPT_OUTPUT, "-o"))
			return 2;
		if (!*arg)
			return bad(o->cmd, "-o needs a path");
		o->output = arg;
		return 0;
	case 'p':
		if (allow(o->cmd, allowed, OPT_PID, "-p"))
			return 2;
		if (st_parse_u64(arg, 1, INT32_MAX, &v)) {
			snprintf(msg, sizeof(msg), "-p needs a process id, got '%s'", arg);
			return bad(o->cmd, msg);
		}
		o->pid = v;
		return 0;
	case LO_PORT:
		if (allow(o->cmd, allowed, OPT_PORTS, "--port"))
			return 2;
		return parse_port(o->cmd, "--port", arg, &o->port);
	case LO_LPORT:
		if (allow(o->cmd, allowed, OPT_PORTS, "--lport"))
			return 2;
		return parse_port(o->cmd, "--lport", arg, &o->lport);
	case LO_RPORT:
		if (allow(o->cmd, allowed, OPT_PORTS, "--rport"))
			return 2;
		return parse_port(o->cmd, "--rport", arg, &o->rport);
	case 'c':
		if (allow(o->cmd, allowed, OPT_CGROUP, "-c"))
			return 2;
		o->cgroup = arg;
		return 0;
	case 'F':
		if (allow(o->cmd, allowed, OPT_FREQ, "-F"))
			return 2;
		if (st_parse_u64(arg, 1, 10000, &v)) {
			snprintf(msg, sizeof(msg),
				 "-F needs a rate in Hz from 1 to 10000, got '%s'", arg);
			return bad(o->cmd, msg);
		}
		o->freq = v;
		return 0;
	case 'i':
		if (allow(o->cmd, allowed, OPT_INTERVAL, "-i"))
			return 2;
		if (st_parse_secs(arg, 0.1, 3600, &d)) {
			snprintf(msg, sizeof(msg), "-i needs seconds from 0.1 to 3600, got '%s'",
				 arg);
			return bad(o->cmd, msg);
		}
		o->interval = d;
		return 0;
	case LO_ONLY:
		if (allow(o->cmd, allowed, OPT_ONLY, "--only"))
			return 2;
		o->concerns = concern_parse_list(arg, badname, sizeof(badname));
		if (!o->concerns) {
			snprintf(msg, sizeof(msg), "--only: unknown concern '%s'", badname);
			return bad(o->cmd, msg);
		}
		return 0;
	case LO_JSON:
		if (allow(o->cmd, allowed, OPT_JSON, "--json"))
			return 2;
		o->json = true;
		return 0;
	case LO_FORMAT:
		if (allow(o->cmd, allowed, OPT_FORMAT, "--format"))
			return 2;
		o->format = arg;
		return 0;
	case LO_LISTEN:
		if (allow(o->cmd, allowed, OPT_LISTEN, "--listen"))
			return 2;
		o->listen = arg;
		return 0;
	case LO_BTF:
		if (allow(o->cmd, allowed, OPT_BTF, "--btf"))
			return 2;
		o->btf_path = arg;
		return 0;
	case LO_RINGBUF:
		if (allow(o->cmd, allowed, OPT_RINGBUF, "--ringbuf-kb"))
			return 2;
		/* power of two pages, as the kernel wants */
		if (st_parse_u64(arg, 4, 1 << 20, &v) || (v & (v - 1))) {
			snprintf(msg, sizeof(msg),
				 "--ringbuf-kb needs a power of two from 4 to 1048576, got '%s'",
				 arg);
			return bad(o->cmd, msg);
		}
		o->ringbuf_kb = v;
		return 0;
	case LO_FLIGHT:
		if (allow(o->cmd, allowed, OPT_FLIGHT, "--flight"))
			return 2;
		if (st_parse_secs(arg, 1, 3600, &d)) {
			snprintf(msg, sizeof(msg),
				 "--flight needs seconds from 1 to 3600, got '%s'", arg);
			return bad(o->cmd, msg);
		}
		o->flight = d;
		return 0;
	case LO_TRIGGER:
		if (allow(o->cmd, allowed, OPT_FLIGHT, "--trigger"))
			return 2;
		if (o->ntriggers == OPT_MAX_TRIGGERS)
			return bad(o->cmd, "at most 8 --trigger options");
		o->triggers[o->ntriggers++] = arg;
		return 0;
	case 'v':
		st_verbose++;
		return 0;
	}
	return 2;
}

int opts_parse(int argc, char **argv, unsigned int allowed, const char *usage, struct options *o)
{
	char msg[160];
	int c, err;

	o->cmd = argv[0];
	optind = 0; /* 0, not 1: a full reset of glibc's getopt state */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:o:p:c:F:i:vh", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return -1;
		}
		if (c == '?' || c == ':') {
			const char *name = argv[optind - 1];

			if (c == ':')
				snprintf(msg, sizeof(msg), "option %s needs a value", name);
			else if (optopt > 0 && optopt < 256)
				snprintf(msg, sizeof(msg), "unknown option '-%c'", optopt);
			else
				snprintf(msg, sizeof(msg), "unknown option '%s'", name);
			return bad(o->cmd, msg);
		}
		err = parse_one(c, optarg, allowed, o);
		if (err)
			return err;
	}
	if (o->ntriggers && !o->flight)
		return bad(o->cmd, "--trigger needs --flight SECS");
	if (o->flight && !o->ntriggers)
		return bad(o->cmd, "--flight needs at least one --trigger EXPR");
	if (optind < argc) {
		if (!(allowed & OPT_INPUT) || o->input || optind + 1 < argc) {
			snprintf(msg, sizeof(msg), "unexpected argument '%s'", argv[optind]);
			return bad(o->cmd, msg);
		}
		o->input = argv[optind];
	}
	return 0;
}
