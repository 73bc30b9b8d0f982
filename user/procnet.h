/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * TCP sockets that exist before we start, from /proc: which process owns
 * which listener and connection, in every network namespace, so that the
 * tcp concern can name the owner of a socket it did not see being made.
 */
#ifndef ST_PROCNET_H
#define ST_PROCNET_H

#include <stdint.h>

struct procnet_sock {
	uint8_t family; /* AF_INET, AF_INET6 */
	uint8_t state; /* TCP_ST_* */
	uint16_t lport, rport;
	uint8_t laddr[16], raddr[16]; /* network order */
	uint64_t inode;
	uint32_t netns; /* inode of the network namespace */
	uint32_t pid; /* a process holding it */
	char comm[16];
};

/* Parses one line of /proc/net/tcp (family AF_INET) or tcp6. 0 or -EINVAL (the header). */
int procnet_parse(const char *line, int family, struct procnet_sock *s);
/*
 * For every TCP socket some process in procdir holds a descriptor of, in
 * each network namespace those processes are in, calls cb (stops early if
 * it returns non-zero). Returns how many sockets were passed, or -errno.
 */
int procnet_scan(const char *procdir, int (*cb)(void *ctx, const struct procnet_sock *s),
		 void *ctx);

/*
 * Every TCP socket in one network namespace's tables, netdir/tcp and
 * netdir/tcp6 (netdir: /proc/self/net, /proc/PID/net), orphans and
 * time-wait ones included; pid, netns and comm are left 0. Calls cb for
 * each (stops early if it returns non-zero). Returns how many sockets were
 * passed, or -errno when neither table opens.
 */
int procnet_table(const char *netdir, int (*cb)(void *ctx, const struct procnet_sock *s),
		  void *ctx);

#endif
