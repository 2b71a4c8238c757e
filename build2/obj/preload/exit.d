build2/obj/preload/exit.o: preload/exit.c core/prof.h core/contention.h \
 core/live.h core/meta.h base/options.h core/sample.h core/stack.h \
 base/rawsys.h preload/shim.h base/version.h
core/prof.h:
core/contention.h:
core/live.h:
core/meta.h:
base/options.h:
core/sample.h:
core/stack.h:
base/rawsys.h:
preload/shim.h:
base/version.h:
