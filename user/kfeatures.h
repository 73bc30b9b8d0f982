/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What this kernel can do, learned by trying (loading calibration
 * programs, creating maps, looking up BTF types), never from its version.
 */
#ifndef ST_FEATURES_H
#define ST_FEATURES_H

#include <stdbool.h>
#include <stdio.h>

struct features {
	bool btf; /* kernel BTF readable */
	bool ringbuf; /* BPF_MAP_TYPE_RINGBUF */
	bool tp_btf; /* BTF-typed raw tracepoints load and attach */
	bool fentry; /* fentry programs load and attach */
	bool kprobe; /* kprobe programs load and attach */
	bool tracefs; /* tracefs events directory present */
	const char *btf_path;
	char tracefs_path[64];
};

/* Fills f; btf_path is NULL for /sys/kernel/btf/vmlinux. */
void features_probe(struct features *f, const char *btf_path);
/* tp_btf usable for this tracepoint (btf_trace_<name> exists in kernel BTF). */
bool feat_btf_tp(const struct features *f, const char *name);
/* tp_btf for name, and its argument idx (0-based) is a pointer. */
bool feat_btf_tp_ptr_arg(const struct features *f, const char *name, unsigned int idx);
/* How many arguments a BTF tracepoint passes (without its data), -1 without tp_btf. */
int feat_btf_tp_nargs(const struct features *f, const char *name);
/* The classic tracepoint category/name exists in tracefs. */
bool feat_tracepoint(const struct features *f, const char *cat, const char *name);
void features_free(void);

#endif
