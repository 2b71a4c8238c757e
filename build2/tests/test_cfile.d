build2/tests/test_cfile: tests/unit/test_cfile.c cfile/cfile.h
cfile/cfile.h:
