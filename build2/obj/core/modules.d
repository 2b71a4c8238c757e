build2/obj/core/modules.o: core/modules.c core/modules.h core/arena.h \
 core/newproc.h core/prof.h core/contention.h core/live.h core/meta.h \
 base/options.h core/sample.h core/stack.h base/spin.h base/rawsys.h
core/modules.h:
core/arena.h:
core/newproc.h:
core/prof.h:
core/contention.h:
core/live.h:
core/meta.h:
base/options.h:
core/sample.h:
core/stack.h:
base/spin.h:
base/rawsys.h:
