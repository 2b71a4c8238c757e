build2/obj/core/ring.o: core/ring.c core/ring.h base/rawsys.h base/spin.h \
 base/rawsys.h
core/ring.h:
base/rawsys.h:
base/spin.h:
base/rawsys.h:
