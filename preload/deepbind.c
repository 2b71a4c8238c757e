/*
 * deepbind.c — libraries loaded with RTLD_DEEPBIND get the shim's hooks too.
 *
 * A library dlopen'ed with RTLD_DEEPBIND looks its symbols up in itself and its own
 * dependencies before the global scope, so its calls to malloc, free, pthread_mutex_lock,
 * fork, prctl ... bind to libc's, past every hook of the shim: its allocations were not
 * profiled, and an object the program allocated and the library freed stayed in the
 * profile as in use for ever (and the other way round). After such a load, this file
 * rewrites the new objects' GOT slots (JUMP_SLOT and GLOB_DAT relocations) of each
 * symbol the shim defines and the library would have bound to the definition after the
 * shim's (libc's), to the shim's: only those, so a library with an allocator of its own
 * (itself or a dependency defining malloc, the usual reason for RTLD_DEEPBIND) keeps it.
 * A lazy slot is rewritten as the library's first call would have bound it.
 *
 * When: dlopen cannot be wrapped in C (dltramp.S: it acts for its caller), so its hook
 * only notes a DEEPBIND load and the objects there were before it; the rewriting is done
 * at the program's next dlsym, dlopen, dlmopen, dlclose or pthread_create (a program
 * looks its plugin's entry up with dlsym before calling it), or by the flusher thread
 * after its next flush (a plugin that registered itself in a constructor, called through
 * that: within a flush interval; a single-threaded program has no flusher). What the
 * library's constructors did inside dlopen is not seen. Not in a sandbox (mprotect of
 * RELRO pages may be refused there), said once.
 *
 * dlmopen (another namespace, with its own libc and heap, and no shim): said once; its
 * objects are not profiled.
 *
 * Contexts: the program's threads, in its dl calls (any number at once: one spin lock
 * here, taken before the loader's locks, never inside them: dl_iterate_phdr's callbacks
 * only copy). No malloc; errno kept.
 */
#include <link.h>
#include <string.h>

#include "gotslots.h"
#include "log.h"
#include "shim.h"
#include "spin.h"

#define MAX_OBJS 1024

static void *(*real_dlopen)(const char *, int);
static void *(*real_dlmopen)(Lmid_t, const char *, int);
static void *(*real_dlsym)(void *, const char *);
static int (*real_dlclose)(void *);

static cp_spin lock;
static int pending;                /* a DEEPBIND load since the last rewrite (atomic) */
static uintptr_t before[MAX_OBJS]; /* the objects' load addresses before it (under lock) */
static unsigned nbefore;
static bool said_sandbox, said_dlmopen;

/* (in place of a real function dlvsym did not find: cannot happen with glibc) */
static void *none(void)
{
    errno = ENOSYS;
    return NULL;
}

/* dlvsym is not interposed: the real functions without passing through ours */
static void *next(const char *name, const char *v1, const char *v2)
{
    void *f = dlvsym(RTLD_NEXT, name, v1);
    if (!f)
        f = dlvsym(RTLD_NEXT, name, v2);
    return f ? f : (void *)none;
}

static void resolve(void)
{
    if (!__atomic_load_n(&real_dlsym, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&real_dlopen, next("dlopen", "GLIBC_2.34", "GLIBC_2.2.5"),
                         __ATOMIC_RELEASE);
        __atomic_store_n(&real_dlmopen, next("dlmopen", "GLIBC_2.34", "GLIBC_2.3.4"),
                         __ATOMIC_RELEASE);
        __atomic_store_n(&real_dlclose, next("dlclose", "GLIBC_2.34", "GLIBC_2.2.5"),
                         __ATOMIC_RELEASE);
        __atomic_store_n(&real_dlsym, next("dlsym", "GLIBC_2.34", "GLIBC_2.2.5"), __ATOMIC_RELEASE);
    }
}

static int note_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size, (void)arg;
    if (nbefore < MAX_OBJS)
        before[nbefore++] = info->dlpi_addr;
    return 0;
}

static bool was_there(uintptr_t addr)
{
    for (unsigned i = 0; i < nbefore; i++)
        if (before[i] == addr)
            return true;
    return false;
}

/* ---- rewriting one object's slots -------------------------------------------------- */

struct obj {
    struct cp_got got;
    void *handle; /* dlopen(name, RTLD_NOLOAD): its own lookup scope, for lazy slots */
};

static bool in_shim(uintptr_t a)
{
    return a >= cp_shim_lo && a < cp_shim_hi;
}

static void rewrite_slot(const struct cp_got *g, const char *name, uintptr_t *slot, void *arg)
{
    const struct obj *o = arg;
    /* the shim's definition, and what comes after it (libc's) */
    uintptr_t ours = (uintptr_t)real_dlsym(RTLD_DEFAULT, name);
    if (!ours || !in_shim(ours))
        return;
    uintptr_t theirs = (uintptr_t)real_dlsym(RTLD_NEXT, name);
    uintptr_t cur = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (cur >= g->lo && cur < g->hi) /* lazy: still the PLT's stub */
        cur = o->handle ? (uintptr_t)real_dlsym(o->handle, name) : 0;
    if (!cur || cur != theirs || cur == ours)
        return;
    cp_got_store(g, slot, ours); /* (a page that stays read-only: left as it was) */
}

/* The objects not there before the load, noted by dl_iterate_phdr's callback (which
 * runs under the loader's lock: nothing there may call dlopen or dlsym, which take the
 * other one) and rewritten after it (under ours). */
#define MAX_NEW 32
static struct dl_phdr_info news[MAX_NEW];
static unsigned nnew;

static int note_new(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size, (void)arg;
    if (info->dlpi_addr && !was_there(info->dlpi_addr) && info->dlpi_name && info->dlpi_name[0] &&
        nnew < MAX_NEW)
        news[nnew++] = *info;
    return 0;
}

static void rewrite_object(const struct dl_phdr_info *info)
{
    /* held while we look (our reference dropped through libc's dlclose, not the hook) */
    void *h = real_dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
    if (!h)
        return; /* (gone already) */
    struct obj o = {.handle = h};
    if (cp_got_parse(info, &o.got))
        cp_got_each(&o.got, rewrite_slot, &o);
    real_dlclose(h);
}

/* The objects a DEEPBIND load brought, rewritten (once). */
static void catch_up(void)
{
    if (!__atomic_load_n(&pending, __ATOMIC_ACQUIRE))
        return;
    int64_t cd = cp_shim_enter(); /* (the loader's calls may allocate) */
    struct dl_phdr_info mine[MAX_NEW];
    unsigned n = 0;
    bool sandboxed = cp_prof_in_sandbox();
    cp_spin_lock(&lock);
    if (__atomic_load_n(&pending, __ATOMIC_RELAXED)) {
        __atomic_store_n(&pending, 0, __ATOMIC_RELAXED);
        nnew = 0;
        if (!sandboxed)
            dl_iterate_phdr(note_new, NULL);
        n = nnew;
        memcpy(mine, news, n * sizeof *mine);
        if (sandboxed && !said_sandbox && cp_log_tree_first(CP_LOG_TREE_DEEPBIND)) {
            said_sandbox = true;
            cp_log("a library loaded with RTLD_DEEPBIND in a sandbox: its calls to malloc, "
                   "free and the rest go past the profiler");
        }
    }
    cp_spin_unlock(&lock);
    /* (not under our lock: a constructor running under the loader's lock on another
     * thread may be in our dlopen hook, waiting for it) */
    for (unsigned i = 0; i < n; i++)
        rewrite_object(&mine[i]);
    cp_shim_leave(cd);
}

/* ---- the hooks (called by dltramp.S; each returns the real function) --------------- */

void *cp_shim_dlopen_before(const char *file, int mode);
void *cp_shim_dlmopen_before(Lmid_t lmid, const char *file, int mode);
void *cp_shim_dlsym_before(void *handle, const char *name);

void *cp_shim_dlopen_before(const char *file, int mode)
{
    int saved = errno;
    resolve();
    if (cp_shim_state == CP_SHIM_ON && !cp_tls.guard) {
        catch_up(); /* (an earlier load's, first) */
        if ((mode & RTLD_DEEPBIND) && file && !(mode & RTLD_NOLOAD)) {
            int64_t cd = cp_shim_enter();
            cp_spin_lock(&lock);
            nbefore = 0;
            dl_iterate_phdr(note_object, NULL);
            __atomic_store_n(&pending, 1, __ATOMIC_RELEASE);
            cp_spin_unlock(&lock);
            cp_shim_leave(cd);
        }
    }
    errno = saved;
    return (void *)real_dlopen;
}

void *cp_shim_dlmopen_before(Lmid_t lmid, const char *file, int mode)
{
    (void)file, (void)mode;
    int saved = errno;
    resolve();
    if (cp_shim_state == CP_SHIM_ON && !cp_tls.guard) {
        catch_up();
        if (lmid != LM_ID_BASE && !__atomic_exchange_n(&said_dlmopen, true, __ATOMIC_RELAXED) &&
            cp_log_tree_first(CP_LOG_TREE_DEEPBIND))
            cp_log("dlmopen into another namespace: the objects there (with a libc of their "
                   "own) are not profiled");
    }
    errno = saved;
    return (void *)real_dlmopen;
}

void *cp_shim_dlsym_before(void *handle, const char *name)
{
    (void)handle, (void)name;
    int saved = errno;
    resolve();
    if (cp_shim_state == CP_SHIM_ON && !cp_tls.guard)
        catch_up();
    errno = saved;
    return (void *)real_dlsym;
}

void cp_shim_deepbind_catch_up(void)
{
    if (cp_shim_state == CP_SHIM_ON && !cp_tls.guard)
        catch_up();
}

void cp_shim_deepbind_flusher(void)
{
    /* (its guard is held for good: the loader's allocations go to the real allocator;
     * a load is pending only after the dlopen hook resolved the real functions) */
    if (cp_shim_state == CP_SHIM_ON)
        catch_up();
}

void cp_shim_deepbind_child(void)
{
    /* (a load another thread had noted is the parent's: the child rewrites it too, at
     * its next dl call, against a snapshot that may be cut short: harmless, see
     * rewrite_slot's rule) */
    cp_spin_reset(&lock);
}
