build2/obj/preload/sandbox.o: preload/sandbox.c core/prof.h \
 core/contention.h core/live.h core/meta.h base/options.h core/sample.h \
 core/stack.h preload/shim.h base/version.h
core/prof.h:
core/contention.h:
core/live.h:
core/meta.h:
base/options.h:
core/sample.h:
core/stack.h:
preload/shim.h:
base/version.h:
