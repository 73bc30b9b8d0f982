// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The tls concern: finds OpenSSL (system libraries from the linker cache,
 * copies mapped by processes, executables that link it statically),
 * attaches uprobes to each file once, learns each libssl's struct layout
 * from its own accessor functions, and turns the per-process phase samples
 * (counted by the cpu concern's sampler in our maps) into snapshot records
 * each second.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "concern.h"
#include "elfsym.h"
#include "log.h"
#include "procfs.h"
#include "spine.h"
#include "tls.h"
#include "tls.skel.h"
#include "tlsfind.h"
#include "tlsmodel.h"

#define PH_CERTOP 0x80 /* bpf/tls.bpf.c: a certificate-key operation */
#define MAX_LIBS 255
#define RESCAN_NS 2000000000ull

struct probe_def {
	const char *sym;
	enum tls_probe kind;
	unsigned int phase; /* TLS_P_CALL: 1 = SSL_do_handshake */
	bool ret; /* also a uretprobe */
	/*
	 * Skipped when the file defines this one: OpenSSL 3's wrapper calls
	 * it, and a nested probe pair costs microseconds that would land in
	 * the phase being measured.
	 */
	const char *unless;
};

/* Everything we hook; a file gets whichever of these it defines. */
static const struct probe_def probe_defs[] = {
	{ "SSL_do_handshake", TLS_P_CALL, 1, true },
	{ "SSL_read", TLS_P_CALL, 0, true },
	{ "SSL_read_ex", TLS_P_CALL, 0, true },
	{ "SSL_write", TLS_P_CALL, 0, true },
	{ "SSL_write_ex", TLS_P_CALL, 0, true },
	{ "SSL_peek", TLS_P_CALL, 0, true },
	{ "SSL_peek_ex", TLS_P_CALL, 0, true },
	{ "SSL_free", TLS_P_FREE, 0, false },
	{ "SSL_clear", TLS_P_CLEAR, 0, false },
	{ "SSL_set_bio", TLS_P_SET_BIO, 0, false },
	{ "BIO_int_ctrl", TLS_P_BIO_CTRL, 0, false },
	/*
	 * OpenSSL 3's keygen and paramgen check the operation and jump to
	 * generate, whose first instruction (a push) the kernel emulates;
	 * theirs (a cmp) is single-stepped. 1.1 has no generate.
	 */
	{ "EVP_PKEY_generate", TLS_P_CRYPTO, TLS_PH_KX, true },
	{ "EVP_PKEY_keygen", TLS_P_CRYPTO, TLS_PH_KX, true, "EVP_PKEY_generate" },
	{ "EVP_PKEY_paramgen", TLS_P_CRYPTO, TLS_PH_KX, true, "EVP_PKEY_generate" },
	{ "EVP_PKEY_derive", TLS_P_CRYPTO, TLS_PH_KX, true },
	{ "EVP_PKEY_encapsulate", TLS_P_CRYPTO, TLS_PH_KX, true },
	{ "EVP_PKEY_decapsulate", TLS_P_CRYPTO, TLS_PH_KX, true },
	{ "EVP_PKEY_decrypt", TLS_P_CRYPTO, TLS_PH_KX | PH_CERTOP, true },
	{ "EVP_DigestSign", TLS_P_CRYPTO, TLS_PH_SIG | PH_CERTOP, true },
	{ "EVP_DigestSignFinal", TLS_P_CRYPTO, TLS_PH_SIG | PH_CERTOP, true },
	{ "EVP_PKEY_sign", TLS_P_CRYPTO, TLS_PH_SIG | PH_CERTOP, true },
	{ "EVP_DigestVerify", TLS_P_CRYPTO, TLS_PH_SIG | PH_CERTOP, true },
	{ "EVP_DigestVerifyFinal", TLS_P_CRYPTO, TLS_PH_SIG | PH_CERTOP, true },
	{ "EVP_PKEY_verify", TLS_P_CRYPTO, TLS_PH_SIG | PH_CERTOP, true },
	{ "RAND_bytes", TLS_P_CRYPTO, TLS_PH_RNG, true, "RAND_bytes_ex" },
	{ "RAND_bytes_ex", TLS_P_CRYPTO, TLS_PH_RNG, true },
	{ "RAND_priv_bytes", TLS_P_CRYPTO, TLS_PH_RNG, true, "RAND_priv_bytes_ex" },
	{ "RAND_priv_bytes_ex", TLS_P_CRYPTO, TLS_PH_RNG, true },
};

struct tls_priv {
	struct tls_bpf *skel;
	struct bpf_link **links;
	size_t nlinks, links_cap;
	struct hmap files; /* dev/ino hash of every file looked at, attached or skipped */
	struct hmap pids; /* pids already scanned */
	uint32_t nlibs;
	uint64_t next_scan;
	bool detached; /* the final tick must not attach anything */
	struct percpu_sum pcpu;
	struct hmap last; /* pid -> uint64_t[TLS_PH_NR]: what we already emitted */
	char variant[96];
};

SPINE_DEFINE_OPEN(tls)

static int tls_configure(struct spine *sp, void *priv)
{
	struct tls_priv *p = priv;

	SPINE_SET_FILTERS(p->skel, sp);
	/* CPU by phase comes from the cpu concern's sampler, which reads our maps. */
	snprintf(p->variant, sizeof(p->variant), "uprobes");
	return 0;
}

static int tls_load(void *priv)
{
	return tls_bpf__load(((struct tls_priv *)priv)->skel);
}

static struct bpf_object *tls_object(void *priv)
{
	return ((struct tls_priv *)priv)->skel->obj;
}

static int add_link(struct tls_priv *p, struct bpf_link *l)
{
	struct bpf_link **v;

	if (p->nlinks == p->links_cap) {
		size_t n = p->links_cap ? p->links_cap * 2 : 64;

		v = realloc(p->links, n * sizeof(*v));
		if (!v) {
			bpf_link__destroy(l);
			return -ENOMEM;
		}
		p->links = v;
		p->links_cap = n;
	}
	p->links[p->nlinks++] = l;
	return 0;
}

static struct bpf_program *prog_of(struct tls_priv *p, enum tls_probe k, bool ret)
{
	struct tls_bpf *s = p->skel;

	switch (k) {
	case TLS_P_CALL:
		return ret ? s->progs.tls_call_exit : s->progs.tls_call_enter;
	case TLS_P_FREE:
	case TLS_P_CLEAR:
		return s->progs.tls_free;
	case TLS_P_SET_BIO:
		return s->progs.tls_set_bio;
	case TLS_P_BIO_CTRL:
		return s->progs.tls_bio_ctrl;
	case TLS_P_CRYPTO:
		return ret ? s->progs.tls_crypto_exit : s->progs.tls_crypto_enter;
	}
	return NULL;
}

/* An OpenSSL int field offset, from an accessor such as SSL_in_init; 0 = unknown. */
static uint32_t field_of(struct elf_file *ef, const char *accessor)
{
	uint8_t code[16];
	uint64_t off, size;
	uint32_t disp;
	ssize_t n;

	if (elf_file_sym(ef, accessor, &off, &size))
		return 0;
	n = elf_file_read(ef, off, code, sizeof(code));
	if (n <= 0 || x86_field_accessor(code, n, &disp) || disp >= 0xffff)
		return 0;
	return disp + 1;
}

/*
 * Where a probe goes, and with which program. A probed instruction the
 * kernel cannot emulate is single-stepped: two traps a hit (elfsym.h).
 * Where the function opens with one, three shapes decode to a place that
 * sees the same arguments: SSL_read & co. (entry and return probes) wrap
 * an internal function that opens with a push, and both probes go there;
 * BIO_int_ctrl's probe goes on its call of BIO_ctrl (iarg read through
 * %rcx); SSL_free's past its NULL check.
 */
static struct bpf_program *place(struct tls_priv *p, struct elf_file *ef, const struct probe_def *d,
				 uint64_t *off, uint64_t size)
{
	struct bpf_program *prog = prog_of(p, d->kind, false);
	uint8_t code[48];
	int64_t target;
	uint32_t at;
	ssize_t n;

	n = elf_file_read(ef, *off, code, size < sizeof(code) ? size : sizeof(code));
	if (n <= 0 || x86_emulated_entry(code, (size_t)n))
		return prog;
	switch (d->kind) {
	case TLS_P_CALL:
		/* Not SSL_do_handshake (phase 1): it opens with a push. */
		if (d->phase || x86_wrapped_call(code, (size_t)n, &target) ||
		    (int64_t)*off + target <= 0)
			return prog;
		n = elf_file_read(ef, *off + target, code, sizeof(code));
		if (n <= 0 || !x86_emulated_entry(code, (size_t)n))
			return prog;
		*off += target;
		return prog;
	case TLS_P_BIO_CTRL:
		if (x86_int_arg_call(code, (size_t)n, &at))
			return prog;
		*off += at;
		return p->skel->progs.tls_bio_ctrl_call;
	case TLS_P_FREE:
	case TLS_P_CLEAR:
		if (!x86_past_null_check(code, (size_t)n, &at))
			*off += at;
		return prog;
	default:
		return prog;
	}
}

static int attach_one(struct tls_priv *p, const char *path, uint64_t off, uint64_t cookie,
		      struct bpf_program *prog, bool ret)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .bpf_cookie = cookie, .retprobe = ret);
	struct bpf_link *l = bpf_program__attach_uprobe_opts(prog, -1, path, off, &uo);

	if (!l)
		return -errno;
	return add_link(p, l);
}

/*
 * Attaches every probe the file defines; returns how many, or -errno, and
 * in *moved how many probes place() moved.
 */
static int attach_file(struct tls_priv *p, struct elf_file *ef, const char *path, uint32_t lib,
		       uint32_t init1, uint32_t hit1, uint32_t srv1, int *moved)
{
	struct {
		uint64_t off, ck;
	} placed[ARRAY_SIZE(probe_defs)];
	struct bpf_program *prog;
	size_t i, j, nplaced = 0;
	int n = 0, err;

	for (i = 0; i < ARRAY_SIZE(probe_defs); i++) {
		const struct probe_def *d = &probe_defs[i];
		uint64_t off, sym, size, ck = TLS_COOKIE(d->kind, lib, d->phase, init1, hit1, srv1);

		if (d->unless && !elf_file_sym(ef, d->unless, NULL, NULL))
			continue;
		if (elf_file_sym(ef, d->sym, &sym, &size))
			continue;
		off = sym;
		prog = place(p, ef, d, &off, size);
		*moved += off != sym;
		/* SSL_read and SSL_read_ex wrap one function: probed once. */
		for (j = 0; j < nplaced && (placed[j].off != off || placed[j].ck != ck); j++)
			;
		if (j < nplaced)
			continue;
		placed[nplaced].off = off;
		placed[nplaced++].ck = ck;
		err = attach_one(p, path, off, ck, prog, false);
		if (!err && d->ret)
			err = attach_one(p, path, off, ck, prog_of(p, d->kind, true), true);
		if (err)
			return err;
		n += 1 + d->ret;
	}
	return n;
}

static void emit_lib(struct spine *sp, uint32_t lib, const char *name, bool is_static)
{
	struct tls_lib_rec r = {
		.h = { .type = ST_TLS_LIB, .size = sizeof(r), .ts = now_mono_ns() },
		.lib = lib,
		.is_static = is_static
	};

	st_strlcpy(r.path, name, sizeof(r.path));
	spine_emit(sp, &r.h);
}

/* Whether the file is OpenSSL at all: libssl's or libcrypto's anchor symbols. */
static bool has_ossl(struct elf_file *ef, bool *ssl)
{
	uint64_t off, size;

	*ssl = !elf_file_sym(ef, "SSL_do_handshake", &off, &size);
	return *ssl || !elf_file_sym(ef, "EVP_PKEY_derive", &off, &size);
}

struct scan_ctx {
	struct spine *sp;
	struct tls_priv *p;
};

static int on_cand(void *ctx, const struct tls_cand *c)
{
	struct scan_ctx *sc = ctx;
	struct tls_priv *p = sc->p;
	uint64_t key = (c->dev * 0x9e3779b97f4a7c15ull) ^ c->ino;
	uint32_t init1 = 0, hit1 = 0, srv1 = 0, lib;
	struct elf_file *ef;
	char err[160];
	int n, moved = 0;
	bool ssl;

	if (!key || hmap_get(&p->files, key))
		return 0;
	hmap_put(&p->files, key, (void *)1);
	ef = elf_file_open(c->path, err, sizeof(err));
	if (!ef) {
		if (!c->exe)
			log_info("tls: skipped %s: %s", c->name, err);
		return 0;
	}
	if (!has_ossl(ef, &ssl)) {
		/* Most executables are not OpenSSL: only named libraries deserve a word. */
		if (!c->exe)
			log_info("tls: skipped %s: no OpenSSL symbols (stripped?)", c->name);
		elf_file_close(ef);
		return 0;
	}
	if (p->nlibs >= MAX_LIBS) {
		log_warn("tls: skipped %s: more than %d OpenSSL files", c->name, MAX_LIBS);
		elf_file_close(ef);
		return 0;
	}
	lib = p->nlibs++;
	if (ssl) {
		init1 = field_of(ef, "SSL_in_init");
		hit1 = field_of(ef, "SSL_session_reused");
		srv1 = field_of(ef, "SSL_is_server");
		/* The cookie has 8 bits for it. */
		srv1 = srv1 < 0xff ? srv1 : 0;
	}
	n = attach_file(p, ef, c->path, lib, init1, hit1, srv1, &moved);
	elf_file_close(ef);
	if (n < 0) {
		log_warn("tls: skipped %s: cannot attach uprobes: %s", c->name, strerror(-n));
		return 0;
	}
	emit_lib(sc->sp, lib, c->name, c->exe);
	if (ssl && !init1)
		log_info("tls: %s: %d probes; struct layout unknown, handshakes counted from "
			 "SSL_do_handshake only",
			 c->name, n);
	else
		log_info("tls: attached %s: %d probes%s, %d moved off a single-stepped instruction",
			 c->name, n, c->exe ? " (statically linked OpenSSL)" : "", moved);
	return 0;
}

static uint32_t ppid_of(struct spine *sp, uint32_t pid)
{
	struct proc *p = model_find(sp->model, pid);
	struct rec_proc_seed s;

	if (p)
		return p->ppid;
	/* At attach time the model is not seeded yet. */
	return procfs_read("/proc", pid, &s) ? 0 : s.ppid;
}

/* Whether pid is the -p process or one of its descendants. */
static bool followed(struct spine *sp, uint32_t pid)
{
	int depth;

	for (depth = 0; pid > 1 && depth < 64; depth++, pid = ppid_of(sp, pid))
		if (pid == sp->filter.tgid)
			return true;
	return false;
}

/* Processes we have not looked at yet; with -p only that tree. */
static void scan_procs(struct spine *sp, struct tls_priv *p)
{
	struct scan_ctx sc = { sp, p };
	struct dirent *de;
	DIR *d = opendir("/proc");
	char *end;
	uint64_t pid;

	if (!d)
		return;
	while ((de = readdir(d))) {
		pid = strtoull(de->d_name, &end, 10);
		if (*end || !pid || pid == (uint64_t)getpid() || hmap_get(&p->pids, pid))
			continue;
		if (sp->filter.tgid && !followed(sp, pid))
			continue;
		hmap_put(&p->pids, pid, (void *)1);
		tlsfind_process("/proc", pid, on_cand, &sc);
	}
	closedir(d);
}

static int tls_attach(struct spine *sp, void *priv)
{
	struct tls_priv *p = priv;
	struct scan_ctx sc = { sp, p };

	if (!sp->filter.tgid)
		tlsfind_system(on_cand, &sc);
	scan_procs(sp, p);
	p->next_scan = now_mono_ns() + RESCAN_NS;
	if (!p->nlibs)
		log_warn("tls: no OpenSSL library found yet; looking again every %llu s",
			 RESCAN_NS / 1000000000ull);
	return 0;
}

/*
 * Removing a uprobe waits for an RCU grace period (~0.1 s on 6.18), one
 * probe after the other under a kernel lock: 50 links took 5 s. At stop
 * the programs are told to ignore their hits at once, and a forked child
 * holding the last references removes the probes in the background, so
 * spiketrace exits (and its report is written) without waiting.
 */
static void detach_links(struct tls_priv *p)
{
	pid_t pid, parent = getpid();
	size_t i;
	int nul, n;

	p->skel->bss->stopping = 1;
	fflush(NULL);
	pid = p->nlinks ? fork() : -1;
	if (pid == 0) {
		nul = open("/dev/null", O_RDWR);
		/* Whoever reads our output must not wait for the reaper. */
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
		}
		/*
		 * Only once the parent is gone (its files are released before it
		 * is reparented away) are ours the last references: else its exit
		 * would pay for the probes we already closed.
		 */
		for (n = 0; getppid() == parent && n < 6000; n++)
			usleep(10000);
		for (i = 0; i < p->nlinks; i++)
			bpf_link__destroy(p->links[i]);
		_exit(0);
	}
	for (i = 0; i < p->nlinks; i++) {
		/* Our copies of the fds only; the reaper detaches. */
		if (pid > 0)
			bpf_link__disconnect(p->links[i]);
		bpf_link__destroy(p->links[i]);
	}
	p->nlinks = 0;
}

static void tls_detach(void *priv)
{
	struct tls_priv *p = priv;

	p->detached = true;
	detach_links(p);
}

static void tls_destroy(void *priv)
{
	struct tls_priv *p = priv;
	size_t it = 0;
	void *v;

	tls_detach(p);
	while (hmap_next(&p->last, &it, NULL, &v))
		free(v);
	hmap_free(&p->last);
	hmap_free(&p->files);
	hmap_free(&p->pids);
	free(p->links);
	tls_bpf__destroy(p->skel);
	percpu_sum_free(&p->pcpu);
	free(p);
}

static const char *tls_variant(void *priv)
{
	return ((struct tls_priv *)priv)->variant;
}

static uint64_t read_cpu(struct tls_priv *p, uint32_t pid, uint32_t phase)
{
	struct tls_cpu_key k = { .pid = pid, .phase = phase };

	return percpu_sum(&p->pcpu, p->skel->maps.tls_cpu, &k, sizeof(k));
}

static void flush_cpu(struct spine *sp, struct tls_cpu_snap *s, uint64_t now)
{
	if (!s->n)
		return;
	s->h = (struct st_hdr){ .type = ST_TLS_CPU,
				.size = offsetof(struct tls_cpu_snap, e) + s->n * sizeof(s->e[0]),
				.ts = now };
	spine_emit(sp, &s->h);
	s->n = 0;
}

/* Cumulative samples of each process that changed since the last tick. */
static void tick_cpu(struct spine *sp, struct tls_priv *p, uint64_t now)
{
	struct tls_cpu_snap *s = calloc(1, sizeof(*s));
	struct bpf_map *m = p->skel->maps.tls_cpu;
	struct tls_cpu_key k, next, *prev = NULL;
	struct hmap seen;
	uint64_t *last, cur[TLS_PH_NR];
	uint32_t ph;

	if (!s)
		return;
	s->period_ns = sp->sample_period_ns;
	hmap_init(&seen);
	while (!bpf_map__get_next_key(m, prev, &next, sizeof(next))) {
		k = next;
		prev = &k;
		if (hmap_get(&seen, k.pid))
			continue;
		hmap_put(&seen, k.pid, (void *)1);
		for (ph = 0; ph < TLS_PH_NR; ph++)
			cur[ph] = read_cpu(p, k.pid, ph);
		last = hmap_get(&p->last, k.pid);
		if (last && !memcmp(last, cur, sizeof(cur)))
			continue;
		if (!last) {
			last = malloc(sizeof(cur));
			if (!last || hmap_put(&p->last, k.pid, last)) {
				free(last);
				continue;
			}
		}
		memcpy(last, cur, sizeof(cur));
		s->e[s->n].pid = k.pid;
		memcpy(s->e[s->n].samples, cur, sizeof(cur));
		if (++s->n == TLS_CPU_MAX)
			flush_cpu(sp, s, now);
	}
	flush_cpu(sp, s, now);
	hmap_free(&seen);
	free(s);
}

static void tls_tick(struct spine *sp, void *priv, uint64_t now)
{
	struct tls_priv *p = priv;

	tick_cpu(sp, p, now);
	if (!p->detached && now >= p->next_scan) {
		scan_procs(sp, p);
		p->next_scan = now + RESCAN_NS;
	}
}

static void on_hs(struct spine *sp, const struct st_hdr *h, size_t len)
{
	struct tls_hs r;
	struct tls_event e = { 0 };
	const uint8_t *a = r.addr;
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };

	memset(&r, 0, sizeof(r));
	memcpy(&r, h, len < sizeof(r) ? len : sizeof(r));
	e.ts = h->ts;
	e.start_ns = r.start_ns;
	e.pid = r.pid;
	e.tid = r.tid;
	e.flags = r.flags;
	e.lib = r.lib;
	e.port = r.port;
	st_strfix(e.comm, sizeof(e.comm), r.comm, sizeof(r.comm));
	if (r.family == AF_INET6 && !memcmp(a, v4mapped, sizeof(v4mapped)))
		inet_ntop(AF_INET, a + 12, e.addr, sizeof(e.addr));
	else if (r.family == AF_INET6)
		inet_ntop(AF_INET6, a, e.addr, sizeof(e.addr));
	else if (r.family == AF_INET)
		inet_ntop(AF_INET, a, e.addr, sizeof(e.addr));
	model_tls_hs(sp->model, &e);
}

static void on_cpu(struct spine *sp, const struct st_hdr *h, size_t len)
{
	const struct tls_cpu_snap *s = (const void *)h;
	uint32_t i, n;

	if (len < offsetof(struct tls_cpu_snap, e)) {
		sp->lost_user++;
		return;
	}
	n = (len - offsetof(struct tls_cpu_snap, e)) / sizeof(s->e[0]);
	if (s->n < n)
		n = s->n;
	for (i = 0; i < n; i++) {
		uint64_t v[TLS_PH_NR];
		uint32_t ph;

		for (ph = 0; ph < TLS_PH_NR; ph++)
			v[ph] = s->e[i].samples[ph];
		model_tls_cpu(sp->model, s->e[i].pid, v, s->period_ns);
	}
}

static void on_lib(struct spine *sp, const struct st_hdr *h, size_t len)
{
	struct tls_lib_rec r;

	memset(&r, 0, sizeof(r));
	memcpy(&r, h, len < sizeof(r) ? len : sizeof(r));
	r.path[sizeof(r.path) - 1] = 0;
	model_tls_lib(sp->model, r.lib, r.path, r.is_static);
}

static void tls_handle(struct spine *sp, const struct st_hdr *h, size_t len)
{
	switch (h->type) {
	case ST_TLS_HS:
		on_hs(sp, h, len);
		break;
	case ST_TLS_CPU:
		on_cpu(sp, h, len);
		break;
	case ST_TLS_LIB:
		on_lib(sp, h, len);
		break;
	default:
		sp->lost_user++;
	}
}

const struct concern concern_tls = {
	.name = "tls",
	.bit = 1 << 2,
	.type_min = ST_TLS_HS,
	.type_max = ST_TLS_LIB,
	.needs = 1 << 4, /* its CPU by phase comes from the cpu concern's sampler */
	.open = tls_open,
	.configure = tls_configure,
	.load = tls_load,
	.attach = tls_attach,
	.object = tls_object,
	.tick = tls_tick,
	.detach = tls_detach,
	.destroy = tls_destroy,
	.variant = tls_variant,
	.handle = tls_handle,
};
