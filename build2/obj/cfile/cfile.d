build2/obj/cfile/cfile.o: cfile/cfile.c cfile/cfile.h
cfile/cfile.h:
