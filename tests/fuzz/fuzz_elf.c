// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The ELF reader (user/elfsym.c): an executable or library from disk, as
 * the TLS concern opens it for uprobe offsets and the symbolizer for
 * names. Everything the two ask of a file is asked of each input: symbol
 * offsets by name (versioned too), the build-id, file offset to address and
 * address to function, reads, and the OpenSSL accessor decoder over the
 * bytes at each function found.
 */
#include "elfsym.h"
#include "fuzz.h"

/* What user/tlsfind.c and user/tls.c look up, and versioned forms. */
static const char *const names[] = {
	"SSL_read",
	"SSL_write",
	"SSL_do_handshake",
	"SSL_in_init",
	"SSL_is_server",
	"SSL_read@@OPENSSL_3.0.0",
	"SSL_write@OPENSSL_1_1_0",
	"main",
	"_start",
	"f",
	"",
	"@",
	"@@",
	"a@",
	"a@@",
};

static void addr_probe(struct elf_file *f, uint64_t vaddr)
{
	char name[64];
	uint64_t start = 0, size = 0;

	if (!elf_file_addr_sym(f, vaddr, name, sizeof(name), &start, &size)) {
		FUZZ_CHECK(strlen(name) < sizeof(name));
		FUZZ_CHECK(start <= vaddr);
	}
	/* Tiny buffers must still get a terminated (maybe empty) name. */
	if (!elf_file_addr_sym(f, vaddr, name, 1, NULL, NULL))
		FUZZ_CHECK(name[0] == '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(0, data, size);
	uint8_t id[64], code[32];
	struct elf_file *f;
	uint64_t off, sz, va;
	char err[256];
	size_t i, idlen;
	ssize_t got;

	{
		uint32_t disp;

		/* The decoder alone, over any bytes. */
		if (!x86_field_accessor(data, size, &disp))
			FUZZ_CHECK(disp < 0x80000000u);
	}
	f = elf_file_open(path, err, sizeof(err));
	if (!f) {
		FUZZ_CHECK(err[0] && memchr(err, '\0', sizeof(err)));
		return 0;
	}
	elf_file_is_exec(f);
	elf_file_nsyms(f);
	elf_file_has_symtab(f);
	idlen = elf_file_build_id(f, id, sizeof(id));
	FUZZ_CHECK(idlen <= sizeof(id));
	elf_file_build_id(f, NULL, 0);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int rc = elf_file_sym(f, names[i], &off, &sz);

		FUZZ_CHECK(rc == 0 || rc == -ENOENT || rc == -ENOTSUP);
		if (rc)
			continue;
		/* What tls.c does with an accessor: read its first bytes and decode them. */
		got = elf_file_read(f, off, code, sizeof(code));
		FUZZ_CHECK(got >= 0 && (size_t)got <= sizeof(code));
		if (got > 0) {
			uint32_t disp;

			x86_field_accessor(code, (size_t)got, &disp);
		}
		if (!elf_file_off_vaddr(f, off, &va))
			addr_probe(f, va);
	}
	/* Addresses the input names, as the symbolizer gets them from a stack. */
	for (i = 0; i < 8; i++) {
		off = fuzz_u64(data, size, 24 + 8 * i); /* e_entry and on, in a real header */
		if (!elf_file_off_vaddr(f, off, &va))
			addr_probe(f, va);
		addr_probe(f, off);
		addr_probe(f, off + 1);
		addr_probe(f, off - 1);
	}
	got = elf_file_read(f, size ? size - 1 : 0, code, sizeof(code));
	FUZZ_CHECK(got == (size ? 1 : 0));
	/* The symbolizer keeps files without their descriptor: lookups go on. */
	elf_file_close_fd(f);
	got = elf_file_read(f, 0, code, sizeof(code));
	FUZZ_CHECK(got == -EBADF || (got >= 0 && (size_t)got <= sizeof(code)));
	elf_file_sym(f, "SSL_read", &off, &sz);
	addr_probe(f, fuzz_u64(data, size, 24));
	elf_file_close(f);
	return 0;
}
