build2/tests/test_symbolize: tests/unit/test_symbolize.c \
 symbolize/symbolize.h
symbolize/symbolize.h:
