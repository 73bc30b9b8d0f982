// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Regression tests for what the fuzz targets (tests/fuzz/) found, one test
 * per bug, each rebuilding the failing input from scratch so the test says
 * what was wrong. The fuzzers' own crash inputs are replayed by
 * tests/fuzz/run.sh (tests/fuzz/crashes/).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testutil.h"

#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfsym.h"
#include "procnet.h"

struct tdir {
	char dir[64];
};

static int setup(void **state)
{
	struct tdir *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	strcpy(t->dir, "/tmp/st-fuzzreg-XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tdir *t = *state;
	int err = test_rmtree(t->dir);

	free(t);
	return err;
}

/*
 * A minimal x86-64 ET_DYN: one PT_LOAD over the whole file, .dynstr,
 * .dynsym with SSL_read at 0x40, .gnu.version naming its version 2, and
 * .gnu.version_d defining version 2 "OPENSSL_3.0.0" once, with sh_info (the
 * entry count) set to verdef_count.
 */
struct mini_elf {
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	char dynstr[32];
	Elf64_Sym dynsym[2];
	Elf64_Half versym[2];
	uint16_t pad;
	uint8_t verdef[sizeof(Elf64_Verdef) + sizeof(Elf64_Verdaux)];
	uint32_t pad2;
	Elf64_Shdr sh[5];
};

static const char dynstr[] = "\0SSL_read\0OPENSSL_3.0.0";

static void write_mini_elf(const char *path, uint32_t verdef_count)
{
	struct mini_elf e;
	Elf64_Verdef vd = { 0 };
	Elf64_Verdaux va = { 0 };
	FILE *f;

	_Static_assert(sizeof(dynstr) <= sizeof(e.dynstr), "dynstr fits");
	memset(&e, 0, sizeof(e));
	memcpy(e.eh.e_ident, ELFMAG, SELFMAG);
	e.eh.e_ident[EI_CLASS] = ELFCLASS64;
	e.eh.e_ident[EI_DATA] = ELFDATA2LSB;
	e.eh.e_ident[EI_VERSION] = EV_CURRENT;
	e.eh.e_type = ET_DYN;
	e.eh.e_machine = EM_X86_64;
	e.eh.e_version = EV_CURRENT;
	e.eh.e_phoff = offsetof(struct mini_elf, ph);
	e.eh.e_shoff = offsetof(struct mini_elf, sh);
	e.eh.e_ehsize = sizeof(Elf64_Ehdr);
	e.eh.e_phentsize = sizeof(Elf64_Phdr);
	e.eh.e_phnum = 1;
	e.eh.e_shentsize = sizeof(Elf64_Shdr);
	e.eh.e_shnum = 5;
	e.eh.e_shstrndx = SHN_UNDEF;

	e.ph.p_type = PT_LOAD;
	e.ph.p_flags = PF_R | PF_X;
	e.ph.p_filesz = e.ph.p_memsz = sizeof(e);
	e.ph.p_align = 0x1000;

	memcpy(e.dynstr, dynstr, sizeof(dynstr));
	e.dynsym[1].st_name = 1; /* "SSL_read" */
	e.dynsym[1].st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC);
	e.dynsym[1].st_shndx = 2;
	e.dynsym[1].st_value = 0x40;
	e.dynsym[1].st_size = 8;
	e.versym[1] = 2;

	vd.vd_version = VER_DEF_CURRENT;
	vd.vd_ndx = 2;
	vd.vd_cnt = 1;
	vd.vd_aux = sizeof(vd);
	va.vda_name = 10; /* "OPENSSL_3.0.0" */
	memcpy(e.verdef, &vd, sizeof(vd));
	memcpy(e.verdef + sizeof(vd), &va, sizeof(va));

	e.sh[1] = (Elf64_Shdr){ .sh_type = SHT_STRTAB,
				.sh_offset = offsetof(struct mini_elf, dynstr),
				.sh_size = sizeof(dynstr),
				.sh_addralign = 1 };
	e.sh[2] = (Elf64_Shdr){ .sh_type = SHT_DYNSYM,
				.sh_offset = offsetof(struct mini_elf, dynsym),
				.sh_size = sizeof(e.dynsym),
				.sh_link = 1,
				.sh_info = 1,
				.sh_addralign = 8,
				.sh_entsize = sizeof(Elf64_Sym) };
	e.sh[3] = (Elf64_Shdr){ .sh_type = SHT_GNU_verdef,
				.sh_offset = offsetof(struct mini_elf, verdef),
				.sh_size = sizeof(e.verdef),
				.sh_link = 1,
				.sh_info = verdef_count,
				.sh_addralign = 4 };
	e.sh[4] = (Elf64_Shdr){ .sh_type = SHT_GNU_versym,
				.sh_offset = offsetof(struct mini_elf, versym),
				.sh_size = sizeof(e.versym),
				.sh_link = 2,
				.sh_addralign = 2,
				.sh_entsize = sizeof(Elf64_Half) };
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(&e, sizeof(e), 1, f), 1);
	assert_int_equal(fclose(f), 0);
}

/*
 * fuzz_elf: load_verdefs() allocated sh_info entries as the file gave it:
 * 0xfff10004 asked calloc for 64 GiB (ASan aborted; a plain build failed
 * the whole file with ENOMEM). The count is now bounded by the section's
 * size, and the one real entry is still read.
 */
static void test_elf_verdef_count_from_file(void **state)
{
	struct tdir *t = *state;
	char path[128], err[256] = "";
	struct elf_file *f;
	uint64_t off = 0;
	uint32_t counts[] = { 1, 2, 0xfff10004u, UINT32_MAX, 0 };
	size_t i;

	snprintf(path, sizeof(path), "%s/lib.so", t->dir);
	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		write_mini_elf(path, counts[i]);
		f = elf_file_open(path, err, sizeof(err));
		assert_non_null(f);
		assert_int_equal(elf_file_nsyms(f), 1);
		assert_int_equal(elf_file_sym(f, "SSL_read", &off, NULL), 0);
		assert_int_equal(off, 0x40);
		/* The version comes from the verdef entry: read unless the count says none. */
		assert_int_equal(elf_file_sym(f, "SSL_read@@OPENSSL_3.0.0", &off, NULL),
				 counts[i] ? 0 : -ENOENT);
		elf_file_close(f);
	}
}

static void mkpath(const char *dir, const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void lnpath(const char *dir, const char *rel, const char *target)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	assert_int_equal(symlink(target, p), 0);
}

static void putpath(const char *dir, const char *rel, const char *s)
{
	char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	assert_true(fputs(s, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* A process dir holding socket inode sock in netns link ns ("net:[N]"). */
static void sock_proc(const char *dir, const char *pid, const char *ns, const char *sock,
		      const char *tcp)
{
	char rel[128];

	mkpath(dir, pid);
	snprintf(rel, sizeof(rel), "%s/ns", pid);
	mkpath(dir, rel);
	snprintf(rel, sizeof(rel), "%s/ns/net", pid);
	lnpath(dir, rel, ns);
	snprintf(rel, sizeof(rel), "%s/fd", pid);
	mkpath(dir, rel);
	snprintf(rel, sizeof(rel), "%s/fd/3", pid);
	lnpath(dir, rel, sock);
	snprintf(rel, sizeof(rel), "%s/net", pid);
	mkpath(dir, rel);
	snprintf(rel, sizeof(rel), "%s/net/tcp", pid);
	putpath(dir, rel, tcp);
	snprintf(rel, sizeof(rel), "%s/comm", pid);
	putpath(dir, rel, "srv\n");
}

struct seen {
	int n;
	uint32_t pid[8];
	uint32_t ns[8];
};

static int seen_cb(void *ctx, const struct procnet_sock *s)
{
	struct seen *v = ctx;

	if (v->n < 8) {
		v->pid[v->n] = s->pid;
		v->ns[v->n] = s->netns;
	}
	v->n++;
	return 0;
}

#define TCP_LINE(inode)                                                                      \
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid " \
	" timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 "            \
	"00:00000000 00000000     0        0 " inode " 1 0000000000000000 100 0 0 10 0\n"

/*
 * fuzz_procnet: scan_pid() packed pid << 32 | netns into one word without
 * bounding either, so a netns link "net:[6026531840]" (above 32 bits)
 * spilled into the pid: the socket of 4242 was reported as 4243's. A pid
 * directory above 32 bits lost its top bits the same way. Neither comes
 * from a real /proc; both processes are now skipped, and a well-formed
 * neighbour is still reported as itself.
 */
static void test_procnet_owner_word_overflow(void **state)
{
	struct tdir *t = *state;
	struct seen v = { 0 };
	int rc;

	sock_proc(t->dir, "4242", "net:[6026531840]", "socket:[31337]", TCP_LINE("31337"));
	sock_proc(t->dir, "99999999999", "net:[4026531840]", "socket:[31338]", TCP_LINE("31338"));
	sock_proc(t->dir, "77", "net:[4026531841]", "socket:[31339]", TCP_LINE("31339"));
	rc = procnet_scan(t->dir, seen_cb, &v);
	assert_int_equal(rc, 1);
	assert_int_equal(v.n, 1);
	assert_int_equal(v.pid[0], 77);
	assert_int_equal(v.ns[0], 4026531841u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_elf_verdef_count_from_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_procnet_owner_word_overflow, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
