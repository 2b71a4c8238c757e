build2/obj/core/unwind.o: core/unwind.c core/unwind.h core/arena.h
core/unwind.h:
core/arena.h:
