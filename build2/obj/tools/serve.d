build2/obj/tools/serve.o: tools/serve.c tools/cmds.h cfile/cfile.h \
 tools/serve.h tools/snapshot.h tools/profile.h symbolize/symbolize.h
tools/cmds.h:
cfile/cfile.h:
tools/serve.h:
tools/snapshot.h:
tools/profile.h:
symbolize/symbolize.h:
