build2/obj/core/contention_sample.o: core/contention_sample.c \
 core/contention.h
core/contention.h:
