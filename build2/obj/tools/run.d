build2/obj/tools/run.o: tools/run.c tools/cmds.h cfile/cfile.h \
 tools/exe.h base/options.h tools/why.h
tools/cmds.h:
cfile/cfile.h:
tools/exe.h:
base/options.h:
tools/why.h:
