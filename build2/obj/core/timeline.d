build2/obj/core/timeline.o: core/timeline.c core/timeline.h \
 core/heaptime.h core/stampclock.h base/log.h base/rawsys.h base/spin.h \
 base/rawsys.h
core/timeline.h:
core/heaptime.h:
core/stampclock.h:
base/log.h:
base/rawsys.h:
base/spin.h:
base/rawsys.h:
