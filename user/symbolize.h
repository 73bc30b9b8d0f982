/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Names for the addresses of CPU stack samples: user frames from snapshots
 * of /proc/<pid>/maps and the ELF symbols of the mapped files, kernel frames
 * from /proc/kallsyms.
 *
 * Why libelf (elfsym.h) with our own cache rather than libdwfl: we already
 * index .symtab/.dynsym for uprobes; a flame graph needs function names
 * only, no DWARF line info; one symbol table per file (device + inode) is
 * shared by every process that maps it; and processes that have exited must
 * still be symbolized from maps captured earlier, which libdwfl's
 * per-process reporting does not give us for free.
 */
#ifndef ST_SYMBOLIZE_H
#define ST_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct symbolizer;

struct sym_info {
	/*
	 * Basename of the mapped file ("libcrypto.so.3"), "[vdso]", "[kernel]",
	 * a kernel module's name, or NULL when unmapped. Valid until the next
	 * sym_capture() or sym_forget() of that pid (user) or sym_free().
	 */
	const char *module;
	uint64_t off; /* file offset (user) or offset from the module/kernel text base */
	bool named; /* buf holds a symbol name */
	bool mapped; /* the address is inside an executable mapping we know */
};

/* NULL when out of memory. */
struct symbolizer *sym_new(void);
void sym_free(struct symbolizer *s);

/*
 * Reads /proc/<pid>/maps now and keeps its executable file mappings (and
 * [vdso]); their ELF files are opened and indexed right away, through
 * /proc/<pid>/root/<path> so containers work (or /proc/<pid>/map_files for
 * deleted or replaced files), once per device + inode. Capturing a pid
 * again refreshes its snapshot (dlopen); empty maps (the process became a
 * zombie) do not replace an earlier snapshot. At most 32768 pids are kept,
 * the least recently captured dropped first; at most 1024 files, unused
 * ones evicted, and past that mappings go unnamed ([file+0xoff]).
 * 0, or -errno: -ESRCH when the process is gone, -ENOMEM.
 */
int sym_capture(struct symbolizer *s, uint32_t pid);
bool sym_captured(const struct symbolizer *s, uint32_t pid);
/* Drops the snapshot of pid (e.g. the pid was reused). */
void sym_forget(struct symbolizer *s, uint32_t pid);

/*
 * Names user address ip of pid into buf (len bytes): the function name (no
 * +offset); "[libfoo.so.1+0x1a2b]" (file offset) in a known mapping without
 * a symbol for it ("[vdso+0x..]" in the vDSO); "[unknown]" outside every
 * mapping or for a pid never captured. Returns 0 when named, 1 otherwise;
 * fills *info if not NULL. Never a wrong name: an address past the end of
 * the nearest sized symbol is not named, and a size-0 symbol (assembler
 * label) names an address only when no sized symbol contains it, no other
 * function starts in between and it lies in the label's section
 * (elf_file_addr_sym()).
 */
int sym_user(struct symbolizer *s, uint32_t pid, uint64_t ip, char *buf, size_t len,
	     struct sym_info *info);

/*
 * Names kernel address ip from /proc/kallsyms (read on first use; text
 * symbols t/T/w/W only): the function name, for a module's too. Unknown:
 * "[kernel+0x..]" from _stext, "[mod+0x..]" from the module's first symbol
 * (past the last symbol, or past _etext in the core kernel). When kallsyms
 * cannot be read or shows zero addresses (kptr_restrict, no CAP_SYSLOG),
 * every frame is "[kernel]". Returns 0 when named, 1 otherwise.
 */
int sym_kernel(struct symbolizer *s, uint64_t ip, char *buf, size_t len, struct sym_info *info);

/* Number of cached ELF files; for tests and diagnostics. */
size_t sym_nfiles(const struct symbolizer *s);

#endif
