build2/obj/tools/main.o: tools/main.c tools/cmds.h cfile/cfile.h \
 base/version.h
tools/cmds.h:
cfile/cfile.h:
base/version.h:
