/*
 * manysites.h — many distinct allocation sites from one leaf function, for the programs
 * whose test needs many buckets (new counters): a heap bucket is a site, its stack, and
 * not a (site, size) pair (issue 23), so distinct sizes no longer make them.
 *
 * MANY_SITES(name, leaf) defines name(code, size): calls leaf(size) under a chain of 16
 * frames chosen by code's low 16 bits (name_0 or name_1 at each level), so codes
 * 0 .. 65535 are as many distinct stacks whose innermost function is leaf. The empty asm
 * after each call keeps it from being a tail call (which would drop the frame).
 */
#ifndef MANYSITES_H
#define MANYSITES_H

#include <stddef.h>

#define MANY_SITES(name, leaf)                                                                     \
    static __attribute__((noinline)) void name##_route(unsigned code, int n, size_t size);         \
    static __attribute__((noinline)) void name##_0(unsigned code, int n, size_t size)              \
    {                                                                                              \
        name##_route(code, n, size);                                                               \
        __asm__ volatile("" ::: "memory");                                                         \
    }                                                                                              \
    static __attribute__((noinline)) void name##_1(unsigned code, int n, size_t size)              \
    {                                                                                              \
        name##_route(code, n, size);                                                               \
        __asm__ volatile("" ::: "memory");                                                         \
    }                                                                                              \
    static __attribute__((noinline)) void name##_route(unsigned code, int n, size_t size)          \
    {                                                                                              \
        if (n == 0)                                                                                \
            leaf(size);                                                                            \
        else if (code & 1)                                                                         \
            name##_1(code >> 1, n - 1, size);                                                      \
        else                                                                                       \
            name##_0(code >> 1, n - 1, size);                                                      \
        __asm__ volatile("" ::: "memory");                                                         \
    }                                                                                              \
    static void name(unsigned code, size_t size)                                                   \
    {                                                                                              \
        name##_route(code, 16, size);                                                              \
    }

#endif
