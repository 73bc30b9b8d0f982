// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "stacks.h"

/* Hash chains: different names or id lists can share a 64-bit hash. */
struct stk_name {
	struct stk_name *next;
	uint32_t id; /* into stackset.names */
};

struct stk_ref {
	struct stk_ref *next;
	size_t idx; /* into stackset.v */
};

void stackset_init(struct stackset *s, uint64_t period_ns)
{
	memset(s, 0, sizeof(*s));
	hmap_init(&s->names_by_hash);
	hmap_init(&s->stks_by_hash);
	s->period_ns = period_ns;
}

static void free_name_chains(struct hmap *m)
{
	size_t it = 0;
	void *v;

	while (hmap_next(m, &it, NULL, &v)) {
		struct stk_name *c = v;

		while (c) {
			struct stk_name *next = c->next;

			free(c);
			c = next;
		}
	}
	hmap_free(m);
}

static void free_stk_chains(struct hmap *m)
{
	size_t it = 0;
	void *v;

	while (hmap_next(m, &it, NULL, &v)) {
		struct stk_ref *c = v;

		while (c) {
			struct stk_ref *next = c->next;

			free(c);
			c = next;
		}
	}
	hmap_free(m);
}

void stackset_free(struct stackset *s)
{
	size_t i;

	for (i = 0; i < s->nnames; i++)
		free(s->names[i]);
	free(s->names);
	for (i = 0; i < s->n; i++)
		free(s->v[i].frames);
	free(s->v);
	free_name_chains(&s->names_by_hash);
	free_stk_chains(&s->stks_by_hash);
	stackset_init(s, s->period_ns);
}

uint32_t stackset_frame(struct stackset *s, const char *name)
{
	uint64_t h = st_hash_str(name);
	struct stk_name *c;
	char **names;
	char *copy;

	for (c = hmap_get(&s->names_by_hash, h); c; c = c->next)
		if (!strcmp(s->names[c->id], name))
			return c->id;
	if (s->nnames >= UINT32_MAX - 1)
		return UINT32_MAX;
	names = st_grow(s->names, &s->names_cap, s->nnames + 1, sizeof(*names), 64);
	if (!names)
		return UINT32_MAX;
	s->names = names;
	copy = strdup(name);
	c = malloc(sizeof(*c));
	if (!copy || !c)
		goto fail;
	c->id = (uint32_t)s->nnames;
	c->next = hmap_get(&s->names_by_hash, h);
	if (hmap_put(&s->names_by_hash, h, c))
		goto fail;
	s->names[s->nnames++] = copy;
	return c->id;
fail:
	free(copy);
	free(c);
	return UINT32_MAX;
}

/* FNV-1a over the length, ncause and ids; never 0 (a valid hmap key). */
static uint64_t hash_ids(const uint32_t *ids, size_t n, size_t ncause)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	h = (h ^ n) * 0x100000001b3ULL;
	h = (h ^ ncause) * 0x100000001b3ULL;
	for (i = 0; i < n; i++)
		h = (h ^ ids[i]) * 0x100000001b3ULL;
	return h ? h : 1;
}

static bool stk_equal(const struct stk *k, const uint32_t *ids, size_t n, size_t ncause)
{
	if (k->nframes != n || k->ncause != ncause)
		return false;
	return !n || !memcmp(k->frames, ids, n * sizeof(*ids));
}

static int stk_new(struct stackset *s, uint64_t h, const uint32_t *ids, size_t n, size_t ncause,
		   uint64_t count)
{
	struct stk *k = st_grow(s->v, &s->cap, s->n + 1, sizeof(*s->v), 64);
	struct stk_ref *r;

	if (!k)
		return -ENOMEM;
	s->v = k;
	k = &s->v[s->n];
	k->frames = n ? malloc(n * sizeof(*ids)) : NULL;
	r = malloc(sizeof(*r));
	if ((n && !k->frames) || !r)
		goto fail;
	r->idx = s->n;
	r->next = hmap_get(&s->stks_by_hash, h);
	if (hmap_put(&s->stks_by_hash, h, r))
		goto fail;
	if (n)
		memcpy(k->frames, ids, n * sizeof(*ids));
	k->nframes = (uint32_t)n;
	k->ncause = (uint32_t)ncause;
	k->count = count;
	s->n++;
	s->total += count;
	return 0;
fail:
	free(k->frames);
	free(r);
	return -ENOMEM;
}

int stackset_add(struct stackset *s, const uint32_t *ids, size_t n, size_t ncause, uint64_t count)
{
	uint64_t h = hash_ids(ids, n, ncause);
	struct stk_ref *r;
	size_t i;

	/* Bad ids would index past names in every writer: refuse them here. */
	if (ncause > n || n > UINT32_MAX)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (ids[i] >= s->nnames)
			return -EINVAL;
	if (!count)
		return 0;
	for (r = hmap_get(&s->stks_by_hash, h); r; r = r->next) {
		struct stk *k = &s->v[r->idx];

		if (stk_equal(k, ids, n, ncause)) {
			k->count += count;
			s->total += count;
			return 0;
		}
	}
	return stk_new(s, h, ids, n, ncause, count);
}

struct fline {
	const char *text;
	uint64_t count;
};

static int fline_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fline *)a)->text, ((const struct fline *)b)->text);
}

/* Writes the frames joined by ';' with separators in names replaced; returns the end. */
static char *join_frames(char *p, const struct stackset *s, const struct stk *k)
{
	uint32_t i;

	for (i = 0; i < k->nframes; i++) {
		const char *c = s->names[k->frames[i]];

		if (i)
			*p++ = ';';
		for (; *c; c++)
			*p++ = *c == ';' ? ':' : (*c == '\n' || *c == '\r') ? ' ' : *c;
	}
	*p++ = '\0';
	return p;
}

static size_t joined_len(const struct stackset *s, const struct stk *k)
{
	size_t len = k->nframes; /* separators and the NUL */
	uint32_t i;

	for (i = 0; i < k->nframes; i++)
		len += strlen(s->names[k->frames[i]]);
	return len;
}

static int write_err(void)
{
	return errno ? -errno : -EIO;
}

/* Lines with equal text (stacks that differ only in ncause) become one line. */
static int folded_emit(FILE *out, const struct fline *l, size_t n)
{
	size_t i = 0;

	errno = 0;
	while (i < n) {
		uint64_t count = l[i].count;
		size_t j = i + 1;

		for (; j < n && !strcmp(l[j].text, l[i].text); j++)
			count += l[j].count;
		fprintf(out, "%s %" PRIu64 "\n", l[i].text, count);
		i = j;
	}
	if (fflush(out) || ferror(out))
		return write_err();
	return 0;
}

int folded_write(FILE *out, const struct stackset *s)
{
	struct fline *lines;
	size_t i, n = 0, len = 0;
	char *buf, *p;
	int err;

	for (i = 0; i < s->n; i++)
		len += joined_len(s, &s->v[i]);
	lines = malloc((s->n ? s->n : 1) * sizeof(*lines));
	buf = malloc(len ? len : 1);
	if (!lines || !buf) {
		free(lines);
		free(buf);
		return -ENOMEM;
	}
	for (i = 0, p = buf; i < s->n; i++) {
		if (!s->v[i].nframes)
			continue;
		lines[n].text = p;
		lines[n++].count = s->v[i].count;
		p = join_frames(p, s, &s->v[i]);
	}
	qsort(lines, n, sizeof(*lines), fline_cmp);
	err = folded_emit(out, lines, n);
	free(lines);
	free(buf);
	return err;
}
