// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "mapread.h"

#define BATCH 1024
#define ENOTSUPP 524 /* the kernel's, not in userspace errno.h */

static int grow(struct map_reader *r, size_t want, size_t ks, size_t vs)
{
	void *k, *v;
	size_t cap = r->cap ? r->cap : BATCH;

	if (want <= r->cap)
		return 0;
	while (cap < want)
		cap *= 2;
	k = realloc(r->keys, cap * ks);
	if (!k)
		return -ENOMEM;
	r->keys = k;
	v = realloc(r->vals, cap * vs);
	if (!v)
		return -ENOMEM;
	r->vals = v;
	r->cap = cap;
	return 0;
}

/* 0 done, -EOPNOTSUPP: the kernel has no batch ops for this map, else -errno. */
static int read_batch(struct map_reader *r, int fd, size_t ks, size_t vs)
{
	unsigned char token[64]; /* the kernel's cursor: a bucket index for hash maps */
	bool first = true;
	int err;

	if (ks > sizeof(token))
		return -EOPNOTSUPP;
	do {
		__u32 n = BATCH;

		if (grow(r, r->n + BATCH, ks, vs))
			return -ENOMEM;
		err = bpf_map_lookup_batch(fd, first ? NULL : token, token,
					   (char *)r->keys + r->n * ks, (char *)r->vals + r->n * vs,
					   &n, NULL);
		r->calls++;
		if (err && errno != ENOENT) {
			err = -errno;
			/* Only before anything was read: a cursor gone stale mid-walk is an error. */
			if (first && (err == -EINVAL || err == -ENOTSUPP || err == -EOPNOTSUPP))
				return -EOPNOTSUPP;
			return err;
		}
		r->n += n;
		first = false;
	} while (!err);
	return 0;
}

/* Key by key; a key deleted between the two calls is skipped (the walk goes on from it). */
static int read_keys(struct map_reader *r, const struct bpf_map *m, size_t ks, size_t vs)
{
	size_t steps = 0, max = 2 * (size_t)bpf_map__max_entries(m) + 2;
	unsigned char prev[64]; /* r->keys moves when it grows */
	bool have = false;

	if (ks > sizeof(prev))
		return -EINVAL;
	while (steps++ < max) {
		char *k;

		if (grow(r, r->n + 1, ks, vs))
			return -ENOMEM;
		k = (char *)r->keys + r->n * ks;
		r->calls++;
		if (bpf_map__get_next_key(m, have ? prev : NULL, k, ks))
			return 0;
		memcpy(prev, k, ks);
		have = true;
		r->calls++;
		if (!bpf_map__lookup_elem(m, k, ks, (char *)r->vals + r->n * vs, vs, 0))
			r->n++;
	}
	return 0;
}

/* A per-CPU map's value comes as one 8-byte-aligned slot per possible CPU. */
static size_t value_size(const struct bpf_map *m)
{
	size_t vs = bpf_map__value_size(m);
	int ncpu;

	switch (bpf_map__type(m)) {
	case BPF_MAP_TYPE_PERCPU_HASH:
	case BPF_MAP_TYPE_LRU_PERCPU_HASH:
	case BPF_MAP_TYPE_PERCPU_ARRAY:
		ncpu = libbpf_num_possible_cpus();
		return ((vs + 7) & ~(size_t)7) * (size_t)(ncpu > 0 ? ncpu : 1);
	default:
		return vs;
	}
}

size_t map_reader_value_size(const struct bpf_map *m)
{
	return value_size(m);
}

int map_read(struct map_reader *r, const struct bpf_map *m)
{
	size_t ks = bpf_map__key_size(m), vs = value_size(m);
	int err = -EOPNOTSUPP;

	r->n = 0;
	r->calls = 0;
	/* The tests take the path of kernels before 5.6 too. */
	if (!r->mode && getenv("SPIKETRACE_NO_BATCH"))
		r->mode = 2;
	if (r->mode != 2) {
		err = read_batch(r, bpf_map__fd(m), ks, vs);
		r->mode = err == -EOPNOTSUPP ? 2 : 1;
	}
	if (r->mode == 2) {
		r->n = 0;
		err = read_keys(r, m, ks, vs);
	}
	return err;
}

void map_reader_free(struct map_reader *r)
{
	free(r->keys);
	free(r->vals);
	memset(r, 0, sizeof(*r));
}
