/*
 * rawsys.h — system calls without libc's wrappers, for code that runs on a program's
 * small stack (a PTHREAD_STACK_MIN thread's, an alternate signal stack): the first call of
 * a libc function through the PLT is bound lazily by the dynamic linker, which saves the
 * whole register state on the stack (2.7 KiB with AVX-512; ownstack.h). Returns what the
 * kernel returns: a negative errno on failure (x86-64; elsewhere libc's syscall()).
 */
#ifndef CP_RAWSYS_H
#define CP_RAWSYS_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/uio.h>

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

/* n bytes of this process's memory at src into dst, with a read that fails rather than
 * faults (process_vm_readv on this process: an object unmapped meanwhile, the neighbours
 * of a block that need not be mapped); whether all n were read. */
static inline bool cp_raw_read_self(void *dst, uintptr_t src, size_t n)
{
    struct iovec l = {dst, n}, r = {(void *)src, n};
    return cp_raw_syscall(SYS_process_vm_readv, cp_raw_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0),
                          (long)&l, 1, (long)&r, 1, 0) == (long)n;
}

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

/* Each entry of the directory at path ("." and ".." too) to each(name, ctx), until it
 * returns 0; by raw system calls (openat, getdents64, close: no libc call, so no lazy
 * binding and no cancellation point). Returns 1 if every entry was seen, 0 if each
 * stopped it, -1 if the directory could not be opened or read. */
static inline int cp_raw_each_entry(const char *path, int (*each)(const char *name, void *ctx),
                                    void *ctx)
{
    long fd = cp_raw_syscall(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                             0, 0, 0);
    if (fd < 0)
        return -1;
    char buf[512];
    long got = 0;
    int r = 1;
    while (r == 1 &&
           (got = cp_raw_syscall(SYS_getdents64, fd, (long)buf, sizeof buf, 0, 0, 0)) > 0) {
        long at = 0;
        unsigned char type;
        for (const char *name; r == 1 && (name = cp_raw_dirent(buf, got, &at, &type));)
            r = each(name, ctx) ? 1 : 0;
    }
    cp_raw_syscall(SYS_close, fd, 0, 0, 0, 0, 0);
    return r == 1 && got < 0 ? -1 : r;
}

#endif
