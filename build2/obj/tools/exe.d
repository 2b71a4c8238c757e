build2/obj/tools/exe.o: tools/exe.c tools/exe.h
tools/exe.h:
