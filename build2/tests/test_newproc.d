build2/tests/test_newproc: tests/unit/test_newproc.c core/newproc.h \
 core/prof.h core/contention.h core/live.h core/meta.h base/options.h \
 core/sample.h core/stack.h
core/newproc.h:
core/prof.h:
core/contention.h:
core/live.h:
core/meta.h:
base/options.h:
core/sample.h:
core/stack.h:
