/* lifekill: one allocation site whose objects die in two lifetime classes, then SIGKILL
 * (tests/e2e/heaptime.sh: a site's lifetime classes are in the file at every event).
 *
 *   lifekill N
 *
 * The site (obj) allocates N objects of 32 bytes freed at once (lifetime well under
 * 100 ms), then N more, freed together after 200 ms of nanosleep (lifetime >= 200 ms), and
 * the program SIGKILLs itself at once. Nothing else allocates (write(2), static slots).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAXN 4096
static void *slot[MAXN];
static volatile int keep;

static __attribute__((noinline)) void *obj(void)
{
    void *p = malloc(32);
    if (p)
        *(volatile char *)p = 1;
    return p;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100;
    if (n < 1 || n > MAXN)
        return 2;
    /* one call site, one stack for both phases (keep is volatile: the compiler cannot
     * split the loop in two) */
    for (keep = 0; keep < 2; keep++)
        for (long i = 0; i < n; i++) {
            slot[i] = obj();
            if (!keep)
                free(slot[i]);
        }
    struct timespec ts = {0, 200 * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
    for (long i = 0; i < n; i++)
        free(slot[i]);
    kill(getpid(), SIGKILL);
    return 0;
}
