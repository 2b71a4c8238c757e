/* libfirstlate.so for tests/e2e/shim.sh: preloaded after the shim, so finalised after it;
 * its destructor makes the first allocation of a program that allocates nothing itself:
 * a process whose first sample comes after the profiler's final flush. */
#include <stdlib.h>
static void *volatile keep;
__attribute__((destructor)) static void first_late(void)
{
    keep = malloc(4321);
}
