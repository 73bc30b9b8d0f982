// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The flight recorder's --trigger grammar (user/trigger.c): a user's
 * string, parsed, then evaluated against a second built from the same
 * input, twice (level triggers re-arm).
 */
#include "fuzz.h"
#include "trigger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *expr = malloc(size + 1), err[256] = "";
	struct trig_exec ex[2];
	struct trig_oom oom;
	struct trig_sample smp = { 0 };
	struct trig_fire fire;
	struct trigger t;
	double v;
	size_t i;

	FUZZ_CHECK(expr);
	if (size)
		memcpy(expr, data, size);
	expr[size] = '\0';
	if (trigger_parse(expr, &t, err, sizeof(err))) {
		FUZZ_CHECK(err[0] && memchr(err, '\0', sizeof(err)));
		free(expr);
		return 0;
	}
	/* What file names are made of: the label must be safe and terminated. */
	FUZZ_CHECK(memchr(t.label, '\0', sizeof(t.label)) && t.label[0]);
	for (i = 0; t.label[i]; i++)
		FUZZ_CHECK(
			strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
			       t.label[i]));
	FUZZ_CHECK(memchr(t.name, '\0', sizeof(t.name)));
	trigger_concern(&t);
	memcpy(&v, data, size < sizeof(v) ? size : sizeof(v));
	oom = (struct trig_oom){ .pid = 7, .comm = expr, .ts = 1 };
	ex[0] = (struct trig_exec){ .pid = 8, .ts = 2, .comm = "x", .base = NULL };
	ex[1] = (struct trig_exec){ .pid = 9, .ts = 3, .comm = t.name, .base = t.name };
	smp = (struct trig_sample){ .ooms = &oom,
				    .nooms = 2,
				    .execs = ex,
				    .nexecs = 2,
				    .cpu_ok = true,
				    .cpu_pct = t.threshold + 1,
				    .hs_ok = true,
				    .hs_per_s = v,
				    .resets_ok = true,
				    .resets_per_s = t.threshold * 2 + 1,
				    .psi_ok = true,
				    .psi_mem = 100 };
	for (i = 0; i < 3; i++) {
		if (trigger_eval(&t, &smp, &fire))
			FUZZ_CHECK(memchr(fire.detail, '\0', sizeof(fire.detail)));
		smp.cpu_pct = smp.psi_mem = smp.resets_per_s = i ? 1e300 : -1;
	}
	free(expr);
	return 0;
}
