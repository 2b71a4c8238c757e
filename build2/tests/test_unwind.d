build2/tests/test_unwind: tests/unit/test_unwind.c base/options.h \
 core/stack.h core/unwind.h
base/options.h:
core/stack.h:
core/unwind.h:
