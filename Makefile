# SPDX-License-Identifier: GPL-2.0-only
# espgate: one Makefile for the BPF objects, the skeleton, the IKE engine, the daemons and the tests.
# Sources are found by wildcard, so a new file in a module needs no edit here:
#   bpf/*.bpf.c        -> one linked object $(OUTPUT)/espgate.bpf.o + skeleton espgate.skel.h
#   ike/*.c            -> $(OUTPUT)/libike.a        (the sans-IO IKEv2 engine)
#   user/*.c           -> $(OUTPUT)/libeguser.a     (all but the two mains below)
#   user/espgated.c, user/espgatectl.c -> the two programs
#   tests/unit/test_*.c -> one cmocka binary each (other .c there are linked into every one)
#   tests/bpf/test_*.c  -> one BPF_PROG_TEST_RUN binary each (idem)
#   tests/fuzz/fuzz_*.c -> one libFuzzer binary each (make fuzz)
# OUTPUT may be overridden (make OUTPUT=.output-x) so that parallel work trees do not collide.

OUTPUT ?= .output
ARCH ?= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= cc
V ?= 0

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.SUFFIXES:

VMLINUX := vmlinux/$(ARCH)/vmlinux.h

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wcast-qual \
	-Wsign-compare -Wformat=2
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=gnu11 $(WARNINGS) $(CFLAGS) -D_GNU_SOURCE -Iheaders -Iike -Iuser -isystem $(OUTPUT) -MMD -MP
LIBS := -lbpf -lxdp -lmnl -lyaml -lssl -lcrypto -lelf -lz
TEST_LIBS := -lcmocka

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror -I vmlinux/$(ARCH) -Iheaders -Ibpf

BPF_SRCS := $(sort $(wildcard bpf/*.bpf.c))
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/bpf/%.bpf.o,$(BPF_SRCS))
BPF_HDRS := $(wildcard bpf/lib/*.h headers/*.h)
SKEL := $(OUTPUT)/espgate.skel.h
BPF_LINKED := $(OUTPUT)/espgate.bpf.o

IKE_SRCS := $(sort $(wildcard ike/*.c))
IKE_OBJS := $(patsubst %.c,$(OUTPUT)/%.o,$(IKE_SRCS))
USER_MAINS := user/espgated.c user/espgatectl.c
USER_SRCS := $(filter-out $(USER_MAINS),$(sort $(wildcard user/*.c)))
USER_OBJS := $(patsubst %.c,$(OUTPUT)/%.o,$(USER_SRCS))
LIBIKE := $(OUTPUT)/libike.a
LIBUSER := $(OUTPUT)/libeguser.a
PROGS := $(patsubst user/%.c,$(OUTPUT)/%,$(filter $(USER_MAINS),$(wildcard $(USER_MAINS))))

UNIT_TESTS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/unit/%,$(sort $(wildcard tests/unit/test_*.c)))
UNIT_HELPERS := $(patsubst %.c,$(OUTPUT)/%.o,$(filter-out tests/unit/test_%,$(wildcard tests/unit/*.c)))
BPF_TESTS := $(patsubst tests/bpf/%.c,$(OUTPUT)/tests/bpf/%,$(sort $(wildcard tests/bpf/test_*.c)))
BPF_HELPERS := $(patsubst %.c,$(OUTPUT)/%.o,$(filter-out tests/bpf/test_%,$(wildcard tests/bpf/*.c)))
BENCH_SRCS := $(sort $(wildcard bench/*.c))
BENCH_PROGS := $(patsubst bench/%.c,$(OUTPUT)/bench/%,$(BENCH_SRCS))

.PHONY: all bpf clean check format test test-unit vmtest vmtest-rest demo bench fuzz fuzz-run deps deps-build \
	vmlinux install

all: $(SKEL) $(LIBIKE) $(LIBUSER) $(PROGS) $(UNIT_TESTS) $(BPF_TESTS) $(BENCH_PROGS)

bpf: $(SKEL)

# --- BPF: compile each program, link them into one object, generate the skeleton -------------
$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) $(VMLINUX)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BPF_LINKED): $(BPF_OBJS)
	$(call msg,GEN-OBJ,$@)
	$(Q)$(BPFTOOL) gen object $@ $^

$(SKEL): $(BPF_LINKED)
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name espgate_bpf > $@.tmp && mv $@.tmp $@

# --- userspace ---------------------------------------------------------------------------------
$(OUTPUT)/%.o: %.c $(SKEL)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBIKE): $(IKE_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBUSER): $(USER_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(OUTPUT)/espgated $(OUTPUT)/espgatectl: $(OUTPUT)/%: $(OUTPUT)/user/%.o $(LIBUSER) $(LIBIKE)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

$(UNIT_TESTS): $(OUTPUT)/tests/unit/%: $(OUTPUT)/tests/unit/%.o $(UNIT_HELPERS) $(LIBUSER) $(LIBIKE)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS) $(TEST_LIBS)

$(BPF_TESTS): $(OUTPUT)/tests/bpf/%: $(OUTPUT)/tests/bpf/%.o $(BPF_HELPERS) $(LIBUSER) $(LIBIKE)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS) $(TEST_LIBS)

$(BENCH_PROGS): $(OUTPUT)/bench/%: $(OUTPUT)/bench/%.o $(LIBUSER) $(LIBIKE)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

# --- fuzzing (libFuzzer + ASan/UBSan): make fuzz; make fuzz-run FUZZ_SECONDS=60 --------------
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_PROGS := $(patsubst tests/fuzz/%.c,$(OUTPUT)/fuzz/%,$(FUZZ_SRCS))
# FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION selects ike_crypto.c's fuzz-only paths (deterministic
# ike_random(), pooled DH key pairs, cached HMAC contexts); no other build defines it.
FUZZ_BASE_CFLAGS := -std=gnu11 -g -O1 -fno-sanitize-recover=undefined \
	-DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -D_GNU_SOURCE -Iheaders -Iike -Iuser -I$(OUTPUT)
# FUZZ_SAN= (empty) builds plain libFuzzer binaries, about 4x faster, for long runs that only
# catch crashes and hangs; the default adds ASan and UBSan.
FUZZ_SAN ?= ,address,undefined
FUZZ_CFLAGS := $(FUZZ_BASE_CFLAGS) -fsanitize=fuzzer$(FUZZ_SAN)
FUZZ_SECONDS ?= 30
# the crypto known-answer tests built with the fuzz-only paths: they must give production's answers
FUZZ_KAT := $(OUTPUT)/fuzz/test_ike_crypto_fuzzmode

fuzz: $(FUZZ_PROGS) $(FUZZ_KAT)

$(FUZZ_PROGS): $(OUTPUT)/fuzz/%: tests/fuzz/%.c $(IKE_SRCS) $(wildcard ike/*.h)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -o $@ $< $(IKE_SRCS) -lssl -lcrypto

$(FUZZ_KAT): tests/unit/test_ike_crypto.c $(IKE_SRCS) $(wildcard ike/*.h)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_BASE_CFLAGS) -fsanitize=address,undefined -o $@ $< $(IKE_SRCS) \
		-lssl -lcrypto $(TEST_LIBS)

fuzz-run: fuzz
	$(Q)$(FUZZ_KAT) >/dev/null || { echo "fuzz-run: crypto KATs fail with the fuzz-only paths" >&2; exit 1; }
	$(Q)tests/fuzz/run.sh $(OUTPUT)/fuzz $(FUZZ_SECONDS)

# --- tests and the README's commands ------------------------------------------------------------
# These entry points first run scripts/deps.sh (idempotent: it installs only what is missing), so a
# fresh machine needs nothing but `make demo` / `make test`.
# make test: every native tier (unit, bpf, netns, interop, vm), one closing "N passed, N failed".
test:
	$(Q)scripts/deps.sh test
	$(Q)$(MAKE) --no-print-directory all
	$(Q)OUTPUT=$(OUTPUT) tests/run.sh

# make test-unit: what needs no privileges (and no package installation).
test-unit: all
	$(Q)OUTPUT=$(OUTPUT) tests/run.sh unit

# make vmtest: every VM scenario; make test runs only the core set (tests/vm/run.sh --core), and
# .ci/run adds the rest with make vmtest-rest.
vmtest:
	$(Q)scripts/deps.sh test
	$(Q)$(MAKE) --no-print-directory all
	$(Q)OUTPUT=$(OUTPUT) tests/vm/run.sh --all

vmtest-rest:
	$(Q)scripts/deps.sh test
	$(Q)$(MAKE) --no-print-directory all
	$(Q)OUTPUT=$(OUTPUT) tests/vm/run.sh --rest

demo:
	$(Q)scripts/deps.sh test
	$(Q)$(MAKE) --no-print-directory all
	$(Q)OUTPUT=$(OUTPUT) scripts/demo.sh

bench:
	$(Q)scripts/deps.sh test
	$(Q)$(MAKE) --no-print-directory all
	$(Q)OUTPUT=$(OUTPUT) bench/run.sh

# --- maintenance ---------------------------------------------------------------------------------
deps:
	$(Q)scripts/deps.sh test

deps-build:
	$(Q)scripts/deps.sh build

vmlinux:
	$(Q)mkdir -p vmlinux/$(ARCH)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/$(ARCH)/vmlinux.h.tmp
	$(Q)mv vmlinux/$(ARCH)/vmlinux.h.tmp vmlinux/$(ARCH)/vmlinux.h

C_SRCS = $(shell git ls-files -co --exclude-standard -- '*.c' '*.h' | grep -v '^vmlinux/')

check: $(SKEL)
	$(Q)OUTPUT=$(OUTPUT) scripts/check.sh

format:
	$(Q)clang-format -i $(C_SRCS)

PREFIX ?= /usr/local
install: $(PROGS)
	install -d $(DESTDIR)$(PREFIX)/sbin
	install -m 0755 $(PROGS) $(DESTDIR)$(PREFIX)/sbin/

clean:
	rm -rf $(OUTPUT)

-include $(shell find $(OUTPUT)/ike $(OUTPUT)/user $(OUTPUT)/tests $(OUTPUT)/bench -name '*.d' -type f 2>/dev/null)
