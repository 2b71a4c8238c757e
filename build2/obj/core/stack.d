build2/obj/core/stack.o: core/stack.c core/stack.h base/options.h \
 core/arena.h base/log.h core/mapsnap.h core/modules.h core/ownstack.h \
 base/rawsys.h base/spin.h base/rawsys.h core/unwind.h
core/stack.h:
base/options.h:
core/arena.h:
base/log.h:
core/mapsnap.h:
core/modules.h:
core/ownstack.h:
base/rawsys.h:
base/spin.h:
base/rawsys.h:
core/unwind.h:
