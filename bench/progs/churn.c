/* Shape (b) of issue 23: small-object churn from a hundred-odd stacks, as a bignum
 * program's temporaries are. 64 operations (made by a macro, so 64 distinct callers) each
 * build two short-lived numbers (a header and a limb array each) and fold them into an
 * accumulator kept to 8 limbs. gcc -O2 elides the headers' malloc and free (the header
 * never escapes), so what reaches malloc is the limb arrays: 2 allocation stacks per
 * operation, 128 in all, 2 allocations an operation.
 *   churn [OPS]   OPS operations (default 10 M: 20 M allocations); prints a checksum (and
 *                 4 x OPS as "allocations": the source's count, before the elision) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bn {
    int n;
    uint64_t *d;
};
#define LIMBS 8

__attribute__((noinline)) static struct bn *bn_new(int n)
{
    struct bn *b = malloc(sizeof *b);
    b->n = n;
    b->d = malloc((size_t)n * sizeof(uint64_t));
    return b;
}

static void bn_free(struct bn *b)
{
    free(b->d);
    free(b);
}

/* the result of a small operation: allocated at a site inlined into each caller */
#define BN_NEW(len)                                                                                \
    ({                                                                                             \
        struct bn *b_ = malloc(sizeof *b_);                                                        \
        b_->n = (len);                                                                             \
        b_->d = malloc((size_t)(len) * sizeof(uint64_t));                                          \
        b_;                                                                                        \
    })

#define OP(k)                                                                                      \
    __attribute__((noinline)) static void op##k(struct bn *acc)                                    \
    {                                                                                              \
        struct bn *t = BN_NEW(acc->n);                                                             \
        unsigned __int128 c = 0;                                                                   \
        for (int i = 0; i < acc->n; i++) {                                                         \
            c += (unsigned __int128)acc->d[i] * (k * 2 + 3);                                       \
            t->d[i] = (uint64_t)c;                                                                 \
            c >>= 64;                                                                              \
        }                                                                                          \
        struct bn *u = BN_NEW(acc->n);                                                             \
        uint64_t cy = 1;                                                                           \
        for (int i = 0; i < acc->n; i++) {                                                         \
            uint64_t s = t->d[i] + acc->d[i] + cy;                                                 \
            cy = s < t->d[i] || (cy && s == t->d[i]);                                              \
            u->d[i] = s;                                                                           \
        }                                                                                          \
        bn_free(t);                                                                                \
        memcpy(acc->d, u->d, (size_t)acc->n * sizeof(uint64_t));                                   \
        bn_free(u);                                                                                \
    }
/* (clang-format off: it reflows a line of macro calls differently each time it runs) */
// clang-format off
#define OP8(a) OP(a##0) OP(a##1) OP(a##2) OP(a##3) OP(a##4) OP(a##5) OP(a##6) OP(a##7)
OP8(1) OP8(2) OP8(3) OP8(4) OP8(5) OP8(6) OP8(7) OP8(8)
#define P8(a) op##a##0, op##a##1, op##a##2, op##a##3, op##a##4, op##a##5, op##a##6, op##a##7
static void (*const ops[64])(struct bn *) = {P8(1), P8(2), P8(3), P8(4),
                                             P8(5), P8(6), P8(7), P8(8)};
// clang-format on

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 10000000;
    struct bn *acc = bn_new(LIMBS);
    for (int i = 0; i < LIMBS; i++)
        acc->d[i] = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    uint64_t x = 88172645463325252ull;
    for (long i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ops[x & 63](acc);
    }
    printf("ops %ld allocations %ld checksum %llu\n", n, 4 * n,
           (unsigned long long)(acc->d[0] ^ acc->d[7]));
    bn_free(acc);
    return 0;
}
