build2/obj/symbolize/symbolize.o: symbolize/symbolize.c \
 symbolize/symbolize.h
symbolize/symbolize.h:
