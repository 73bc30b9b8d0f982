// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * TLS handshakes in OpenSSL, from uprobes only (no payload is ever read).
 *
 * A handshake is not only what SSL_do_handshake does: a server that
 * renegotiates, or a first handshake driven by SSL_read/SSL_write, runs the
 * state machine from inside those calls. So every SSL entry point marks the
 * thread as "in a call on this SSL", and the SSL's own in_init flag (at an
 * offset userspace learnt from the library's SSL_in_init code) says whether
 * a handshake is in progress, read at call entry, at every libcrypto
 * operation inside the call and at call return. Libraries whose layout we
 * could not learn fall back to SSL_do_handshake's return value.
 *
 * libcrypto operations inside a call push a per-thread phase; the CPU
 * sampler (a perf_event program) reads it, so CPU is attributed to key
 * exchange, signature and RNG without walking any stack.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#include "tls.h"
/* This concern's ring buffer: a record per handshake: 20k/s fit in 100 ms many times. */
#define ST_RING_BYTES (1 << 20)
#include "maps.bpf.h"
#include "tls_maps.bpf.h"

/* uprobes use the kprobe calling-convention macros (libbpf 1.1 has no BPF_UPROBE). */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by userspace at stop: removing uprobes takes seconds, ignoring them does not. */
__u32 stopping = 0;

#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define BIO_C_SET_FD 104
#define PH_CERTOP 0x80 /* in a crypto cookie's phase: a certificate-key operation */

struct ssl_key {
	__u32 tgid;
	__u32 pad;
	__u64 ptr;
};

/* Per SSL object, until SSL_free. */
struct ssl_state {
	__u64 start_ns;
	__s32 fd;
	__u32 flags; /* of the open handshake */
	__u32 done; /* handshakes completed on it */
	__u16 init1, hit1; /* field offsets + 1, 0 when unknown */
	__u16 srv1;
	__u16 lib;
	__u16 port;
	__u16 family;
	__u8 addr[16];
	__u8 open;
	__u8 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ssl_key);
	__type(value, struct ssl_state);
} ssls SEC(".maps");

/* BIO -> socket fd, from BIO_set_fd (SSL_set_fd and BIO_new_socket use it). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ssl_key);
	__type(value, __s32);
} bios SEC(".maps");

static __always_inline struct ssl_state *ssl_get(__u64 ssl, __u64 ck, bool create)
{
	struct ssl_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .ptr = ssl };
	struct ssl_state *st = bpf_map_lookup_elem(&ssls, &k), fresh = {};

	if (st || !create)
		return st;
	fresh.fd = -1;
	fresh.lib = TLS_CK_LIB(ck);
	fresh.init1 = TLS_CK_INIT(ck);
	fresh.hit1 = TLS_CK_HIT(ck);
	fresh.srv1 = TLS_CK_SERVER(ck);
	bpf_map_update_elem(&ssls, &k, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&ssls, &k);
}

/* OpenSSL's own int at ssl + off1 - 1; -1 when unknown or unreadable. */
static __always_inline int ssl_field(__u64 ssl, __u16 off1)
{
	int v;

	if (!off1 || bpf_probe_read_user(&v, sizeof(v), (void *)(ssl + off1 - 1)))
		return -1;
	return v;
}

/* The peer of socket fd in the current process, when it is a connected socket. */
static __always_inline void fd_peer(struct ssl_state *st)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	struct file *f = NULL;
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	if (st->fd < 0 || (unsigned int)st->fd >= max)
		return;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[st->fd]) || !f)
		return;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return;
	sock = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(sock, sk);
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_INET) {
		__u32 a = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(st->addr, &a, sizeof(a));
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&st->addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		return;
	}
	st->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	/* Not connected yet (a client before connect): try again later. */
	if (st->port)
		st->family = family;
}

static __always_inline void hs_open(struct ssl_state *st, __u32 how)
{
	st->open = 1;
	st->start_ns = bpf_ktime_get_ns();
	st->flags = how | (st->done ? TLS_F_RENEG : 0);
	if (!st->family)
		fd_peer(st);
}

static __always_inline void hs_close(struct ssl_state *st, __u64 ssl, __u32 flags)
{
	struct tls_hs *e;
	int hit, server = ssl_field(ssl, st->srv1);

	st->open = 0;
	flags |= st->flags;
	if (server >= 0)
		flags |= TLS_F_ROLE_KNOWN | (server ? TLS_F_SERVER : 0);
	if (flags & TLS_F_OK) {
		st->done++;
		hit = ssl_field(ssl, st->hit1);
		if (hit >= 0)
			flags |= TLS_F_HIT_KNOWN | (hit ? TLS_F_RESUMED : 0);
		/* No layout: an abbreviated handshake uses no certificate key. */
		else if (!(flags & TLS_F_CERTOP))
			flags |= TLS_F_RESUMED;
	}
	if (!st->family)
		fd_peer(st);
	e = st_reserve(sizeof(*e), ST_TLS_HS);
	if (!e)
		return;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->tid = (__u32)bpf_get_current_pid_tgid();
	e->start_ns = st->start_ns;
	__builtin_memcpy(e->addr, st->addr, sizeof(e->addr));
	e->port = st->port;
	e->family = st->family;
	e->flags = flags;
	e->lib = st->lib;
	e->pad = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	st_submit(e);
}

/* Opens the SSL's handshake when OpenSSL says one is in progress. */
static __always_inline void hs_check(struct thr *th, struct ssl_state *st, __u32 how)
{
	if (!st->open && ssl_field(th->ssl, st->init1) == 1)
		hs_open(st, how);
	th->in_hs = st->open;
}

SEC("uprobe")
int BPF_KPROBE(tls_call_enter, void *ssl)
{
	__u64 ck = bpf_get_attach_cookie(ctx);
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	bool explicit = TLS_CK_PHASE(ck) == 1;
	struct thr *th, fresh = {};
	struct ssl_state *st;
	__u8 one = 1;
	if (stopping)
		return 0;

	if (!ssl || !st_current_wanted())
		return 0;
	th = bpf_map_lookup_elem(&threads, &tid);
	if (th && th->depth) {
		th->depth++;
		return 0;
	}
	/* Once per process: this runs on every SSL_read/SSL_write. */
	if (!bpf_map_lookup_elem(&tls_pids, &tgid))
		bpf_map_update_elem(&tls_pids, &tgid, &one, BPF_NOEXIST);
	fresh.ssl = (__u64)ssl;
	fresh.depth = 1;
	bpf_map_update_elem(&threads, &tid, &fresh, BPF_ANY);
	th = bpf_map_lookup_elem(&threads, &tid);
	st = ssl_get((__u64)ssl, ck, true);
	if (!th || !st)
		return 0;
	/* Without the layout, only SSL_do_handshake tells us about handshakes. */
	if (!st->init1 && explicit && !st->open)
		hs_open(st, 0);
	hs_check(th, st, explicit ? 0 : TLS_F_IMPLICIT);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(tls_call_exit, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct thr *th = bpf_map_lookup_elem(&threads, &tid);
	struct ssl_state *st;
	__u64 ssl;
	int init;
	if (stopping)
		return 0;

	if (!th || !th->depth)
		return 0;
	if (--th->depth)
		return 0;
	ssl = th->ssl;
	bpf_map_delete_elem(&threads, &tid);
	st = ssl_get(ssl, 0, false);
	if (!st || !st->open)
		return 0;
	init = ssl_field(ssl, st->init1);
	if (init == 0 || (init < 0 && ret == 1))
		hs_close(st, ssl, TLS_F_OK);
	return 0;
}

/* SSL_free / SSL_clear: a handshake still open there has failed. */
SEC("uprobe")
int BPF_KPROBE(tls_free, void *ssl)
{
	__u64 ck = bpf_get_attach_cookie(ctx);
	struct ssl_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .ptr = (__u64)ssl };
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ssl_state *st = bpf_map_lookup_elem(&ssls, &k);
	struct thr *th;
	if (stopping)
		return 0;

	if (!st)
		return 0;
	/* SSL_clear from inside a call on the same SSL is OpenSSL's business. */
	th = bpf_map_lookup_elem(&threads, &tid);
	if (TLS_CK_PROBE(ck) == TLS_P_CLEAR && th && th->depth && th->ssl == (__u64)ssl)
		return 0;
	if (st->open)
		hs_close(st, (__u64)ssl, TLS_F_FAILED);
	if (TLS_CK_PROBE(ck) == TLS_P_FREE) {
		bpf_map_delete_elem(&ssls, &k);
	} else {
		st->done = 0;
		st->family = 0;
	}
	return 0;
}

static __always_inline void bio_fd(void *bio, __s32 fd)
{
	struct ssl_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .ptr = (__u64)bio };

	bpf_map_update_elem(&bios, &k, &fd, BPF_ANY);
}

SEC("uprobe")
int BPF_KPROBE(tls_bio_ctrl, void *bio, int cmd, long larg, int iarg)
{
	if (stopping)
		return 0;
	if (cmd != BIO_C_SET_FD || !st_current_wanted())
		return 0;
	bio_fd(bio, iarg);
	return 0;
}

/*
 * The same, probed at BIO_int_ctrl's call of BIO_ctrl (user/tls.c moves it
 * there when the prologue decodes): a call is emulated, the prologue's first
 * instruction would be single-stepped. There iarg is in memory, at %rcx.
 */
SEC("uprobe")
int BPF_KPROBE(tls_bio_ctrl_call, void *bio, int cmd, long larg, __s32 *iargp)
{
	__s32 fd;

	if (stopping)
		return 0;
	if (cmd != BIO_C_SET_FD || !st_current_wanted())
		return 0;
	if (bpf_probe_read_user(&fd, sizeof(fd), iargp))
		return 0;
	bio_fd(bio, fd);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(tls_set_bio, void *ssl, void *rbio, void *wbio)
{
	__u64 ck = bpf_get_attach_cookie(ctx);
	struct ssl_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .ptr = (__u64)rbio };
	struct ssl_state *st;
	__s32 *fd;
	if (stopping)
		return 0;

	if (!ssl || !st_current_wanted())
		return 0;
	fd = bpf_map_lookup_elem(&bios, &k);
	st = ssl_get((__u64)ssl, ck, true);
	if (!fd || !st)
		return 0;
	st->fd = *fd;
	st->family = 0;
	fd_peer(st);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(tls_crypto_enter)
{
	__u64 ck = bpf_get_attach_cookie(ctx);
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct thr *th = bpf_map_lookup_elem(&threads, &tid);
	__u32 ph = TLS_CK_PHASE(ck);
	struct ssl_state *st;
	__u8 n;
	if (stopping)
		return 0;

	if (!th)
		return 0;
	n = th->nph;
	if (n < PH_DEPTH)
		th->ph[n & (PH_DEPTH - 1)] = ph & ~PH_CERTOP;
	else
		th->overflow++;
	th->nph = n < PH_DEPTH ? n + 1 : n;
	st = ssl_get(th->ssl, 0, false);
	if (!st)
		return 0;
	/* A renegotiation inside SSL_read shows up here first. */
	hs_check(th, st, TLS_F_IMPLICIT);
	if (st->open && (ph & PH_CERTOP))
		st->flags |= TLS_F_CERTOP;
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(tls_crypto_exit)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct thr *th = bpf_map_lookup_elem(&threads, &tid);
	if (stopping)
		return 0;

	if (!th)
		return 0;
	if (th->overflow)
		th->overflow--;
	else if (th->nph)
		th->nph--;
	return 0;
}
