build2/obj/preload/malloc.o: preload/malloc.c preload/early.h core/prof.h \
 core/contention.h core/live.h core/meta.h base/options.h core/sample.h \
 core/stack.h preload/shim.h base/version.h
preload/early.h:
core/prof.h:
core/contention.h:
core/live.h:
core/meta.h:
base/options.h:
core/sample.h:
core/stack.h:
preload/shim.h:
base/version.h:
