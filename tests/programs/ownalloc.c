/*
 * ownalloc.c — a program with an allocator of its own (as Chromium's PartitionAlloc, or a
 * statically linked jemalloc): 64 MiB of objects carved from mmap'd arenas, never
 * through malloc, while two threads contend for a mutex (so the shim is seen working:
 * block samples). Prints the bytes it allocated.
 */
#define _GNU_SOURCE
#include <pthread.h>
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

static void *holder(void *arg)
{
    for (int i = 0; i < 5; i++) {
        pthread_mutex_lock(&m);
        usleep(20000);
        pthread_mutex_unlock(&m);
        usleep(1000);
    }
    return arg;
}

int main(void)
{
    pthread_t t;
    pthread_create(&t, NULL, holder, NULL);
    size_t total = 0;
    for (int i = 0; i < 5; i++) {
        usleep(5000);
        pthread_mutex_lock(&m);
        for (int k = 0; k < 13107; k++) {
            char *p = my_alloc(1024);
            if (p)
                memset(p, k, 16), total += 1024;
        }
        pthread_mutex_unlock(&m);
    }
    pthread_join(t, NULL);
    printf("%zu\n", total);
    return 0;
}
