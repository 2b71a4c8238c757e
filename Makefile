# ctrprof — one GNU Makefile.
#
#   make              build/libctrprof.so and build/ctrprof
#   make test         unit tests (cmocka) + end-to-end drivers, one summary line at the end
#   make test-san     the unit tests again under ASan+UBSan (build-asan/) and TSan (build-tsan/)
#   make fuzz         libFuzzer targets (clang), bounded by FUZZ_SECONDS
#   make bench        benchmarks (not part of test); make bench-shapes: issue 23's shapes alone
#   make format-check clang-format --dry-run over the tree
#   make install      PREFIX (default /usr/local) and DESTDIR: PREFIX/bin/ctrprof,
#                     PREFIX/lib/ctrprof/libctrprof.so, PREFIX/share/man/man1/ctrprof.1
#                     (`ctrprof run` finds the shim at ../lib/ctrprof/ from its own binary)
#   make uninstall    removes those three files (same PREFIX and DESTDIR)
#   make clean        removes $(B) and its sanitizer trees $(B)-asan, $(B)-tsan (and build-fuzz
#                     when B is the default)
#
# The user's CPPFLAGS, CFLAGS and LDFLAGS come after the project's flags (a -O0 or a
# -fsanitize applies; not in the clang-built fuzz targets). Header dependencies of every
# object (shim, tool, unit tests, bench_micro, fuzz targets, the sanitizer trees) come from
# the compiler (-MMD -MP: $(B)/obj/**/*.d, $(B)/tests/*.d, build-fuzz/obj/**/*.d; checked
# by tests/e2e/deps.sh); every object also depends on this Makefile, so a change of flags
# rebuilds.
# Plain `make` needs the build dependencies only; cmocka is checked for the test targets.
#
# Sources are found by wildcard: base/*.c are the utilities below every layer (the
# logger, the options; base/*.h: raw system calls, the spin lock, the version);
# cfile/*.c is the counter file (its writer and its reader), a layer below the engine;
# core/*.c is the engine; all three go into libcore.a for the shim, and the tool compiles
# the reader, the logger and the options again with its own flags; preload/*.c only into
# the shim, symbolize/*.c and tools/*.c only into the tool,
# tests/unit/test_*.c each become one cmocka binary linked with the engine.

B ?= build
CC ?= cc
PKG_CONFIG ?= pkg-config
SAN ?=
OPT ?= -O2
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib/ctrprof
MANDIR ?= $(PREFIX)/share/man/man1
INSTALL ?= install

define need_pkg
$(if $(shell $(PKG_CONFIG) --exists $(1) && echo yes),,$(error $(1) not found by pkg-config: install $(2) (see .ci/run)))
endef

# Goals that need nothing built; and those that build the cmocka unit tests.
NOBUILD_GOALS := clean uninstall format format-check
TEST_GOALS := units test test-quick test-asan test-tsan test-san
ifneq ($(or $(filter-out $(NOBUILD_GOALS),$(MAKECMDGOALS)),$(if $(MAKECMDGOALS),,all)),)
$(call need_pkg,libunwind,libunwind-dev)
$(call need_pkg,libdw,libdw-dev)
$(call need_pkg,zlib,zlib1g-dev)
$(call need_pkg,libzstd,libzstd-dev)
$(call need_pkg,libmicrohttpd,libmicrohttpd-dev)
$(call need_pkg,ncursesw,libncurses-dev)
endif
ifneq ($(or $(filter $(TEST_GOALS),$(MAKECMDGOALS)),$(findstring /tests/test_,$(MAKECMDGOALS))),)
$(call need_pkg,cmocka,libcmocka-dev)
endif

UNWIND_CFLAGS := $(shell $(PKG_CONFIG) --cflags libunwind 2>/dev/null)
DW_CFLAGS := $(shell $(PKG_CONFIG) --cflags libdw 2>/dev/null)
DW_LIBS := $(shell $(PKG_CONFIG) --libs libdw libelf 2>/dev/null)
Z_LIBS := $(shell $(PKG_CONFIG) --libs zlib 2>/dev/null)
ZSTD_LIBS := $(shell $(PKG_CONFIG) --libs libzstd 2>/dev/null)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)
MHD_CFLAGS := $(shell $(PKG_CONFIG) --cflags libmicrohttpd 2>/dev/null)
MHD_LIBS := $(shell $(PKG_CONFIG) --libs libmicrohttpd 2>/dev/null)
CURSES_CFLAGS := $(shell $(PKG_CONFIG) --cflags ncursesw 2>/dev/null)
CURSES_LIBS := $(shell $(PKG_CONFIG) --libs ncursesw 2>/dev/null)

WARN := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes -Wmissing-prototypes
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -g -fPIC -fno-omit-frame-pointer $(WARN) -Ibase -Icore -Icfile
# The shim (its objects and libcore.a's) is built with -O3 and, by gcc outside the
# sanitizer trees, link-time optimisation: a sampled event at rate 1 passes through ~25
# functions in a dozen files (hook, unwinder, engine, heap over time, publication), and
# their calls and register saves were a tenth of its cost. LTO and -O3 took churn at
# rate 1 from 5.51 s to 5.00 s (bare 0.51 s) and left the default-rate malloc+free at 152
# instructions (BENCHMARKS.md, "Rate-1 CPU: link-time optimisation"). Fat objects, so
# that what links libcore.a without LTO (the unit tests, the tool) gets ordinary code.
# SHIM_OPT= and SHIM_LTO= give the plain build back.
IS_GCC := $(shell $(CC) --version 2>/dev/null | head -1 | grep -qv clang && echo yes)
SHIM_OPT ?= $(if $(filter -O2,$(OPT)),-O3,$(OPT))
SHIM_LTO ?= $(if $(SAN),,$(if $(IS_GCC),-flto=auto -ffat-lto-objects))
CFLAGS_SHIM := $(BASE_CFLAGS) $(SHIM_OPT) -fvisibility=hidden -ftls-model=initial-exec -fno-stack-protector $(UNWIND_CFLAGS) $(SAN)
CFLAGS_TOOL := $(BASE_CFLAGS) $(OPT) -fstack-protector-strong $(DW_CFLAGS) $(MHD_CFLAGS) $(CURSES_CFLAGS) $(SAN)
# the user's flags, after the project's
USER_CFLAGS = $(CPPFLAGS) $(CFLAGS)
DEPFLAGS = -MMD -MP

# The offline readers (snprintf, realloc, libzstd: never in a profiled process): format 2's
# names, and packed profiles (packed.c). Built with the tools' flags only, and kept out of
# libcore.a and so out of the shim (tests/e2e/layers.sh checks that the shim has none of
# the readers' symbols).
READ_SRC := cfile/names_read.c cfile/packed.c
CFILE_SRC := $(filter-out $(READ_SRC),$(wildcard cfile/*.c))
BASE_SRC := $(wildcard base/*.c)
CORE_SRC := $(BASE_SRC) $(wildcard core/*.c) $(CFILE_SRC)
PRELOAD_SRC := $(wildcard preload/*.c)
TOOL_SRC := $(wildcard tools/*.c) $(wildcard symbolize/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
PROG_SRC := $(wildcard tests/programs/*.c) $(wildcard demo/*.c) $(wildcard bench/progs/*.c)

CORE_OBJ := $(CORE_SRC:%.c=$(B)/obj/%.o)
# The engine's files the offline tool links: the counter-file reader and what it needs,
# compiled again with the tool's flags (stack protector on: it parses files anyone may
# have written), not the shim's. libcore.a after them only for what is not listed here
# (tests/e2e/install.sh fails if the tool takes anything from it).
TOOL_CORE_SRC := $(CFILE_SRC) $(READ_SRC) $(BASE_SRC)
READ_OBJ := $(READ_SRC:%.c=$(B)/obj/toolcore/%.o)
TOOL_CORE_OBJ := $(TOOL_CORE_SRC:%.c=$(B)/obj/toolcore/%.o)
PRELOAD_OBJ := $(PRELOAD_SRC:%.c=$(B)/obj/%.o)
# (hooks that cannot be C: preload/vfork.S)
PRELOAD_OBJ += $(patsubst %.S,$(B)/obj/%.o,$(wildcard preload/*.S))
TOOL_OBJ := $(TOOL_SRC:%.c=$(B)/obj/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
PROG_BIN := $(patsubst %.c,$(B)/progs/%,$(notdir $(PROG_SRC)))
# The C++ test programs only when there is a C++ compiler: plain `make` needs a C compiler
# alone (the tests that use them say SKIP without them; tests/e2e/install.sh checks this).
HAVE_CXX := $(shell command -v $(CXX) >/dev/null 2>&1 && echo yes)
PROG_BIN += $(if $(HAVE_CXX),$(patsubst %.cc,$(B)/progs/%,$(notdir $(wildcard tests/programs/*.cc))))
# boost.context's fibers (tests/e2e/stacks.sh), where Debian's libboost-context-dev is
HAVE_BOOST_CONTEXT := $(if $(HAVE_CXX),$(shell test -f /usr/include/boost/context/fiber.hpp && echo yes))
PROG_BIN += $(if $(HAVE_BOOST_CONTEXT),$(B)/progs/fibers)

all: $(B)/libctrprof.so $(B)/ctrprof $(PROG_BIN)

$(B)/obj/base/%.o: base/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SHIM) $(SHIM_LTO) $(USER_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(B)/obj/core/%.o: core/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SHIM) $(SHIM_LTO) $(USER_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(B)/obj/preload/%.o: preload/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SHIM) $(SHIM_LTO) $(USER_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(B)/obj/preload/%.o: preload/%.S Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SHIM) $(USER_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(B)/obj/tools/%.o: tools/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TOOL) -Isymbolize -Itools $(USER_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(B)/obj/toolcore/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TOOL) $(USER_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(B)/obj/cfile/%.o: cfile/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SHIM) $(SHIM_LTO) $(USER_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(B)/obj/symbolize/%.o: symbolize/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TOOL) -Isymbolize $(USER_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(B)/libcore.a: $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# glibc's symbol versions on the condition-variable hooks (preload/versions.map): x86-64's
VERSION_SCRIPT := -Wl,--version-script=preload/versions.map
SHIM_VERSIONS := $(if $(filter x86_64%,$(shell $(CC) -dumpmachine)),$(VERSION_SCRIPT))
# the read-mostly variables' lines (base/line.h's CP_READ_MOSTLY): GNU ld's and lld's INSERT;
# a linker without it (gold) leaves the section where it falls, lines not its own
READ_MOSTLY := $(shell echo 'int x;' | $(CC) $(LDFLAGS) -shared -fPIC -x c - -Wl,-T,base/readmostly.ld -o /dev/null 2>/dev/null && echo -Wl,-T,base/readmostly.ld)
$(B)/libctrprof.so: $(PRELOAD_OBJ) $(B)/libcore.a preload/versions.map base/readmostly.ld
	$(CC) -shared $(SAN) $(SHIM_OPT) $(SHIM_LTO) $(CFLAGS) $(LDFLAGS) -Wl,-soname,libctrprof.so $(SHIM_VERSIONS) $(READ_MOSTLY) -o $@ $(PRELOAD_OBJ) $(B)/libcore.a -ldl -lpthread -Wl,-z,nodelete -Wl,-z,now -Wl,--no-undefined

$(B)/ctrprof: $(TOOL_OBJ) $(TOOL_CORE_OBJ) $(B)/libcore.a
	$(CC) $(SAN) $(CFLAGS) $(LDFLAGS) -Wl,-Map,$(B)/ctrprof.map -o $@ $(TOOL_OBJ) $(TOOL_CORE_OBJ) $(B)/libcore.a $(DW_LIBS) $(Z_LIBS) $(ZSTD_LIBS) $(MHD_LIBS) $(CURSES_LIBS) -lm -lpthread -ldl

# (the offline reader too: unit_util.h reads the files the tests write)
$(B)/libread.a: $(READ_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(B)/tests/%: tests/unit/%.c $(B)/libcore.a $(B)/libread.a Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SHIM) -fvisibility=default -Itests/unit -DCP_SRCDIR='"$(CURDIR)"' $(USER_CFLAGS) $(DEPFLAGS) $(LDFLAGS) -o $@ $< $(B)/libread.a $(B)/libcore.a $(CMOCKA_LIBS) $(ZSTD_LIBS) -lm -lpthread -ldl

# The symbolizer's test links the symbolizer and libdw (the tool's side, not the engine's).
$(B)/tests/test_symbolize: tests/unit/test_symbolize.c $(B)/obj/symbolize/symbolize.o Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TOOL) -Isymbolize -Itests/unit $(USER_CFLAGS) $(DEPFLAGS) $(LDFLAGS) -o $@ $< $(B)/obj/symbolize/symbolize.o $(CMOCKA_LIBS) $(DW_LIBS) -ldl

# Test and demo programs: built plainly (with frame pointers and debug info) so that what
# the profiler sees is what a user's program looks like.
$(B)/progs/%: tests/programs/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -pthread -o $@ $< -ldl -lm

$(B)/progs/%: tests/programs/%.cc
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -g -O1 -fno-omit-frame-pointer -pthread -o $@ $<

$(B)/progs/fibers: tests/programs/boost/fibers.cc
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -g -O1 -fno-omit-frame-pointer -pthread -o $@ $< -lboost_context

$(B)/progs/%: demo/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -pthread -o $@ $< -ldl -lm

$(B)/progs/%: bench/progs/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O2 -fno-omit-frame-pointer -pthread -o $@ $<

units: $(UNIT_BIN)

# what the compiler found each object and unit test to include (-MMD -MP)
-include $(wildcard $(B)/obj/*/*.d $(B)/obj/toolcore/*/*.d $(B)/tests/*.d $(B)/bench_micro.d)

install: $(B)/libctrprof.so $(B)/ctrprof
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(MANDIR)
	$(INSTALL) -m 755 $(B)/ctrprof $(DESTDIR)$(BINDIR)/ctrprof
	$(INSTALL) -m 644 $(B)/libctrprof.so $(DESTDIR)$(LIBDIR)/libctrprof.so
	$(INSTALL) -m 644 docs/ctrprof.1 $(DESTDIR)$(MANDIR)/ctrprof.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/ctrprof $(DESTDIR)$(LIBDIR)/libctrprof.so $(DESTDIR)$(MANDIR)/ctrprof.1
	-rmdir $(DESTDIR)$(LIBDIR) 2>/dev/null

# The bundled demo, end to end: profile it at a fine rate, then print the report.
DEMO_DIR ?= $(B)/demo-out
demo: all
	@rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	$(B)/ctrprof run --rate 4096 --dir $(DEMO_DIR) -- $(B)/progs/demo
	$(B)/ctrprof report $(DEMO_DIR)

# The whole suite, as CI runs it: release units and e2e drivers, the unit tests again under
# ASan+UBSan and under TSan (and the ctrprof command under ASan+UBSan, which
# tests/e2e/toolsan.sh runs through the drivers of its commands), and a bounded fuzzing
# run; one summary line at the end.
FUZZ_TEST_SECONDS ?= 20
test: all units
	$(MAKE) B=$(B)-asan SAN="$(ASAN)" OPT=-O1 units $(B)-asan/ctrprof
	$(MAKE) B=$(B)-tsan SAN="$(TSAN)" OPT=-O1 units
	$(MAKE) $(FUZZ_BIN)
	tests/run.sh $(B) $(B)-asan $(B)-tsan --fuzz $(FUZZ_TEST_SECONDS) $(FUZZ_BIN)

# The real-program compatibility suite alone (it is also part of make test).
test-compat: all
	B=$(B) bash tests/e2e/compat.sh

# Only the release build's tests (quick iteration).
test-quick: all units
	tests/run.sh $(B)

# Sanitizer builds live in their own trees so they never mix with the release objects.
ASAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
TSAN := -fsanitize=thread
test-asan:
	$(MAKE) B=$(B)-asan SAN="$(ASAN)" OPT=-O1 units
	tests/run.sh --units-only $(B)-asan

test-tsan:
	$(MAKE) B=$(B)-tsan SAN="$(TSAN)" OPT=-O1 units
	tests/run.sh --units-only $(B)-tsan

test-san: test-asan test-tsan

FUZZ_SECONDS ?= 60
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
# Fuzz targets: clang, their own flags (not the user's: they are for $(CC)), each source
# compiled to its own object under build-fuzz/obj/ with -MMD -MP like every other object.
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Ibase -Icore -Icfile -Itools -Isymbolize $(DW_CFLAGS) \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
fuzz_obj = $(patsubst %.c,build-fuzz/obj/%.o,$(1))
build-fuzz/obj/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(DEPFLAGS) -c $< -o $@

# The counter-file reader.
build-fuzz/%: $(call fuzz_obj,tests/fuzz/%.c $(CFILE_SRC) base/log.c)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $^

# The CFI walker's parser, alone (pure: core/ehframe.c needs nothing else).
build-fuzz/fuzz_unwind: $(call fuzz_obj,tests/fuzz/fuzz_unwind.c core/ehframe.c)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $^

# The report path: loading, merging, unbiasing, symbolizing and every view.
FUZZ_REPORT_SRC := $(filter-out tools/main.c tools/run.c tools/dump.c tools/serve.c tools/serve_data.c tools/top.c,$(TOOL_SRC)) $(CFILE_SRC) base/log.c $(READ_SRC)
build-fuzz/fuzz_report: $(call fuzz_obj,tests/fuzz/fuzz_report.c $(FUZZ_REPORT_SRC))
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $^ $(DW_LIBS) $(Z_LIBS) $(ZSTD_LIBS) -lm

# Packed profiles: the unpack, then the reader on what it made.
build-fuzz/fuzz_packed: $(call fuzz_obj,tests/fuzz/fuzz_packed.c cfile/packed.c $(CFILE_SRC) base/log.c)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $^ $(ZSTD_LIBS)

# What `ctrprof run` reads of the executable it is given (ELF headers, notes).
build-fuzz/fuzz_exe: $(call fuzz_obj,tests/fuzz/fuzz_exe.c tools/exe.c)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $^

-include $(wildcard build-fuzz/obj/*/*.d build-fuzz/obj/*/*/*.d)

fuzz: $(FUZZ_BIN)
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

# Benchmarks (issue 7): interleaved runs against the baseline of the same run; writes
# BENCHMARKS.md and bench/overhead.png. bench-quick: one repetition of two workloads.
$(B)/bench_micro: bench/micro.c $(B)/libcore.a Makefile
	$(CC) $(CFLAGS_SHIM) -fvisibility=default $(USER_CFLAGS) $(DEPFLAGS) $(LDFLAGS) -o $@ $< $(B)/libcore.a -lm -lpthread -ldl

bench: all $(B)/bench_micro
	./scripts/deps.sh --bench
	python3 bench/bench.py --build $(B) --reps $(or $(REPS),5)

bench-quick: all
	python3 bench/bench.py --build $(B) --quick

# The program shapes of issue 23 alone (also part of make bench): deep distinct stacks,
# small-object churn, random sizes, thread churn, lock-heavy programs.
bench-shapes: all
	python3 bench/shapes.py --build $(B) --reps $(or $(REPS),3)

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(B) $(B)-asan $(B)-tsan $(if $(filter build,$(B)),build-fuzz)


.PHONY: install uninstall test-compat bench-quick bench-shapes demo all units test test-quick test-asan test-tsan test-san fuzz bench format format-check clean
.SECONDARY:
