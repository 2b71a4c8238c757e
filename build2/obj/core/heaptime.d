build2/obj/core/heaptime.o: core/heaptime.c core/heaptime.h \
 core/stampclock.h core/arena.h core/bucket.h core/frames.h core/prof.h \
 core/contention.h core/live.h core/meta.h base/options.h core/sample.h \
 core/stack.h core/hweight.h base/log.h core/names.h base/rawsys.h \
 core/timeline.h
core/heaptime.h:
core/stampclock.h:
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
core/hweight.h:
base/log.h:
core/names.h:
base/rawsys.h:
core/timeline.h:
