# zcopy: a preload library that turns read/write copy loops into
# sendfile, splice and copy_file_range.  `make` builds everything;
# `make test` and `make demo` first install any missing Debian package.

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib/zcopy
MANDIR  ?= $(PREFIX)/share/man
CC      ?= cc
CFLAGS  ?= -O2 -g
# CPPFLAGS and LDFLAGS (a distribution's hardening flags: _FORTIFY_SOURCE,
# -z relro) go into every build below, the memory checkers' aside.
# Required flags live apart from CFLAGS so a user's CFLAGS cannot drop them.
ZC_CFLAGS := -std=gnu11 -Wall -Wextra -fPIC -fvisibility=hidden $(if $(CI),-Werror)
PROG_CFLAGS := -std=gnu11 -Wall -Wextra $(if $(CI),-Werror)

CMD_SRC := shim/zcopy.c shim/doctor.c shim/stats_cmd.c shim/stats_show.c
LIB_SRC := $(filter-out $(CMD_SRC),$(wildcard shim/*.c))
LIB_HDR := $(filter-out shim/command.h shim/stats_cmd.h,$(wildcard shim/*.h shim/*.def))
LIB     := shim/libzcopy.so
CMD     := shim/zcopy

EXAMPLES := $(patsubst %.c,%,$(wildcard examples/*.c))
PROGS    := $(patsubst %.c,%,$(filter-out tests/progs/lib%.c,$(wildcard tests/progs/*.c)))
PROG_LIBS := $(patsubst %.c,%.so,$(wildcard tests/progs/lib*.c))
PROG_HDR  := $(wildcard tests/progs/*.h)

.PHONY: all test demo install uninstall clean deps bench

all: $(LIB) $(CMD) $(EXAMPLES) $(PROG_LIBS) $(PROGS)

# -z now: the library's calls into libc are bound once, at load, in the
# process that loads it.  Bound lazily, every process a fork-per-connection
# server forks bound them again at its first rewrite, a cost BENCHMARKS.md
# measures ("Costs that do not pay back").
# The SONAME is the file's own name: the library is preloaded by path, never
# linked against, and its interface is libc's (the hooks).
# -Bsymbolic-functions: a hook's address inside the library is its own, even
# when libc was preloaded before it (LD_PRELOAD="libc.so.6 libzcopy.so"):
# symbols.c tells dlsym's answer from the hook by that address.
ZC_LDFLAGS := -Wl,-z,now -Wl,-Bsymbolic-functions
$(LIB): $(LIB_SRC) $(LIB_HDR)
	$(CC) $(ZC_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(notdir $@) $(ZC_LDFLAGS) \
	  -o $@ $(LIB_SRC) -ldl -lpthread

$(CMD): $(CMD_SRC) shim/command.h shim/stats_cmd.h shim/common.h shim/hooks.def shim/live_file.h
	$(CC) $(PROG_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -DZCOPY_LIBDIR='"$(LIBDIR)"' -o $@ $(CMD_SRC)

examples/%: examples/%.c
	$(CC) $(PROG_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<

tests/progs/lib%.so: tests/progs/lib%.c
	$(CC) $(PROG_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -fPIC -shared -o $@ $<

# A test program may link one helper library of the same stem (ctor_main + libctor_write).
tests/progs/%: tests/progs/%.c $(PROG_LIBS) $(PROG_HDR)
	$(CC) $(PROG_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< -lpthread $(if $(filter ctor_main,$*),-Ltests/progs -lctor_write -Wl$(comma)-rpath$(comma)'$$ORIGIN')

comma := ,

# ---- memory checkers (not part of `make test`) ----
# check-asan: the library and the test programs built with ASan+UBSan into
# build/asan/; check-valgrind: the normal build under memcheck.  Both run
# CHECK_SUITES through tests/memcheck, which fails on any report.  ASan also
# runs patterns.bats, whose strace checks count the program's own calls:
# valgrind adds calls of its own there, and reports the bad pointer that
# one of its tests hands to writev on purpose.
CHECK_SUITES ?= tests/rewrite.bats tests/refuse.bats tests/observe.bats tests/settings.bats tests/faults.bats
ASAN_SUITES ?= $(CHECK_SUITES) tests/patterns.bats
ASAN_DIR   := build/asan
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_PROGS := $(patsubst tests/progs/%,$(ASAN_DIR)/progs/%,$(PROGS) $(PROG_LIBS))

.PHONY: check-asan check-valgrind

check-asan: deps
	@$(MAKE) -s all $(ASAN_DIR)/libzcopy.so $(ASAN_PROGS)
	@tests/memcheck asan $(ASAN_SUITES)

check-valgrind: deps
	@tests/install-deps valgrind
	@$(MAKE) -s all
	@tests/memcheck valgrind $(CHECK_SUITES)

$(ASAN_DIR)/libzcopy.so: $(LIB_SRC) $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(ZC_CFLAGS) $(ASAN_FLAGS) -shared -Wl,-Bsymbolic-functions -o $@ $(LIB_SRC) -ldl -lpthread

$(ASAN_DIR)/progs/lib%.so: tests/progs/lib%.c
	@mkdir -p $(@D)
	$(CC) $(PROG_CFLAGS) $(ASAN_FLAGS) -fPIC -shared -o $@ $<

$(ASAN_DIR)/progs/%: tests/progs/%.c $(patsubst tests/progs/%,$(ASAN_DIR)/progs/%,$(PROG_LIBS))
	@mkdir -p $(@D)
	$(CC) $(PROG_CFLAGS) $(ASAN_FLAGS) -o $@ $< -lpthread $(if $(filter ctor_main,$*),-L$(ASAN_DIR)/progs -lctor_write -Wl$(comma)-rpath$(comma)'$$ORIGIN')

# ---- ThreadSanitizer (not part of `make test`) ----
# check-tsan: the library and the test programs built with TSan into
# build/tsan/, run over the suites with threads, fork and signal handlers
# through tests/memcheck, which fails on any report.  The programs are TSan
# builds too: TSan starts in the program, before the library's first hook,
# and sees the program's own threads and locks.  gcc warns that TSan does
# not model atomic_thread_fence: where it says so, a race that only a fence
# prevents goes unseen here.
TSAN_SUITES ?= tests/observe.bats tests/rewrite.bats tests/log.bats
TSAN_DIR   := build/tsan
TSAN_FLAGS := -O1 -g -fsanitize=thread -fno-omit-frame-pointer -Wno-error=tsan
TSAN_PROGS := $(patsubst tests/progs/%,$(TSAN_DIR)/progs/%,$(PROGS) $(PROG_LIBS))

.PHONY: check-tsan

check-tsan: deps
	@$(MAKE) -s all $(TSAN_DIR)/libzcopy.so $(TSAN_PROGS)
	@tests/memcheck tsan $(TSAN_SUITES)

$(TSAN_DIR)/libzcopy.so: $(LIB_SRC) $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(ZC_CFLAGS) $(TSAN_FLAGS) -shared -Wl,-Bsymbolic-functions -o $@ $(LIB_SRC) -ldl -lpthread

$(TSAN_DIR)/progs/lib%.so: tests/progs/lib%.c
	@mkdir -p $(@D)
	$(CC) $(PROG_CFLAGS) $(TSAN_FLAGS) -fPIC -shared -o $@ $<

$(TSAN_DIR)/progs/%: tests/progs/%.c $(patsubst tests/progs/%,$(TSAN_DIR)/progs/%,$(PROG_LIBS))
	@mkdir -p $(@D)
	$(CC) $(PROG_CFLAGS) $(TSAN_FLAGS) -o $@ $< -lpthread $(if $(filter ctor_main,$*),-L$(TSAN_DIR)/progs -lctor_write -Wl$(comma)-rpath$(comma)'$$ORIGIN')

# ---- a C library that lacks a function (tests/symbols.bats builds these) ----
# build/test-missing/NAME/libzcopy.so: the library as built above, except
# that dlsym finds no NAME (ZC_TEST_MISSING exists in these builds only).
MISSING_DIR := build/test-missing

$(MISSING_DIR)/%/libzcopy.so: $(LIB_SRC) $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(ZC_CFLAGS) $(CFLAGS) -DZC_TEST_MISSING='"$*"' -shared $(ZC_LDFLAGS) -o $@ $(LIB_SRC) -ldl -lpthread

# ---- differential fuzzing (tests/fuzz/run; a fixed set runs in `make test`) ----
# make fuzz [SEEDS=N | SEEDS=A..B] [FUZZ_EXCLUDE=class,...]: each seed's ops
# run without zcopy, in safe mode and in trust mode; the transcripts must match.
# FUZZ_ONLY=trust: the trust pair only (twice the seeds in the time).
SEEDS ?= 1000
.PHONY: fuzz

fuzz: deps
	@$(MAKE) -s all
	@tests/fuzz/run $(if $(FUZZ_JOBS),-j $(FUZZ_JOBS)) $(if $(FUZZ_EXCLUDE),--exclude $(FUZZ_EXCLUDE)) \
		$(if $(filter trust,$(FUZZ_ONLY)),--only-trust) $(SEEDS)

deps:
	@tests/install-deps

test: deps
	@$(MAKE) -s all
	@tests/run

demo: deps
	@$(MAKE) -s all
	@examples/demo

# zcopy-report (a Python script) sits beside the library: `zcopy report`
# looks for it beside the zcopy binary first (build tree), then in LIBDIR.
# It reads its suggestions from skip_reasons.def, installed beside it.
install: $(LIB) $(CMD)
	install -D -m 0755 $(LIB) $(DESTDIR)$(LIBDIR)/libzcopy.so
	install -D -m 0755 shim/zcopy-report $(DESTDIR)$(LIBDIR)/zcopy-report
	install -D -m 0644 shim/skip_reasons.def $(DESTDIR)$(LIBDIR)/skip_reasons.def
	install -D -m 0755 $(CMD) $(DESTDIR)$(BINDIR)/zcopy
	install -D -m 0644 man/zcopy.1 $(DESTDIR)$(MANDIR)/man1/zcopy.1

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libzcopy.so $(DESTDIR)$(LIBDIR)/zcopy-report $(DESTDIR)$(LIBDIR)/skip_reasons.def
	rm -f $(DESTDIR)$(BINDIR)/zcopy $(DESTDIR)$(MANDIR)/man1/zcopy.1
	-rmdir $(DESTDIR)$(LIBDIR) 2>/dev/null

clean:
	rm -f $(LIB) $(CMD) $(EXAMPLES) $(PROGS) $(PROG_LIBS) $(BENCH_PROGS)
	rm -rf $(ASAN_DIR) $(TSAN_DIR) $(MISSING_DIR)

# make bench (QUICK=1 for a short run): tests/bench/Makefile.inc
include tests/bench/Makefile.inc
