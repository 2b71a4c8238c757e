build2/obj/tools/flame.o: tools/flame.c tools/views.h tools/profile.h \
 symbolize/symbolize.h
tools/views.h:
tools/profile.h:
symbolize/symbolize.h:
