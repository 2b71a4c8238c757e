build2/obj/core/live.o: core/live.c core/live.h core/arena.h base/spin.h \
 base/rawsys.h
core/live.h:
core/arena.h:
base/spin.h:
base/rawsys.h:
