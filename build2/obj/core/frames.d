build2/obj/core/frames.o: core/frames.c core/frames.h core/arena.h \
 core/prof.h core/contention.h core/live.h core/meta.h base/options.h \
 core/sample.h core/stack.h
core/frames.h:
core/arena.h:
core/prof.h:
core/contention.h:
core/live.h:
core/meta.h:
base/options.h:
core/sample.h:
core/stack.h:
