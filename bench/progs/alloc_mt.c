/* Multi-threaded allocation microbenchmark: each thread keeps a window of live objects of
 * mixed small sizes, replacing one per iteration; every 8th object is handed to the next
 * thread to free (cross-thread frees). Deterministic; prints a checksum. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW 256
static const size_t sizes[] = {16, 24, 32, 48, 64, 96, 128, 200, 256, 512, 1024, 4096};
static long iters = 2000000;
static int nthreads = 2;

struct handoff {
    pthread_mutex_t mu;
    void *slot[64];
    int n;
};
static struct handoff box[16];

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    void *win[WINDOW] = {0};
    uint64_t x = 88172645463325252ull + id, sum = 0;
    for (long i = 0; i < iters; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int k = x % WINDOW;
        free(win[k]);
        size_t sz = sizes[(x >> 20) % (sizeof sizes / sizeof *sizes)];
        char *p = malloc(sz);
        p[0] = (char)i;
        sum += (uintptr_t)sz;
        if ((i & 7) == 0) {
            struct handoff *h = &box[(id + 1) % nthreads];
            pthread_mutex_lock(&h->mu);
            if (h->n < 64) {
                h->slot[h->n++] = p;
                p = NULL;
            }
            pthread_mutex_unlock(&h->mu);
        }
        win[k] = p;
        if ((i & 1023) == 0) {
            struct handoff *mine = &box[id];
            pthread_mutex_lock(&mine->mu);
            for (int j = 0; j < mine->n; j++)
                free(mine->slot[j]);
            mine->n = 0;
            pthread_mutex_unlock(&mine->mu);
        }
    }
    for (int k = 0; k < WINDOW; k++)
        free(win[k]);
    return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        iters = atol(argv[1]);
    if (argc > 2)
        nthreads = atoi(argv[2]);
    if (nthreads < 1 || nthreads > 16)
        nthreads = 2;
    pthread_t t[16];
    for (int i = 0; i < nthreads; i++) {
        pthread_mutex_init(&box[i].mu, NULL);
        pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
    }
    uint64_t total = 0;
    for (int i = 0; i < nthreads; i++) {
        void *r;
        pthread_join(t[i], &r);
        total += (uintptr_t)r;
    }
    for (int i = 0; i < nthreads; i++)
        for (int j = 0; j < box[i].n; j++)
            free(box[i].slot[j]);
    printf("%llu\n", (unsigned long long)total);
    return 0;
}
