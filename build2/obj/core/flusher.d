build2/obj/core/flusher.o: core/flusher.c core/prof_int.h core/bucket.h \
 core/frames.h core/prof.h core/contention.h core/live.h core/meta.h \
 base/options.h core/sample.h core/stack.h core/ring.h base/spin.h \
 base/rawsys.h core/arena.h cfile/cfile.h core/heaptime.h \
 core/stampclock.h base/log.h core/mapsnap.h core/modules.h \
 core/newproc.h core/ownstack.h base/rawsys.h
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
cfile/cfile.h:
core/heaptime.h:
core/stampclock.h:
base/log.h:
core/mapsnap.h:
core/modules.h:
core/newproc.h:
core/ownstack.h:
base/rawsys.h:
