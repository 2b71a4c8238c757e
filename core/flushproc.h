/*
 * flushproc.h — the flusher as a process that shares the program's memory (flushproc.c:
 * why, and what it shares). flusher.c decides when it runs and runs its loop.
 */
#ifndef CP_FLUSHPROC_H
#define CP_FLUSHPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cp_fp {
    pid_t pid; /* the process, while it has not been reaped; 0: none */
    pid_t tid; /* its id while it runs: the kernel writes 0 here when it ends
                * (CLONE_CHILD_CLEARTID), whatever ends it (atomic) */
    void *mem; /* its stack and its copy of the maker's TLS block */
    size_t len;
};

/* Find glibc's clone and the static TLS block's size (the constructor: dlsym). */
void cp_fp_init(void);
/* Both were found (x86-64 glibc): a flusher process can be made. */
bool cp_fp_available(void);
/* The user's process limit leaves room for one process of ours per profiled process
 * (flushproc.c): none, one far beyond use, or root's (whom it does not bind). */
bool cp_fp_room(void);
/* Make it: fn(arg) on its own stack and TLS copy, every signal blocked; its pid (also in
 * *fp), or a negative errno (EAGAIN under RLIMIT_NPROC, ENOMEM under RLIMIT_AS, ENOSYS).
 * errno kept. */
pid_t cp_fp_start(int (*fn)(void *), void *arg, struct cp_fp *fp);
/* Wait for it to end (it has been asked to) and free its stack; filtered: the program is
 * under a seccomp filter (no system call: it is left a zombie, its stack mapped). */
void cp_fp_reap(struct cp_fp *fp, bool filtered);
/* Has it ended (without being reaped)? One load, no system call (a program thread
 * under a seccomp filter may ask). */
bool cp_fp_ended(const struct cp_fp *fp);
/* On the process: has the program (pid) ended, or replaced its image? */
bool cp_fp_gone(pid_t program);
/* Barriers for the tasks that share this memory (membarrier(2), Linux 4.14): register it
 * for expedited private barriers (true: cp_fp_fence may be used from now on); make every
 * task running in it pass a full barrier (false: the kernel refused). A program thread
 * calls either only where a clone would be allowed (no seccomp filter in place). */
bool cp_fp_fence_register(void);
bool cp_fp_fence(void);
/* On the process, first: a process group and a name of its own, and woken when the
 * program thread that made it ends (its death signal adds to *wake, the futex word its
 * loop waits on). */
void cp_fp_detach(uint32_t *wake);

#endif
