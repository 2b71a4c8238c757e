build2/obj/tools/heapviews.o: tools/heapviews.c tools/profile.h \
 symbolize/symbolize.h tools/views.h
tools/profile.h:
symbolize/symbolize.h:
tools/views.h:
