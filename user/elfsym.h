/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Symbols of an ELF executable or shared library, read with libelf: file
 * offsets of functions for uprobes (and, later, addresses to names for a
 * symbolizer). Opening a file indexes its .symtab and .dynsym once, so
 * lookups are a binary search.
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
 * If code (the first n bytes of a function) only loads a 32-bit field of
 * its first argument and returns it, stores the field's offset in disp and
 * returns 0; -EINVAL for anything else, -ENOTSUP on non-x86-64 builds.
 * Accepted (x86-64): [endbr64] mov disp(%rdi),%eax [xor %edi,%edi] ret,
 * with disp as none (offset 0), a disp8 or a disp32, never negative.
 * This reads OpenSSL's struct layouts from its own accessors (SSL_in_init,
 * SSL_is_server ...) instead of hard-coding them per version.
 */
int x86_field_accessor(const uint8_t *code, size_t n, uint32_t *disp);

#endif
