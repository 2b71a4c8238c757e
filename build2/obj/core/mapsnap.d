build2/obj/core/mapsnap.o: core/mapsnap.c core/mapsnap.h core/arena.h \
 base/rawsys.h
core/mapsnap.h:
core/arena.h:
base/rawsys.h:
