build2/obj/toolcore/base/options.o: base/options.c base/options.h \
 base/log.h
base/options.h:
base/log.h:
