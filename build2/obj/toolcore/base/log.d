build2/obj/toolcore/base/log.o: base/log.c base/log.h
base/log.h:
