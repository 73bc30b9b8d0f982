// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "cause.h"

static void test_launchers(void **state)
{
	static const char *const yes[] = {
		"cron",
		"crond",
		"sshd",
		"bash",
		"sh",
		"dash",
		"zsh",
		"sudo",
		"systemd",
		"init",
		"runc",
		"tmux: server",
		"containerd-shim",
		/* the comm is cut at 15 chars; the full name must match too */
		"containerd-shim-runc-v2",
	};
	static const char *const no[] = {
		"run-parts", "apt",	"nginx", "python3",	  "containerd",
		"bash2",     "cronjob", "",	 "systemd-udevd", "Bash",
	};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!cause_is_launcher(yes[i]))
			fail_msg("'%s' should be a launcher", yes[i]);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (cause_is_launcher(no[i]))
			fail_msg("'%s' should not be a launcher", no[i]);
	}
}

static void test_cgroup_is_job(void **state)
{
	static const char *const yes[] = {
		"/system.slice/fwupd.service",
		"/st-cronjob-42",
		"/process_api/abc",
		"/system.slice/docker-0123abcd.scope",
		"/kubepods/burstable/pod1234/ctr",
		"/st-cron-1",
	};
	static const char *const no[] = {
		"/",
		"",
		"/system.slice",
		"/user.slice",
		"/system.slice/cron.service",
		"/system.slice/ssh.service",
		"/user.slice/user-0.slice/session-3.scope",
		"/user.slice/user-1000.slice/user@1000.service",
		"/init.scope",
	};
	size_t i;

	assert_false(cause_cgroup_is_job(NULL));
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!cause_cgroup_is_job(yes[i]))
			fail_msg("'%s' should be a job cgroup", yes[i]);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (cause_cgroup_is_job(no[i]))
			fail_msg("'%s' should not be a job cgroup", no[i]);
	}
}

static void test_cgroup_leaf(void **state)
{
	const char *p = "/system.slice/fwupd.service";

	assert_string_equal(cause_cgroup_leaf(p), "fwupd.service");
	/* a pointer into the argument, not a copy */
	assert_ptr_equal(cause_cgroup_leaf(p), p + strlen("/system.slice/"));
	assert_string_equal(cause_cgroup_leaf("/st-cron-1"), "st-cron-1");
	assert_string_equal(cause_cgroup_leaf("/a/b/c"), "c");
	assert_string_equal(cause_cgroup_leaf("noslash"), "noslash");
	/* the root has no last component: the path itself */
	assert_string_equal(cause_cgroup_leaf("/"), "/");
}

static void expect_base(const char *comm, size_t outlen, const char *want)
{
	char out[32];

	memset(out, 'X', sizeof(out));
	cause_kthread_base(comm, out, outlen);
	if (strcmp(out, want))
		fail_msg("base of '%s' (outlen %zu): got '%s', want '%s'", comm, outlen, out, want);
	/* nothing written past outlen */
	if (outlen < sizeof(out))
		assert_int_equal(out[outlen], 'X');
}

static void test_kthread_base(void **state)
{
	expect_base("kworker/1:2", 16, "kworker");
	expect_base("kworker/u8:3", 16, "kworker");
	expect_base("kworker/0:1H", 16, "kworker");
	expect_base("kswapd0", 16, "kswapd");
	expect_base("kswapd12", 16, "kswapd");
	expect_base("ksoftirqd/0", 16, "ksoftirqd");
	expect_base("jbd2/vda1-8", 16, "jbd2");
	expect_base("rcu_sched", 16, "rcu_sched");
	expect_base("migration/3", 16, "migration");
	expect_base("irq/25-ahci", 16, "irq");
	expect_base("kthreadd", 16, "kthreadd");
	/* a lone digit is a name, not an instance */
	expect_base("0", 16, "0");
	expect_base("", 16, "");
	/* truncated to outlen - 1 characters */
	expect_base("kworker/1:2", 4, "kwo");
	expect_base("ksoftirqd/0", 10, "ksoftirqd");
	expect_base("ksoftirqd/0", 9, "ksoftirq");
	expect_base("kswapd0", 1, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_launchers),
		cmocka_unit_test(test_cgroup_is_job),
		cmocka_unit_test(test_cgroup_leaf),
		cmocka_unit_test(test_kthread_base),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
