build2/obj/tools/report.o: tools/report.c tools/cmds.h cfile/cfile.h \
 tools/inputs.h tools/why.h tools/profile.h symbolize/symbolize.h \
 tools/views.h
tools/cmds.h:
cfile/cfile.h:
tools/inputs.h:
tools/why.h:
tools/profile.h:
symbolize/symbolize.h:
tools/views.h:
