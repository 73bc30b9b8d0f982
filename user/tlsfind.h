/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Where OpenSSL is: libssl/libcrypto libraries mapped by processes or
 * known to the dynamic linker's cache, and processes' executables (which
 * may link OpenSSL statically). Discovery only: whether a candidate really
 * has SSL_read etc. is for the caller to check (elfsym.h).
 */
#ifndef ST_TLSFIND_H
#define ST_TLSFIND_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct tls_cand {
	/*
	 * A path we can open and attach a uprobe to from our mount namespace:
	 * "/proc/PID/root/usr/lib/.../libssl.so.3", "/proc/PID/exe",
	 * "/proc/PID/map_files/START-END" for a deleted library, or the
	 * plain path from the ld cache.
	 */
	char path[512];
	/* The path as the process (or ld cache) names it, for messages; may end in " (deleted)". */
	char name[512];
	uint64_t dev, ino; /* stat() of path, for de-duplication */
	uint32_t pid; /* the process it was found in, 0 for the ld cache */
	bool exe; /* the process's main executable (may hold a static OpenSSL) */
};

/* Non-zero stops the walk and is returned by it. */
typedef int (*tls_cand_cb)(void *ctx, const struct tls_cand *c);

/*
 * Whether a file name looks like an OpenSSL library: a basename of "libssl"
 * or "libcrypto", then ".so..." or a "-"/"_" suffix before ".so"
 * (libssl.so.3, libssl.so.1.1, libcrypto-abc123.so.3). Not NSS's libssl3.so
 * nor libcrypto++.so.
 */
bool tlsfind_is_ossl_name(const char *path);

/*
 * Parses `ldconfig -p` output: cb for each libssl/libcrypto entry of our ABI
 * ("libc6,x86-64" on x86-64, "libc6,AArch64" on arm64; i386's untagged
 * "(libc6)" and x32 are skipped), once per file (dev/ino). Entries whose
 * path cannot be stat()ed are skipped. Returns 0, cb's value, or -errno.
 */
int tlsfind_parse_ldcache(FILE *in, tls_cand_cb cb, void *ctx);
/* Runs "/sbin/ldconfig -p" (or /usr/sbin/ldconfig; no shell) and parses it. */
int tlsfind_system(tls_cand_cb cb, void *ctx);

/*
 * Candidates of one process, procfs being "/proc" (or a test tree): first its
 * executable (path "<procfs>/<pid>/exe", exe=true), then one per distinct
 * file (dev/ino) mapped under an OpenSSL name, as "<procfs>/<pid>/root<name>"
 * so it works across mount namespaces, or, when the mapping is deleted, as
 * "<procfs>/<pid>/map_files/<start>-<end>" (needs CAP_SYS_ADMIN live). Paths
 * that cannot be stat()ed are skipped. Returns 0, cb's value, -ENOENT when
 * the process is gone, or -errno.
 */
int tlsfind_process(const char *procfs, uint32_t pid, tls_cand_cb cb, void *ctx);

#endif
