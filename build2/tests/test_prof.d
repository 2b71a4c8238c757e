build2/tests/test_prof: tests/unit/test_prof.c core/arena.h core/bucket.h \
 core/frames.h core/prof.h core/contention.h core/live.h core/meta.h \
 base/options.h core/sample.h core/stack.h cfile/cfile.h core/live.h \
 core/modules.h core/names.h core/prof.h core/stack.h \
 tests/unit/unit_util.h cfile/names_read.h cfile/cfile.h
core/arena.h:
core/bucket.h:
core/frames.h:
core/prof.h:
core/contention.h:
core/live.h:
core/meta.h:
base/options.h:
core/sample.h:
core/stack.h:
cfile/cfile.h:
core/live.h:
core/modules.h:
core/names.h:
core/prof.h:
core/stack.h:
tests/unit/unit_util.h:
cfile/names_read.h:
cfile/cfile.h:
