build2/obj/core/arena.o: core/arena.c core/arena.h base/rawsys.h \
 base/spin.h base/rawsys.h
core/arena.h:
base/rawsys.h:
base/spin.h:
base/rawsys.h:
