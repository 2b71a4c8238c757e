build2/obj/toolcore/cfile/names_read.o: cfile/names_read.c \
 cfile/names_read.h cfile/cfile.h
cfile/names_read.h:
cfile/cfile.h:
