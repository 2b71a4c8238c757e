build2/obj/tools/pprof.o: tools/pprof.c tools/views.h tools/profile.h \
 symbolize/symbolize.h
tools/views.h:
tools/profile.h:
symbolize/symbolize.h:
