build2/obj/tools/dump.o: tools/dump.c cfile/cfile.h cfile/names_read.h \
 cfile/cfile.h tools/cmds.h
cfile/cfile.h:
cfile/names_read.h:
cfile/cfile.h:
tools/cmds.h:
