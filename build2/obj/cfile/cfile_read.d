build2/obj/cfile/cfile_read.o: cfile/cfile_read.c cfile/cfile.h \
 base/log.h
cfile/cfile.h:
base/log.h:
