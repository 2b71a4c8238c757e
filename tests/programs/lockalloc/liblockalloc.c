/* liblockalloc.so for tests/e2e/shim.sh: an allocator behind the shim that holds a mutex
 * around every call, as jemalloc does for its arenas. The mutex is taken through
 * pthread_mutex_lock, i.e. through the shim's hook, so a contended wait is recorded as a
 * block event inside the allocator's critical section: the profiler must not allocate
 * there (it would wait on this same mutex, held by its own thread: a deadlock). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

static pthread_mutex_t arena = PTHREAD_MUTEX_INITIALIZER;
static void *(*r_malloc)(size_t), *(*r_calloc)(size_t, size_t), *(*r_realloc)(void *, size_t);
static void (*r_free)(void *);
static char early[4096]; /* dlsym's own calloc, before the pointers are set */
static size_t early_used;

static void resolve(void)
{
    r_malloc = dlsym(RTLD_NEXT, "malloc");
    r_free = dlsym(RTLD_NEXT, "free");
    r_realloc = dlsym(RTLD_NEXT, "realloc");
    r_calloc = dlsym(RTLD_NEXT, "calloc");
}

static void spin(void)
{
    for (volatile int i = 0; i < 200; i++) /* long enough to be contended */
        ;
}

void *malloc(size_t n)
{
    if (!r_malloc)
        resolve();
    pthread_mutex_lock(&arena);
    spin();
    void *p = r_malloc(n);
    pthread_mutex_unlock(&arena);
    return p;
}

void *calloc(size_t a, size_t b)
{
    if (!r_calloc) {
        size_t n = (a * b + 15) & ~(size_t)15;
        if (early_used + n > sizeof early)
            return NULL;
        early_used += n;
        return early + early_used - n; /* zeroed static storage */
    }
    pthread_mutex_lock(&arena);
    spin();
    void *p = r_calloc(a, b);
    pthread_mutex_unlock(&arena);
    return p;
}

void *realloc(void *q, size_t n)
{
    if (!r_realloc)
        resolve();
    pthread_mutex_lock(&arena);
    spin();
    void *p = r_realloc(q, n);
    pthread_mutex_unlock(&arena);
    return p;
}

void free(void *p)
{
    if (p >= (void *)early && p < (void *)(early + sizeof early))
        return;
    if (!r_free)
        resolve();
    pthread_mutex_lock(&arena);
    r_free(p);
    pthread_mutex_unlock(&arena);
}
