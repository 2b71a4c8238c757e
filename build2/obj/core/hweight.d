build2/obj/core/hweight.o: core/hweight.c core/hweight.h
core/hweight.h:
