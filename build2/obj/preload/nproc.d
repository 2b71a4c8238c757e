build2/obj/preload/nproc.o: preload/nproc.c core/prof.h core/contention.h \
 core/live.h core/meta.h base/options.h core/sample.h core/stack.h \
 preload/shim.h base/version.h
core/prof.h:
core/contention.h:
core/live.h:
core/meta.h:
base/options.h:
core/sample.h:
core/stack.h:
preload/shim.h:
base/version.h:
