/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Kernel layouts that changed across versions, in one place. Each flavor
 * (___old/___new) is matched by CO-RE against the running kernel's BTF.
 */
#ifndef ST_CORE_FIXES_BPF_H
#define ST_CORE_FIXES_BPF_H

#include <bpf/bpf_core_read.h>

/*
 * Linux 6.2 (f1a7941243c1, "mm: convert mm's rss stats into
 * percpu_counter") turned mm->rss_stat from struct mm_rss_stat (atomic
 * counters) into an array of percpu_counter. Both read as the kernel's
 * get_mm_counter() does: the shared count, per-CPU deltas not summed.
 */
struct mm_rss_stat___old {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

struct mm_struct___old {
	struct mm_rss_stat___old rss_stat;
} __attribute__((preserve_access_index));

#define ST_MM_COUNTER(mm, i)                                                                \
	(bpf_core_type_exists(struct mm_rss_stat___old) ?                                   \
		 BPF_CORE_READ((struct mm_struct___old *)(mm), rss_stat.count[i].counter) : \
		 BPF_CORE_READ(mm, rss_stat[i].count))

/* Constant indices only: a variable one is pointer arithmetic the verifier refuses. */
static __always_inline long st_mm_counter(struct mm_struct *mm, int member)
{
	long v;

	switch (member) {
	case 0:
		v = ST_MM_COUNTER(mm, 0);
		break;
	case 1:
		v = ST_MM_COUNTER(mm, 1);
		break;
	case 2:
		v = ST_MM_COUNTER(mm, 2);
		break;
	case 3:
		v = ST_MM_COUNTER(mm, 3);
		break;
	default:
		return 0;
	}
	return v > 0 ? v : 0;
}

/* Linux 5.14 (2f064a59a11f) renamed task_struct.state to __state (and made it an unsigned int). */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

static __always_inline unsigned int st_task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___old *)t, state);
}

#endif
