/*
 * ownalloc.c — a program with an allocator of its own (as Chromium's PartitionAlloc, or a
 * statically linked jemalloc): 64 MiB of objects carved from mmap'd arenas, never
 * through malloc, while two threads contend for a mutex (so the shim is seen working:
 * block samples). Prints the bytes it allocated. The contention is made by handshakes:
 * the holder holds the mutex until the main thread sleeps on it (its lock word says so).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uint8_t *arena;
static size_t used, cap;

static void *my_alloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (used + n > cap) {
        cap = (size_t)16 << 20;
        arena = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (arena == MAP_FAILED)
            return NULL;
        used = 0;
    }
    void *p = arena + used;
    used += n;
    return p;
}

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static sem_t held, round_done;

static void *holder(void *arg)
{
    for (int i = 0; i < 5; i++) {
        pthread_mutex_lock(&m);
        sem_post(&held);
        /* until the main thread sleeps on m (glibc's lock word: 2), 5 s at most */
        for (int k = 0; k < 5000 && __atomic_load_n(&m.__data.__lock, __ATOMIC_ACQUIRE) != 2; k++)
            usleep(1000); /* a poll */
        usleep(20000);    /* the hold: the workload */
        pthread_mutex_unlock(&m);
        sem_wait(&round_done);
    }
    return arg;
}

int main(void)
{
    pthread_t t;
    sem_init(&held, 0, 0);
    sem_init(&round_done, 0, 0);
    pthread_create(&t, NULL, holder, NULL);
    size_t total = 0;
    for (int i = 0; i < 5; i++) {
        sem_wait(&held);
        pthread_mutex_lock(&m);
        for (int k = 0; k < 13107; k++) {
            char *p = my_alloc(1024);
            if (p)
                memset(p, k, 16), total += 1024;
        }
        pthread_mutex_unlock(&m);
        sem_post(&round_done);
    }
    pthread_join(t, NULL);
    printf("%zu\n", total);
    return 0;
}
