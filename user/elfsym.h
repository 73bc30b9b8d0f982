/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Symbols of an ELF executable or shared library, read with libelf: file
 * offsets of functions for uprobes, and addresses to names for the stack
 * symbolizer (symbolize.h). Opening a file indexes its .symtab and .dynsym
 * once, so lookups are a binary search.
 */
#ifndef ST_ELFSYM_H
#define ST_ELFSYM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct elf_file;

/*
 * Opens path read-only. Only ET_EXEC and ET_DYN files of the build machine's
 * class, byte order and machine are accepted (64-bit x86-64 or AArch64).
 * NULL with a one-line reason in err (if errlen) on failure.
 */
struct elf_file *elf_file_open(const char *path, char *err, size_t errlen);
void elf_file_close(struct elf_file *f);

/*
 * File offset (what a uprobe wants) and size of the defined function name,
 * from .symtab first, then .dynsym. "name" matches a versioned symbol
 * ("SSL_read" matches SSL_read@@OPENSSL_3.0.0), preferring the default (@@)
 * version; "name@VER" or "name@@VER" asks for version VER. Returns 0,
 * -ENOENT when absent, undefined or outside the file's loaded segments, or
 * -ENOTSUP for an STT_GNU_IFUNC (its address is a resolver, not the
 * function). off and size may be NULL.
 */
int elf_file_sym(struct elf_file *f, const char *name, uint64_t *off, uint64_t *size);
/* Copies up to n bytes at file offset off; returns bytes copied (0 at EOF) or -errno. */
ssize_t elf_file_read(struct elf_file *f, uint64_t off, void *buf, size_t n);
/* ET_EXEC (a non-PIE executable): uprobe offsets are still file offsets. */
bool elf_file_is_exec(const struct elf_file *f);
/* Number of indexed (defined, named) symbols; for tests and diagnostics. */
size_t elf_file_nsyms(const struct elf_file *f);

/*
 * The symbolizer's side: addresses to names.
 *
 * The NT_GNU_BUILD_ID note: copies up to len bytes of it to id (id may be
 * NULL) and returns its length, 0 when the file has none.
 */
size_t elf_file_build_id(const struct elf_file *f, uint8_t *id, size_t len);
/* Functions in .symtab: false for a stripped file (only .dynsym, if that). */
bool elf_file_has_symtab(const struct elf_file *f);
/*
 * Virtual address of file offset off, through the PT_LOAD segment whose
 * file bytes hold it. 0, or -ENOENT outside every segment.
 */
int elf_file_off_vaddr(const struct elf_file *f, uint64_t off, uint64_t *vaddr);
/*
 * The function (STT_FUNC or STT_GNU_IFUNC, defined, nonzero value) that
 * contains virtual address vaddr: its name without "@VER" into name (len
 * bytes, truncated), its value and size (each may be NULL). A sized
 * function contains [value, value + size); a size-0 one (an assembler label)
 * is used only when no sized function contains vaddr and no function starts
 * between it and vaddr, and never reaches past its section. Sized before
 * size 0, .symtab before .dynsym, innermost first; aliases prefer fewer
 * leading underscores, then global, then the default version. The address
 * index is built on the first call. 0, -ENOENT, or -ENOMEM.
 */
int elf_file_addr_sym(struct elf_file *f, uint64_t vaddr, char *name, size_t len, uint64_t *start,
		      uint64_t *size);
/*
 * Gives up the file descriptor once opened (a symbolizer keeps up to a
 * thousand files): lookups keep working from libelf's mapping, but
 * elf_file_read() then fails with -EBADF.
 */
void elf_file_close_fd(struct elf_file *f);

/*
 * If code (the first n bytes of a function) only loads a 32-bit field of
 * its first argument and returns it, stores the field's offset in disp and
 * returns 0; -EINVAL for anything else, -ENOTSUP on non-x86-64 builds.
 * Accepted (x86-64): [endbr64] mov disp(%rdi),%eax [xor %edi,%edi] ret,
 * with disp as none (offset 0), a disp8 or a disp32, never negative.
 * This reads OpenSSL's struct layouts from its own accessors (SSL_in_init,
 * SSL_is_server ...) instead of hard-coding them per version.
 */
int x86_field_accessor(const uint8_t *code, size_t n, uint32_t *disp);

/*
 * Cheaper places for an entry uprobe. The kernel emulates a probed branch,
 * call or push; any other instruction is copied out of line and
 * single-stepped (two traps: ~18 us a hit on a VM, against ~0.25 us).
 * Both return 0 with *off, the offset into code of the place, or -EINVAL
 * when code does not have the shape (-ENOTSUP off x86-64).
 *
 * x86_past_null_check: [endbr64] test %rdi,%rdi; je ...; push ...: the push,
 * where every argument register still holds its value (a NULL first
 * argument never gets there).
 *
 * x86_int_arg_call: [endbr64], then any of sub $imm8,%rsp; mov %fs:0x28,%rax;
 * mov %rax,disp8(%rsp); xor %eax,%eax (in this order), then mov %ecx,s(%rsp);
 * lea s(%rsp),%rcx; call: the call, where %rdi, %rsi and %rdx still hold
 * the first three arguments and %rcx points at the fourth, an int.
 * This is BIO_int_ctrl(bio, cmd, larg, iarg) calling BIO_ctrl(..., &iarg).
 */
int x86_past_null_check(const uint8_t *code, size_t n, uint32_t *off);
int x86_int_arg_call(const uint8_t *code, size_t n, uint32_t *off);

/*
 * A thin wrapper: [endbr64], the frame set-up above, then any of test
 * %edx,%edx; js; mov %rsp,%rcx; movslq %edx,%rdx (in this order), then a
 * call, with %rdi untouched. *target is the callee's offset relative to
 * code (it may be negative). OpenSSL 3's SSL_read/SSL_read_ex, SSL_write(_ex)
 * and SSL_peek(_ex) are such wrappers of one internal function each.
 */
int x86_wrapped_call(const uint8_t *code, size_t n, int64_t *target);
/* Whether code opens ([endbr64] then) with an instruction uprobes emulate (a push). */
bool x86_emulated_entry(const uint8_t *code, size_t n);

#endif
