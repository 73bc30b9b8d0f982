/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A concern is one thing we trace (proc, mem, tls, tcp, cpu). It owns a
 * BPF skeleton and the decoding of its records; the spine does the rest:
 * preflight, ordering of open/configure/load/attach, the one ring-buffer
 * loop, the recording, signals, and handing decoded events to the model.
 */
#ifndef ST_CONCERN_H
#define ST_CONCERN_H

#include <stddef.h>
#include <stdint.h>

struct spine;
struct bpf_object;
struct bpf_map;
struct st_hdr;

struct concern {
	const char *name;
	unsigned int bit; /* 1 << index in the table */
	uint16_t type_min, type_max; /* the record types it decodes */
	unsigned int needs; /* concerns it needs running beside it (bits) */

	/* Kernel side, live only. Each returns 0 or -errno. */
	int (*open)(struct spine *sp, void **priv);
	/* rodata (filters), map sizes, which program variant per feature probe */
	int (*configure)(struct spine *sp, void *priv);
	int (*load)(void *priv);
	int (*attach)(struct spine *sp, void *priv);
	struct bpf_object *(*object)(void *priv);
	/* called each second while live: read aggregated maps, emit frames */
	void (*tick)(struct spine *sp, void *priv, uint64_t now);
	void (*detach)(void *priv);
	void (*destroy)(void *priv);
	/* "exec=tp_btf fork=tp_btf ..." after configure */
	const char *(*variant)(void *priv);

	/* Decoding, live and from a recording: record -> model. */
	void (*handle)(struct spine *sp, const struct st_hdr *h, size_t len);
};

extern const struct concern concern_proc;
extern const struct concern concern_mem;
extern const struct concern concern_tls;
extern const struct concern concern_tcp;
extern const struct concern concern_cpu;
extern const struct concern concern_net;

/* The table, in attach order. */
extern const struct concern *const concerns[];
extern const size_t nconcerns;

const struct concern *concern_by_name(const char *name);
const struct concern *concern_by_type(uint16_t type);
/* Parses "proc,mem"; returns a bitmask or 0 and names the bad item. */
unsigned int concern_parse_list(const char *list, char *bad, size_t badlen);

#endif
