build2/obj/core/bucket.o: core/bucket.c core/bucket.h core/frames.h \
 core/prof.h core/contention.h core/live.h core/meta.h base/options.h \
 core/sample.h core/stack.h core/arena.h base/log.h core/newproc.h \
 base/rawsys.h base/spin.h base/rawsys.h
core/bucket.h:
core/frames.h:
core/prof.h:
core/contention.h:
core/live.h:
core/meta.h:
base/options.h:
core/sample.h:
core/stack.h:
core/arena.h:
base/log.h:
core/newproc.h:
base/rawsys.h:
base/spin.h:
base/rawsys.h:
