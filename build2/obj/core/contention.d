build2/obj/core/contention.o: core/contention.c core/contention.h \
 core/arena.h base/log.h base/spin.h base/rawsys.h
core/contention.h:
core/arena.h:
base/log.h:
base/spin.h:
base/rawsys.h:
