/*
 * said.c — what this process tree has said (base/log.h's keys), in the environment that
 * every child inherits, however it is started (issue 29).
 *
 * Why in environ itself: glibc's system() and popen() start their shell through an
 * internal posix_spawn with __environ, and no hook of ours sees that call's environment
 * (exec.c and nproc.c's posix_spawn pass a copy of their own). So the one way a
 * message said after start-up reaches those children is an entry in environ that is
 * kept up to date as more is said. setenv cannot do that after start-up: it may
 * realloc and free the array another thread's getenv is reading.
 *
 * How. At start-up (the constructor, before any thread of ours exists and before the
 * program's own code) the entry getenv("CTRPROF_SAID") would find gets a string in a
 * buffer of ours, said_env (CP_SHIM_SAID_MAX bytes: every key's name fits, test_options
 * checks it), holding what was said so far, inherited or at start-up:
 *   - an inherited CTRPROF_SAID entry: its pointer in the array is replaced by ours (the
 *     value the program sees is the same, or names more);
 *   - none: environ becomes a copy of the array (env_room, up to CP_SHIM_ENV_MAX
 *     entries) with room for one more entry after its terminator, filled at once if
 *     start-up said something, else held without a visible value: the program sees the
 *     same variables, and an empty CTRPROF_SAID never appears. Only where the
 *     environment preloads the shim (cp_shim_keeps_shim, exec.c) and has at most
 *     CP_SHIM_ENV_MAX entries: elsewhere environ stays the kernel's array (main()'s
 *     envp), and what start-up said goes in by setenv (nothing said later does).
 * Later, whenever a key is said for the first time in the tree (the said hook, base/
 * log.c, from whatever context says it) and before system() and popen() (nproc.c, for
 * what a forked child said: the shared flags know it, this process's string does not),
 * cp_shim_said_refresh names in said_env every key said and not yet named there:
 *   - appended in place, so that a concurrent reader (getenv, the program's copy, a
 *     spawn's copy) sees the old value or the new, never a torn one: the new bytes and
 *     the terminator are written past the end first, then the byte over the old
 *     terminator (a separator, or the first name's first letter), release, last;
 *   - a held slot is filled (a release store of the pointer) with the whole string at
 *     the array's terminator, while environ is still our copy; the entry after it is a
 *     NULL already.
 * If the program removed or replaced the entry (unsetenv, setenv, clearenv, putenv, its
 * own environ), said_env is no longer in its environment and writing it changes
 * nothing the program sees. A held slot whose array glibc replaced (its setenv or putenv
 * of a new variable copies the array up to its terminator, without the slot) is put
 * back by the shim's hooks of those four (preload/setenv.c, cp_shim_said_env_changed:
 * environ becomes a copy in an mmap'd array of ours with the slot, and glibc's next
 * setenv copies from it). Only a program that assigns environ itself loses the slot;
 * then what is said later reaches exec'd and posix_spawn'd children (their copies are
 * made from the flags), not system's and popen's: stated in README.
 *
 * Upward and across (a line said first by an exec'd descendant, then met by an ancestor
 * or a sibling): not through the environment, which flows only down, but by a marker
 * file per cause in a directory of the tree's root, outside the program's own files and
 * descriptors (treesaid.c, which says why neither a descriptor nor CTRPROF_DIR would do).
 * The causes found before an exec are said before it (exec.c, and system/popen's
 * hooks), so the child inherits them.
 *
 * Contexts: cp_shim_said_init from the constructor only; cp_shim_said_refresh from any
 * thread, a signal handler, the flusher, an inline flush, the hooks, the atfork child;
 * cp_shim_said_env_changed from the program's threads, in its setenv family's hooks (it
 * waits for the token, bounded, and may mmap: not async-signal-safe, as those are not).
 * Invariants: no malloc, no lock that waits, async-signal-safe, errno kept. One writer
 * at a time in a process: a try-token (busy), never waited for; a caller that finds it
 * taken returns, and the holder looks once more after giving it back (a seq_cst total
 * order: the flag set, then the failed exchange, comes before the holder's release and
 * its look), so nothing said is left out. Only the process the engine belongs to
 * (getpid() == cp_shim_pid) writes: a vfork child shares the parent's memory, and a
 * child that no atfork handler saw is not yet reset; the child's reset gives the token
 * back (cp_shim_said_child: a fork while another thread held it). Tested in
 * tests/unit/test_said.c, which compiles this file in (CP_SAID_HELD: its seam for a line
 * said while the token is held; nothing in the shim).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "shim.h"
#include "spin.h"

#define SAID "CTRPROF_SAID="
#define SAID_LEN 13
#ifndef CP_SAID_HELD /* tests/unit/test_said.c: a line said while the token is held */
#define CP_SAID_HELD()
#endif

static char said_env[CP_SHIM_SAID_MAX];
static char *env_room[CP_SHIM_ENV_MAX + 2];
static char **env_cur = env_room; /* the array of ours with the slot (token holder only) */
static size_t room_n;             /* entries copied into env_cur */
static bool slot_held;            /* env_cur's slot not filled yet (token holder only) */
static int ready, busy;           /* atomics */
static char **copies[2];          /* mmap'd arrays for env_copy, used in turn (token holder only) */
static size_t copies_cap[2];
static unsigned copies_next;

/* Is name a whole item of said_env's value? (Read as a reader would, byte by byte:
 * outside the token a holder may be appending.) */
static bool named(const char *name)
{
    size_t k = strlen(name), i = SAID_LEN;
    for (;;) {
        size_t n = 0;
        char c;
        while ((c = __atomic_load_n(&said_env[i + n], __ATOMIC_ACQUIRE)) && c != ',' &&
               i + n < sizeof said_env - 1)
            n++;
        if (n == k) {
            size_t j = 0;
            while (j < k && __atomic_load_n(&said_env[i + j], __ATOMIC_RELAXED) == name[j])
                j++;
            if (j == k)
                return true;
        }
        if (c != ',')
            return false;
        i += n + 1;
    }
}

/* Append name to said_env, readers or not (token held). */
static void append(const char *name)
{
    size_t at = strlen(said_env), k = strlen(name);
    bool first = at == SAID_LEN;
    size_t end = at + !first + k; /* the new terminator */
    if (end >= sizeof said_env)
        return; /* (cannot be: the whole list fits) */
    char lead = first ? name[0] : ',';
    const char *rest = first ? name + 1 : name;
    for (size_t i = 0; i < end - at - 1; i++)
        __atomic_store_n(&said_env[at + 1 + i], rest[i], __ATOMIC_RELAXED);
    __atomic_store_n(&said_env[end], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&said_env[at], lead, __ATOMIC_RELEASE);
}

static bool missing(void);

/* Fill the held slot once something is named (token held). Not while environ is another
 * array (glibc's setenv made a new one, and the env hooks have not copied it yet: they
 * fill it then; the program's own array: never). */
static void fill_slot(void)
{
    extern char **environ;
    if (!slot_held || said_env[SAID_LEN] == 0 || environ != env_cur)
        return;
    slot_held = false;
    size_t t = 0;
    while (t < room_n && env_cur[t])
        t++;
    if (env_cur[t] == NULL && env_cur[t + 1] == NULL)
        __atomic_store_n(&env_cur[t], said_env, __ATOMIC_RELEASE);
}

/* environ copied into an array of ours with the slot after its terminator, and made
 * environ (token held, slot held, environ not ours). Two mmap'd arrays in turn: the one
 * written is never environ, and was last environ before glibc's array that is environ
 * now replaced it (a getenv still reading it then is one that glibc's own realloc of its
 * array would have freed under it, as setenv may). Not in a sandbox if the array must
 * grow (mmap may be forbidden): the slot stays unfilled then. */
static bool env_copy(char **env)
{
    extern char **environ;
    size_t n = cp_shim_env_count(env), i = copies_next;
    if (copies_cap[i] < n + 2) {
        if (__atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE))
            return false;
        size_t cap = (n + 2) * 2 < 256 ? 256 : (n + 2) * 2;
        void *m = mmap(NULL, cap * sizeof(char *), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return false;
        if (copies[i])
            munmap(copies[i], copies_cap[i] * sizeof(char *));
        copies[i] = m;
        copies_cap[i] = cap;
    }
    char **c = copies[i];
    memcpy(c, env, n * sizeof *c);
    c[n] = c[n + 1] = NULL;
    copies_next = i ^ 1;
    env_cur = c;
    room_n = n;
    __atomic_store_n(&environ, c, __ATOMIC_RELEASE);
    return true;
}

static bool has_entry(char **env)
{
    for (size_t i = 0; env[i]; i++)
        if (env[i] == said_env)
            return true;
    return false;
}

bool cp_shim_said_env_before(void)
{
    return __atomic_load_n(&slot_held, __ATOMIC_ACQUIRE);
}

/* After the program's setenv, putenv, unsetenv or clearenv (preload/setenv.c; errno kept
 * by the caller; held: cp_shim_said_env_before's answer before the call): if the slot is
 * held and environ is no longer ours (glibc's setenv and putenv of a new name copy the
 * array up to its terminator, without the slot, into one of its own), environ becomes a
 * copy of ours with the slot again, filled at once if something was said meanwhile. So
 * too if the slot was filled during the call (the line said by its own allocation, at
 * rate 1) and the copy, sized before, left it out. glibc's next setenv copies from
 * environ when it is not its own last array (stdlib/setenv.c), and its unsetenv shifts
 * entries within whatever environ is, ours too; after clearenv (environ NULL) nothing is
 * copied till the next setenv. The token is waited for (bounded: its holder makes a few
 * stores). */
void cp_shim_said_env_changed(bool held)
{
    extern char **environ;
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE) || getpid() != cp_shim_pid)
        return;
    for (int i = 0; __atomic_exchange_n(&busy, 1, __ATOMIC_SEQ_CST); i++)
        if (i > 1000)
            return;
        else
            cp_yield(); /* (spin.h: a pause once sandboxed) */
    char **env = environ;
    if (env && env != env_cur && (slot_held || (held && !has_entry(env))) && env_copy(env))
        slot_held = true;
    fill_slot();
    __atomic_store_n(&busy, 0, __ATOMIC_SEQ_CST);
    if (missing())
        cp_shim_said_refresh();
}

static bool missing(void)
{
    for (unsigned k = 0; k < CP_LOG_TREE_KEYS; k++)
        if (cp_log_tree_said(k) && !named(cp_log_tree_name(k)))
            return true;
    return false;
}

void cp_shim_said_refresh(void)
{
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE) || getpid() != cp_shim_pid)
        return;
    /* (a sayer's flag exchange, seq_cst in base/log.c, comes before its token exchange) */
    /* bounded: each round names what is missing; a name that cannot fit stays missing */
    for (int round = 0; round <= CP_LOG_TREE_KEYS; round++) {
        if (__atomic_exchange_n(&busy, 1, __ATOMIC_SEQ_CST))
            return; /* the holder looks again after us */
        for (unsigned k = 0; k < CP_LOG_TREE_KEYS; k++)
            if (cp_log_tree_said(k) && !named(cp_log_tree_name(k)))
                append(cp_log_tree_name(k));
        fill_slot();
        CP_SAID_HELD();
        __atomic_store_n(&busy, 0, __ATOMIC_SEQ_CST);
        if (!missing())
            return;
    }
}

void cp_shim_said_child(void)
{
    __atomic_store_n(&busy, 0, __ATOMIC_RELAXED);
}

void cp_shim_said_init(void)
{
    extern char **environ;
    memcpy(said_env, SAID, SAID_LEN);
    for (unsigned k = 0; k < CP_LOG_TREE_KEYS; k++)
        if (cp_log_tree_said(k))
            append(cp_log_tree_name(k));
    size_t i = 0;
    while (environ && environ[i] && strncmp(environ[i], SAID, SAID_LEN))
        i++;
    if (environ && environ[i]) {
        environ[i] = said_env; /* the entry getenv finds: ours now */
    } else if (!cp_shim_keeps_shim(environ)) {
        /* no child profiled: nothing to hold; what start-up said, as an exec would */
        if (said_env[SAID_LEN])
            setenv("CTRPROF_SAID", said_env + SAID_LEN, 1);
        return;
    } else if ((room_n = cp_shim_env_count(environ)) > CP_SHIM_ENV_MAX) {
        if (said_env[SAID_LEN]) /* too many to copy: start-up's only */
            setenv("CTRPROF_SAID", said_env + SAID_LEN, 1);
        return;
    } else {
        memcpy(env_room, environ, room_n * sizeof *env_room);
        slot_held = true; /* env_room[room_n], env_room[room_n + 1]: NULL */
        env_cur = env_room;
        environ = env_room;
        fill_slot(); /* (said at start-up: visible now) */
    }
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    cp_log_tree_on_said(cp_shim_said_refresh);
    cp_shim_said_refresh(); /* anything said since said_env was made */
}
