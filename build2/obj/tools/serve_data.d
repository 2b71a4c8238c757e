build2/obj/tools/serve_data.o: tools/serve_data.c cfile/cfile.h \
 cfile/names_read.h cfile/cfile.h tools/profile.h symbolize/symbolize.h \
 tools/views.h tools/serve.h tools/snapshot.h
cfile/cfile.h:
cfile/names_read.h:
cfile/cfile.h:
tools/profile.h:
symbolize/symbolize.h:
tools/views.h:
tools/serve.h:
tools/snapshot.h:
