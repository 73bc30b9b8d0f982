/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Flight-recorder triggers (docs/flight.md): the --trigger grammar and the
 * per-second decision. Pure: no model, no clock, no I/O; user/flight.c
 * fills a struct trig_sample from the live model each second.
 *
 *   oom            an OOM kill
 *   cpu>PCT        host CPU busy above PCT % over the last second
 *   handshakes>N   more than N TLS handshakes completed in the last second
 *   resets>N       more than N TCP resets (received + sent) in the last second
 *   exec=NAME      a process named NAME (comm or executable basename) starts
 *   psi-mem>PCT    memory pressure: /proc/pressure/memory "some avg10" above PCT
 */
#ifndef ST_TRIGGER_H
#define ST_TRIGGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum trig_kind {
	TRIG_OOM,
	TRIG_CPU,
	TRIG_HANDSHAKES,
	TRIG_RESETS,
	TRIG_EXEC,
	TRIG_PSI_MEM,
};

#define TRIG_NAME_MAX 255 /* exec=NAME: an executable's basename */

struct trigger {
	enum trig_kind kind;
	double threshold; /* cpu, psi-mem: percent; handshakes, resets: per second */
	char name[TRIG_NAME_MAX + 1]; /* exec=NAME */
	char label[40]; /* for file names: "oom", "cpu", "exec-NAME" (safe characters) */
	bool armed; /* level triggers: fire again only after the value fell back */
};

/* An exec seen since the last second. */
struct trig_exec {
	uint32_t pid;
	uint64_t ts;
	const char *comm;
	const char *base; /* basename of the executable, may be NULL */
};

/* An OOM kill seen since the last second. */
struct trig_oom {
	uint32_t pid;
	const char *comm;
	uint64_t ts;
};

/* What the last second looked like; a *_ok false means "not measured". */
struct trig_sample {
	const struct trig_oom *ooms;
	size_t nooms;
	const struct trig_exec *execs;
	size_t nexecs;
	bool cpu_ok;
	double cpu_pct;
	bool hs_ok;
	double hs_per_s;
	bool resets_ok;
	double resets_per_s;
	bool psi_ok;
	double psi_mem;
};

/* A decision: the trigger fired, about which process, and why. */
struct trig_fire {
	uint32_t pid; /* 0 when it names no process */
	uint64_t ts; /* the event's time, 0 for a level (use now) */
	char detail[96];
};

/*
 * Parses one --trigger EXPR into t. Returns 0, or -1 with one line in err
 * saying what is wrong (e.g. "cpu>PCT needs a percentage from 0 to 100,
 * got '150'").
 */
int trigger_parse(const char *expr, struct trigger *t, char *err, size_t errlen);
/* The concern a trigger reads ("mem", "cpu", ...), or NULL when none. */
const char *trigger_concern(const struct trigger *t);
/*
 * Decides for one second. Event triggers (oom, exec) fire on each new
 * event (the first one is reported); level triggers (cpu, handshakes,
 * resets, psi-mem) fire when the value goes above the threshold and then
 * only after it fell back to or below it (re-armed). Fills f when it fires.
 */
bool trigger_eval(struct trigger *t, const struct trig_sample *s, struct trig_fire *f);

#endif
