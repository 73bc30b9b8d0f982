/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Records and map values of the TLS concern (bpf/tls.bpf.c, user/tls.c).
 * Nothing here ever holds payload bytes: only pointers used as keys,
 * addresses, times, counts and flags.
 */
#ifndef SPIKETRACE_TLS_H
#define SPIKETRACE_TLS_H

#include "common.h"

/* What a thread is doing inside a handshake, for the CPU sampler. */
enum tls_phase {
	TLS_PH_NONE = 0, /* not in a handshake */
	TLS_PH_HANDSHAKE = 1, /* in a handshake, outside the crypto below ("other") */
	TLS_PH_KX = 2, /* ephemeral key generation, ECDH/DH derive, RSA key transport */
	TLS_PH_SIG = 3, /* signing or verifying with a certificate key */
	TLS_PH_RNG = 4, /* random bytes */
	TLS_PH_NR = 5,
};

/*
 * What each uprobe is; in the low byte of its BPF cookie. The cookie also
 * carries the index of the library it is in and the OpenSSL struct field
 * offsets userspace learnt from that library's own accessor functions.
 */
enum tls_probe {
	TLS_P_CALL = 1, /* SSL_do_handshake, SSL_read, SSL_write, SSL_peek (+ _ex) */
	TLS_P_FREE = 2, /* SSL_free */
	TLS_P_CLEAR = 3, /* SSL_clear: the SSL is reused for a new connection */
	TLS_P_SET_BIO = 4, /* SSL_set_bio(ssl, rbio, wbio) */
	TLS_P_BIO_CTRL = 5, /* BIO_int_ctrl(bio, BIO_C_SET_FD, flag, fd) */
	TLS_P_CRYPTO = 6, /* a libcrypto operation; the phase is in the cookie */
};

/*
 * cookie = probe | lib << 8 | phase << 16 | (in_init+1) << 24 | (hit+1) << 40
 *	    | (server+1) << 56; an offset + 1 of 0 means unknown.
 */
#define TLS_CK_PROBE(c) ((__u32)((c)&0xff))
#define TLS_CK_LIB(c) ((__u32)(((c) >> 8) & 0xff))
#define TLS_CK_PHASE(c) ((__u32)(((c) >> 16) & 0xff))
#define TLS_CK_INIT(c) ((__u32)(((c) >> 24) & 0xffff)) /* offset + 1, 0 = unknown */
#define TLS_CK_HIT(c) ((__u32)(((c) >> 40) & 0xffff)) /* offset + 1, 0 = unknown */
#define TLS_CK_SERVER(c) ((__u32)(((c) >> 56) & 0xff)) /* offset + 1, 0 = unknown */
#define TLS_COOKIE(probe, lib, phase, init1, hit1, srv1)                                    \
	((__u64)(probe) | (__u64)(lib) << 8 | (__u64)(phase) << 16 | (__u64)(init1) << 24 | \
	 (__u64)(hit1) << 40 | (__u64)(srv1) << 56)

/* Handshake flags. */
#define TLS_F_OK 0x01 /* completed */
#define TLS_F_RESUMED 0x02 /* session resumed (abbreviated handshake) */
#define TLS_F_RENEG 0x04 /* not the first handshake on this SSL */
#define TLS_F_FAILED 0x08 /* the SSL was freed or reset before completing */
#define TLS_F_CERTOP 0x10 /* a certificate-key operation ran (sign/verify/RSA kx) */
#define TLS_F_IMPLICIT 0x20 /* ran inside SSL_read/SSL_write, not SSL_do_handshake */
#define TLS_F_HIT_KNOWN 0x40 /* RESUMED is OpenSSL's own flag, not our inference */
#define TLS_F_SERVER 0x80 /* this side is the server (OpenSSL's own flag) */
#define TLS_F_ROLE_KNOWN 0x100 /* SERVER is known */

/* One handshake, sent when it completes or fails. */
struct tls_hs {
	struct st_hdr h;
	__u32 pid; /* tgid */
	__u32 tid;
	__u64 start_ns; /* first time we saw it in progress */
	__u8 addr[16]; /* peer address; IPv4 in the first 4 bytes */
	__u16 port; /* peer port, host order */
	__u16 family; /* AF_INET, AF_INET6 or 0 when unknown */
	__u32 flags;
	__u32 lib; /* index of the library (userspace's table) */
	__u32 pad;
	char comm[ST_COMM_LEN];
};

/* CPU samples per process and phase (`tls_cpu` map, summed over CPUs). */
struct tls_cpu_key {
	__u32 pid;
	__u32 phase;
};

/*
 * Written by userspace each second from the maps (not a BPF record): the
 * cumulative samples of processes that changed, and the sample period.
 */
struct tls_cpu_entry {
	__u32 pid;
	__u32 pad;
	__u64 samples[TLS_PH_NR];
};

#define TLS_CPU_MAX 64

struct tls_cpu_snap {
	struct st_hdr h;
	__u64 period_ns; /* CPU time one sample stands for */
	__u32 n;
	__u32 pad;
	struct tls_cpu_entry e[TLS_CPU_MAX];
};

/* A library we attached to (userspace-made): names tls_hs.lib. */
struct tls_lib_rec {
	struct st_hdr h;
	__u32 lib;
	__u32 is_static; /* OpenSSL linked into an executable */
	char path[ST_PATH_LEN];
};

#endif
