# canonfs — a canonical build root on FUSE.
#
#   make                 build build/canonfs
#   make test            unit tests, then the integration suite (mounts for real, needs root)
#   make check           the fast tier: unit tests, then the integration tests that
#                        run no go toolchain and are not marked slow (under 2 min)
#   make test SANITIZE=1 the same against an AddressSanitizer + UBSan build
#   make demo            install what is missing, build, and show the main job
#   make test-container  examples/ci in a real docker engine, on a Debian 12 base
#                        debootstrap'd here (root, dockerd running, debootstrap)
#   make fuzz            libFuzzer targets of tests/fuzz, FUZZ_SECONDS each
#                        (default 20; needs clang and libclang-rt-14-dev)
#   make bench           canonfs against a bind mount and bindfs (root, ~9 min;
#                        BENCH_QUICK=1 ~2 min); the table lands in build/bench.md
#   make install PREFIX=/usr/local DESTDIR=
#   make format          apply .clang-format

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
PYTHON  ?= /usr/bin/python3
PYTEST_ARGS ?=

PKGS    := fuse3 openssl
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Iinclude \
           $(shell pkg-config --cflags $(PKGS))
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lpthread

ifeq ($(SANITIZE),1)
BUILD   := build/sanitize
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
else
BUILD   := build
endif

# Everything but the entry point: shared by the daemon and the unit tests.
LIB_SRCS := fs/audit.c fs/baseline.c fs/canon.c fs/ccwrap.c fs/cmd_diff.c fs/cmd_env.c fs/cmd_manifest.c fs/cmd_run.c \
            fs/control.c fs/daemon.c fs/digests.c fs/dir.c fs/envmerge.c fs/envundo.c fs/fuse_proto.c fs/gitindex.c fs/goenv.c \
            fs/headers.c fs/hostpath.c fs/inode.c fs/invalidate.c fs/iofd.c fs/layout.c \
            fs/manifest.c fs/mounts.c fs/ops.c fs/ops_attr.c fs/ops_dir.c fs/ops_entry.c \
            fs/ops_file.c fs/ops_lookup.c fs/ops_xattr.c fs/options.c fs/own.c fs/passthrough.c fs/path.c \
            fs/progress.c fs/prune.c fs/report.c fs/stats.c fs/symlink.c fs/sysinc.c fs/text.c fs/times.c fs/trace.c \
            fs/trace_ops.c
LIB_OBJS := $(LIB_SRCS:fs/%.c=$(BUILD)/obj/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit/%)
HEADERS  := $(wildcard include/canonfs/*.h) tests/unit/check.h

.PHONY: all test check unit integration test-container demo bench fuzz install uninstall format clean deps

all: $(BUILD)/canonfs

$(BUILD)/obj/%.o: fs/%.c $(HEADERS) | $(BUILD)/obj
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/canonfs: $(BUILD)/obj/main.o $(LIB_OBJS)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/unit/%: tests/unit/%.c $(LIB_OBJS) $(HEADERS) | $(BUILD)/unit
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) $< $(LIB_OBJS) $(LDLIBS) -o $@

$(BUILD)/obj $(BUILD)/unit:
	mkdir -p $@

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do $$t; done

integration: $(BUILD)/canonfs
	CANONFS_BIN=$(CURDIR)/$(BUILD)/canonfs $(PYTHON) -m pytest -q tests $(PYTEST_ARGS)

test: unit integration

# pytest markers (tests/conftest.py): gobuild runs the go toolchain, slow
# takes seconds anyway.
check: unit $(BUILD)/canonfs
	CANONFS_BIN=$(CURDIR)/$(BUILD)/canonfs $(PYTHON) -m pytest -q tests \
		-m 'not gobuild and not slow' $(PYTEST_ARGS)

# tests/container: never collected by `make test`.
test-container:
	$(PYTHON) -m pytest -q tests/container $(PYTEST_ARGS)

# Installs the Debian packages canonfs needs when one is missing (as root).
deps:
	@scripts/install-deps.sh

demo: deps
	$(MAKE) all
	scripts/demo.sh $(CURDIR)/$(BUILD)/canonfs

FUZZ_SECONDS ?= 20
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_ARGS="$(FUZZ_ARGS)" scripts/fuzz.sh

# The bench's floor: a FUSE server that does no work (scripts/floorfs.c).
$(BUILD)/floorfs: scripts/floorfs.c | $(BUILD)/obj
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(LDLIBS) -o $@

bench: $(BUILD)/canonfs $(BUILD)/floorfs
	scripts/bench.sh $(CURDIR)/$(BUILD)/canonfs

install: $(BUILD)/canonfs
	install -D -m 0755 $(BUILD)/canonfs $(DESTDIR)$(PREFIX)/bin/canonfs
	install -D -m 0644 doc/canonfs.1 $(DESTDIR)$(PREFIX)/share/man/man1/canonfs.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/canonfs $(DESTDIR)$(PREFIX)/share/man/man1/canonfs.1

format:
	clang-format -i fs/*.c include/canonfs/*.h tests/unit/*.c tests/unit/*.h \
		tests/fuzz/*.c tests/fuzz/*.h scripts/*.c

clean:
	rm -rf build
