build2/obj/tools/dirlist.o: tools/dirlist.c tools/dirlist.h
tools/dirlist.h:
