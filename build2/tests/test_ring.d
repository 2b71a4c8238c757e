build2/tests/test_ring: tests/unit/test_ring.c core/ring.h
core/ring.h:
