// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <fnmatch.h>
#include <string.h>

#include "cause.h"

/* Processes whose children are separate jobs (docs/causes.md). */
static const char *const launchers[] = {
	"systemd",
	"init",
	"cron",
	"crond",
	"anacron",
	"atd",
	"sshd",
	"sshd-session",
	"login",
	"su",
	"sudo",
	"bash",
	"sh",
	"dash",
	"zsh",
	"fish",
	"ksh",
	"tcsh",
	"csh",
	"tmux: server",
	"screen",
	"SCREEN",
	"containerd-shim",
	"runc",
	"conmon",
};

/* Cgroups that group unrelated work, matched against the last component. */
static const char *const shared_cgroups[] = {
	"init.scope",	 "session-*.scope", "user@*.service", "*.slice",     "cron.service",
	"crond.service", "anacron.service", "atd.service",    "ssh.service", "sshd.service",
};

bool cause_is_launcher(const char *comm)
{
	size_t i;

	for (i = 0; i < sizeof(launchers) / sizeof(launchers[0]); i++)
		if (!strcmp(comm, launchers[i]))
			return true;
	/* containerd-shim-runc-v2 and friends */
	return !strncmp(comm, "containerd-shim", 15);
}

const char *cause_cgroup_leaf(const char *path)
{
	const char *s = strrchr(path, '/');

	return s && s[1] ? s + 1 : path;
}

bool cause_cgroup_is_job(const char *path)
{
	const char *leaf;
	size_t i;

	if (!path || !*path || !strcmp(path, "/"))
		return false;
	leaf = cause_cgroup_leaf(path);
	for (i = 0; i < sizeof(shared_cgroups) / sizeof(shared_cgroups[0]); i++)
		if (!fnmatch(shared_cgroups[i], leaf, 0))
			return false;
	return true;
}

void cause_kthread_base(const char *comm, char *out, size_t outlen)
{
	size_t n = strcspn(comm, "/:");

	if (!outlen)
		return;
	/* Without a separator, trailing digits name the instance: kswapd0. */
	if (!comm[n])
		while (n > 1 && comm[n - 1] >= '0' && comm[n - 1] <= '9')
			n--;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, comm, n);
	out[n] = '\0';
}
