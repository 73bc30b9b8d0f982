/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The rules that decide which job a process belongs to (docs/causes.md).
 * Pure functions of names and paths, so they are unit-tested directly.
 */
#ifndef ST_CAUSE_H
#define ST_CAUSE_H

#include <stdbool.h>
#include <stddef.h>

/* A process that starts other people's work: pid 1, cron, sshd, shells, ... */
bool cause_is_launcher(const char *comm);
/*
 * A cgroup that holds one job: not the root, not a container of unrelated
 * work (slices, login sessions, user managers, init.scope, a launcher's
 * own service such as cron.service).
 */
bool cause_cgroup_is_job(const char *path);
/* The last component of a cgroup path ("/a/b.service" -> "b.service"). */
const char *cause_cgroup_leaf(const char *path);
/* Kernel thread comm without its instance suffix: "kworker/1:2" -> "kworker". */
void cause_kthread_base(const char *comm, char *out, size_t outlen);

#endif
