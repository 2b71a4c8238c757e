build2/obj/core/resolve.o: core/resolve.c core/prof_int.h core/bucket.h \
 core/frames.h core/prof.h core/contention.h core/live.h core/meta.h \
 base/options.h core/sample.h core/stack.h core/ring.h base/spin.h \
 base/rawsys.h core/arena.h core/heaptime.h core/stampclock.h \
 core/hweight.h
core/prof_int.h:
core/bucket.h:
core/frames.h:
core/prof.h:
core/contention.h:
core/live.h:
core/meta.h:
base/options.h:
core/sample.h:
core/stack.h:
core/ring.h:
base/spin.h:
base/rawsys.h:
core/arena.h:
core/heaptime.h:
core/stampclock.h:
core/hweight.h:
