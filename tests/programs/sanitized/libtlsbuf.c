/* A library with thread-local storage of its own, for sanitized.c's "dlopen": loaded with
 * dlopen, so each thread's block of it is allocated by the dynamic linker at the thread's
 * first access (malloc), and freed with the thread. */
#include <string.h>

static __thread char buf[4096];

unsigned tls_touch(unsigned k)
{
    memset(buf, (int)(k & 0xff), sizeof buf);
    unsigned s = 0;
    for (unsigned i = 0; i < sizeof buf; i += 64)
        s += (unsigned char)buf[i];
    return s;
}
