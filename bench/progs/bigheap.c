/* A heap of KiB-sized objects (the live map's memory, issue 23): keeps OBJS objects live,
 * their sizes drawn from [SIZE/2, 3*SIZE/2) (a seeded generator), each written whole, from
 * four allocation sites; then replaces each in turn (a free and an allocation of a new
 * size) ROUNDS times; then frees them all.
 *   bigheap [OBJS [SIZE [ROUNDS]]]   defaults: 100,000 objects of ~4 KiB, 2 rounds
 * Prints the bytes kept at the end of the first fill and a checksum. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rnd = 0x9E3779B97F4A7C15ull;
static uint64_t next(void)
{
    rnd ^= rnd << 13;
    rnd ^= rnd >> 7;
    rnd ^= rnd << 17;
    return rnd;
}

#define SITE(name)                                                                                 \
    __attribute__((noinline)) static char *name(size_t n)                                          \
    {                                                                                              \
        char *p = malloc(n);                                                                       \
        if (p)                                                                                     \
            memset(p, (int)(n & 0xff), n);                                                         \
        return p;                                                                                  \
    }
SITE(site_a)
SITE(site_b)
SITE(site_c)
SITE(site_d)

static char *make(size_t i, size_t n)
{
    switch (i & 3) {
    case 0:
        return site_a(n);
    case 1:
        return site_b(n);
    case 2:
        return site_c(n);
    default:
        return site_d(n);
    }
}

int main(int argc, char **argv)
{
    size_t objs = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    size_t size = argc > 2 ? strtoul(argv[2], NULL, 10) : 4096;
    unsigned rounds = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 2;
    if (!objs || size < 2) {
        fprintf(stderr, "usage: bigheap [OBJS [SIZE [ROUNDS]]]\n");
        return 2;
    }
    char **v = calloc(objs, sizeof *v);
    if (!v)
        return 1;
    uint64_t kept = 0, sum = 0;
    for (size_t i = 0; i < objs; i++) {
        size_t n = size / 2 + next() % size;
        if (!(v[i] = make(i, n)))
            return 1;
        kept += n;
    }
    for (unsigned r = 0; r < rounds; r++)
        for (size_t i = 0; i < objs; i++) {
            sum += (unsigned char)v[i][0];
            free(v[i]);
            if (!(v[i] = make(i + r, size / 2 + next() % size)))
                return 1;
        }
    for (size_t i = 0; i < objs; i++) {
        sum += (unsigned char)v[i][0];
        free(v[i]);
    }
    free(v);
    printf("kept %llu bytes, checksum %llu\n", (unsigned long long)kept, (unsigned long long)sum);
    return 0;
}
