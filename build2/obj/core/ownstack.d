build2/obj/core/ownstack.o: core/ownstack.c core/ownstack.h base/log.h \
 base/rawsys.h base/spin.h base/rawsys.h
core/ownstack.h:
base/log.h:
base/rawsys.h:
base/spin.h:
base/rawsys.h:
