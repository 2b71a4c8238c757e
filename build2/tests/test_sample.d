build2/tests/test_sample: tests/unit/test_sample.c core/sample.h
core/sample.h:
