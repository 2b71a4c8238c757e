build2/obj/preload/exec.o: preload/exec.c base/log.h core/prof.h \
 core/contention.h core/live.h core/meta.h base/options.h core/sample.h \
 core/stack.h preload/shim.h base/version.h
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
