/*
 * shim_check.c — every interposed malloc-family function on its edge cases; prints what
 * each returned and what errno became. The shim's tests run it with and without the
 * shim (at rate 1, so every call also takes the sampled path) and require identical
 * output: return values and errno exactly as glibc's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Walloc-size-larger-than="
#define SHOW(what, cond) printf("%-44s %s errno=%d\n", what, (cond) ? "ok " : "BAD", errno)

int main(void)
{
    void *p, *q;
    int r;

    errno = 1234;
    p = malloc(0);
    SHOW("malloc(0) keeps errno", errno == 1234);
    free(p);
    errno = 0;
    p = malloc(SIZE_MAX);
    SHOW("malloc(SIZE_MAX) == NULL, ENOMEM", p == NULL && errno == ENOMEM);
    errno = 0;
    p = malloc((size_t)1 << 62);
    SHOW("malloc(2^62) == NULL, ENOMEM", p == NULL && errno == ENOMEM);
    errno = 0;
    p = calloc(SIZE_MAX / 2, 4);
    SHOW("calloc overflow == NULL, ENOMEM", p == NULL && errno == ENOMEM);
    p = calloc(1000, 10);
    int zero = 1;
    for (int i = 0; i < 10000; i++)
        zero &= ((unsigned char *)p)[i] == 0;
    SHOW("calloc zeroes", p && zero);
    free(p);

    errno = 77;
    p = realloc(NULL, 100);
    SHOW("realloc(NULL, n) allocates, errno kept", p != NULL && errno == 77);
    memset(p, 'x', 100);
    q = realloc(p, 100000);
    SHOW("realloc grows and keeps content", q && ((char *)q)[99] == 'x');
    errno = 0;
    p = realloc(q, SIZE_MAX);
    SHOW("realloc(p, SIZE_MAX) == NULL, ENOMEM", p == NULL && errno == ENOMEM);
    SHOW("... and p is still valid", ((char *)q)[0] == 'x');
    errno = 55;
    p = realloc(q, 0);
    SHOW("realloc(p, 0) == NULL (a free), errno kept", p == NULL && errno == 55);

    p = malloc(10);
    errno = 0;
    q = reallocarray(p, SIZE_MAX / 2, 3);
    SHOW("reallocarray overflow == NULL, ENOMEM", q == NULL && errno == ENOMEM);
    q = reallocarray(p, 10, 10);
    SHOW("reallocarray(p, 10, 10)", q != NULL);
    free(q);

    errno = 99;
    r = posix_memalign(&p, 3, 16);
    SHOW("posix_memalign(align 3) == EINVAL, errno kept", r == EINVAL && errno == 99);
    r = posix_memalign(&p, 24, 16);
    SHOW("posix_memalign(align 24) == EINVAL", r == EINVAL);
    r = posix_memalign(&p, 64, SIZE_MAX - 100);
    SHOW("posix_memalign(huge) == ENOMEM", r == ENOMEM); /* glibc sets errno here too */
    r = posix_memalign(&p, 4096, 100);
    SHOW("posix_memalign(4096) aligned", r == 0 && ((uintptr_t)p & 4095) == 0);
    free(p);

    errno = 0;
    p = aligned_alloc(3, 64); /* glibc < 2.38 rounds the alignment up, later ones fail */
    printf("%-44s %s errno=%d\n", "aligned_alloc(3, 64)", p ? "allocates" : "fails", errno);
    free(p);
    p = aligned_alloc(256, 512);
    SHOW("aligned_alloc(256, 512) aligned", p && ((uintptr_t)p & 255) == 0);
    free(p);
    errno = 0;
    p = memalign(3, 64);
    SHOW("memalign(3, 64) rounds the alignment up", p != NULL);
    free(p);
    p = memalign(64, 1000);
    SHOW("memalign(64, 1000) aligned", p && ((uintptr_t)p & 63) == 0);
    free(p);
    errno = 0;
    p = memalign(64, SIZE_MAX - 10);
    SHOW("memalign(huge) == NULL, ENOMEM", p == NULL && errno == ENOMEM);

    long pg = sysconf(_SC_PAGESIZE);
    p = valloc(10);
    SHOW("valloc page-aligned", p && ((uintptr_t)p & (uintptr_t)(pg - 1)) == 0);
    free(p);
    p = pvalloc(10);
    SHOW("pvalloc page-aligned", p && ((uintptr_t)p & (uintptr_t)(pg - 1)) == 0);
    SHOW("pvalloc rounds the size to a page", malloc_usable_size(p) >= (size_t)pg);
    free(p);

    p = malloc(100);
    SHOW("malloc_usable_size(p) >= 100", malloc_usable_size(p) >= 100);
    SHOW("malloc_usable_size(NULL) == 0", malloc_usable_size(NULL) == 0);
    free(p);
    errno = 31;
    free(NULL);
    SHOW("free(NULL) keeps errno", errno == 31);
    p = malloc(10);
    errno = 32;
    free(p);
    SHOW("free(p) keeps errno", errno == 32);

    /* many sizes through every path, freed in another order */
    void *v[3000];
    for (int i = 0; i < 3000; i++)
        v[i] = i % 3 == 0   ? malloc((size_t)i * 7)
               : i % 3 == 1 ? calloc((size_t)i, 3)
                            : realloc(NULL, (size_t)i);
    for (int i = 2999; i >= 0; i -= 2)
        free(v[i]);
    for (int i = 0; i < 3000; i += 2)
        v[i] = realloc(v[i], (size_t)i * 11 + 1);
    for (int i = 0; i < 3000; i += 2)
        free(v[i]);
    SHOW("3000 mixed allocations survived", 1);
    return 0;
}
