// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Placeholder until the flight mode lands (issue 8): says so and fails. */
#include "live.h"
#include "log.h"
#include "opts.h"

int flight_main(struct options *o)
{
	(void)o;
	log_err("record --flight: not built yet");
	return 1;
}
