build2/obj/core/stacktab.o: core/stacktab.c core/stacktab.h core/bucket.h \
 core/frames.h core/prof.h core/contention.h core/live.h core/meta.h \
 base/options.h core/sample.h core/stack.h cfile/cfile.h core/heaptime.h \
 core/stampclock.h base/log.h core/modules.h core/names.h
core/stacktab.h:
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
core/names.h:
