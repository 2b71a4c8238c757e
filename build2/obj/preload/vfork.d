build2/obj/preload/vfork.o: preload/vfork.S
