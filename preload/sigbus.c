/*
 * sigbus.c — SIGBUS: the profile is a shared mapping of a file, and a store into a page
 * the file no longer has (someone truncated it; a file system without fallocate had no
 * block for a hole) is a SIGBUS in whichever thread made it. The shim keeps a handler
 * installed so that such a fault ends profiling into the file (cp_prof_fault, i.e. cfile/cfile.c
 * cp_cfile_fault), never the program.
 *
 * Invisible to the program: sigaction, signal, bsd_signal and sysv_signal are interposed
 * for SIGBUS. The program's disposition is kept here, reported back to it as its own,
 * and carried out for every SIGBUS that is not ours: its handler is called (with its mask
 * and flags, which our handler is installed with), SIG_DFL and a fault under SIG_IGN end
 * the process as the kernel would. Not covered: a program that sets SIGBUS by the raw
 * rt_sigaction system call replaces our handler (and then a truncated profile is a fault
 * as before).
 *
 * The flusher thread blocks every signal, and opens SIGBUS only while it flushes
 * (core/flusher.c): its stores into the file are the ones a truncation faults, and a
 * fault with SIGBUS blocked ends the process (the kernel forces the default action). A
 * SIGBUS sent to the process (kill -BUS) that the kernel gives it in that window is
 * queued again to the process with the sender's pid and uid and stays blocked in the
 * flusher till the flush ends (a program that blocks SIGBUS and never takes it sees it
 * come back to the flusher once a flush: pending, as bare).
 *
 * The one known difference: it comes back with si_code SI_QUEUE where it was SI_USER
 * (kill) or SI_TKILL, pid and uid kept. The kernel lets a thread queue a signal with a
 * code of 0 or more, or SI_TKILL, only to its own thread id (rt_sigqueueinfo: EPERM
 * unless the caller's tid is the pid it sends to), so only the main thread could put an
 * SI_USER back to the process, and ours is never the main thread; kill() from ours would
 * keep SI_USER but give our own pid and uid as the sender's. Nor can the window go: a
 * thread with SIGBUS open is one the kernel may give a process-directed SIGBUS to (the
 * main thread first if it has it open and is not busy with others, then any), and the
 * flusher needs it open whenever it may store into the file; checking the file's size
 * before a flush (fstat) would not close it either, as a truncation can come mid-flush.
 * A program that keeps SIGBUS open in its main thread, the usual case, gets a kill -BUS
 * there with SI_USER as bare (the window matters when it blocks SIGBUS, e.g. for a
 * signalfd, or when its main thread has other signals pending or has exited).
 *
 * Under a seccomp filter (preload/sandbox.c runs each before it goes in). The window needs
 * rt_sigprocmask and, for a sent SIGBUS taken in it, rt_sigqueueinfo. A filter that
 * forbids either (or strict mode) closes every window it could bind: a TSYNC one retires
 * the flusher before it goes in (no thread of ours is left to take a signal), and a
 * program's thread whose SIGBUS is blocked stores nothing more into the file. A filter
 * without TSYNC binds only the thread that installs it and those it starts later, never
 * the flusher, which goes on as unfiltered. So the re-queueing below is made only where
 * it is allowed, and a program's handler never runs on a thread of ours.
 *
 * A program's own thread stores into the file too: it flushes inline when no flusher
 * runs (a single-threaded process, a fork child), and at exit, exec, a fork, a
 * step-aside. sigprocmask and pthread_sigmask are interposed to know whether the program
 * blocked SIGBUS there (and the constructor reads the mask it started with), so that the
 * inline flush opens it for its length; the rarer stores ask the kernel (core/flusher.c,
 * "SIGBUS on the program's threads"): a truncated profile is then a fault this handler
 * takes, not the end of a program that blocks SIGBUS. Under a filter that forbids
 * rt_sigprocmask (sandbox.c reads each before it goes in) such a thread stores nothing.
 *
 * Contexts: the constructor (cp_sigbus_install), any thread (the hooks), signal context
 * (the handler; async-signal-safe: no locks, no allocation).
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "prof.h"
#include "rawsys.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);
static struct sigaction prog; /* the program's SIGBUS disposition, as it set it */
static int installed;         /* atomic: our handler is in place */

static void install(const struct sigaction *want);

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    /* si_code > 0: raised by the kernel for a fault, si_addr is the address */
    if (si && si->si_code > 0 && cp_prof_fault(si->si_addr)) {
        errno = saved;
        return; /* the store is made again, into private memory */
    }
    /* Sent (kill, sigqueue, tgkill), and delivered to the flusher, which has SIGBUS open
     * while it flushes (core/flusher.c): not ours to take. Queued again to the process
     * with the sender's pid and uid, and kept blocked in this thread until its flush
     * ends, so that a thread of the program (or its signalfd, or sigwait) takes it as
     * without the profiler. (So too on a program's thread in an inline flush that opened
     * SIGBUS the program had blocked: cp_prof_bus_window.) Its si_code becomes SI_QUEUE where it
     * was not: the kernel lets a thread other than the main one queue a signal to its process only
     * with a negative code other than SI_TKILL (EPERM for SI_USER, which kill() gives). No window
     * is open where a filter forbids this (the top). */
    if (si && si->si_code <= 0 && (cp_tls.flusher || cp_prof_bus_window()) && uc) {
        sigaddset(&((ucontext_t *)uc)->uc_sigmask, SIGBUS);
        siginfo_t again = *si;
        if (again.si_code == SI_USER || again.si_code == SI_TKILL)
            again.si_code = SI_QUEUE;
        syscall(SYS_rt_sigqueueinfo, (long)getpid(), (long)SIGBUS, &again);
        errno = saved;
        return;
    }
    /* not ours: the program's disposition, on its own thread */
    struct sigaction a = prog;
    bool fn = a.sa_handler != SIG_DFL && a.sa_handler != SIG_IGN;
    if (a.sa_flags & SA_RESETHAND) {
        prog.sa_handler = SIG_DFL;
        prog.sa_flags &= ~(SA_RESETHAND | SA_SIGINFO);
    }
    if (fn) {
        errno = saved;
        if (a.sa_flags & SA_SIGINFO)
            a.sa_sigaction(sig, si, uc);
        else
            a.sa_handler(sig);
        return;
    }
    if (a.sa_handler == SIG_IGN && !(si && si->si_code > 0))
        return; /* sent by kill and ignored: nothing happens */
    /* The default action (a fault is never ignored: the kernel forces the default). The
     * disposition goes back to SIG_DFL for real; a fault then happens again as the
     * instruction is retried, a sent signal is sent again and delivered on return. */
    struct sigaction d;
    memset(&d, 0, sizeof d);
    d.sa_handler = SIG_DFL;
    real_sigaction(SIGBUS, &d, NULL);
    __atomic_store_n(&installed, 0, __ATOMIC_RELEASE);
    if (!(si && si->si_code > 0))
        raise(SIGBUS);
    errno = saved;
}

/* Our handler, with the program's mask and the flags that shape delivery. */
static void install(const struct sigaction *want)
{
    struct sigaction a;
    memset(&a, 0, sizeof a);
    a.sa_sigaction = on_sigbus;
    a.sa_mask = want->sa_mask;
    a.sa_flags = SA_SIGINFO | (want->sa_flags & (SA_ONSTACK | SA_RESTART | SA_NODEFER));
    real_sigaction(SIGBUS, &a, NULL);
}

/* The program's SIGBUS mask on its thread, for the inline flush (prof.h,
 * cp_prof_note_bus_blocked): what a successful call leaves, from its arguments alone. */
static void note_mask(int how, const sigset_t *set)
{
    if (!set || sigismember(set, SIGBUS) != 1) {
        if (set && how == SIG_SETMASK)
            cp_prof_note_bus_blocked(false);
        return;
    }
    if (how == SIG_BLOCK || how == SIG_SETMASK)
        cp_prof_note_bus_blocked(true);
    else if (how == SIG_UNBLOCK)
        cp_prof_note_bus_blocked(false);
}

typedef int (*mask_fn)(int, const sigset_t *, sigset_t *);
static mask_fn real_pthread_sigmask, real_sigprocmask;

/* Either mask call: the real one (resolved here if called before the constructor), then
 * what it left noted. Both return 0 on success (sigprocmask -1 with errno otherwise,
 * pthread_sigmask the error number); note_mask touches no errno. */
static int masked(mask_fn *real, const char *name, int how, const sigset_t *set, sigset_t *old)
{
    if (!*real) {
        int saved = errno;
        *real = (mask_fn)dlsym(RTLD_NEXT, name);
        errno = saved;
    }
    int r = (*real)(how, set, old);
    if (r == 0)
        note_mask(how, set);
    return r;
}

EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    return masked(&real_pthread_sigmask, "pthread_sigmask", how, set, old);
}

EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    return masked(&real_sigprocmask, "sigprocmask", how, set, old);
}

void cp_sigbus_install(void)
{
    int saved = errno;
    real_pthread_sigmask = (mask_fn)dlsym(RTLD_NEXT, "pthread_sigmask");
    real_sigprocmask = (mask_fn)dlsym(RTLD_NEXT, "sigprocmask");
    uint64_t mask = 0; /* the mask the program started with (exec keeps it) */
    if (cp_raw_syscall(SYS_rt_sigprocmask, SIG_BLOCK, 0, (long)&mask, 8, 0, 0) == 0)
        cp_prof_note_bus_blocked(mask & (1ull << (SIGBUS - 1)));
    real_sigaction = dlsym(RTLD_NEXT, "sigaction");
    if (real_sigaction && real_sigaction(SIGBUS, NULL, &prog) == 0) {
        install(&prog);
        __atomic_store_n(&installed, 1, __ATOMIC_RELEASE);
    }
    errno = saved;
}

static int (*next_sigaction(void))(int, const struct sigaction *, struct sigaction *)
{
    if (!real_sigaction) {
        int saved = errno;
        real_sigaction = dlsym(RTLD_NEXT, "sigaction");
        errno = saved;
    }
    return real_sigaction;
}

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *oact)
{
    int (*f)(int, const struct sigaction *, struct sigaction *) = next_sigaction();
    if (sig != SIGBUS || !__atomic_load_n(&installed, __ATOMIC_ACQUIRE))
        return f(sig, act, oact);
    struct sigaction n = act ? *act : prog; /* act and oact may be the same struct */
    if (oact)
        *oact = prog;
    if (act) {
        install(&n);
        prog = n;
    }
    return 0;
}

static __sighandler_t set_handler(int sig, __sighandler_t h, int flags, bool mask_self)
{
    struct sigaction a, o;
    memset(&a, 0, sizeof a);
    a.sa_handler = h;
    a.sa_flags = flags;
    sigemptyset(&a.sa_mask);
    if (mask_self)
        sigaddset(&a.sa_mask, sig);
    return sigaction(sig, &a, &o) < 0 ? SIG_ERR : o.sa_handler;
}

/* glibc's signal() and sysv_signal() call sigaction inside libc, past our hook: for
 * SIGBUS they are made here with glibc's semantics (BSD: restart, the signal masked in
 * its handler; System V: one shot, not masked); every other signal goes to glibc. */
EXPORT __sighandler_t signal(int sig, __sighandler_t h)
{
    static void *real;
    if (sig == SIGBUS && __atomic_load_n(&installed, __ATOMIC_ACQUIRE))
        return set_handler(sig, h, SA_RESTART, true);
    if (!real) {
        int saved = errno;
        real = dlsym(RTLD_NEXT, "signal");
        errno = saved;
    }
    return ((__sighandler_t(*)(int, __sighandler_t))real)(sig, h);
}

__sighandler_t bsd_signal(int sig, __sighandler_t h);
EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t h)
{
    return signal(sig, h);
}

EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t h)
{
    static void *real;
    if (sig == SIGBUS && __atomic_load_n(&installed, __ATOMIC_ACQUIRE))
        return set_handler(sig, h, SA_RESETHAND | SA_NODEFER, false);
    if (!real) {
        int saved = errno;
        real = dlsym(RTLD_NEXT, "sysv_signal");
        errno = saved;
    }
    return ((__sighandler_t(*)(int, __sighandler_t))real)(sig, h);
}
