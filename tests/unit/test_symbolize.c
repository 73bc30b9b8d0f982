// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests for user/symbolize.c and elfsym.c's address lookup, on this
 * process (a PIE built with -g, so it has a .symtab), libc (only .dynsym,
 * plus /usr/lib/debug when libc6-dbg is installed), files mapped for the
 * test, a child that exits after capture, and /proc/kallsyms. No root
 * needed: what only root can do (map_files) is checked either way.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "elfsym.h"
#include "symbolize.h"
#include "testutil.h"
#include "util.h"

#define PROBE "st_sym_probe_fn"

/* Non-static and not inlined: named from this test's own .symtab. */
__attribute__((noinline)) int st_sym_probe_fn(int x);
int st_sym_probe_fn(int x)
{
	volatile int acc = x;
	int i;

	for (i = 0; i < x; i++)
		acc += i * 7;
	return acc;
}

/* Local: only in .symtab. */
__attribute__((noinline, used)) static int st_sym_local_fn(int x)
{
	volatile int v = x;

	return v ^ 0x5a;
}

struct fix {
	struct symbolizer *s;
	char dir[256];
	char exe[PATH_MAX]; /* this binary */
	const char *exe_base;
	uint64_t probe_off, probe_size; /* file offset and size of PROBE */
};

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	struct fix *f = calloc(1, sizeof(*f));
	struct elf_file *ef;
	ssize_t n;

	assert_non_null(f);
	f->s = sym_new();
	assert_non_null(f->s);
	snprintf(f->dir, sizeof(f->dir), "%s/st_sym_XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	n = readlink("/proc/self/exe", f->exe, sizeof(f->exe) - 1);
	assert_true(n > 0);
	f->exe[n] = '\0';
	f->exe_base = strrchr(f->exe, '/') + 1;
	ef = elf_file_open("/proc/self/exe", NULL, 0);
	assert_non_null(ef);
	assert_int_equal(elf_file_sym(ef, PROBE, &f->probe_off, &f->probe_size), 0);
	assert_true(f->probe_size > 8);
	elf_file_close(ef);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	sym_free(f->s);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

static int user(struct fix *f, pid_t pid, uint64_t ip, char *buf, size_t len, struct sym_info *info)
{
	return sym_user(f->s, (uint32_t)pid, ip, buf, len, info);
}

/* An address as a number: arithmetic on a function's address is not C. */
static uint64_t addr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

static void expect_named(struct fix *f, pid_t pid, uint64_t ip, const char *want)
{
	struct sym_info info;
	char buf[256];
	int ret = user(f, pid, ip, buf, sizeof(buf), &info);

	if (ret || strcmp(buf, want))
		fail_msg("%#llx: got %d \"%s\", want \"%s\"", (unsigned long long)ip, ret, buf,
			 want);
	assert_true(info.named && info.mapped);
	assert_non_null(info.module);
}

static void test_self(void **state)
{
	struct fix *f = *state;
	uint64_t fn = addr((const void *)st_sym_probe_fn);
	struct sym_info info;
	char buf[64];
	size_t nfiles;

	assert_int_equal(st_sym_probe_fn(3) + st_sym_local_fn(0), 3 + 21 + 0x5a);
	assert_false(sym_captured(f->s, (uint32_t)getpid()));
	assert_int_equal(sym_capture(f->s, (uint32_t)getpid()), 0);
	assert_true(sym_captured(f->s, (uint32_t)getpid()));
	nfiles = sym_nfiles(f->s);
	/* This binary, libc, libelf, cmocka, ... */
	assert_true(nfiles >= 3);

	expect_named(f, getpid(), fn, PROBE);
	expect_named(f, getpid(), fn + 4, PROBE);
	expect_named(f, getpid(), fn + f->probe_size - 1, PROBE);
	expect_named(f, getpid(), addr((const void *)st_sym_local_fn), "st_sym_local_fn");

	assert_int_equal(user(f, getpid(), fn + 4, buf, sizeof(buf), &info), 0);
	assert_string_equal(info.module, f->exe_base);
	assert_int_equal(info.off, f->probe_off + 4);
	/* Truncated, not overrun; no info wanted. */
	assert_int_equal(user(f, getpid(), fn, buf, 5, NULL), 0);
	assert_string_equal(buf, "st_s");

	/* Refreshing reads no file twice. */
	assert_int_equal(sym_capture(f->s, (uint32_t)getpid()), 0);
	assert_int_equal(sym_nfiles(f->s), nfiles);
	expect_named(f, getpid(), fn, PROBE);

	sym_forget(f->s, (uint32_t)getpid());
	assert_false(sym_captured(f->s, (uint32_t)getpid()));
	assert_int_equal(user(f, getpid(), fn, buf, sizeof(buf), &info), 1);
	assert_string_equal(buf, "[unknown]");
	/* Files stay cached for the next process that maps them. */
	assert_int_equal(sym_nfiles(f->s), nfiles);
	sym_forget(f->s, (uint32_t)getpid());
}

/* Never a wrong name: just past PROBE's end it is not PROBE. */
static void test_past_end(void **state)
{
	struct fix *f = *state;
	uint64_t fn = addr((const void *)st_sym_probe_fn);
	struct sym_info info;
	char buf[128];
	int ret;

	assert_int_equal(sym_capture(f->s, (uint32_t)getpid()), 0);
	ret = user(f, getpid(), fn + f->probe_size, buf, sizeof(buf), &info);
	/* The next function may start right there, or padding (unnamed) may. */
	assert_string_not_equal(buf, PROBE);
	assert_int_equal(ret, info.named ? 0 : 1);
	assert_true(info.mapped);
	if (ret)
		assert_true(buf[0] == '[' && strstr(buf, f->exe_base));
	ret = user(f, getpid(), fn - 1, buf, sizeof(buf), &info);
	assert_string_not_equal(buf, PROBE);
	assert_int_equal(ret, info.named ? 0 : 1);
}

/* The first mapping of a file whose path ends with suffix, from /proc/self/maps. */
static bool mapped_path(const char *suffix, char *path, size_t len)
{
	char line[PATH_MAX + 128];
	FILE *fp = fopen("/proc/self/maps", "r");
	bool found = false;

	assert_non_null(fp);
	while (!found && fgets(line, sizeof(line), fp)) {
		char *p = strchr(line, '/');

		line[strcspn(line, "\n")] = '\0';
		if (p && strlen(p) >= strlen(suffix) &&
		    !strcmp(p + strlen(p) - strlen(suffix), suffix)) {
			st_strlcpy(path, p, len);
			found = true;
		}
	}
	fclose(fp);
	return found;
}

static void test_libc(void **state)
{
	struct fix *f = *state;
	void *gp = dlsym(RTLD_DEFAULT, "getpid");
	struct sym_info info;
	char buf[128];

	assert_non_null(gp);
	assert_int_equal(sym_capture(f->s, (uint32_t)getpid()), 0);
	assert_int_equal(user(f, getpid(), addr(gp), buf, sizeof(buf), &info), 0);
	if (!strstr(buf, "getpid"))
		fail_msg("getpid named \"%s\"", buf);
	assert_non_null(strstr(info.module, "libc.so"));
	assert_true(info.named && info.mapped);
	assert_int_equal(user(f, getpid(), addr(gp) + 1, buf, sizeof(buf), &info), 0);
	assert_non_null(strstr(buf, "getpid"));
}

/* libc is stripped: a local function is named only through /usr/lib/debug/.build-id. */
static void test_libc_debuginfo(void **state)
{
	struct fix *f = *state;
	char path[PATH_MAX], dpath[PATH_MAX], buf[128], name[128];
	uint8_t id[64];
	struct elf_file *ef, *dbg;
	uint64_t value = 0, size = 0;
	struct sym_info info;
	Dl_info dl;
	size_t n, i;
	int len;

	assert_true(mapped_path("/libc.so.6", path, sizeof(path)));
	ef = elf_file_open(path, NULL, 0);
	assert_non_null(ef);
	n = elf_file_build_id(ef, id, sizeof(id));
	assert_int_equal(n, 20);
	assert_int_equal(elf_file_build_id(ef, NULL, 0), 20);
	len = snprintf(dpath, sizeof(dpath), "/usr/lib/debug/.build-id/%02x/", id[0]);
	for (i = 1; i < n; i++)
		len += snprintf(dpath + len, sizeof(dpath) - (size_t)len, "%02x", id[i]);
	snprintf(dpath + len, sizeof(dpath) - (size_t)len, ".debug");
	dbg = elf_file_open(dpath, NULL, 0);
	if (!dbg || elf_file_has_symtab(ef)) {
		elf_file_close(ef);
		elf_file_close(dbg);
		skip();
	}
	assert_true(elf_file_has_symtab(dbg));
	assert_int_equal(elf_file_build_id(dbg, id, sizeof(id)), 20);

	/* A local function of libc, where it is in memory. */
	assert_int_not_equal(dladdr(dlsym(RTLD_DEFAULT, "getpid"), &dl), 0);
	/* The first that .symtab names and .dynsym does not. */
	for (i = 0x1000; i < 0x200000 && !value; i += 0x40) {
		if (elf_file_off_vaddr(ef, i, &value) ||
		    elf_file_addr_sym(dbg, value, name, sizeof(name), &value, &size) || !size ||
		    !elf_file_addr_sym(ef, value, NULL, 0, NULL, NULL))
			value = 0;
	}
	if (!value)
		fail_msg("no function of %s only in %s", path, dpath);
	assert_int_equal(sym_capture(f->s, (uint32_t)getpid()), 0);
	/* libc's first segment is at address 0: the load base plus the address. */
	assert_int_equal(
		user(f, getpid(), addr(dl.dli_fbase) + value + size / 2, buf, sizeof(buf), &info),
		0);
	assert_string_equal(buf, name);
	elf_file_close(dbg);
	elf_file_close(ef);
}

static void test_unmapped(void **state)
{
	struct fix *f = *state;
	struct sym_info info = { .named = true, .mapped = true, .module = "x" };
	char buf[64];
	void *anon = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *data = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(anon != MAP_FAILED && data != MAP_FAILED);
	/* Not captured yet. */
	assert_int_equal(
		user(f, getpid(), addr((const void *)st_sym_probe_fn), buf, sizeof(buf), &info), 1);
	assert_string_equal(buf, "[unknown]");
	assert_int_equal(sym_capture(f->s, (uint32_t)getpid()), 0);
	assert_int_equal(user(f, getpid(), addr(anon) + 16, buf, sizeof(buf), &info), 1);
	assert_string_equal(buf, "[unknown]");
	assert_false(info.mapped || info.named);
	assert_null(info.module);
	assert_int_equal(user(f, getpid(), addr(data) + 16, buf, sizeof(buf), &info), 1);
	assert_string_equal(buf, "[unknown]");
	assert_int_equal(sym_user(f->s, (uint32_t)getpid(), 0, buf, sizeof(buf), &info), 1);
	assert_string_equal(buf, "[unknown]");
	assert_int_equal(sym_user(f->s, (uint32_t)getpid(), UINT64_MAX, buf, sizeof(buf), NULL), 1);
	assert_string_equal(buf, "[unknown]");
	munmap(anon, 4096);
	munmap(data, 4096);
}

/* A known file without a symbol at the offset: [basename+0xoff]. */
static void test_offset_form(void **state)
{
	struct fix *f = *state;
	char buf[PATH_MAX], want[PATH_MAX], path[PATH_MAX];
	struct sym_info info;
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	void *hdr, *txt = MAP_FAILED;
	FILE *fp;

	assert_true(fd >= 0);
	/* The ELF header of this binary, mapped executable: no function there. */
	hdr = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	assert_true(hdr != MAP_FAILED);
	close(fd);
	/* Not an ELF file at all (skipped where the temporary directory is noexec). */
	snprintf(path, sizeof(path), "%s/st_sym_data.bin", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("not an ELF file\n", fp);
	fclose(fp);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	txt = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	close(fd);

	assert_int_equal(sym_capture(f->s, (uint32_t)getpid()), 0);
	assert_int_equal(user(f, getpid(), addr(hdr) + 0x10, buf, sizeof(buf), &info), 1);
	snprintf(want, sizeof(want), "[%s+0x10]", f->exe_base);
	assert_string_equal(buf, want);
	assert_true(info.mapped && !info.named);
	assert_int_equal(info.off, 0x10);
	assert_string_equal(info.module, f->exe_base);
	if (txt != MAP_FAILED) {
		assert_int_equal(user(f, getpid(), addr(txt) + 0x123, buf, sizeof(buf), &info), 1);
		assert_string_equal(buf, "[st_sym_data.bin+0x123]");
		assert_true(info.mapped && !info.named);
		munmap(txt, 4096);
	}
	munmap(hdr, 4096);
}

static void copy_file(const char *from, const char *path)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ssize_t n;

	assert_true(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	close(out);
}

/* PROBE's page of path, mapped executable; its address in *ip. NULL if noexec. */
static void *map_probe(struct fix *f, const char *path, uint64_t *ip)
{
	uint64_t page = f->probe_off & ~4095ULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	void *p;

	assert_true(fd >= 0);
	p = mmap(NULL, 8192, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, (off_t)page);
	close(fd);
	if (p == MAP_FAILED)
		return NULL;
	*ip = addr(p) + (f->probe_off - page);
	return p;
}

/*
 * Deleted, and replaced by another ELF renamed over it (a package upgrade):
 * the mapping itself (map_files, root only) names it right; without it, the
 * frame is unnamed, never named from the file now at the path.
 */
static void test_deleted_replaced(void **state)
{
	struct fix *f = *state;
	char del[PATH_MAX], rep[PATH_MAX], other[PATH_MAX], libc[PATH_MAX], buf[256];
	uint64_t ip_del, ip_rep;
	struct sym_info info;
	void *pd, *pr;
	int ret;

	snprintf(del, sizeof(del), "%s/st_sym_del", f->dir);
	snprintf(rep, sizeof(rep), "%s/st_sym_rep", f->dir);
	snprintf(other, sizeof(other), "%s/st_sym_other", f->dir);
	copy_file("/proc/self/exe", del);
	copy_file("/proc/self/exe", rep);
	pd = map_probe(f, del, &ip_del);
	pr = map_probe(f, rep, &ip_rep);
	if (!pd || !pr)
		skip();
	assert_int_equal(unlink(del), 0);
	/* libc where the copy was: a wrong inode whose offsets name other functions. */
	assert_true(mapped_path("/libc.so.6", libc, sizeof(libc)));
	copy_file(libc, other);
	assert_int_equal(rename(other, rep), 0);
	assert_int_equal(sym_capture(f->s, (uint32_t)getpid()), 0);

	ret = user(f, getpid(), ip_del, buf, sizeof(buf), &info);
	assert_string_equal(info.module, "st_sym_del");
	if (geteuid() == 0) {
		assert_int_equal(ret, 0);
		assert_string_equal(buf, PROBE);
	} else if (ret) {
		assert_true(!strncmp(buf, "[st_sym_del+0x", 14));
	}
	ret = user(f, getpid(), ip_rep, buf, sizeof(buf), &info);
	assert_string_equal(info.module, "st_sym_rep");
	if (geteuid() == 0)
		assert_int_equal(ret, 0);
	if (!ret)
		assert_string_equal(buf, PROBE);
	else
		assert_true(!strncmp(buf, "[st_sym_rep+0x", 14));
	munmap(pd, 8192);
	munmap(pr, 8192);
}

/* A process that exited after capture is still named from its snapshot. */
static void test_exited(void **state)
{
	struct fix *f = *state;
	uint64_t fn = addr((const void *)st_sym_probe_fn);
	int status, gate[2];
	char buf[64];
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	/* fork copied this address space: the same layout. */
	assert_int_equal(sym_capture(f->s, (uint32_t)pid), 0);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(sym_capture(f->s, (uint32_t)pid), -ESRCH);
	assert_true(sym_captured(f->s, (uint32_t)pid));
	expect_named(f, pid, fn, PROBE);
	expect_named(f, pid, fn + 4, PROBE);
	sym_forget(f->s, (uint32_t)pid);
	assert_int_equal(user(f, pid, fn, buf, sizeof(buf), NULL), 1);
	assert_string_equal(buf, "[unknown]");
	assert_int_equal(sym_capture(f->s, 0), -ESRCH);
	/* A zombie's empty maps do not replace its snapshot. */
	assert_int_equal(pipe(gate), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(gate[1]);
		/* Exits when the parent closes its end. */
		_exit((int)read(gate[0], buf, 1));
	}
	close(gate[0]);
	assert_int_equal(sym_capture(f->s, (uint32_t)pid), 0);
	close(gate[1]);
	assert_int_equal(waitid(P_PID, (id_t)pid, NULL, WEXITED | WNOWAIT), 0);
	assert_int_equal(sym_capture(f->s, (uint32_t)pid), 0);
	expect_named(f, pid, fn, PROBE);
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void test_vdso(void **state)
{
	struct fix *f = *state;
	const char *vdso = (const char *)getauxval(AT_SYSINFO_EHDR);
	struct sym_info info;
	char buf[64];

	if (!vdso)
		skip();
	assert_int_equal(sym_capture(f->s, (uint32_t)getpid()), 0);
	assert_int_equal(user(f, getpid(), addr(vdso) + 0x20, buf, sizeof(buf), &info), 1);
	assert_string_equal(buf, "[vdso+0x20]");
	assert_string_equal(info.module, "[vdso]");
	assert_true(info.mapped && !info.named);
}

/* elfsym's address lookup on this binary. */
static void test_elf_addr(void **state)
{
	struct fix *f = *state;
	struct elf_file *ef = elf_file_open("/proc/self/exe", NULL, 0);
	uint64_t vaddr, start = 0, size = 0, lstart, lsize;
	char name[64];

	assert_non_null(ef);
	assert_true(elf_file_has_symtab(ef));
	assert_int_equal(elf_file_build_id(ef, NULL, 0) > 0, 1);
	assert_int_equal(elf_file_off_vaddr(ef, f->probe_off, &vaddr), 0);
	assert_int_equal(elf_file_off_vaddr(ef, UINT64_MAX, &lstart), -ENOENT);

	assert_int_equal(elf_file_addr_sym(ef, vaddr, name, sizeof(name), &start, &size), 0);
	assert_string_equal(name, PROBE);
	assert_int_equal(start, vaddr);
	assert_int_equal(size, f->probe_size);
	assert_int_equal(elf_file_addr_sym(ef, vaddr + size - 1, name, sizeof(name), NULL, NULL),
			 0);
	assert_string_equal(name, PROBE);
	name[0] = '\0';
	if (!elf_file_addr_sym(ef, vaddr + size, name, sizeof(name), NULL, NULL))
		assert_string_not_equal(name, PROBE);
	name[0] = '\0';
	if (!elf_file_addr_sym(ef, vaddr - 1, name, sizeof(name), NULL, NULL))
		assert_string_not_equal(name, PROBE);
	/* Truncation, and no outputs wanted. */
	assert_int_equal(elf_file_addr_sym(ef, vaddr + 1, name, 3, NULL, NULL), 0);
	assert_string_equal(name, "st");
	assert_int_equal(elf_file_addr_sym(ef, vaddr + 1, NULL, 0, NULL, NULL), 0);
	assert_int_equal(elf_file_addr_sym(ef, 0, name, sizeof(name), NULL, NULL), -ENOENT);
	assert_int_equal(elf_file_addr_sym(ef, UINT64_MAX, name, sizeof(name), NULL, NULL),
			 -ENOENT);

	/* A local function agrees with the name lookup. */
	assert_int_equal(elf_file_sym(ef, "st_sym_local_fn", &lstart, &lsize), 0);
	assert_int_equal(elf_file_off_vaddr(ef, lstart, &vaddr), 0);
	assert_int_equal(
		elf_file_addr_sym(ef, vaddr + lsize / 2, name, sizeof(name), &start, &size), 0);
	assert_string_equal(name, "st_sym_local_fn");
	assert_int_equal(size, lsize);

	/* Lookups work on after the descriptor is given up; reads do not. */
	elf_file_close_fd(ef);
	elf_file_close_fd(ef);
	assert_int_equal(elf_file_addr_sym(ef, vaddr, name, sizeof(name), NULL, NULL), 0);
	assert_string_equal(name, "st_sym_local_fn");
	assert_int_equal(elf_file_read(ef, 0, name, 4), -EBADF);
	elf_file_close(ef);
}

/*
 * Size-0 labels: _init (crti.o, no .size) names the rest of .init, but not
 * .plt right after it, which has no symbols.
 */
static void test_elf_size0(void **state)
{
	struct elf_file *ef = elf_file_open("/proc/self/exe", NULL, 0);
	uint64_t init = 0, init_size = 0, plt = 0, size = 1;
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	char name[64];
	Elf *e;

	assert_non_null(ef);
	assert_true(fd >= 0);
	assert_int_not_equal(elf_version(EV_CURRENT), EV_NONE);
	e = elf_begin(fd, ELF_C_READ, NULL);
	assert_non_null(e);
	assert_int_equal(elf_getshdrstrndx(e, &shstrndx), 0);
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		const char *n;

		assert_non_null(gelf_getshdr(scn, &sh));
		n = elf_strptr(e, shstrndx, sh.sh_name);
		if (n && !strcmp(n, ".init")) {
			init = sh.sh_addr;
			init_size = sh.sh_size;
		} else if (n && !strcmp(n, ".plt")) {
			plt = sh.sh_addr;
		}
	}
	elf_end(e);
	close(fd);
	if (!init || !plt || plt != ((init + init_size + 15) & ~15ULL) || init_size < 8 ||
	    elf_file_addr_sym(ef, init, name, sizeof(name), NULL, &size) || size) {
		elf_file_close(ef);
		skip();
	}
	assert_string_equal(name, "_init");
	assert_int_equal(elf_file_addr_sym(ef, init + 4, name, sizeof(name), NULL, NULL), 0);
	assert_string_equal(name, "_init");
	name[0] = '\0';
	assert_int_equal(elf_file_addr_sym(ef, plt, name, sizeof(name), NULL, NULL), -ENOENT);
	assert_int_equal(elf_file_addr_sym(ef, plt + 0x10, name, sizeof(name), NULL, NULL),
			 -ENOENT);
	elf_file_close(ef);
}

struct ktext {
	uint64_t addr;
	char type;
	char name[128];
	char mod[64];
};

static int ktext_cmp(const void *pa, const void *pb)
{
	const struct ktext *a = pa, *b = pb;

	return a->addr < b->addr ? -1 : a->addr > b->addr;
}

/* The text symbols of /proc/kallsyms, by address. */
static struct ktext *read_kallsyms(size_t *n)
{
	FILE *fp = fopen("/proc/kallsyms", "r");
	struct ktext *v = NULL;
	size_t cap = 0;
	char line[512];

	*n = 0;
	if (!fp)
		return NULL;
	while (fgets(line, sizeof(line), fp)) {
		struct ktext k = { 0 };
		unsigned long long a;

		if (sscanf(line, "%llx %c %127s [%63[^]]", &a, &k.type, k.name, k.mod) < 3 ||
		    !strchr("tTwW", k.type))
			continue;
		k.addr = a;
		if (*n == cap) {
			struct ktext *nv;

			cap = cap ? cap * 2 : 4096;
			nv = realloc(v, cap * sizeof(*nv));
			assert_non_null(nv);
			v = nv;
		}
		v[(*n)++] = k;
	}
	fclose(fp);
	qsort(v, *n, sizeof(*v), ktext_cmp);
	return v;
}

/* Index of a symbol alone at its address, with a higher one after it. */
static size_t lone_sym(const struct ktext *v, size_t n, size_t from, bool module)
{
	size_t i;

	for (i = from; i + 1 < n; i++) {
		if (v[i].addr + 2 >= v[i + 1].addr || (i && v[i - 1].addr == v[i].addr) ||
		    strlen(v[i].name) > 100)
			continue;
		if (module == !!v[i].mod[0])
			return i;
	}
	return n;
}

static void test_kernel(void **state)
{
	struct fix *f = *state;
	uint64_t stext = 0, etext = 0;
	struct sym_info info;
	struct ktext *v;
	char buf[256];
	size_t n, i, j;

	v = read_kallsyms(&n);
	if (!n) {
		/* No kallsyms (a restricted sandbox): every frame is [kernel]. */
		assert_int_equal(sym_kernel(f->s, 0xffffffff81000000ULL, buf, sizeof(buf), &info),
				 1);
		assert_string_equal(buf, "[kernel]");
		free(v);
		return;
	}
	for (i = 0; i < n; i++) {
		if (!strcmp(v[i].name, "_stext") && !v[i].mod[0])
			stext = v[i].addr;
		if (!strcmp(v[i].name, "_etext") && !v[i].mod[0])
			etext = v[i].addr;
	}
	if (!v[n - 1].addr) {
		/* kptr_restrict: zeros for everyone without CAP_SYSLOG. */
		assert_int_equal(sym_kernel(f->s, 0xffffffff81000000ULL, buf, sizeof(buf), &info),
				 1);
		assert_string_equal(buf, "[kernel]");
		assert_string_equal(info.module, "[kernel]");
		assert_false(info.named);
		free(v);
		return;
	}
	assert_true(stext != 0);

	/* A core function and its neighbour, at their starts and just before the next. */
	for (i = 0; i < n && v[i].addr <= stext; i++)
		;
	i = lone_sym(v, n, i, false);
	assert_true(i < n);
	j = lone_sym(v, n, i + 1, false);
	assert_true(j < n);
	assert_int_equal(sym_kernel(f->s, v[i].addr, buf, sizeof(buf), &info), 0);
	assert_string_equal(buf, v[i].name);
	assert_string_equal(info.module, "[kernel]");
	assert_true(info.named && info.mapped);
	assert_int_equal(info.off, v[i].addr - stext);
	assert_int_equal(sym_kernel(f->s, v[i + 1].addr - 1, buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, v[i].name);
	assert_int_equal(sym_kernel(f->s, v[j].addr + 1, buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, v[j].name);

	/* Below every symbol; past the kernel's text. */
	assert_int_equal(sym_kernel(f->s, 0x1000, buf, sizeof(buf), &info), 1);
	assert_string_equal(buf, "[kernel]");
	if (etext) {
		for (i = 0; i < n && v[i].addr <= etext + 1; i++)
			;
		if (i == n || v[i].addr > etext + 1) {
			char want[64];

			snprintf(want, sizeof(want), "[kernel+0x%llx]",
				 (unsigned long long)(etext + 1 - stext));
			assert_int_equal(sym_kernel(f->s, etext + 1, buf, sizeof(buf), &info), 1);
			assert_string_equal(buf, want);
			assert_false(info.named);
		}
	}
	/* Past the last symbol. */
	assert_int_equal(sym_kernel(f->s, UINT64_MAX, buf, sizeof(buf), &info), 1);
	assert_true(buf[0] == '[' && strstr(buf, "+0x"));
	if (v[n - 1].mod[0])
		assert_string_equal(info.module, v[n - 1].mod);

	/* A module's function (ftrace trampolines and BPF programs count). */
	i = lone_sym(v, n, 0, true);
	if (i < n) {
		assert_int_equal(sym_kernel(f->s, v[i].addr + 1, buf, sizeof(buf), &info), 0);
		assert_string_equal(buf, v[i].name);
		assert_string_equal(info.module, v[i].mod);
	}
	free(v);
}

static void test_errors(void **state)
{
	struct fix *f = *state;

	sym_free(NULL);
	assert_int_equal(sym_capture(f->s, 0), -ESRCH);
	assert_int_equal(sym_capture(f->s, 0x7fffffff), -ESRCH);
	assert_false(sym_captured(f->s, 0x7fffffff));
	sym_forget(f->s, 0x7fffffff);
	assert_int_equal(sym_nfiles(f->s), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_self, setup, teardown),
		cmocka_unit_test_setup_teardown(test_past_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_libc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_libc_debuginfo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offset_form, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vdso, setup, teardown),
		cmocka_unit_test_setup_teardown(test_elf_addr, setup, teardown),
		cmocka_unit_test(test_elf_size0),
		cmocka_unit_test_setup_teardown(test_kernel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
