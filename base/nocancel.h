/*
 * nocancel.h — the profiler's own calls of libc functions that are cancellation points
 * (open, pread, pwrite, close, fallocate, write...), made on a program's thread: a
 * cancellation request pending for that thread (pthread_cancel, deferred: the default)
 * acted inside them, and glibc unwound the thread out of the profiler's code with its
 * locks held (cp_flush_lock: the flusher and exit's flush then waited for it for ever;
 * tests/programs/selfcancel.c). Cancellation is off around them, so the request acts at
 * the program's own next cancellation point, as bare. Only on rare paths (a counter file
 * made or grown, a diagnostic): a pair costs two atomic updates of the thread's
 * cancellation word. Async-signal-safe in glibc (no lock); errno untouched.
 */
#ifndef CP_NOCANCEL_H
#define CP_NOCANCEL_H

#include <errno.h>
#include <pthread.h>

static inline int cp_cancel_off(void)
{
    int saved = errno, old = PTHREAD_CANCEL_ENABLE;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    errno = saved;
    return old;
}

/* (a request that came meanwhile stays pending: deferred, it acts at the next
 * cancellation point, which is the program's) */
static inline void cp_cancel_restore(int old)
{
    int saved = errno, was;
    pthread_setcancelstate(old, &was);
    errno = saved;
}

#endif
