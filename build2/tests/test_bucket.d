build2/tests/test_bucket: tests/unit/test_bucket.c core/bucket.h \
 core/frames.h core/prof.h core/contention.h core/live.h core/meta.h \
 base/options.h core/sample.h core/stack.h core/frames.h core/prof.h
core/bucket.h:
core/frames.h:
core/prof.h:
core/contention.h:
core/live.h:
core/meta.h:
base/options.h:
core/sample.h:
core/stack.h:
core/frames.h:
core/prof.h:
