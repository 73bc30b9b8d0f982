#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# The ELF seeds of fuzz_elf and fuzz_symbolize (tests/fuzz/README.md): tiny
# files with what the readers look for, a few KiB each, no libc.
#
#   tests/fuzz/mkelfseeds.sh        (writes tests/fuzz/corpus/fuzz_{elf,symbolize}/)
#
#   libfake.so           a stand-in for libssl: the accessors the TLS concern
#                        decodes (mov disp8 / endbr64 + mov disp32 + xor),
#                        SSL_read in two versions (@@ and @), an IFUNC, a
#                        size-0 function label, an object, a build-id
#   libfake-stripped.so  the same without .symtab (only .dynsym + versions)
#   exe                  a static non-PIE executable (ET_EXEC), .symtab
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CC=${CC:-gcc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

cat >lib.c <<'EOF'
struct ssl {
	int pad[16];
	int in_init;
	char big[300];
	int server;
};
__attribute__((naked)) int SSL_in_init(const struct ssl *s)
{
	__asm__("mov 0x40(%rdi),%eax\n\tret");
}
__attribute__((naked)) int SSL_is_server(const struct ssl *s)
{
	__asm__("endbr64\n\tmov 0x190(%rdi),%eax\n\txor %edi,%edi\n\tret");
}
int ssl_read_new(void *s, void *b, int n) { return n; }
int ssl_read_old(void *s, void *b, int n) { return n - 1; }
__asm__(".symver ssl_read_new,SSL_read@@OPENSSL_3.0.0");
__asm__(".symver ssl_read_old,SSL_read@OPENSSL_1_1_0");
int SSL_write(void *s, const void *b, int n) { return n; }
static int impl(void) { return 1; }
static void *resolve(void) { return (void *)impl; }
int SSL_do_handshake(void) __attribute__((ifunc("resolve")));
__asm__(".text\n.globl label0\n.type label0,@function\nlabel0:\n\tnop\n\tret\n");
int counter;
EOF
cat >ver.map <<'EOF'
OPENSSL_1_1_0 { global: SSL_read; SSL_in_init; SSL_is_server; };
OPENSSL_3.0.0 { global: SSL_read; SSL_write; SSL_do_handshake; label0; counter; } OPENSSL_1_1_0;
EOF
cat >exe.c <<'EOF'
static int helper(int x) { return x * 3; }
int main(void) { return helper(14); }
void _start(void)
{
	__asm__ volatile("mov %0,%%edi\n\tmov $60,%%eax\n\tsyscall" ::"r"(main()) : "rdi", "rax");
	for (;;)
		;
}
EOF
$CC -Os -fPIC -shared -nostdlib -Wl,--build-id -Wl,--version-script=ver.map \
	-Wl,-z,noseparate-code lib.c -o libfake.so
cp libfake.so libfake-stripped.so
strip libfake-stripped.so
$CC -Os -static -no-pie -fno-pie -nostdlib -Wl,--build-id -Wl,-z,noseparate-code exe.c -o exe

E=$ROOT/tests/fuzz/corpus/fuzz_elf
S=$ROOT/tests/fuzz/corpus/fuzz_symbolize
mkdir -p "$E" "$S"
cp libfake.so libfake-stripped.so exe "$E/"

# fuzz_symbolize: maps @@@@ kallsyms @@@@ lookups @@@@ ELF (mapped at 0x400000).
maps='7f1c2a600000-7f1c2a628000 r--p 00000000 fe:00 1315 /usr/lib/x86_64-linux-gnu/libc.so.6
7f1c2a628000-7f1c2a7bd000 r-xp 00028000 fe:00 1315 /usr/lib/x86_64-linux-gnu/libc.so.6
7f1c2a900000-7f1c2a901000 r-xp 00000000 00:00 0 [vdso]
7f1c2aa00000-7f1c2aa10000 r-xp 00001000 fe:00 4242 /tmp/gone.so (deleted)
7ffd1000-7ffd2000 rw-p 00000000 00:00 0 [stack]'
ksyms='ffffffff81000000 T _stext
ffffffff81000000 T startup_64
ffffffff81001000 t __pfx_do_one_initcall
ffffffff81001010 T do_one_initcall
ffffffff81001010 T __do_one_initcall_alias
ffffffff81e00000 T _etext
ffffffffc0a00000 t ext4_fill_super	[ext4]
ffffffffc0a01000 T ext4_mount	[ext4]
ffffffffc0b00000 t nf_hook	[nf_tables]
ffffffff82000000 D jiffies'
look='u 40049c
u 4004a3
u 400494
u 400495
u 7f1c2a900010
u 7f1c2aa00100
u 1
k ffffffff81001011
k ffffffffc0a01004
k ffffffffc0b00100
k ffffffff81f00000
k 0'
for f in libfake.so libfake-stripped.so exe; do
	{
		printf '%s@@@@%s@@@@%s@@@@' "$maps" "$ksyms" "$look"
		cat $f
	} >"$S/$f"
done
# kallsyms as an unprivileged reader sees it: every address zero.
printf '%s@@@@%s@@@@%s@@@@' "$maps" "$(echo "$ksyms" | sed 's/^[0-9a-f]*/0000000000000000/')" \
	"$look" >"$S/restricted"
ls -l "$E" "$S"
