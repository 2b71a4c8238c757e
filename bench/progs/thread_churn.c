/* Shape (d) of issue 23: a server that keeps creating and retiring threads, two alive at a
 * time. Each thread serves a few "requests": buffers of random sizes, some parked in a
 * shared, mutex-guarded cache of 1024 entries that later threads replace (so objects
 * outlive the threads that allocated them).
 *   thread_churn [THREADS] [fixed]   default 20000 threads; "fixed": every buffer 4 KiB
 *                            (so that sizes do not multiply buckets, and what grows with
 *                            the number of threads shows alone); prints "threads N" and, on
 *                            stderr, the peak and final resident set ("vmhwm_kib K vmrss_kib R") */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE 1024
static void *cache[CACHE];
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

static int fixed;

static void *serve(void *arg)
{
    uint64_t x = 88172645463325252ull ^ (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull;
    for (int req = 0; req < 40; req++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t sz = fixed ? 4096 : 64 + (x >> 40) % 16384;
        char *buf = malloc(sz);
        memset(buf, (int)req, sz < 256 ? sz : 256);
        char *hdr = malloc(96);
        hdr[0] = buf[0];
        free(hdr);
        if ((req & 7) == 0) {
            pthread_mutex_lock(&cache_mu);
            unsigned k = (unsigned)(x % CACHE);
            free(cache[k]);
            cache[k] = buf;
            pthread_mutex_unlock(&cache_mu);
        } else {
            free(buf);
        }
    }
    return NULL;
}

static long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n))
            v = atol(line + n);
    if (f)
        fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20000;
    fixed = argc > 2 && !strcmp(argv[2], "fixed");
    pthread_t slot[2];
    int used[2] = {0, 0};
    long done = 0;
    for (long i = 0; i < n; i++) {
        int s = (int)(i & 1);
        if (used[s])
            pthread_join(slot[s], NULL);
        used[s] = pthread_create(&slot[s], NULL, serve, (void *)(intptr_t)i) == 0;
        done += used[s];
    }
    for (int s = 0; s < 2; s++)
        if (used[s])
            pthread_join(slot[s], NULL);
    printf("threads %ld\n", done);
    fprintf(stderr, "vmhwm_kib %ld vmrss_kib %ld\n", status_kib("VmHWM:"), status_kib("VmRSS:"));
    for (int k = 0; k < CACHE; k++)
        free(cache[k]);
    return 0;
}
