build2/obj/tools/readfile.o: tools/readfile.c tools/cmds.h cfile/cfile.h
tools/cmds.h:
cfile/cfile.h:
