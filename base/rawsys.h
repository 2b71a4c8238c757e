/*
 * rawsys.h — system calls without libc's wrappers, for code that runs on a program's
 * small stack (a PTHREAD_STACK_MIN thread's, an alternate signal stack): the first call of
 * a libc function through the PLT is bound lazily by the dynamic linker, which saves the
 * whole register state on the stack (2.7 KiB with AVX-512; ownstack.h). Returns what the
 * kernel returns: a negative errno on failure (x86-64; elsewhere libc's syscall()).
 */
#ifndef CP_RAWSYS_H
#define CP_RAWSYS_H

#if defined(__x86_64__)
static inline long cp_raw_syscall(long nr, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#else
#include <unistd.h>
static inline long cp_raw_syscall(long nr, long a, long b, long c, long d, long e, long f)
{
    long r = syscall(nr, a, b, c, d, e, f);
    return r == -1 ? -1 : r; /* (errno set: a libc call, not raw, on other machines) */
}
#endif

#endif
