/*
 * newproc.c — noticing a new process that no atfork handler announced (newproc.h).
 *
 * State: the marker page (mapped once at init, MADV_WIPEONFORK), the pid that marked it,
 * and the reset to run (the host's child_reset, through cp_prof_set_host). Written at
 * init and in a child's first thread before anything else of ours runs there; read by
 * any thread with relaxed loads. A noticed child's reset also empties the waiter tables
 * (contention.c), whose own atfork handler did not run.
 */
#include "newproc.h"

#include <sys/mman.h>
#include <unistd.h>

#include "contention.h"
#include "line.h"
#include "prof.h"

static uint8_t always_same = 1;
CP_READ_MOSTLY uint8_t *cp_newproc_same = &always_same;
bool cp_newproc_unseen;
CP_READ_MOSTLY static pid_t marked_pid;
CP_READ_MOSTLY static bool wiped; /* the kernel wipes the page in children */
static void (*reset_fn)(void);
static bool noticing; /* noticed() is resetting: the reset's mark says "unseen" */

void cp_newproc_init(void)
{
    if (!wiped) {
        /* mmap itself: one page, not the engine's memory (the arena's accounting and
         * fault injection are not about it) */
        void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED && madvise(p, 4096, MADV_WIPEONFORK) == 0) {
            cp_newproc_same = p;
            wiped = true;
        } else if (p != MAP_FAILED) {
            munmap(p, 4096);
        }
    }
    cp_newproc_mark();
}

void cp_newproc_mark(void)
{
    marked_pid = getpid();
    cp_newproc_unseen = noticing;
    __atomic_store_n(cp_newproc_same, 1, __ATOMIC_RELAXED);
}

void cp_newproc_set_reset(void (*reset)(void))
{
    reset_fn = reset;
}

static void noticed(void)
{
    noticing = true;
    cp_contention_fork_child(); /* its pthread_atfork handler did not run either */
    if (reset_fn)
        reset_fn(); /* marks, through cp_prof_atfork_child */
    else
        cp_prof_atfork_child(NULL);
    cp_newproc_mark();
    noticing = false;
}

__attribute__((noinline, cold)) bool cp_newproc_slow(void)
{
    if (getpid() == marked_pid) { /* not a child after all: mark again, go on */
        cp_newproc_mark();
        return false;
    }
    noticed();
    return true;
}

bool cp_newproc_waiting(void)
{
    if (cp_newproc())
        return true;
    if (wiped || getpid() == marked_pid)
        return false;
    noticed();
    return true;
}

void cp_newproc_test_nowipe(void)
{
    cp_newproc_same = &always_same;
    wiped = false;
}
