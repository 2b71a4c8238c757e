build2/obj/core/names.o: core/names.c core/names.h core/bucket.h \
 core/frames.h core/prof.h core/contention.h core/live.h core/meta.h \
 base/options.h core/sample.h core/stack.h cfile/cfile.h core/heaptime.h \
 core/stampclock.h base/log.h core/modules.h
core/names.h:
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
core/heaptime.h:
core/stampclock.h:
base/log.h:
core/modules.h:
