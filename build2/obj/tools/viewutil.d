build2/obj/tools/viewutil.o: tools/viewutil.c tools/views.h \
 tools/profile.h symbolize/symbolize.h
tools/views.h:
tools/profile.h:
symbolize/symbolize.h:
