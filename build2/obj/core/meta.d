build2/obj/core/meta.o: core/meta.c core/meta.h base/options.h \
 cfile/cfile.h base/log.h
core/meta.h:
base/options.h:
cfile/cfile.h:
base/log.h:
