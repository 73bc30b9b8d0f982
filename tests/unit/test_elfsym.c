// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests for user/elfsym.c: a synthetic ELF written with libelf (exact
 * offsets, an ET_EXEC whose addresses differ from file offsets), files
 * this process has mapped (offsets checked against /proc/self/maps and the
 * code in memory), Debian's libssl and libc, and the accessor decoder.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfsym.h"
#include "util.h"

#define LIBSSL "/usr/lib/x86_64-linux-gnu/libssl.so.3"
#define TEXT_VADDR 0x401000ULL

#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#define OTHER_MACHINE EM_AARCH64
#else
#define HOST_MACHINE EM_AARCH64
#define OTHER_MACHINE EM_X86_64
#endif

/* Non-static and not inlined: looked up in this test's own .symtab. */
__attribute__((noinline)) int st_test_marker(int x);
int st_test_marker(int x)
{
	return x * 3 + 1;
}

/* A local symbol: only in .symtab, never in .dynsym. */
__attribute__((noinline, used)) static int st_local_marker(int x)
{
	return x ^ 0x5a;
}

struct tsym {
	const char *name;
	uint64_t value; /* 0 with undef */
	int bind, type;
	bool undef;
	bool dyn; /* in .dynsym, else .symtab */
};

/* Written in this order; locals first, as the ELF spec wants. */
static const struct tsym tsyms[] = {
	{ "local_fn", TEXT_VADDR + 0x00, STB_LOCAL, STT_FUNC },
	{ "dup", TEXT_VADDR + 0x38, STB_LOCAL, STT_FUNC },
	{ "func", TEXT_VADDR + 0x10, STB_GLOBAL, STT_FUNC },
	{ "ifn", TEXT_VADDR + 0x18, STB_GLOBAL, STT_GNU_IFUNC },
	/* The old version first: the default must win on its own merit. */
	{ "ver@V1", TEXT_VADDR + 0x28, STB_GLOBAL, STT_FUNC },
	{ "ver@@V2", TEXT_VADDR + 0x20, STB_GLOBAL, STT_FUNC },
	{ "dup", TEXT_VADDR + 0x30, STB_GLOBAL, STT_OBJECT },
	{ "undef", 0, STB_GLOBAL, STT_FUNC, true },
	{ "outside", 0x900000, STB_GLOBAL, STT_FUNC },
	{ "weakglob", TEXT_VADDR + 0x30, STB_WEAK, STT_FUNC },
	{ "weakglob", TEXT_VADDR + 0x08, STB_GLOBAL, STT_FUNC },
	{ "data", TEXT_VADDR + 0x08, STB_GLOBAL, STT_OBJECT },
	/* .dynsym: .symtab's func wins over this one; dynonly is only here. */
	{ "func", TEXT_VADDR + 0x30, STB_GLOBAL, STT_FUNC, false, true },
	{ "dynonly", TEXT_VADDR + 0x28, STB_GLOBAL, STT_FUNC, false, true },
	{ "undef", 0, STB_GLOBAL, STT_FUNC, true, true },
};

static uint8_t tcode[64];

struct fix {
	char dir[256];
	char path[PATH_MAX];
};

static void set_shdr(Elf_Scn *scn, uint32_t name, uint32_t type, uint64_t flags, uint64_t addr)
{
	GElf_Shdr sh;

	assert_non_null(gelf_getshdr(scn, &sh));
	sh.sh_name = name;
	sh.sh_type = type;
	sh.sh_flags = flags;
	sh.sh_addr = addr;
	assert_true(gelf_update_shdr(scn, &sh));
}

static Elf_Data *add_data(Elf_Scn *scn, void *buf, size_t size, Elf_Type type, size_t align)
{
	Elf_Data *d = elf_newdata(scn);

	assert_non_null(d);
	d->d_buf = buf;
	d->d_size = size;
	d->d_type = type;
	d->d_align = align;
	d->d_version = EV_CURRENT;
	return d;
}

/* A .symtab or .dynsym of the tsyms that belong to it, names in strtab. */
static void add_syms(Elf *e, Elf_Scn *text, Elf_Scn *strtab, bool dyn, uint32_t shname,
		     Elf64_Sym *sym, size_t *strs_len, char *strs, size_t strs_size)
{
	size_t i, n = 1, nlocal = 1;
	Elf_Scn *scn;
	GElf_Shdr sh;

	memset(&sym[0], 0, sizeof(sym[0]));
	for (i = 0; i < ARRAY_SIZE(tsyms); i++) {
		const struct tsym *t = &tsyms[i];
		Elf64_Sym *s = &sym[n++];

		if (t->dyn != dyn) {
			n--;
			continue;
		}
		memset(s, 0, sizeof(*s));
		s->st_name = (uint32_t)*strs_len;
		*strs_len += st_strlcpy(strs + *strs_len, t->name, strs_size - *strs_len) + 1;
		assert_true(*strs_len <= strs_size);
		s->st_info = (unsigned char)ELF64_ST_INFO(t->bind, t->type);
		s->st_value = t->value;
		s->st_size = 8;
		s->st_shndx = t->undef ? SHN_UNDEF : (uint16_t)elf_ndxscn(text);
		if (t->bind == STB_LOCAL)
			nlocal = n;
	}
	scn = elf_newscn(e);
	assert_non_null(scn);
	add_data(scn, sym, n * sizeof(*sym), ELF_T_SYM, 8);
	set_shdr(scn, shname, dyn ? SHT_DYNSYM : SHT_SYMTAB, dyn ? SHF_ALLOC : 0, 0);
	assert_non_null(gelf_getshdr(scn, &sh));
	sh.sh_link = (uint32_t)elf_ndxscn(strtab);
	sh.sh_info = (uint32_t)nlocal;
	sh.sh_entsize = gelf_fsize(e, ELF_T_SYM, 1, EV_CURRENT);
	assert_true(gelf_update_shdr(scn, &sh));
}

/*
 * Writes an ELF file with libelf: one PT_LOAD mapping .text at TEXT_VADDR
 * and, if syms, a .symtab and a .dynsym. Returns .text's file offset.
 */
static uint64_t write_elf(const char *path, int cls, int machine, int type, bool syms)
{
	/* .text=1 .strtab=7 .symtab=15 .shstrtab=23 .dynsym=33 */
	static char shstrs[] = "\0.text\0.strtab\0.symtab\0.shstrtab\0.dynsym";
	static Elf64_Sym symtab[ARRAY_SIZE(tsyms) + 1], dynsym[ARRAY_SIZE(tsyms) + 1];
	static char strs[512];
	size_t i, slen = 1;
	Elf_Scn *text, *strtab, *shstr;
	GElf_Ehdr eh;
	GElf_Phdr ph;
	GElf_Shdr sh;
	Elf *e;
	int fd;

	for (i = 0; i < sizeof(tcode); i++)
		tcode[i] = (uint8_t)(0x90 + i);
	assert_int_not_equal(elf_version(EV_CURRENT), EV_NONE);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	e = elf_begin(fd, ELF_C_WRITE, NULL);
	assert_non_null(e);
	assert_non_null(gelf_newehdr(e, cls));
	assert_non_null(gelf_newphdr(e, 1));

	text = elf_newscn(e);
	assert_non_null(text);
	add_data(text, tcode, sizeof(tcode), ELF_T_BYTE, 16);
	set_shdr(text, 1, SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, TEXT_VADDR);

	if (syms) {
		/* The string data is only read by elf_update(), after both tables are built. */
		strs[0] = '\0';
		strtab = elf_newscn(e);
		assert_non_null(strtab);
		add_syms(e, text, strtab, false, 15, symtab, &slen, strs, sizeof(strs));
		add_syms(e, text, strtab, true, 33, dynsym, &slen, strs, sizeof(strs));
		add_data(strtab, strs, slen, ELF_T_BYTE, 1);
		set_shdr(strtab, 7, SHT_STRTAB, 0, 0);
	}

	shstr = elf_newscn(e);
	assert_non_null(shstr);
	add_data(shstr, shstrs, sizeof(shstrs), ELF_T_BYTE, 1);
	set_shdr(shstr, 23, SHT_STRTAB, 0, 0);

	assert_non_null(gelf_getehdr(e, &eh));
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_machine = (uint16_t)machine;
	eh.e_type = (uint16_t)type;
	eh.e_version = EV_CURRENT;
	eh.e_shstrndx = (uint16_t)elf_ndxscn(shstr);
	assert_true(gelf_update_ehdr(e, &eh));

	/* Lay the file out first: the segment must point at .text's offset. */
	assert_true(elf_update(e, ELF_C_NULL) >= 0);
	assert_non_null(gelf_getshdr(text, &sh));
	memset(&ph, 0, sizeof(ph));
	ph.p_type = PT_LOAD;
	ph.p_flags = PF_R | PF_X;
	ph.p_offset = sh.sh_offset;
	ph.p_vaddr = ph.p_paddr = TEXT_VADDR;
	ph.p_filesz = ph.p_memsz = sizeof(tcode);
	ph.p_align = 16;
	assert_true(gelf_update_phdr(e, 0, &ph));
	assert_true(elf_update(e, ELF_C_WRITE) >= 0);
	elf_end(e);
	close(fd);
	assert_true(sh.sh_offset > 0 && sh.sh_offset != TEXT_VADDR);
	return sh.sh_offset;
}

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/st_elf_XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/a.elf", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void expect_sym(struct elf_file *ef, const char *name, int ret, uint64_t want)
{
	uint64_t off = 0xdead, size = 0xdead;

	int got = elf_file_sym(ef, name, &off, &size);

	if (got != ret)
		fail_msg("%s: got %d, want %d", name, got, ret);
	if (!ret && (off != want || size != 8))
		fail_msg("%s: off %#llx size %llu, want %#llx size 8", name,
			 (unsigned long long)off, (unsigned long long)size,
			 (unsigned long long)want);
}

static void test_synthetic_exec(void **state)
{
	struct fix *f = *state;
	uint64_t toff = write_elf(f->path, ELFCLASS64, HOST_MACHINE, ET_EXEC, true);
	char err[128] = "";
	struct elf_file *ef = elf_file_open(f->path, err, sizeof(err));
	uint8_t buf[80];
	struct stat st;

	assert_non_null(ef);
	assert_string_equal(err, "");
	assert_true(elf_file_is_exec(ef));
	/* All but the undefined ones. */
	assert_int_equal(elf_file_nsyms(ef), ARRAY_SIZE(tsyms) - 2);

	/* .symtab before .dynsym. */
	expect_sym(ef, "func", 0, toff + 0x10);
	expect_sym(ef, "dynonly", 0, toff + 0x28);
	expect_sym(ef, "local_fn", 0, toff);
	expect_sym(ef, "ifn", -ENOTSUP, 0);
	/* The default version wins; a version can be asked for with @ or @@. */
	expect_sym(ef, "ver", 0, toff + 0x20);
	expect_sym(ef, "ver@@V2", 0, toff + 0x20);
	expect_sym(ef, "ver@V1", 0, toff + 0x28);
	expect_sym(ef, "ver@@V1", 0, toff + 0x28);
	expect_sym(ef, "ver@V3", -ENOENT, 0);
	expect_sym(ef, "func@V1", -ENOENT, 0);
	/* A global object does not hide a local function of the same name. */
	expect_sym(ef, "dup", 0, toff + 0x38);
	expect_sym(ef, "weakglob", 0, toff + 0x08);
	expect_sym(ef, "data", -ENOENT, 0);
	expect_sym(ef, "undef", -ENOENT, 0);
	expect_sym(ef, "outside", -ENOENT, 0);
	expect_sym(ef, "fun", -ENOENT, 0);
	expect_sym(ef, "funcx", -ENOENT, 0);
	expect_sym(ef, "", -ENOENT, 0);
	expect_sym(ef, "zzz", -ENOENT, 0);
	assert_int_equal(elf_file_sym(ef, "func", NULL, NULL), 0);

	/* The bytes at the offset are the function's. */
	assert_int_equal(elf_file_read(ef, toff + 0x10, buf, 8), 8);
	assert_memory_equal(buf, tcode + 0x10, 8);
	/* Short at the end of the file, 0 past it. */
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(elf_file_read(ef, (uint64_t)st.st_size - 3, buf, sizeof(buf)), 3);
	assert_int_equal(elf_file_read(ef, (uint64_t)st.st_size, buf, sizeof(buf)), 0);
	assert_int_equal(elf_file_read(ef, UINT64_MAX, buf, sizeof(buf)), 0);
	elf_file_close(ef);
}

static void test_synthetic_dyn_nosyms(void **state)
{
	struct fix *f = *state;
	struct elf_file *ef;

	write_elf(f->path, ELFCLASS64, HOST_MACHINE, ET_DYN, false);
	ef = elf_file_open(f->path, NULL, 0);
	assert_non_null(ef);
	assert_false(elf_file_is_exec(ef));
	assert_int_equal(elf_file_nsyms(ef), 0);
	expect_sym(ef, "func", -ENOENT, 0);
	elf_file_close(ef);
	elf_file_close(NULL);
}

static void expect_open_err(const char *path, const char *want)
{
	char err[128] = "";

	assert_null(elf_file_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, want));
	assert_null(strchr(err, '\n'));
	/* No room for the reason is not an error. */
	assert_null(elf_file_open(path, NULL, 0));
	err[0] = 'x';
	assert_null(elf_file_open(path, err, 1));
	assert_int_equal(err[0], '\0');
}

static void test_open_errors(void **state)
{
	struct fix *f = *state;
	FILE *fp;

	expect_open_err("/nonexistent/st_elf", "No such file");
	expect_open_err("/", "not a regular file");
	fp = fopen(f->path, "w");
	assert_non_null(fp);
	fputs("#!/bin/sh\necho not ELF\n", fp);
	fclose(fp);
	expect_open_err(f->path, "not an ELF file");
	fp = fopen(f->path, "w");
	assert_non_null(fp);
	fclose(fp);
	expect_open_err(f->path, "not an ELF file");

	write_elf(f->path, ELFCLASS32, EM_386, ET_DYN, false);
	expect_open_err(f->path, "64-bit");
	write_elf(f->path, ELFCLASS64, OTHER_MACHINE, ET_DYN, false);
	expect_open_err(f->path, "another machine");
	write_elf(f->path, ELFCLASS64, HOST_MACHINE, ET_REL, false);
	expect_open_err(f->path, "not an executable");
}

/* The file and file offset that back addr in this process, from /proc/self/maps. */
static void live_off(const void *addr, char *path, size_t len, uint64_t *off)
{
	uintptr_t a = (uintptr_t)addr;
	FILE *fp = fopen("/proc/self/maps", "r");
	char line[PATH_MAX + 128];
	bool found = false;

	assert_non_null(fp);
	path[0] = '\0';
	while (!found && fgets(line, sizeof(line), fp)) {
		unsigned long long s, e, pg;
		int pos = -1;

		if (sscanf(line, "%llx-%llx %*s %llx %*s %*s %n", &s, &e, &pg, &pos) < 3 || pos < 0)
			continue;
		if (a < s || a >= e)
			continue;
		line[strcspn(line, "\n")] = '\0';
		st_strlcpy(path, line + pos, len);
		*off = pg + (a - s);
		found = true;
	}
	fclose(fp);
	assert_true(found);
	assert_true(path[0] == '/');
}

/* Offset of name in the file that maps fn, checked against maps and the code in memory. */
static void check_live(const char *name, const void *fn, bool from_exe)
{
	char path[PATH_MAX], err[128];
	uint64_t want, off, size;
	struct elf_file *ef;
	uint8_t buf[16];

	live_off(fn, path, sizeof(path), &want);
	ef = elf_file_open(from_exe ? "/proc/self/exe" : path, err, sizeof(err));
	if (!ef)
		fail_msg("%s: %s", path, err);
	assert_int_equal(elf_file_sym(ef, name, &off, &size), 0);
	assert_int_equal(off, want);
	assert_true(size > 0);
	/* Code is mapped from the file unmodified. */
	assert_int_equal(elf_file_read(ef, off, buf, sizeof(buf)), sizeof(buf));
	assert_memory_equal(buf, fn, sizeof(buf));
	assert_false(elf_file_is_exec(ef));
	elf_file_close(ef);
}

static void test_live_self(void **state)
{
	assert_int_equal(st_test_marker(1) + st_local_marker(0), 4 + 0x5a);
	check_live("st_test_marker", (const void *)st_test_marker, true);
	check_live("st_local_marker", (const void *)st_local_marker, true);
}

static void test_live_libelf(void **state)
{
	/* libelf is stripped: this is .dynsym, versioned elf_version@@ELFUTILS_1.0. */
	check_live("elf_version", (const void *)elf_version, false);
	check_live("elf_version@@ELFUTILS_1.0", (const void *)elf_version, false);
	check_live("elf_begin", (const void *)elf_begin, false);
}

static void test_libssl(void **state)
{
	static const char *const acc[] = { "SSL_in_init", "SSL_is_server", "SSL_session_reused" };
	uint64_t off, size, off2, fsize;
	uint32_t disp[ARRAY_SIZE(acc)];
	char err[128] = "";
	struct elf_file *ef;
	uint8_t code[16];
	struct stat st;
	size_t i;
	ssize_t n;

	/* libssl-dev is a build dependency: its absence is a failure, not a skip. */
	assert_int_equal(stat(LIBSSL, &st), 0);
	fsize = (uint64_t)st.st_size;
	ef = elf_file_open(LIBSSL, err, sizeof(err));
	if (!ef)
		fail_msg("%s: %s", LIBSSL, err);
	assert_false(elf_file_is_exec(ef));
	assert_true(elf_file_nsyms(ef) > 500);

	assert_int_equal(elf_file_sym(ef, "SSL_do_handshake", &off, &size), 0);
	assert_true(off > 0 && off + size <= fsize && size > 16);
	n = elf_file_read(ef, off, code, sizeof(code));
	assert_int_equal(n, sizeof(code));
	/* Not an accessor: a real function. */
	assert_int_equal(x86_field_accessor(code, (size_t)n, &disp[0]), -EINVAL);

	/* Tiny accessors decode to distinct small offsets: the offsets land on them. */
	for (i = 0; i < ARRAY_SIZE(acc); i++) {
		assert_int_equal(elf_file_sym(ef, acc[i], &off, &size), 0);
		assert_true(off > 0 && off + size <= fsize && size <= sizeof(code));
		n = elf_file_read(ef, off, code, sizeof(code));
		assert_int_equal(n, sizeof(code));
		assert_int_equal(x86_field_accessor(code, (size_t)n, &disp[i]), 0);
		assert_true(disp[i] > 0 && disp[i] < 0x1000);
	}
	assert_int_not_equal(disp[0], disp[1]);
	assert_int_not_equal(disp[0], disp[2]);
	assert_int_not_equal(disp[1], disp[2]);

	/* Versioned names: the bare, the @@ and the @ spelling are one symbol. */
	assert_int_equal(elf_file_sym(ef, "SSL_read", &off, &size), 0);
	assert_int_equal(elf_file_sym(ef, "SSL_read@@OPENSSL_3.0.0", &off2, &size), 0);
	assert_int_equal(off, off2);
	assert_int_equal(elf_file_sym(ef, "SSL_read@OPENSSL_3.0.0", &off2, &size), 0);
	assert_int_equal(off, off2);
	assert_int_equal(elf_file_sym(ef, "SSL_read_ex", &off2, &size), 0);
	assert_int_not_equal(off, off2);
	assert_int_equal(elf_file_sym(ef, "SSL_read@@OPENSSL_1_1_0", &off2, &size), -ENOENT);
	assert_int_equal(elf_file_sym(ef, "SSL_rea", &off2, &size), -ENOENT);
	assert_int_equal(elf_file_sym(ef, "SSL_no_such_function", &off2, &size), -ENOENT);
	/* Imported from libcrypto and libc: undefined here. */
	assert_int_equal(elf_file_sym(ef, "EVP_MD_CTX_new", &off2, &size), -ENOENT);
	assert_int_equal(elf_file_sym(ef, "memcpy", &off2, &size), -ENOENT);
	elf_file_close(ef);
}

#if defined(__x86_64__)
/* glibc: two versions of a symbol, and memcpy whose default is an IFUNC. */
static void test_libc_versions(void **state)
{
	char path[PATH_MAX], err[128], line[PATH_MAX + 128];
	uint64_t def, dflt2, old, off;
	struct elf_file *ef;
	FILE *fp;

	fp = fopen("/proc/self/maps", "r");
	assert_non_null(fp);
	path[0] = '\0';
	while (!path[0] && fgets(line, sizeof(line), fp)) {
		char *p = strchr(line, '/');

		line[strcspn(line, "\n")] = '\0';
		if (p && strstr(p, "/libc.so.6"))
			st_strlcpy(path, p, sizeof(path));
	}
	fclose(fp);
	assert_true(path[0] == '/');
	ef = elf_file_open(path, err, sizeof(err));
	if (!ef)
		fail_msg("%s: %s", path, err);
	assert_int_equal(elf_file_sym(ef, "pthread_cond_wait", &def, NULL), 0);
	assert_int_equal(elf_file_sym(ef, "pthread_cond_wait@@GLIBC_2.3.2", &dflt2, NULL), 0);
	assert_int_equal(elf_file_sym(ef, "pthread_cond_wait@GLIBC_2.2.5", &old, NULL), 0);
	assert_int_equal(def, dflt2);
	assert_int_not_equal(def, old);
	/* The default memcpy is an IFUNC even though the old one is a plain function. */
	assert_int_equal(elf_file_sym(ef, "memcpy", &off, NULL), -ENOTSUP);
	assert_int_equal(elf_file_sym(ef, "memcpy@@GLIBC_2.14", &off, NULL), -ENOTSUP);
	assert_int_equal(elf_file_sym(ef, "memcpy@GLIBC_2.2.5", &off, NULL), 0);
	elf_file_close(ef);
}
#endif

/* An exact-size heap copy of code (none for n = 0), so ASan catches any read past n. */
static uint8_t *heap_copy(const char *code, size_t n)
{
	uint8_t *copy = n ? malloc(n) : NULL;

	assert_true(copy || !n);
	if (n)
		memcpy(copy, code, n);
	return copy;
}

struct acc_case {
	const char *what;
	const char *code; /* n bytes */
	size_t n;
	int ret;
	uint32_t disp;
};

static void test_accessor(void **state)
{
	static const struct acc_case cases[] = {
		/* Debian 12's libssl.so.3. */
		{ "SSL_in_init", "\x8b\x47\x64\x31\xff\xc3", 6, 0, 0x64 },
		{ "SSL_session_reused", "\x8b\x87\xd0\x04\x00\x00\x31\xff\xc3", 9, 0, 0x4d0 },
		{ "SSL_is_server", "\x8b\x47\x38\x31\xff\xc3", 6, 0, 0x38 },
		{ "trailing bytes ignored", "\x8b\x47\x38\xc3\xcc\xcc\x0f", 7, 0, 0x38 },
		{ "no xor", "\x8b\x47\x10\xc3", 4, 0, 0x10 },
		{ "endbr64", "\xf3\x0f\x1e\xfa\x8b\x47\x64\x31\xff\xc3", 10, 0, 0x64 },
		{ "endbr64 disp32", "\xf3\x0f\x1e\xfa\x8b\x87\x00\x01\x02\x00\xc3", 11, 0,
		  0x20100 },
		{ "offset 0", "\x8b\x07\xc3", 3, 0, 0 },
		{ "disp8 0x7f", "\x8b\x47\x7f\xc3", 4, 0, 0x7f },
		/* Rejected. */
		{ "branch", "\x8b\x57\x64\x31\xc0\x85\xd2\x75\x09", 9, -EINVAL },
		{ "negative disp8", "\x8b\x47\xf0\xc3", 4, -EINVAL },
		{ "negative disp32", "\x8b\x87\x00\x00\x00\x80\xc3", 7, -EINVAL },
		{ "into %edx", "\x8b\x57\x64\xc3", 4, -EINVAL },
		{ "from %rsi", "\x8b\x46\x64\xc3", 4, -EINVAL },
		{ "64-bit load", "\x48\x8b\x47\x64\xc3", 5, -EINVAL },
		{ "byte load", "\x0f\xb6\x47\x64\xc3", 5, -EINVAL },
		{ "then and", "\x8b\x47\x64\x83\xe0\x01\xc3", 7, -EINVAL },
		{ "xor then not ret", "\x8b\x47\x64\x31\xff\x90\xc3", 7, -EINVAL },
		{ "xor other reg", "\x8b\x47\x64\x31\xc0\xc3", 6, -EINVAL },
		{ "tail jump", "\x8b\x47\x64\xe9\x00\x00\x00\x00", 8, -EINVAL },
		{ "sib form", "\x8b\x44\x27\x64\xc3", 5, -EINVAL },
		{ "rip-relative", "\x8b\x05\x10\x00\x00\x00\xc3", 7, -EINVAL },
		{ "double endbr64", "\xf3\x0f\x1e\xfa\xf3\x0f\x1e\xfa\x8b\x47\x64\xc3", 12,
		  -EINVAL },
		{ "ret only", "\xc3", 1, -EINVAL },
		{ "empty", "", 0, -EINVAL },
		/* Truncated: the decoder must not read past n. */
		{ "cut before ret", "\x8b\x47\x64\x31\xff\xc3", 5, -EINVAL },
		{ "cut in xor", "\x8b\x47\x64\x31\xff\xc3", 4, -EINVAL },
		{ "cut in disp8", "\x8b\x47\x64\xc3", 2, -EINVAL },
		{ "cut in disp32", "\x8b\x87\xd0\x04\x00\x00\xc3", 5, -EINVAL },
		{ "cut in endbr64", "\xf3\x0f\x1e", 3, -EINVAL },
		{ "endbr64 only", "\xf3\x0f\x1e\xfa", 4, -EINVAL },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct acc_case *c = &cases[i];
		uint32_t disp = 0xdeadbeef;
		uint8_t *copy = heap_copy(c->code, c->n);
		int ret;

		ret = x86_field_accessor(copy, c->n, &disp);
		free(copy);
#if defined(__x86_64__)
		if (ret != c->ret)
			fail_msg("%s: got %d, want %d", c->what, ret, c->ret);
		if (!ret && disp != c->disp)
			fail_msg("%s: disp %#x, want %#x", c->what, disp, c->disp);
		if (ret)
			assert_int_equal(disp, 0xdeadbeef);
#else
		assert_int_equal(ret, -ENOTSUP);
#endif
	}
}

/* A decoder over an exact-size heap copy, so ASan catches a read past n. */
static int decode(int (*fn)(const uint8_t *, size_t, uint32_t *), const char *code, size_t n,
		  uint32_t *off)
{
	uint8_t *copy = heap_copy(code, n);
	int ret;

	ret = fn(copy, n, off);
	free(copy);
	return ret;
}

struct place_case {
	const char *what;
	int (*fn)(const uint8_t *, size_t, uint32_t *);
	const char *code;
	size_t n;
	int ret;
	uint32_t off;
};

/* Debian 12's SSL_free and BIO_int_ctrl, byte for byte, and variations. */
#define SSL_FREE "\x48\x85\xff\x0f\x84\x97\x03\x00\x00\x41\x55"
#define INT_CTRL                                                                           \
	"\x48\x83\xec\x18\x64\x48\x8b\x04\x25\x28\x00\x00\x00\x48\x89\x44\x24\x08\x31\xc0" \
	"\x89\x4c\x24\x04\x48\x8d\x4c\x24\x04\xe8\xfe\xcc\xfb\xff"

static void test_probe_places(void **state)
{
	static const struct place_case cases[] = {
		{ "SSL_free", x86_past_null_check, SSL_FREE, 11, 0, 9 },
		{ "je rel8, push %rbx", x86_past_null_check, "\x48\x85\xff\x74\x30\x53", 6, 0, 5 },
		{ "endbr64 first", x86_past_null_check, "\xf3\x0f\x1e\xfa\x48\x85\xff\x74\x30\x55",
		  10, 0, 9 },
		{ "jne, not je", x86_past_null_check, "\x48\x85\xff\x75\x30\x53", 6, -EINVAL },
		{ "test %rsi", x86_past_null_check, "\x48\x85\xf6\x74\x30\x53", 6, -EINVAL },
		{ "no push after", x86_past_null_check, "\x48\x85\xff\x74\x30\x48\x83\xec\x08", 9,
		  -EINVAL },
		{ "cut before push", x86_past_null_check, SSL_FREE, 9, -EINVAL },
		{ "cut in r13 push", x86_past_null_check, SSL_FREE, 10, -EINVAL },
		{ "cut in je", x86_past_null_check, SSL_FREE, 7, -EINVAL },
		{ "empty", x86_past_null_check, "", 0, -EINVAL },
		{ "BIO_int_ctrl", x86_int_arg_call, INT_CTRL, 34, 0, 0x1d },
		{ "no stack protector", x86_int_arg_call,
		  "\x48\x83\xec\x18\x89\x4c\x24\x0c\x48\x8d\x4c\x24\x0c\xe8\x00\x00\x00\x00", 18, 0,
		  13 },
		{ "slots differ", x86_int_arg_call,
		  "\x89\x4c\x24\x04\x48\x8d\x4c\x24\x08\xe8\x00\x00\x00\x00", 14, -EINVAL },
		{ "negative slot", x86_int_arg_call,
		  "\x89\x4c\x24\xfc\x48\x8d\x4c\x24\xfc\xe8\x00\x00\x00\x00", 14, -EINVAL },
		/* mov %rdi,%rbx first: an argument register may change, refused. */
		{ "writes first", x86_int_arg_call,
		  "\x48\x89\xfb\x89\x4c\x24\x04\x48\x8d\x4c\x24\x04\xe8\x00\x00\x00\x00", 17,
		  -EINVAL },
		{ "jmp, not call", x86_int_arg_call,
		  "\x89\x4c\x24\x04\x48\x8d\x4c\x24\x04\xe9\x00\x00\x00\x00", 14, -EINVAL },
		{ "cut in call", x86_int_arg_call, INT_CTRL, 33, -EINVAL },
		{ "cut in lea", x86_int_arg_call, INT_CTRL, 27, -EINVAL },
		{ "SSL_free is not it", x86_int_arg_call, SSL_FREE, 11, -EINVAL },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct place_case *c = &cases[i];
		uint32_t off = 0xdeadbeef;
		int ret = decode(c->fn, c->code, c->n, &off);

#if defined(__x86_64__)
		if (ret != c->ret)
			fail_msg("%s: got %d, want %d", c->what, ret, c->ret);
		if (ret ? off != 0xdeadbeef : off != c->off)
			fail_msg("%s: offset %#x, want %#x", c->what, off, c->off);
#else
		assert_int_equal(ret, -ENOTSUP);
#endif
	}
}

#define SSL_READ                                                                           \
	"\x48\x83\xec\x18\x64\x48\x8b\x04\x25\x28\x00\x00\x00\x48\x89\x44\x24\x08\x31\xc0" \
	"\x85\xd2\x78\x2f\x48\x89\xe1\x48\x63\xd2\xe8\x3d\xfe\xff\xff"

struct wrap_case {
	const char *what;
	const char *code;
	size_t n;
	int ret;
	int64_t target;
};

/* Debian 12's SSL_read and SSL_read_ex both call ssl_read_internal (0x35290). */
static void test_wrapped_calls(void **state)
{
	static const struct wrap_case cases[] = {
		{ "SSL_read", SSL_READ, 35, 0, 0x35290 - 0x35430 },
		{ "SSL_read_ex", "\x48\x83\xec\x08\xe8\xc7\xfd\xff\xff", 9, 0, 0x35290 - 0x354c0 },
		{ "forward call", "\xe8\x10\x00\x00\x00", 5, 0, 0x15 },
		{ "endbr64 first", "\xf3\x0f\x1e\xfa\x48\x83\xec\x08\xe8\x00\x00\x00\x00", 13, 0,
		  13 },
		{ "cut in call", SSL_READ, 34, -EINVAL },
		{ "mov %rsi,%rdi first", "\x48\x89\xf7\xe8\x00\x00\x00\x00", 8, -EINVAL },
		{ "jmp, not call", "\x48\x83\xec\x08\xe9\x00\x00\x00\x00", 9, -EINVAL },
		{ "out of order", "\x48\x63\xd2\x85\xd2\xe8\x00\x00\x00\x00", 10, -EINVAL },
		{ "empty", "", 0, -EINVAL },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct wrap_case *c = &cases[i];
		uint8_t *copy = heap_copy(c->code, c->n);
		int64_t target = -1;
		int ret;

		ret = x86_wrapped_call(copy, c->n, &target);
		free(copy);
#if defined(__x86_64__)
		if (ret != c->ret)
			fail_msg("%s: got %d, want %d", c->what, ret, c->ret);
		if (ret ? target != -1 : target != c->target)
			fail_msg("%s: target %lld, want %lld", c->what, (long long)target,
				 (long long)c->target);
#else
		assert_int_equal(ret, -ENOTSUP);
#endif
	}
#if defined(__x86_64__)
	static const uint8_t push_r13[] = { 0x41, 0x55 };
	static const uint8_t endbr_push[] = { 0xf3, 0x0f, 0x1e, 0xfa, 0x53 };
	static const uint8_t sub[] = { 0x48, 0x83, 0xec, 0x18 }, rex_only[] = { 0x41 };

	assert_true(x86_emulated_entry(push_r13, sizeof(push_r13)));
	assert_true(x86_emulated_entry(endbr_push, sizeof(endbr_push)));
	assert_false(x86_emulated_entry(sub, sizeof(sub)));
	assert_false(x86_emulated_entry(rex_only, sizeof(rex_only)));
	assert_false(x86_emulated_entry(push_r13, 0));
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_synthetic_exec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_synthetic_dyn_nosyms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test(test_live_self),
		cmocka_unit_test(test_live_libelf),
		cmocka_unit_test(test_libssl),
#if defined(__x86_64__)
		cmocka_unit_test(test_libc_versions),
#endif
		cmocka_unit_test(test_accessor),
		cmocka_unit_test(test_probe_places),
		cmocka_unit_test(test_wrapped_calls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
