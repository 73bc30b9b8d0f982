// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "kfeatures.h"
#include "features.skel.h"
#include "log.h"

static struct btf *vmlinux_btf;

static const char *const tracefs_dirs[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };

/* Loads and attaches exactly one calibration program: the honest test. */
static bool try_prog(const char *which)
{
	struct features_bpf *skel = features_bpf__open();
	struct bpf_program *p, *want = NULL;
	struct bpf_link *link;
	bool ok = false;

	if (!skel)
		return false;
	bpf_object__for_each_program(p, skel->obj)
	{
		bool me = !strcmp(bpf_program__name(p), which);

		bpf_program__set_autoload(p, me);
		if (me)
			want = p;
	}
	if (want && !features_bpf__load(skel)) {
		link = bpf_program__attach(want);
		ok = link != NULL;
		bpf_link__destroy(link);
	}
	features_bpf__destroy(skel);
	log_dbg("feature probe %s: %s", which, ok ? "yes" : "no");
	return ok;
}

void features_probe(struct features *f, const char *btf_path)
{
	size_t i;

	memset(f, 0, sizeof(*f));
	f->btf_path = btf_path ? btf_path : "/sys/kernel/btf/vmlinux";
	for (i = 0; i < sizeof(tracefs_dirs) / sizeof(tracefs_dirs[0]); i++) {
		char p[128];

		snprintf(p, sizeof(p), "%s/events", tracefs_dirs[i]);
		if (!access(p, F_OK)) {
			f->tracefs = true;
			snprintf(f->tracefs_path, sizeof(f->tracefs_path), "%s", tracefs_dirs[i]);
			break;
		}
	}
	if (!vmlinux_btf)
		vmlinux_btf = btf__parse(f->btf_path, NULL);
	f->btf = vmlinux_btf != NULL;
	f->ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 1;
	if (!f->btf)
		return;
	/* For tests and old-kernel triage: take the classic tracepoint variants. */
	f->tp_btf = !getenv("SPIKETRACE_NO_TP_BTF") && try_prog("probe_tp_btf");
	f->fentry = try_prog("probe_fentry");
	f->kprobe = try_prog("probe_kprobe");
}

bool feat_btf_tp(const struct features *f, const char *name)
{
	char tn[128];

	if (!f->tp_btf || !vmlinux_btf)
		return false;
	snprintf(tn, sizeof(tn), "btf_trace_%s", name);
	return btf__find_by_name_kind(vmlinux_btf, tn, BTF_KIND_TYPEDEF) >= 0;
}

/* The func_proto of btf_trace_<name>, NULL without tp_btf for it. */
static const struct btf_type *tp_proto(const struct features *f, const char *name)
{
	const struct btf_type *t;
	char tn[128];
	int id;

	if (!feat_btf_tp(f, name))
		return NULL;
	snprintf(tn, sizeof(tn), "btf_trace_%s", name);
	id = btf__find_by_name_kind(vmlinux_btf, tn, BTF_KIND_TYPEDEF);
	t = btf__type_by_id(vmlinux_btf, btf__resolve_type(vmlinux_btf, id));
	if (!t || !btf_is_ptr(t))
		return NULL;
	t = btf__type_by_id(vmlinux_btf, t->type);
	return t && btf_is_func_proto(t) ? t : NULL;
}

bool feat_btf_tp_ptr_arg(const struct features *f, const char *name, unsigned int idx)
{
	const struct btf_type *t = tp_proto(f, name);
	const struct btf_param *p;

	/* The first parameter is the tracepoint's void *data. */
	if (!t || btf_vlen(t) < idx + 2)
		return false;
	p = btf_params(t) + idx + 1;
	t = btf__type_by_id(vmlinux_btf, btf__resolve_type(vmlinux_btf, p->type));
	return t && btf_is_ptr(t);
}

int feat_btf_tp_nargs(const struct features *f, const char *name)
{
	const struct btf_type *t = tp_proto(f, name);

	return t && btf_vlen(t) ? btf_vlen(t) - 1 : -1;
}

bool feat_tracepoint(const struct features *f, const char *cat, const char *name)
{
	char p[256];

	if (!f->tracefs)
		return false;
	snprintf(p, sizeof(p), "%s/events/%s/%s", f->tracefs_path, cat, name);
	return access(p, F_OK) == 0;
}

void features_free(void)
{
	btf__free(vmlinux_btf);
	vmlinux_btf = NULL;
}
