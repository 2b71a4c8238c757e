build2/obj/tools/inputs.o: tools/inputs.c tools/inputs.h cfile/cfile.h \
 tools/cmds.h tools/dirlist.h tools/profile.h symbolize/symbolize.h
tools/inputs.h:
cfile/cfile.h:
tools/cmds.h:
tools/dirlist.h:
tools/profile.h:
symbolize/symbolize.h:
