/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The live modes (docs/live.md): `top` (user/top.c), `serve` (user/serve.c)
 * and the flight recorder, `record --flight` (user/flight.c). Each returns
 * the exit status (0, 1 runtime failure, 2 bad usage).
 */
#ifndef ST_LIVE_H
#define ST_LIVE_H

struct options;

extern const char top_usage[];
extern const char serve_usage[];

int top_main(struct options *o);
int serve_main(struct options *o);
int flight_main(struct options *o);

#endif
