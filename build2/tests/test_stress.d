build2/tests/test_stress: tests/unit/test_stress.c cfile/cfile.h \
 tests/unit/unit_util.h cfile/names_read.h cfile/cfile.h core/live.h \
 core/prof.h core/contention.h core/live.h core/meta.h base/options.h \
 core/sample.h core/stack.h
cfile/cfile.h:
tests/unit/unit_util.h:
cfile/names_read.h:
cfile/cfile.h:
core/live.h:
core/prof.h:
core/contention.h:
core/live.h:
core/meta.h:
base/options.h:
core/sample.h:
core/stack.h:
