build2/obj/core/newproc.o: core/newproc.c core/newproc.h \
 core/contention.h core/prof.h core/live.h core/meta.h base/options.h \
 core/sample.h core/stack.h
core/newproc.h:
core/contention.h:
core/prof.h:
core/live.h:
core/meta.h:
base/options.h:
core/sample.h:
core/stack.h:
