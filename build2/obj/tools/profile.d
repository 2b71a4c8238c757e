build2/obj/tools/profile.o: tools/profile.c tools/profile.h \
 symbolize/symbolize.h cfile/cfile.h cfile/names_read.h cfile/cfile.h \
 tools/cmds.h tools/views.h
tools/profile.h:
symbolize/symbolize.h:
cfile/cfile.h:
cfile/names_read.h:
cfile/cfile.h:
tools/cmds.h:
tools/views.h:
