build2/obj/preload/shim.o: preload/shim.c preload/shim.h base/options.h \
 core/prof.h core/contention.h core/live.h core/meta.h core/sample.h \
 core/stack.h base/version.h preload/early.h base/log.h base/spin.h \
 base/rawsys.h
preload/shim.h:
base/options.h:
core/prof.h:
core/contention.h:
core/live.h:
core/meta.h:
core/sample.h:
core/stack.h:
base/version.h:
preload/early.h:
base/log.h:
base/spin.h:
base/rawsys.h:
