build2/tests/test_contention: tests/unit/test_contention.c \
 core/contention.h
core/contention.h:
