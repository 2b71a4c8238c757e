/*
 * micro.c — the engine's and the counter file's own figures (issues 2 and 3), measured in
 * one run on this machine; `make bench` prints them and puts them in BENCHMARKS.md.
 *
 *   counter add (cached pointer)            ns per cp_cfile_add
 *   new counter                              us per cp_cfile_counter creating a name
 *   open + read a 100k-counter file          ms for cp_cfile_load + cp_cfile_parse
 *   record a sampled event                   ns per cp_event_alloc (a 32-frame stack to the
 *                                            ring) + cp_event_free: the program thread's part
 *   find a bucket that exists                ns per cp_bucket_get (32-frame stack hashed and
 *                                            compared): the flusher's part of an allocation
 *   flusher drain                            records per second through cp_ring_drain
 *   profiler memory for 10k buckets          bytes the arena mapped for 10k 32-frame buckets
 *   heap over time (issue 21)                ns per cp_ht_now (a sampled event's clock read,
 *                                            twice per sampled object); ns per cp_ht_alloc +
 *                                            cp_ht_free with 100k objects live (the flusher's
 *                                            peak and lifetime work); us per peak
 *                                            publication over 10k buckets (once per interval)
 *
 * Medians of several repetitions; no assertion: these are published, not tested.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "bucket.h"
#include "cfile.h"
#include "heaptime.h"
#include "prof.h"
#include "ring.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define REPS 7
static double median(double *v)
{
    qsort(v, REPS, sizeof *v, cmpd);
    return v[REPS / 2];
}

static const char META[] = "Program: micro\nCtrprof-Format: 4\nMemRate: 1\n\n";

static void noop(void *ctx, enum cp_rec_kind k, uint64_t c, const uint64_t *w, unsigned n)
{
    *(uint64_t *)ctx += w[0];
}

/* the 32-frame stack of bucket b of the 10k */
/* cp_ht_publish's way to a file: one counter for everything (the walk is what is timed) */
static uint64_t bench_ctr;
static uint64_t *bench_bucket_ctr(struct cp_bucket *b, int which)
{
    (void)b;
    (void)which;
    return &bench_ctr;
}
static uint64_t *bench_named_ctr(const char *name)
{
    (void)name;
    return &bench_ctr;
}
static const struct cp_ht_sink bench_sink = {bench_bucket_ctr, bench_named_ctr};

static void stack_of(uintptr_t *pcs, int b)
{
    for (int k = 0; k < 32; k++)
        pcs[k] = 0x400000 + (uintptr_t)b * 4096 + (uintptr_t)k * 8;
}

int main(void)
{
    char path[128];
    snprintf(path, sizeof path, "/tmp/ctrprof-micro.%d.count", (int)getpid());
    double r[REPS];

    /* counter add */
    unlink(path);
    struct cp_cfile f;
    if (cp_cfile_open(&f, path, META, sizeof META - 1))
        return 1;
    uint64_t *v;
    cp_cfile_counter(&f, "x", 1, &v);
    for (int k = 0; k < REPS; k++) {
        double t0 = now();
        for (int i = 0; i < 10000000; i++)
            cp_cfile_add(v, 1);
        r[k] = (now() - t0) / 10000000 * 1e9;
    }
    printf("counter add (cached pointer): %.2f ns\n", median(r));

    /* new counters: 100k names of 60-100 bytes (the file grows as it goes) */
    char name[128];
    double t0 = now();
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(name, sizeof name, "ctrprof/heap:alloc:%d\nab%06x+0x%x\ncd%06x+0x%x",
                         i % 512, i, i * 16, i * 3, i * 48);
        cp_cfile_counter(&f, name, (size_t)n, &v);
        cp_cfile_add(v, (uint64_t)i);
    }
    printf("new counter: %.2f us (100k names)\n", (now() - t0) / 100000 * 1e6);
    cp_cfile_close(&f);

    /* open and read that 100k-counter file */
    for (int k = 0; k < REPS; k++) {
        double t1 = now();
        uint8_t *buf;
        size_t len;
        if (cp_cfile_load(path, &buf, &len))
            return 1;
        if (cp_cfile_parse(buf, len, NULL, NULL, NULL, NULL, 0))
            return 1;
        cp_cfile_unload(buf, len);
        r[k] = (now() - t1) * 1e3;
    }
    printf("open and read a 100k-counter file: %.1f ms\n", median(r));
    unlink(path);

    /* the engine, no file */
    struct cp_options o;
    cp_options_load(&o, NULL);
    o.flush_ms = 1000000;
    if (cp_prof_init(&o, NULL, META, sizeof META - 1, false))
        return 1;
    uint64_t bytes0 = cp_arena_mapped(), used0 = cp_arena_used();
    uintptr_t pcs[32];
    for (int b = 0; b < 10000; b++) {
        stack_of(pcs, b);
        cp_bucket_get(CP_HEAP, pcs, 32);
    }
    printf("profiler memory for 10k buckets of 32 frames: %.2f MiB used (%.2f MiB mapped in "
           "1 MiB chunks; the fixed bucket hash table, %.2f MiB, is mapped once at start)\n",
           (cp_arena_used() - used0) / 1048576.0, (cp_arena_mapped() - bytes0) / 1048576.0,
           (1u << 16) * sizeof(void *) / 1048576.0);

    /* The thread's part alone: a flusher thread that only wakes when kicked (a ring half
     * full, which batches of 128 pairs of 32-frame records never reach), so events are
     * left in the ring, and the engine's own flush between batches, outside the timing. */
    if (cp_prof_start())
        return 1;
    struct cp_thread *t = cp_thread_get();
    for (int k = 0; k < REPS; k++) {
        double spent = 0;
        for (int i = 0; i < 200000;) {
            double t1 = now();
            for (int e = i + 128; i < e; i++) {
                stack_of(pcs, i % 10000);
                void *p = (void *)(uintptr_t)(0x10000000 + (uintptr_t)i * 16);
                cp_event_alloc(t, p, 64, pcs, 32);
                cp_event_free(cp_thread_get, p);
            }
            spent += now() - t1;
            cp_prof_flush_all();
        }
        r[k] = spent / 200000 * 1e9 / 2;
    }
    printf("record one sampled event (the program thread's part: a 32-frame stack to the "
           "ring): %.0f ns\n",
           median(r));
    for (int k = 0; k < REPS; k++) {
        double t1 = now();
        for (int i = 0; i < 200000; i++) {
            stack_of(pcs, i % 10000);
            if (!cp_bucket_get(CP_HEAP, pcs, 32))
                return 1;
        }
        r[k] = (now() - t1) / 200000 * 1e9;
    }
    printf("find a bucket that exists (the flusher's part: 32-frame stack hashed and "
           "compared): %.0f ns\n",
           median(r));

    /* the heap over time: the hook's clock read, the flusher's apply, the peak's walk */
    for (int k = 0; k < REPS; k++) {
        uint64_t x = 0;
        double t1 = now();
        for (int i = 0; i < 1000000; i++)
            x += cp_ht_now();
        r[k] = (now() - t1) / 1000000 * 1e9;
        if (x == 1)
            return 1;
    }
    printf("heap over time, the hook's part: %.1f ns per clock read (2 per sampled object)\n",
           median(r));
    struct cp_bucket *hb[64];
    for (int b = 0; b < 64; b++) {
        stack_of(pcs, 20000 + b);
        hb[b] = cp_bucket_get(CP_HEAP, pcs, 32);
    }
    for (int i = 0; i < 100000; i++) /* a live set */
        cp_ht_alloc(hb[i % 64], 64, 1 + (uint64_t)i);
    for (int k = 0; k < REPS; k++) {
        double t1 = now();
        for (int i = 0; i < 1000000; i++) {
            cp_ht_alloc(hb[i & 63], 64, 1000 + (uint64_t)i);
            cp_ht_free(hb[i & 63], 64, 1500 + (uint64_t)i, 1000 + (uint64_t)i);
        }
        r[k] = (now() - t1) / 1000000 * 1e9;
    }
    printf("heap over time, the flusher's part: %.1f ns per sampled alloc + free applied (peak, "
           "lifetime, birth table; 100k objects live)\n",
           median(r));
    {
        /* a peak's publication walks every heap bucket that has had an event: 10k here */
        for (int b = 0; b < 10000; b++) {
            stack_of(pcs, b);
            cp_ht_alloc(cp_bucket_get(CP_HEAP, pcs, 32), 64, 0);
        }
    }
    for (int k = 0; k < REPS; k++) {
        double t1 = now();
        for (int i = 0; i < 20; i++) {
            /* a new peak each time, so each publication walks and rewrites */
            cp_ht_alloc(hb[0], 64, 0);
            cp_ht_publish(&bench_sink, true);
        }
        r[k] = (now() - t1) / 20 * 1e6;
    }
    printf("heap over time, a peak's publication: %.0f us over 10k buckets (at most once per "
           "flush interval)\n",
           median(r));

    /* drain rate: fill a large ring, drain it */
    static uint64_t data[1u << 22];
    struct cp_ring ring;
    for (int k = 0; k < REPS; k++) {
        cp_ring_init(&ring, data, 1u << 22);
        uint64_t w[1] = {1};
        uint64_t n = 0;
        while (cp_ring_write(&ring, CP_REC_ALLOC, 1, w, 1, false))
            n++;
        uint64_t sum = 0;
        double t1 = now();
        cp_ring_drain(&ring, noop, &sum);
        r[k] = n / (now() - t1);
    }
    printf("flusher drain: %.1f M records/s\n", median(r) / 1e6);
    return 0;
}
