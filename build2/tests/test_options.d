build2/tests/test_options: tests/unit/test_options.c base/log.h \
 base/options.h
base/log.h:
base/options.h:
