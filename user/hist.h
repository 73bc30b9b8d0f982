/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A log-linear histogram of non-negative integers (µs, ms): 16 exact
 * buckets, then 16 per power of two, so any value is known within 1/16.
 */
#ifndef ST_HIST_H
#define ST_HIST_H

#include <stdint.h>

#define HIST_BUCKETS (16 + 28 * 16)

unsigned int hist_bucket(uint64_t v);
/* The lowest value of bucket b and the first value past it. */
uint64_t hist_lo(unsigned int b);
uint64_t hist_hi(unsigned int b);
/* A representative value of bucket b (its middle). */
uint64_t hist_value(unsigned int b);
/* The q-quantile (0..1) of n values in h[HIST_BUCKETS]; 0 when n is 0. */
uint64_t hist_quantile(const uint32_t *h, uint64_t n, double q);

#endif
