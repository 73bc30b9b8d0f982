// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stage.h"
#include "util.h"

int stage_add(struct stage *s, const struct st_hdr *h)
{
	size_t size = (h->size + 7) & ~(size_t)7;
	struct stage_ent *ents;
	unsigned char *buf;

	buf = st_grow(s->buf, &s->cap, s->len + size, 1, 64 * 1024);
	if (!buf)
		return -ENOMEM;
	s->buf = buf;
	ents = st_grow(s->ents, &s->ncap, s->n + 1, sizeof(*ents), 1024);
	if (!ents)
		return -ENOMEM;
	s->ents = ents;
	memcpy(s->buf + s->len, h, h->size);
	s->ents[s->n++] = (struct stage_ent){ .ts = h->ts, .seq = s->seq++, .off = s->len };
	s->len += size;
	return 0;
}

static int by_time(const void *a, const void *b)
{
	const struct stage_ent *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void stage_flush(struct stage *s, void (*fn)(void *ctx, const struct st_hdr *h), void *ctx)
{
	size_t i;

	if (s->n > 1)
		qsort(s->ents, s->n, sizeof(*s->ents), by_time);
	for (i = 0; i < s->n; i++)
		fn(ctx, (const struct st_hdr *)(s->buf + s->ents[i].off));
	s->n = s->len = 0;
}

void stage_free(struct stage *s)
{
	free(s->buf);
	free(s->ents);
	memset(s, 0, sizeof(*s));
}
