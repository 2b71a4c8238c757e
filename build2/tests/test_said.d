build2/tests/test_said: tests/unit/test_said.c \
 tests/unit/../../preload/said.c base/log.h \
 tests/unit/../../preload/shim.h base/options.h core/prof.h \
 core/contention.h core/live.h core/meta.h core/sample.h core/stack.h \
 base/version.h
tests/unit/../../preload/said.c:
base/log.h:
tests/unit/../../preload/shim.h:
base/options.h:
core/prof.h:
core/contention.h:
core/live.h:
core/meta.h:
core/sample.h:
core/stack.h:
base/version.h:
