// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Placeholder until the top mode lands (issue 8): says so and fails. */
#include "live.h"
#include "log.h"
#include "opts.h"

const char top_usage[] = "Usage: spiketrace top [-i SECS] [--only LIST]\n";

int top_main(struct options *o)
{
	(void)o;
	log_err("top: not built yet");
	return 1;
}
