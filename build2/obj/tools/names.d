build2/obj/tools/names.o: tools/names.c tools/profile.h \
 symbolize/symbolize.h
tools/profile.h:
symbolize/symbolize.h:
