/* A profiler's thread refused for a while: RLIMIT_AS is lowered to a little above what
 * the process maps, so that no new thread stack of glibc's can be mapped (pthread_create
 * says EAGAIN), then raised again. Each mode prints one line, "refused: E started: S
 * tasks: N" (E: the program's refused pthread_create's error, S: its started one's, N:
 * the entries of /proc/self/task at the end: main, the program's idle thread, and a
 * profiler's thread if it has one), then "allocs: K", the 1 MiB blocks main allocated.
 *   thrlimit create  the program's first pthread_create is refused under the limit; the
 *                    limit raised, its second one makes an idle thread.
 *   thrlimit inline  under the limit, the program makes an idle thread on a stack of its
 *                    own (pthread_attr_setstack: nothing to map), so it is multi-threaded
 *                    while nothing else can be mapped; the limit raised, the main thread
 *                    allocates 1 MiB blocks for 1.5 s and then counts.
 * Bare: N is 2 in both. A profiler whose thread was refused once, at the program's first
 * thread, and never tried again has N = 2; one that tries again has 3. */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static sem_t done;

static void *idle(void *arg)
{
    sem_wait(&done);
    return arg;
}

static int tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static long vm_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %ld", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

/* RLIMIT_AS at what is mapped now and 192 KiB: no 256 KiB (or 8 MiB) stack fits */
static int limit(struct rlimit *old)
{
    long kib = vm_kib();
    if (kib < 0 || getrlimit(RLIMIT_AS, old))
        return -1;
    struct rlimit r = *old;
    r.rlim_cur = ((rlim_t)kib + 192) * 1024;
    return setrlimit(RLIMIT_AS, &r);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char own_stack[256 * 1024] __attribute__((aligned(4096)));
/* (through a volatile pointer: the compiler drops a malloc whose block is only freed) */
static void *(*volatile alloc)(size_t) = malloc;

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "create") && strcmp(argv[1], "inline"))) {
        fprintf(stderr, "usage: thrlimit create|inline\n");
        return 2;
    }
    sem_init(&done, 0, 0);
    free(alloc(1 << 20)); /* (a profiler's ring for this thread, before the limit) */
    struct rlimit old;
    pthread_t a, b;
    int refused = 0, started, allocs = 1;
    if (limit(&old)) {
        perror("thrlimit: RLIMIT_AS");
        return 2;
    }
    if (!strcmp(argv[1], "create")) {
        refused = pthread_create(&a, NULL, idle, NULL);
        setrlimit(RLIMIT_AS, &old);
        started = pthread_create(&b, NULL, idle, NULL);
        usleep(100000);
    } else {
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setstack(&at, own_stack, sizeof own_stack);
        started = pthread_create(&b, &at, idle, NULL);
        pthread_attr_destroy(&at);
        setrlimit(RLIMIT_AS, &old);
        for (double t0 = now(); now() - t0 < 1.5;) {
            char *p = alloc(1 << 20);
            allocs++;
            if (p)
                p[0] = 1;
            free(p);
            usleep(10000);
        }
        usleep(100000);
    }
    int n = tasks();
    printf("refused: %d started: %d tasks: %d\nallocs: %d\n", refused, started, n, allocs);
    fflush(stdout);
    sem_post(&done);
    if (!started)
        pthread_join(b, NULL);
    return 0;
}
