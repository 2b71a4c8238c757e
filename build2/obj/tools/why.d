build2/obj/tools/why.o: tools/why.c tools/why.h cfile/cfile.h \
 tools/profile.h symbolize/symbolize.h
tools/why.h:
cfile/cfile.h:
tools/profile.h:
symbolize/symbolize.h:
