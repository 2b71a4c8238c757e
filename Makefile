# ctrprof — one GNU Makefile.
#
#   make              build/libctrprof.so and build/ctrprof
#   make test         unit tests (cmocka) + end-to-end drivers, one summary line at the end
#   make test-san     the unit tests again under ASan+UBSan (build-asan/) and TSan (build-tsan/)
#   make fuzz         libFuzzer targets (clang), bounded by FUZZ_SECONDS
#   make bench        benchmarks (not part of test)
#   make format-check clang-format --dry-run over the tree
#
# Sources are found by wildcard: core/*.c is the engine (linked into both the shim and the
# tool), preload/*.c only into the shim, symbolize/*.c and tools/*.c only into the tool,
# tests/unit/test_*.c each become one cmocka binary linked with the engine.

B ?= build
CC ?= cc
PKG_CONFIG ?= pkg-config
SAN ?=
OPT ?= -O2

define need_pkg
$(if $(shell $(PKG_CONFIG) --exists $(1) && echo yes),,$(error $(1) not found by pkg-config: install $(2) (see .ci/run)))
endef

ifeq ($(filter clean format format-check,$(MAKECMDGOALS)),)
$(call need_pkg,libunwind,libunwind-dev)
$(call need_pkg,libdw,libdw-dev)
$(call need_pkg,zlib,zlib1g-dev)
$(call need_pkg,cmocka,libcmocka-dev)
$(call need_pkg,libmicrohttpd,libmicrohttpd-dev)
$(call need_pkg,ncursesw,libncurses-dev)
endif

UNWIND_CFLAGS := $(shell $(PKG_CONFIG) --cflags libunwind 2>/dev/null)
DW_CFLAGS := $(shell $(PKG_CONFIG) --cflags libdw 2>/dev/null)
DW_LIBS := $(shell $(PKG_CONFIG) --libs libdw libelf 2>/dev/null)
Z_LIBS := $(shell $(PKG_CONFIG) --libs zlib 2>/dev/null)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)
MHD_CFLAGS := $(shell $(PKG_CONFIG) --cflags libmicrohttpd 2>/dev/null)
MHD_LIBS := $(shell $(PKG_CONFIG) --libs libmicrohttpd 2>/dev/null)
CURSES_CFLAGS := $(shell $(PKG_CONFIG) --cflags ncursesw 2>/dev/null)
CURSES_LIBS := $(shell $(PKG_CONFIG) --libs ncursesw 2>/dev/null)

WARN := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes -Wmissing-prototypes
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -g $(OPT) -fPIC -fno-omit-frame-pointer $(WARN) -Icore
CFLAGS_SHIM := $(BASE_CFLAGS) -fvisibility=hidden -ftls-model=initial-exec -fno-stack-protector $(UNWIND_CFLAGS) $(SAN)
CFLAGS_TOOL := $(BASE_CFLAGS) $(DW_CFLAGS) $(MHD_CFLAGS) $(CURSES_CFLAGS) $(SAN)

CORE_SRC := $(wildcard core/*.c)
PRELOAD_SRC := $(wildcard preload/*.c)
TOOL_SRC := $(wildcard tools/*.c) $(wildcard symbolize/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
PROG_SRC := $(wildcard tests/programs/*.c) $(wildcard demo/*.c) $(wildcard bench/progs/*.c)

CORE_OBJ := $(CORE_SRC:%.c=$(B)/obj/%.o)
PRELOAD_OBJ := $(PRELOAD_SRC:%.c=$(B)/obj/%.o)
TOOL_OBJ := $(TOOL_SRC:%.c=$(B)/obj/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
PROG_BIN := $(patsubst %.c,$(B)/progs/%,$(notdir $(PROG_SRC)))
PROG_BIN += $(patsubst %.cc,$(B)/progs/%,$(notdir $(wildcard tests/programs/*.cc)))

all: $(B)/libctrprof.so $(B)/ctrprof $(PROG_BIN)

$(B)/obj/core/%.o: core/%.c $(wildcard core/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SHIM) -c $< -o $@

$(B)/obj/preload/%.o: preload/%.c $(wildcard core/*.h preload/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SHIM) -c $< -o $@

$(B)/obj/tools/%.o: tools/%.c $(wildcard core/*.h tools/*.h symbolize/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TOOL) -Isymbolize -Itools -c $< -o $@

$(B)/obj/symbolize/%.o: symbolize/%.c $(wildcard core/*.h symbolize/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TOOL) -Isymbolize -c $< -o $@

$(B)/libcore.a: $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(B)/libctrprof.so: $(PRELOAD_OBJ) $(B)/libcore.a
	$(CC) -shared $(SAN) -Wl,-soname,libctrprof.so -o $@ $(PRELOAD_OBJ) $(B)/libcore.a -ldl -lpthread -Wl,-z,nodelete -Wl,--no-undefined

$(B)/ctrprof: $(TOOL_OBJ) $(B)/libcore.a
	$(CC) $(SAN) -o $@ $(TOOL_OBJ) $(B)/libcore.a $(DW_LIBS) $(Z_LIBS) $(MHD_LIBS) $(CURSES_LIBS) -lm -lpthread -ldl

$(B)/tests/%: tests/unit/%.c $(B)/libcore.a $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SHIM) -fvisibility=default -Itests/unit -DCP_SRCDIR='"$(CURDIR)"' -o $@ $< $(B)/libcore.a $(CMOCKA_LIBS) -lm -lpthread -ldl

# The symbolizer's test links the symbolizer and libdw (the tool's side, not the engine's).
$(B)/tests/test_symbolize: tests/unit/test_symbolize.c $(B)/obj/symbolize/symbolize.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TOOL) -Isymbolize -Itests/unit -o $@ $< $(B)/obj/symbolize/symbolize.o $(CMOCKA_LIBS) $(DW_LIBS) -ldl

# Test and demo programs: built plainly (with frame pointers and debug info) so that what
# the profiler sees is what a user's program looks like.
$(B)/progs/%: tests/programs/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -pthread -o $@ $< -ldl -lm

$(B)/progs/%: tests/programs/%.cc
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -g -O1 -fno-omit-frame-pointer -pthread -o $@ $<

$(B)/progs/%: demo/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -pthread -o $@ $< -ldl -lm

$(B)/progs/%: bench/progs/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O2 -fno-omit-frame-pointer -pthread -o $@ $<

units: $(UNIT_BIN)

# The bundled demo, end to end: profile it at a fine rate, then print the report.
DEMO_DIR ?= $(B)/demo-out
demo: all
	@rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	$(B)/ctrprof run --rate 4096 --dir $(DEMO_DIR) -- $(B)/progs/demo
	$(B)/ctrprof report $(DEMO_DIR)/*.count

# The whole suite, as CI runs it: release units and e2e drivers, the unit tests again under
# ASan+UBSan and under TSan, and a bounded fuzzing run; one summary line at the end.
FUZZ_TEST_SECONDS ?= 20
test: all units
	$(MAKE) B=build-asan SAN="$(ASAN)" OPT=-O1 units
	$(MAKE) B=build-tsan SAN="$(TSAN)" OPT=-O1 units
	$(MAKE) $(FUZZ_BIN)
	tests/run.sh $(B) build-asan build-tsan --fuzz $(FUZZ_TEST_SECONDS) $(FUZZ_BIN)

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
	$(MAKE) B=build-asan SAN="$(ASAN)" OPT=-O1 units
	tests/run.sh --units-only build-asan

test-tsan:
	$(MAKE) B=build-tsan SAN="$(TSAN)" OPT=-O1 units
	tests/run.sh --units-only build-tsan

test-san: test-asan test-tsan

FUZZ_SECONDS ?= 60
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
build-fuzz/%: tests/fuzz/%.c $(CORE_SRC) $(wildcard core/*.h)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Icore -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o $@ $< $(filter core/cfile%.c core/log.c core/names_read.c,$(CORE_SRC))

# The CFI walker's parser.
build-fuzz/fuzz_unwind: tests/fuzz/fuzz_unwind.c core/unwind.c core/arena.c $(wildcard core/*.h)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Icore -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o $@ $< core/unwind.c core/arena.c

# The report path: loading, merging, unbiasing, symbolizing and every view.
FUZZ_REPORT_SRC := $(filter-out tools/main.c tools/run.c tools/dump.c tools/serve.c tools/serve_data.c tools/top.c,$(TOOL_SRC)) $(filter core/cfile%.c core/log.c core/names_read.c,$(CORE_SRC))
build-fuzz/fuzz_report: tests/fuzz/fuzz_report.c $(FUZZ_REPORT_SRC) $(wildcard core/*.h tools/*.h symbolize/*.h)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Icore -Itools -Isymbolize $(DW_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o $@ $< $(FUZZ_REPORT_SRC) $(DW_LIBS) $(Z_LIBS) -lm

fuzz: $(FUZZ_BIN)
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

# Benchmarks (issue 7): interleaved runs against the baseline of the same run; writes
# BENCHMARKS.md and bench/overhead.png. bench-quick: one repetition of two workloads.
$(B)/bench_micro: bench/micro.c $(B)/libcore.a
	$(CC) $(CFLAGS_SHIM) -fvisibility=default -o $@ $< $(B)/libcore.a -lm -lpthread -ldl

bench: all $(B)/bench_micro
	./scripts/deps.sh --bench
	python3 bench/bench.py --build $(B) --reps $(or $(REPS),5)

bench-quick: all
	python3 bench/bench.py --build $(B) --quick

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-tsan build-fuzz


.PHONY: test-compat bench-quick demo all units test test-quick test-asan test-tsan test-san fuzz bench format format-check clean
.SECONDARY:
