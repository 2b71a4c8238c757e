build2/obj/preload/early.o: preload/early.c preload/early.h base/log.h \
 core/prof.h core/contention.h core/live.h core/meta.h base/options.h \
 core/sample.h core/stack.h preload/shim.h base/version.h
preload/early.h:
base/log.h:
core/prof.h:
core/contention.h:
core/live.h:
core/meta.h:
base/options.h:
core/sample.h:
core/stack.h:
preload/shim.h:
base/version.h:
