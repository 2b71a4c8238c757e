build2/tests/test_forklocks: tests/unit/test_forklocks.c core/arena.h \
 core/contention.h core/live.h core/modules.h base/options.h core/prof.h \
 core/contention.h core/live.h core/meta.h core/sample.h core/stack.h \
 core/stack.h
core/arena.h:
core/contention.h:
core/live.h:
core/modules.h:
base/options.h:
core/prof.h:
core/contention.h:
core/live.h:
core/meta.h:
core/sample.h:
core/stack.h:
core/stack.h:
