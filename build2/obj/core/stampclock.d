build2/obj/core/stampclock.o: core/stampclock.c core/stampclock.h
core/stampclock.h:
