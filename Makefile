# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# spiketrace: `make` builds build/spiketrace; `make test` and `make demo` do
# everything on a fresh Debian 12 machine (run as root or with sudo).

ARCH ?= x86
BUILD ?= build
CLANG ?= clang
LLVM_STRIP ?= llvm-strip
BPFTOOL ?= bpftool
CC ?= cc
PREFIX ?= /usr/local
DESTDIR ?=
PYTHON ?= /usr/bin/python3

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# SAN=1 builds userspace with ASan+UBSan into build-san/ (make check uses it).
ifeq ($(SAN),1)
BUILD := build-san
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

VMLINUX := vmlinux/$(ARCH)/vmlinux.h
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/skel/%.skel.h,$(BPF_SRCS))
USER_SRCS := $(wildcard user/*.c)
USER_OBJS := $(patsubst user/%.c,$(BUILD)/obj/%.o,$(USER_SRCS))
LIB_OBJS := $(filter-out $(BUILD)/obj/main.o,$(USER_OBJS))
TOOL_SRCS := $(wildcard tools/*.c)
TOOL_BINS := $(patsubst tools/%.c,$(BUILD)/tools/st-%,$(TOOL_SRCS)) $(BUILD)/tools/st-tlsserver-static
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-I$(dir $(VMLINUX)) -Iinclude -Ibpf
CFLAGS ?= -g -O2
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
	-Wno-unused-parameter -Wno-missing-field-initializers -Wstrict-prototypes \
	-iquote include -iquote user -I$(BUILD)/skel $(SAN_FLAGS) $(EXTRA_CFLAGS)
# libbpf is linked statically (Debian ships libbpf.a; docs/build.md says why);
# libelf and zlib dynamically, as every Debian program that uses them does.
LDLIBS := -Wl,-Bstatic -lbpf -Wl,-Bdynamic -lelf -lz $(SAN_FLAGS) $(EXTRA_LDFLAGS)

# Debian packages the build, the tests and the demo need.
DEPS := make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev \
	libcmocka-dev clang-format clang-tidy cppcheck python3 python3-pytest \
	libclang-rt-14-dev procps util-linux libssl-dev nginx openssl iproute2 nftables \
	golang-go libc6-dbg chromium chromium-driver tmux prometheus
# Benchmark peers (bench/), sanitizer/fuzz tools, and the VM test harness.
BENCH_DEPS := bpftrace libbpf-tools
FUZZ_DEPS := valgrind
VMTEST_DEPS := qemu-system-x86 busybox-static cpio xz-utils
DEPS += $(BENCH_DEPS) $(FUZZ_DEPS) $(VMTEST_DEPS)

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all deps test unit integration check format-check lint vmlinux install clean demo \
	bench robustness fuzz valgrind vmtest

all: $(BUILD)/spiketrace $(TOOL_BINS)

$(BUILD)/bpf $(BUILD)/skel $(BUILD)/obj $(BUILD)/tests $(BUILD)/tools:
	$(Q)mkdir -p $@

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(VMLINUX) $(wildcard include/*.h bpf/*.h) | $(BUILD)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@

$(BUILD)/skel/%.skel.h: $(BUILD)/bpf/%.bpf.o | $(BUILD)/skel
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst .,_,$*)_bpf > $@

$(BUILD)/obj/%.o: user/%.c $(wildcard user/*.h include/*.h) $(SKELS) | $(BUILD)/obj
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# report --format html embeds its page's style and script (.incbin in user/report_html.c).
$(BUILD)/obj/report_html.o: user/html/report.css user/html/report.js

$(BUILD)/spiketrace: $(USER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS) | $(BUILD)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit $< $(LIB_OBJS) $(LDLIBS) -lcmocka -o $@

# The TLS scenario's generator and server link OpenSSL (libssl-dev).
$(BUILD)/tools/st-tlsstorm $(BUILD)/tools/st-tlsserver: $(BUILD)/tools/st-%: tools/%.c tools/tool.h | $(BUILD)/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -lssl -lcrypto -o $@

# The same server with OpenSSL linked in statically (glibc stays dynamic): a
# tracer finds the SSL functions in the executable itself, not in libssl.so.
$(BUILD)/tools/st-tlsserver-static: tools/tlsserver.c tools/tool.h | $(BUILD)/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -Wl,-Bstatic -lssl -lcrypto -Wl,-Bdynamic -ldl -pthread -o $@

# The CPU workload keeps frame pointers everywhere (leaf functions too), so
# its known call chain survives the kernel's frame-pointer unwinder.
$(BUILD)/tools/st-cpuburn: tools/cpuburn.c tools/tool.h | $(BUILD)/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer $< -pthread -o $@

# Scenario generators (tools/): plain C programs, no BPF.
$(BUILD)/tools/st-%: tools/%.c tools/tool.h | $(BUILD)/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@

# Regenerates the committed vmlinux.h from the running kernel's BTF.
vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $(VMLINUX).tmp
	mv $(VMLINUX).tmp $(VMLINUX)

# Installs only what is missing; does nothing when everything is there.
deps:
	@missing=$$(for p in $(DEPS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
		|| echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root (sudo make deps)" >&2; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: all
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

format-check:
	clang-format --dry-run --Werror bpf/*.c bpf/*.h user/*.c user/*.h include/*.h tests/unit/*.c tools/*.c tools/*.h

lint: all
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
		--suppress=missingIncludeSystem --suppress=unknownMacro -D__x86_64__ -Iinclude -Iuser user

check: format-check lint
	$(MAKE) SAN=1 unit

# Everything CI runs: the unit tests (plain, sanitized, under valgrind), the
# integration suite (with the benchmark's quick smoke run), the hardening
# matrix, a short fuzzing pass and the oldest guest kernel under QEMU.
test: deps
	$(MAKE) all
	$(MAKE) check
	$(MAKE) valgrind
	$(MAKE) integration
	$(MAKE) robustness
	$(MAKE) fuzz FUZZ_SECS=$(CI_FUZZ_SECS)
	tools/vmtest --quick

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0755 $(BUILD)/spiketrace $(DESTDIR)$(PREFIX)/bin/spiketrace
	install -m 0644 docs/spiketrace.8 $(DESTDIR)$(PREFIX)/share/man/man8/spiketrace.8

demo: deps
	$(MAKE) all
	tools/demo.sh

# What spiketrace costs the traced box (docs/performance.md). QUICK=1 is the
# CI smoke run: it checks the harness produces numbers, never a threshold.
bench: deps
	$(MAKE) all
	$(PYTHON) bench/run.py $(if $(QUICK),--quick) --json $(BUILD)/bench.json

# The hardening matrix (docs/reliability.md).
robustness: all
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/robustness

# libFuzzer targets over every parser of outside input; FUZZ_SECS per target
# (make test: CI_FUZZ_SECS each, after replaying the corpus and past crashes).
FUZZ_SECS ?= 60
CI_FUZZ_SECS ?= 10
fuzz: all
	tests/fuzz/run.sh $(FUZZ_SECS)

# Every unit test under valgrind (definite leaks and memory errors fail).
valgrind: $(UNIT_BINS)
	tests/fuzz/valgrind.sh

# Boots Debian's kernels under QEMU and runs the suite inside (docs/kernels.md).
KERNELS ?=
vmtest: deps
	$(MAKE) all
	tools/vmtest --host $(KERNELS)

clean:
	rm -rf build build-san build-fuzz demo
