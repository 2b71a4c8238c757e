build2/tests/test_heaptime: tests/unit/test_heaptime.c core/bucket.h \
 core/frames.h core/prof.h core/contention.h core/live.h core/meta.h \
 base/options.h core/sample.h core/stack.h core/heaptime.h \
 core/stampclock.h core/names.h core/prof.h core/timeline.h \
 core/heaptime.h
core/bucket.h:
core/frames.h:
core/prof.h:
core/contention.h:
core/live.h:
core/meta.h:
base/options.h:
core/sample.h:
core/stack.h:
core/heaptime.h:
core/stampclock.h:
core/names.h:
core/prof.h:
core/timeline.h:
core/heaptime.h:
