/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Reading processes from /proc: the process table is seeded from it at
 * start so that processes older than spiketrace still have a lineage.
 */
#ifndef ST_PROCFS_H
#define ST_PROCFS_H

#include <stdint.h>

#include "recording.h" /* struct rec_proc_seed */

/*
 * Fills s for one pid from procdir ("/proc" or a test tree): comm, ppid,
 * uid, kthread (PF_KTHREAD in stat flags), args from cmdline (NUL
 * separated, bounded), filename from the exe link, cgroup v2 path ("0::"
 * line) and v1 memory path (a line whose controllers include "memory").
 * ts is left to the caller. Returns 0, or -ENOENT when the process is gone.
 */
int procfs_read(const char *procdir, uint32_t pid, struct rec_proc_seed *s);
/* Calls cb for every numeric entry of procdir; stops early if cb != 0. */
int procfs_scan(const char *procdir, int (*cb)(void *ctx, const struct rec_proc_seed *s),
		void *ctx);
/* 1 if /proc/PID exists (process alive or zombie), else 0. */
int procfs_exists(const char *procdir, uint32_t pid);

#endif
