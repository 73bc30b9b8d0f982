/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Reads a whole BPF hash map each tick: with BPF_MAP_LOOKUP_BATCH where the
 * kernel has it (5.6+; a few syscalls for thousands of entries), else key by
 * key (two syscalls an entry). Not for per-CPU maps.
 */
#ifndef ST_MAPREAD_H
#define ST_MAPREAD_H

#include <stddef.h>

struct bpf_map;

struct map_reader {
	void *keys, *vals; /* n entries of the map's key and value sizes */
	size_t n, cap;
	int mode; /* 0: not known yet, 1: batch, 2: key by key */
	size_t calls; /* syscalls of the last read (tests, benchmarks) */
};

/* Every entry now into r->keys/r->vals (r->n). 0 or -errno (r->n then holds what was read). */
int map_read(struct map_reader *r, const struct bpf_map *m);
void map_reader_free(struct map_reader *r);
/* The size of one value in r->vals for map m. */
size_t map_reader_value_size(const struct bpf_map *m);

#endif
