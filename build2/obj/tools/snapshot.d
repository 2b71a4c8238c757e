build2/obj/tools/snapshot.o: tools/snapshot.c tools/snapshot.h \
 tools/profile.h symbolize/symbolize.h cfile/cfile.h tools/dirlist.h
tools/snapshot.h:
tools/profile.h:
symbolize/symbolize.h:
cfile/cfile.h:
tools/dirlist.h:
