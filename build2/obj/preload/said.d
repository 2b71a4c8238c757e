build2/obj/preload/said.o: preload/said.c base/log.h preload/shim.h \
 base/options.h core/prof.h core/contention.h core/live.h core/meta.h \
 core/sample.h core/stack.h base/version.h
base/log.h:
preload/shim.h:
base/options.h:
core/prof.h:
core/contention.h:
core/live.h:
core/meta.h:
core/sample.h:
core/stack.h:
base/version.h:
