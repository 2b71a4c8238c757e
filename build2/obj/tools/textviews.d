build2/obj/tools/textviews.o: tools/textviews.c tools/profile.h \
 symbolize/symbolize.h tools/views.h
tools/profile.h:
symbolize/symbolize.h:
tools/views.h:
