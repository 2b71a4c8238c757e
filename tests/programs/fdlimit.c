/* A program at its descriptor limit (RLIMIT_NOFILE): it lowers the limit to 32, opens
 * /dev/null until open fails, and allocates from 4,096 distinct stacks there: more
 * counters than the profile's first 16 KiB hold, and the file grows by opening its path
 * again, which the program's limit refuses.
 *   fdlimit MODE THREADS FIRST
 *     MODE     stay:    exits with every descriptor still taken
 *              recover: then closes the files it opened and exits
 *              lives:   as recover, but each leaf site's object is 2 KiB and the site
 *                       allocates a second one, kept, all freed 30 ms after the last
 *                       site's (the heap over time: the peak, 8 MiB, has every site's,
 *                       and each site frees in two lifetime classes, the second a
 *                       counter of its own)
 *              kill:    then closes them, sleeps 300 ms, allocates 10 objects in after(),
 *                       sleeps 300 ms again and kills itself with SIGKILL (what the
 *                       profile has must have been written while it ran)
 *     THREADS  1: all on the main thread; 2: the allocations and the rest on a second
 *     FIRST    file: first allocates a block of 4 MiB in before() (sampled at any rate
 *              but the sparsest: the profile exists before the limit; it must grow);
 *              nofile: nothing first (the profile must be created at the limit)
 * Sites: leaf, under recA/recB 12 deep (one stack per 12-bit k: 4,096), one object of
 * 64..70 bytes each, freed; after: 10 objects of 512 bytes, freed (at rate 64 none of
 * ten 32-byte ones was sampled once in ~150 runs, e^-5: no event, so no inline flush put
 * the waiting samples in before the kill).
 * Prints "opened N" (the descriptors it got before EMFILE) and "done" (not in kill). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char *mode;
static int fds[64], nfds;
static int lives; /* mode "lives" */
static void *held[4096];
static int nheld;

static __attribute__((noinline)) void leaf(int k)
{
    for (int j = 0; j <= lives; j++) { /* (one call site: one stack) */
        void *volatile p = malloc(lives ? 2048 : 64 + k % 7);
        if (j == 0)
            free(p);
        else if (nheld < 4096)
            held[nheld++] = p;
    }
}

static __attribute__((noinline)) void recB(int d, int k);
static __attribute__((noinline)) void recA(int d, int k)
{
    if (!d)
        leaf(k);
    else if (k & 1)
        recB(d - 1, k >> 1);
    else
        recA(d - 1, k >> 1);
    __asm__ volatile("" ::: "memory"); /* (no tail calls: each path is its own stack) */
}

static __attribute__((noinline)) void recB(int d, int k)
{
    if (!d)
        leaf(k);
    else if (k & 1)
        recB(d - 1, k >> 1);
    else
        recA(d - 1, k >> 1);
    __asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void before(void)
{
    void *volatile p = malloc(4 << 20);
    free(p);
}

static __attribute__((noinline)) void after(void)
{
    for (int i = 0; i < 10; i++) {
        void *volatile p = malloc(512);
        free(p);
    }
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

static void *run(void *arg)
{
    for (int k = 0; k < 4096; k++)
        recA(12, k);
    if (lives) { /* the peak: every site's kept object in use; then 30 ms old */
        pause_ms(30);
        while (nheld)
            free(held[--nheld]);
    }
    if (strcmp(mode, "stay") != 0)
        while (nfds)
            close(fds[--nfds]);
    if (strcmp(mode, "kill") == 0) {
        pause_ms(300);
        after();
        pause_ms(300);
        kill(getpid(), SIGKILL);
    }
    return arg;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    mode = argv[1];
    lives = strcmp(mode, "lives") == 0;
    int threads = atoi(argv[2]);
    if (strcmp(argv[3], "file") == 0)
        before();
    struct rlimit rl = {32, 32};
    if (setrlimit(RLIMIT_NOFILE, &rl)) {
        perror("setrlimit");
        return 1;
    }
    int fd;
    while (nfds < 64 && (fd = open("/dev/null", O_RDONLY)) >= 0)
        fds[nfds++] = fd;
    printf("opened %d\n", nfds);
    fflush(stdout);
    if (threads == 2) {
        pthread_t t;
        if (pthread_create(&t, NULL, run, NULL))
            return 1;
        pthread_join(t, NULL);
    } else {
        run(NULL);
    }
    printf("done\n");
    return 0;
}
