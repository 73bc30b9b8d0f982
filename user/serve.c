// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Placeholder until the serve mode lands (issue 8): says so and fails. */
#include "live.h"
#include "log.h"
#include "opts.h"

const char serve_usage[] = "Usage: spiketrace serve [--listen ADDR:PORT]\n";

int serve_main(struct options *o)
{
	(void)o;
	log_err("serve: not built yet");
	return 1;
}
