build2/obj/tools/top.o: tools/top.c tools/cmds.h cfile/cfile.h \
 tools/views.h tools/profile.h symbolize/symbolize.h tools/snapshot.h
tools/cmds.h:
cfile/cfile.h:
tools/views.h:
tools/profile.h:
symbolize/symbolize.h:
tools/snapshot.h:
