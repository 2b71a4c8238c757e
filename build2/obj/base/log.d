build2/obj/base/log.o: base/log.c base/log.h
base/log.h:
