build2/obj/toolcore/cfile/cfile.o: cfile/cfile.c cfile/cfile.h
cfile/cfile.h:
