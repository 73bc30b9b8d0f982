/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Constants and the record header shared by BPF programs and userspace.
 * Only fixed-width types and explicit padding: these structs are also the
 * payload of recording frames, so their layout is part of the file format.
 */
#ifndef SPIKETRACE_COMMON_H
#define SPIKETRACE_COMMON_H

#ifndef __VMLINUX_H__
#include <linux/types.h> /* userspace; BPF gets the types from vmlinux.h */
#endif

#define ST_COMM_LEN 16
#define ST_PATH_LEN 256
#define ST_ARGS_LEN 512

/* Record types. Ranges per concern keep dispatch a switch, not a lookup. */
enum st_type {
	ST_PROC_EXEC = 0x0101,
	ST_PROC_FORK = 0x0102,
	ST_PROC_EXIT = 0x0103,
	ST_MEM_OOM = 0x0201,
	ST_MEM_SNAP = 0x0202, /* userspace-made, from the maps */
	ST_TLS_HS = 0x0301,
	ST_TLS_CPU = 0x0302, /* userspace-made, from the maps */
	ST_TLS_LIB = 0x0303, /* userspace-made, when a library is attached */
	ST_TCP_STATE = 0x0401,
	ST_TCP_RESET = 0x0402,
	ST_TCP_COUNTS = 0x0403, /* userspace-made, from the counters */
	ST_TCP_GONE = 0x0404, /* userspace-made at the end: a connection that ended unseen */
};

/* Indices of the per-CPU drop counters every concern keeps (lost map). */
/* Each concern's ring buffer unless --ringbuf-kb says otherwise. */
#define ST_RINGBUF_BYTES (1 << 22)

enum st_lost {
	ST_LOST_RINGBUF = 0, /* bpf_ringbuf_reserve failed */
	ST_LOST_READ = 1, /* a helper read failed; record sent partly empty */
	ST_LOST_MAPFULL = 2, /* an aggregation map was full */
	ST_LOST_MAX = 4,
};

/* Every ring-buffer record starts with this. ts is CLOCK_MONOTONIC ns. */
struct st_hdr {
	__u16 type;
	__u16 size; /* whole record, header included */
	__u32 cpu;
	__u64 ts;
};

#endif
