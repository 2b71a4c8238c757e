/* eventloop: a single-threaded server's shape for lifetimes at rate 1
 * (tests/e2e/eventloop.sh): each request allocates, frees its temporaries in a row, and
 * the loop then waits, in turn in poll, epoll_wait, select, nanosleep and a blocking read
 * of a pipe another process writes to; the objects a request keeps are freed in a row
 * first thing after the next wait. The frees in a row are the ones the profiler may leave
 * without a clock read of their own (core/events.c, "runs of frees"): their classes must
 * still be right.
 *
 *   eventloop [REQUESTS [rseq]]     (default 400)
 *
 * With "rseq" the program is an rseq user itself, as tcmalloc is: after every free it
 * points its thread's rseq area (glibc's registration) at a critical-section descriptor of
 * its own, replacing whatever was there (the profiler's switch watch among others).
 *
 * Sites (noinline, so each names its frame):
 *   req_temp   8 objects a request, freed in a row at its end: lifetimes of microseconds
 *   req_kept   4 objects a request, freed in a row after the next wait (>= 1 ms)
 *   after_wait one object a request, freed after the temporaries' run of frees and a
 *              wait (>= 1 ms: the wait interrupts the run, and is part of its lifetime)
 *   run_pause  one object a request, freed after that and a sleep of 2 ms (>= 3 ms)
 * Every wait is of at least 1 ms. Nothing else allocates after start-up (stdout is
 * written with write(2), once, at the end).
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/rseq.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEMPS 8
#define KEPT 4

static int ep, pfd[2];

/* "rseq": a descriptor of the program's own (an empty section whose abort handler is
 * preceded by the signature glibc registered with), stored after every free */
static int rseq_user;
static const uint32_t own_sig[2] __attribute__((aligned(8))) = {RSEQ_SIG, 0};
static struct rseq_cs own_cs __attribute__((aligned(32)));

static void after_free(void)
{
    if (rseq_user)
        __atomic_store_n(
            &((struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset))->rseq_cs,
            (uint64_t)(uintptr_t)&own_cs, __ATOMIC_RELAXED);
}

#define FREE(p) (free(p), after_free())

__attribute__((noinline)) static void *req_temp(size_t n)
{
    void *p = malloc(n);
    memset(p, 1, n);
    return p;
}

__attribute__((noinline)) static void *req_kept(size_t n)
{
    void *p = malloc(n);
    memset(p, 2, n);
    return p;
}

__attribute__((noinline)) static void *run_pause(void)
{
    return malloc(48);
}

__attribute__((noinline)) static void *after_wait(void)
{
    return malloc(40);
}

static void sleep_ms(long ms)
{
    struct timespec t = {0, ms * 1000000L};
    while (nanosleep(&t, &t))
        ;
}

/* a wait of at least 1 ms, of kind i % 5 (timeouts, or the writer's byte every ~1 ms) */
static void wait_1ms(unsigned i)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do {
        switch (i % 5) {
        case 0:
            poll(NULL, 0, 1);
            break;
        case 1: {
            struct epoll_event ev;
            epoll_wait(ep, &ev, 1, 1);
            break;
        }
        case 2: {
            struct timeval tv = {0, 1000};
            select(0, NULL, NULL, NULL, &tv);
            break;
        }
        case 3:
            sleep_ms(1);
            break;
        default: {
            char c;
            if (read(pfd[0], &c, 1) != 1) /* (the writer's bytes: blocks until one comes) */
                sleep_ms(1);
        }
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
    } while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 1000000L);
}

int main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 400;
    if (argc > 2 && strcmp(argv[2], "rseq") == 0) {
        if (__rseq_size < 20)
            return 4; /* (no rseq registered by glibc here) */
        own_cs.start_ip = own_cs.abort_ip = (uint64_t)(uintptr_t)&own_sig[1];
        rseq_user = 1;
    }
    ep = epoll_create1(0);
    if (ep < 0 || pipe(pfd))
        return 2;
    pid_t w = fork(); /* the writer: a byte every ~1 ms until the pipe closes */
    if (w == 0) {
        close(pfd[0]);
        for (;;) {
            sleep_ms(1);
            if (write(pfd[1], "x", 1) != 1)
                _exit(0);
        }
    }
    close(pfd[1]);
    void *kept[KEPT] = {0};
    for (unsigned i = 0; i < n; i++) {
        /* the last request's kept objects, freed in a row after the wait */
        for (unsigned k = 0; k < KEPT; k++)
            FREE(kept[k]);
        void *t[TEMPS];
        for (unsigned k = 0; k < TEMPS; k++)
            t[k] = req_temp(32 + 16 * k);
        for (unsigned k = 0; k < KEPT; k++)
            kept[k] = req_kept(64 + 32 * k);
        void *p = run_pause(), *f = after_wait();
        for (unsigned k = 0; k < TEMPS; k++)
            FREE(t[k]);
        wait_1ms(i); /* (no part of the temporaries' lifetimes; part of f's) */
        FREE(f);
        sleep_ms(2); /* (part of p's lifetime) */
        FREE(p);
        wait_1ms(i + 1);
    }
    for (unsigned k = 0; k < KEPT; k++)
        FREE(kept[k]);
    close(pfd[0]);
    waitpid(w, NULL, 0);
    char buf[64];
    int len = snprintf(buf, sizeof buf, "requests %u\n", n);
    return write(1, buf, (size_t)len) == len ? 0 : 3;
}
