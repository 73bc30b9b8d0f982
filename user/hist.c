// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "hist.h"

unsigned int hist_bucket(uint64_t v)
{
	unsigned int e;

	if (v < 16)
		return v;
	e = 63 - __builtin_clzll(v); /* >= 4 */
	if (e > 31)
		return HIST_BUCKETS - 1;
	return 16 + (e - 4) * 16 + ((v >> (e - 4)) & 15);
}

uint64_t hist_lo(unsigned int b)
{
	unsigned int e;

	if (b < 16)
		return b;
	e = (b - 16) / 16 + 4;
	return (1ull << e) + (uint64_t)((b - 16) % 16) * (1ull << (e - 4));
}

uint64_t hist_hi(unsigned int b)
{
	if (b < 16)
		return b + 1;
	return hist_lo(b) + (1ull << ((b - 16) / 16));
}

uint64_t hist_value(unsigned int b)
{
	return b < 16 ? b : (hist_lo(b) + hist_hi(b)) / 2;
}

uint64_t hist_quantile(const uint32_t *h, uint64_t n, double q)
{
	uint64_t rank, seen = 0;
	unsigned int b;

	if (!n)
		return 0;
	rank = (uint64_t)(q * n + 0.999999);
	if (rank < 1)
		rank = 1;
	for (b = 0; b < HIST_BUCKETS; b++) {
		seen += h[b];
		if (seen >= rank)
			return hist_value(b);
	}
	return hist_value(HIST_BUCKETS - 1);
}
