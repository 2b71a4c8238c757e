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

/* The next entry of a getdents64 buffer (buf, n bytes read; *at its offset, moved past
 * it): its name, and its d_type in *type; NULL after the last. struct linux_dirent64:
 * inode 8 bytes, offset 8, record length 2, type 1, then the name. */
static inline const char *cp_raw_dirent(const char *buf, long n, long *at, unsigned char *type)
{
    if (*at >= n)
        return 0;
    const char *e = buf + *at;
    unsigned short reclen;
    __builtin_memcpy(&reclen, e + 16, sizeof reclen);
    if (reclen == 0)
        return 0; /* (never from the kernel; no endless loop on a corrupt buffer) */
    *at += reclen;
    *type = (unsigned char)e[18];
    return e + 19;
}

#endif
