/*
 * publish.c — the counter file as the engine writes it: creating it (at init, or lazily
 * at the first flush with something to say), the buckets' and health counters' deltas
 * (a bucket's records are named by stacktab.c, Ctrprof-Format 4), the publish seqlock, the
 * ctrprof/note:* counters, sandboxes, a chroot or another uid (the file made, and room
 * in it, before its path stops leading to it), and what waits for a file that cannot be
 * created or grown for now (a descriptor limit, a uid that may not open it).
 * About 880 lines: each of those writes the same file through the same state (the file,
 * its seqlock, what was published), kept here.
 *
 * Contexts: whoever holds cp_flush_lock (the flusher, an inline flush, exit, a late
 * event: cp_late_event below); start-up (cp_file_init, cp_prof_set_process,
 * cp_prof_add_named, cp_prof_started_filtered); the shim before a seccomp filter
 * (cp_prof_sandbox), a chroot (cp_prof_root_changing) or a uid or capability change
 * (cp_prof_identity_changing), on the program's thread; the fork child
 * (cp_publish_fork_*). Everything here is guarded by cp_flush_lock, or runs before there
 * is a second thread. Lock: cp_flush_lock (docs/ARCHITECTURE.md, "Locks").
 */
#include "prof_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arena.h"
#include "cfile.h"
#include "contention.h"
#include "heaptime.h"
#include "live.h"
#include "log.h"
#include "mapsnap.h"
#include "modules.h"
#include "names.h"
#include "path.h"
#include "newproc.h"
#include "ownstack.h"
#include "stack.h"
#include "stackmemo.h"
#include "stacktab.h"
#include "stampclock.h"

static bool have_file;
static struct cp_cfile file;
/* The file is a per-process one this process created (cp_cfile_open_as's create_only),
 * so nobody else writes it, and this process writes under cp_flush_lock (or before a
 * second thread): every flush's counters go in without a locked instruction
 * (cp_cfile_add_sole). A shared CTRPROF_FILE (and a fork child in it), or a per-process
 * file opened at start-up (sandboxed from the start), take the CAS. */
static bool sole;

static inline void add(uint64_t *v, uint64_t n)
{
    if (sole)
        cp_cfile_add_sole(v, n);
    else
        cp_cfile_add(v, n);
}

/* Buckets waiting for a counter that could not be made for now (CP_CTR_PENDING): the file
 * grows by opening its path again (cfile.c), which a program at its descriptor limit
 * (RLIMIT_NOFILE, or the system's) refuses until it closes one, and its mappings need
 * memory. Their values stay in the bucket, unpublished, and each health publication
 * (every flush interval, and the last flush: publish_pending) tries them again, from the
 * lowest index, until one still cannot be made. What still waits at exit is lost
 * (lost:nbucket, said). Guarded by cp_flush_lock. */
static uint32_t npending;
static bool pending_blocked; /* the last counter tried could not be made for now */
static bool pending_final;   /* the last flush (cp_publish_final): give up what waits */
static bool sandbox_next;    /* a seccomp filter goes in (cp_prof_sandbox): nothing waits,
                              * as no file may be opened or grown in it */

static bool can_wait(void)
{
    return !pending_final && !__atomic_load_n(&sandbox_next, __ATOMIC_RELAXED);
}

static bool for_now(int err)
{
    return err == -EMFILE || err == -ENFILE || err == -ENOMEM || err == -EINTR || err == -EAGAIN;
}

/* A counter the file could not grow for: also for now when the file's path was refused to
 * a uid the process took (cp_prof_identity_changing), which it may give back. */
static bool growth_for_now(int err)
{
    return for_now(err) || err == -EACCES;
}

/* A per-process file that could not be created for now (a descriptor limit, memory): it
 * is tried again at most every OPEN_AGAIN_NS, and once made, every bucket is published
 * (republish_all: what they recorded meanwhile). */
#define OPEN_AGAIN_NS 50000000ull
static bool open_waits, republish_all;
static uint64_t open_again_ns;

/* The host's way to another name for the per-process file when its name was found taken
 * at creation (prof.h, struct cp_host's file_taken); NULL: none, not profiling. */
static int (*file_taken)(char *path, size_t size);

void cp_publish_set_file_taken(int (*fn)(char *path, size_t size))
{
    file_taken = fn;
}
static char meta_text[CP_CFILE_MAX_META + 1];
static size_t meta_len;

/* flusher only (guarded by cp_flush_lock): totals already added to the file */
static uint64_t pub_samples[CP_NPTYPES];
static uint64_t pub_lost[CP_NLOST], pub_waits, pub_overflowed, pub_bytes, pub_trunc;
static uint64_t pub_thinned, pub_rate_max, pub_unbracketed, pub_in_run, pub_memo_hits,
    pub_memo_misses;

/* A per-process file (the first process's, and a fork child's own) is created lazily, at
 * the first flush with something to publish: a process that records nothing (fork+exec,
 * a short process) leaves no empty file nor pays for one (0.5-1 ms on ext4). Guarded by
 * cp_flush_lock. */
bool cp_file_pending;
static char pending_path[CP_PATH_MAX];
static bool pending_own;          /* made create-only (cp_open_pending); not a fork child's that
                                   * shares its parent's still pending file: opened as the parent will */
static char process_counter[160]; /* ctrprof/process:<program>, added when the file opens */

/* module records published by this process (flusher only) */
#define MODSET 1024
static uint32_t mod_published[MODSET];
static unsigned nmod_published;

/* ---- named counters ---------------------------------------------------------------- */

static void add_named(const char *name, uint64_t n)
{
    uint64_t *v;
    if (have_file && n && cp_cfile_counter(&file, name, strlen(name), &v) == 0)
        cp_cfile_add(v, n);
}

/* The health counters, added to on most flushes, keep their place in the file: a lookup
 * walks the name's hash chain, hundreds long with 10^5 buckets (512 chains), and at rate 1
 * flushes come hundreds of times a second (gcc's cc1: 5% of the run). Keyed by the
 * name's address, a string literal; forgotten when the file changes. */
#define NAMED_CACHE 24
static struct {
    const char *name;
    uint64_t *ctr;
} named_cache[NAMED_CACHE];
static unsigned n_named_cache;

static void add_health(const char *name, uint64_t n)
{
    if (!have_file || n == 0)
        return;
    for (unsigned i = 0; i < n_named_cache; i++)
        if (named_cache[i].name == name) {
            add(named_cache[i].ctr, n);
            return;
        }
    uint64_t *v;
    if (cp_cfile_counter(&file, name, strlen(name), &v) == 0) {
        add(v, n);
        if (n_named_cache < NAMED_CACHE) {
            named_cache[n_named_cache].name = name;
            named_cache[n_named_cache++].ctr = v;
        }
    }
}

void cp_prof_set_process(const char *name)
{
    size_t n = strlen(name);
    if (n >= sizeof process_counter)
        n = sizeof process_counter - 1;
    memcpy(process_counter, name, n);
    process_counter[n] = 0;
    add_named(process_counter, 1);
}

/* Counters that exist from the moment the file opens:
 *  - lost:nbucket: when the file system fills up, it is the one still written;
 *  - publishing / flushes: a seqlock shared by every process writing the file. A publish
 *    adds 1 to publishing before it adds anything else and 1 to flushes after everything
 *    (cp_cfile_add is a locked RMW: a full barrier on x86-64; cp_cfile_add_sole's release
 *    stores keep the same order in a file only this process writes), so a reader that sees the
 *    two equal before and after its copy has one published snapshot (cp_cfile_load). */
static uint64_t *seq_begun, *seq_ended;

static void reserve_counters(void)
{
    static const char nbucket[] = "ctrprof/health:lost:nbucket";
    static const char begun[] = CP_CFILE_SEQ_BEGUN, ended[] = CP_CFILE_SEQ_ENDED;
    uint64_t *v;
    seq_begun = seq_ended = NULL;
    if (!have_file)
        return;
    (void)cp_cfile_counter(&file, nbucket, sizeof nbucket - 1, &v);
    /* ended first: a reader that finds begun finds ended */
    if (cp_cfile_counter(&file, ended, sizeof ended - 1, &seq_ended) ||
        cp_cfile_counter(&file, begun, sizeof begun - 1, &seq_begun))
        seq_begun = seq_ended = NULL;
}

void cp_publish_begin(void)
{
    if (seq_begun)
        add(seq_begun, 1);
}

void cp_publish_end(void)
{
    if (seq_ended)
        add(seq_ended, 1);
}

/* Has the file stopped being ours to write (cp_flush_lock held)? A store that faulted (the
 * file was truncated under us, or its file system had no block for a page) ends
 * publishing into it: nothing more is written there, said once. A file that can merely
 * no longer grow (its path leads elsewhere, full, a sandbox) keeps its counters; new
 * ones fail and are counted in lost:nbucket (publish_bucket). */
void cp_check_file(void)
{
    if (!have_file || !cp_cfile_broken(&file))
        return;
    have_file = false;
    sole = false;
    seq_begun = seq_ended = NULL;
    n_named_cache = 0;
    cp_stacktab_reset();
    if (cp_log_tree_first(CP_LOG_TREE_TRUNCATED)) /* (a shared file: its writers, one line) */
        cp_log("%s: the profile was truncated under the program (or its file system had no "
               "room for a page); profiling into it has stopped",
               file.path);
}

/* A file made under a seccomp filter with the umask's mode, its owner's read or write
 * taken (cfile.h, mode_kept): its owner's reader cannot open it. Said once per tree. */
static void say_mode_kept(void)
{
    if (have_file && file.mode_kept && cp_log_tree_first(CP_LOG_TREE_FILE_MODE))
        cp_log("%s: made mode %04o by the umask under a seccomp filter, which may forbid "
               "changing it: read it as root or after chmod u+rw",
               file.path, (unsigned)(file.mode_kept & 07777));
}

/* Open the pending per-process file (cp_flush_lock held). Its name was found free at start
 * (preload/shim.c, default_path), but the file is made only now: a process with the same
 * pid and program (another pid namespace) writing to the same directory may have made it
 * since. Then this process takes another free name (the host's file_taken), a few times
 * at most, and never opens the other's file: a per-process file has one writer (sole). */
void cp_open_pending(void)
{
    if (!cp_file_pending)
        return;
    if (open_waits && can_wait() && cp_mono_ns() < open_again_ns)
        return;
    cp_file_pending = false;
    int err = cp_cfile_open_as(&file, pending_path, meta_text, meta_len, pending_own);
    for (int tries = 0; pending_own && err == -EEXIST && tries < 8; tries++) {
        err = file_taken ? file_taken(pending_path, sizeof pending_path) : -EEXIST;
        if (err == 0)
            err = cp_cfile_open_as(&file, pending_path, meta_text, meta_len, true);
    }
    have_file = err == 0;
    sole = have_file && file.created;
    n_named_cache = 0;
    cp_stacktab_reset();
    if (!have_file && for_now(err) && can_wait()) {
        cp_file_pending = true;
        open_waits = true;
        open_again_ns = cp_mono_ns() + OPEN_AGAIN_NS;
        if (err == -ENOMEM ? cp_mem_refused(err) : cp_log_tree_first(CP_LOG_TREE_COUNTER_WAIT))
            cp_log("%s: cannot create the profile for now (%s); what is recorded waits in "
                   "memory and goes into it once it can be created",
                   pending_path, cp_cfile_strerror(err));
        return;
    }
    if (!have_file) {
        if (cp_log_tree_first(CP_LOG_TREE_NOT_PROFILING)) /* forked workers: one line */
            cp_log("%s: %s; not profiling", pending_path, cp_cfile_strerror(err));
        return;
    }
    republish_all = open_waits;
    open_waits = false;
    say_mode_kept();
    reserve_counters();
    if (process_counter[0])
        add_named(process_counter, 1);
}

/* ---- sandboxes --------------------------------------------------------------------- *
 *
 * A seccomp filter (OpenSSH's pre-auth child, renderers, hardened daemons) may forbid any
 * system call the engine would make for the first time later: openat for a lazy file,
 * fallocate/mmap to grow it, mmap for a ring, clone for the flusher, sched_yield. The
 * shim calls cp_prof_sandbox just before the filter goes in, which does all that needs one:
 * the per-process file is created, everything so far published, the file made
 * CP_SANDBOX_FILE_MARGIN longer and mapped whole, and the arena maps a fresh chunk and
 * CP_SANDBOX_SPARE bytes; from then on (cp_sandboxed) no new kind of system call (no file
 * growth, mmap/munmap, thread start, libunwind loading; spins, not sched_yield), and what
 * does not fit is counted as lost and said once. The calls that stay are ones every
 * filter that lets glibc work allows (futex, clock_gettime, write, getpid), and
 * rt_sigprocmask where the filter allows it (SIGBUS around stores: filebus.c, preload/
 * sandbox.c). Refused: all thaws. */
static void snapshot_maps(void *arg)
{
    (void)arg;
    cp_mapsnap_refresh();
}

int cp_prof_sandbox(void)
{
    if (!cp_prof_enabled() || __atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE))
        return 0;
    cp_newproc();   /* a child no handler saw (newproc.h) is reset before the lock is taken */
    cp_fence_end(); /* (membarrier: a filter may forbid it) */
    /* everything recorded so far is published while the file can still grow (the room
     * made below is for what comes after), and the profiler's own flush stack is mapped
     * now (its guard page needs mprotect, which an allow-list rarely has); what cannot
     * get into the file now never will (sandbox_next) */
    __atomic_store_n(&sandbox_next, true, __ATOMIC_RELAXED); /* (read under the lock) */
    cp_prof_flush_all();
    int bus; /* (not sandboxed yet: refused only if unblocking SIGBUS failed) */
    if (!cp_file_lock(&bus))
        cp_spin_lock(&cp_flush_lock), bus = 0; /* the freeze below must happen */
    cp_open_pending();
    if (have_file) {
        int err = cp_cfile_presize(&file, CP_SANDBOX_FILE_MARGIN);
        if (err) {
            if (cp_log_tree_first(CP_LOG_TREE_SANDBOX_ROOM)) /* once per process tree */
                cp_log("%s: no room made before the sandbox (%s)", file.path,
                       cp_cfile_strerror(err));
        }
        cp_cfile_freeze(&file);
    }
    cp_cfile_plain_create(true); /* a fork child's own file, made in the sandbox */
    /* the mappings as they are, for walks on coroutine stacks, which may not probe
     * their bounds in the sandbox (stack.c, mapsnap.h) */
    cp_own_stack_run(snapshot_maps, NULL);
    cp_file_unlock(bus);
    cp_contention_prepare(); /* the mutex waiter table, mapped at the first wait elsewhere */
    cp_arena_freeze(cp_dense() ? CP_SANDBOX_SPARE : CP_SANDBOX_SPARE / 4);
    return 1;
}

/* The file made now if it waited, and (room) CP_SANDBOX_FILE_MARGIN bytes of room in it */
static void make_file_now(bool room)
{
    cp_prof_flush_all(); /* (creates a file waiting for something to say, if there is) */
    int bus;
    if (!cp_file_lock(&bus))
        return;
    cp_open_pending();
    if (have_file && room)
        (void)cp_cfile_presize(&file, CP_SANDBOX_FILE_MARGIN); /* (said by growth if not) */
    cp_file_unlock(bus);
}

void cp_prof_root_changing(void)
{
    if (!cp_prof_enabled() || __atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE))
        return;
    make_file_now(true);
}

/* Is the waiting file better made now than after the change: may the process make it in
 * path's directory now (its effective ids and capabilities: faccessat's AT_EACCESS), and
 * might uid u not (override: it keeps CAP_DAC_OVERRIDE, as root does)? u's right is read
 * from the mode bits: the owner's if u owns the directory, else the others' (a group's is
 * not counted: it might not). A directory the process cannot even look at now (util-linux
 * setpriv between its setresuid and its capset: uid nobody, gid still root, and a parent
 * directory whose group may not search it) is left for later: made now, it was refused,
 * and a refused file is never tried again ("not profiling"). */
static bool better_now(const char *path, uid_t u, bool override)
{
    char dir[CP_PATH_MAX];
    size_t n = strlen(path);
    if (override || n >= sizeof dir || !strchr(path, '/'))
        return false;
    memcpy(dir, path, n + 1);
    if (!cp_path_up(dir))
        return false;
    struct stat st;
    if (stat(dir, &st) != 0)
        return false;
    bool later = st.st_uid == u ? (st.st_mode & 0300) == 0300 : (st.st_mode & 0003) == 0003;
    return !later && faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0;
}

/* The program sets another uid (prof.h). Room is made only when under half of the margin
 * is left, so that a server that changes its euid per request (Samba's smbd) pays the
 * growth's system calls once per half a margin of new counters, not per request. A growth
 * refused meanwhile for the new uid (EACCES: cfile.c's reopen) waits, as growth does at a
 * descriptor limit: the counters go in when the process may open the file again, or are
 * lost at exit, said. */
void cp_prof_identity_changing(uid_t u, bool override)
{
    if (!cp_prof_enabled() || __atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE))
        return;
    if (__atomic_load_n(&cp_file_pending, __ATOMIC_ACQUIRE)) {
        /* a directory the new uid may make its file in (/tmp): made then, its own, and
         * no room taken now (a prefork server's every worker a megabyte); else now */
        if (better_now(pending_path, u, override))
            make_file_now(u != geteuid()); /* (room for a file u will not own) */
        return;
    }
    int bus;
    if (!cp_file_lock(&bus))
        return;
    if (have_file && !override && u != file.uid &&
        cp_cfile_room(&file) < CP_SANDBOX_FILE_MARGIN / 2)
        (void)cp_cfile_presize(&file, CP_SANDBOX_FILE_MARGIN); /* (said by growth if not) */
    cp_file_unlock(bus);
}

static bool started_filtered; /* cp_prof_started_filtered: plain creation for good */

void cp_prof_started_filtered(void)
{
    started_filtered = true;
    cp_cfile_plain_create(true);
}

bool cp_prof_filtered_at_start(void)
{
    return started_filtered;
}

bool cp_prof_in_sandbox(void)
{
    return __atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE) != 0;
}

void cp_prof_sandbox_failed(void)
{
    /* the filter did not go in: growth and mmap are allowed again */
    __atomic_store_n(&cp_sandboxed, 0, __ATOMIC_RELEASE);
    cp_cfile_plain_create(started_filtered);
    cp_spin_lock(&cp_flush_lock);
    __atomic_store_n(&sandbox_next, false, __ATOMIC_RELAXED);
    if (have_file)
        __atomic_store_n(&file.frozen, 0, __ATOMIC_RELEASE);
    cp_spin_unlock(&cp_flush_lock);
}

void cp_prof_notes(uint64_t malloc_bytes, bool bytes_known, uint64_t cpu_ms, uint64_t forks)
{
    if (!cp_prof_enabled())
        return;
    static const char nb[] = "ctrprof/note:malloc-bytes", nc[] = "ctrprof/note:cpu-ms";
    cp_newproc(); /* a child no handler saw (newproc.h) is reset before the lock is taken */
    int bus;
    if (!cp_file_lock(&bus))
        return;
    cp_open_pending(); /* a profile with nothing but these says why it is empty */
    uint64_t *v;
    if (have_file && bytes_known && cp_cfile_counter(&file, nb, sizeof nb - 1, &v) == 0)
        cp_cfile_add(v, malloc_bytes);
    if (have_file && cp_cfile_counter(&file, nc, sizeof nc - 1, &v) == 0)
        cp_cfile_add(v, cpu_ms);
    add_named("ctrprof/note:forks", forks);
    cp_file_unlock(bus);
}

void cp_prof_note_exec_unprofiled(void)
{
    if (!cp_prof_enabled())
        return;
    int bus;
    if (!cp_file_lock(&bus))
        return;
    cp_open_pending();
    add_named("ctrprof/note:exec-without-shim", 1);
    cp_file_unlock(bus);
}

int cp_prof_add_named(const char *name, uint64_t n)
{
    if (!have_file)
        return -ENOENT;
    uint64_t *v;
    int err = cp_cfile_counter(&file, name, strlen(name), &v);
    if (err == 0)
        cp_cfile_add(v, n);
    return err;
}
static void module_seen(void *ctx, const struct cp_module *m)
{
    for (unsigned i = 0; i < nmod_published; i++)
        if (mod_published[i] == m->id)
            return;
    char name[CP_CFILE_MAX_NAME];
    size_t n = cp_names_module(m, name, sizeof name);
    uint64_t *v;
    if (n && have_file && cp_cfile_counter(&file, name, n, &v) == 0) {
        cp_cfile_add(v, 1);
        if (nmod_published < MODSET)
            mod_published[nmod_published++] = m->id;
    }
}

/* A counter that cannot be added for now (for_now, can_wait): said once per process tree
 * (memory's own way for ENOMEM), for the buckets' counters and heaptime's alike */
static void say_counter_waits(int err)
{
    if (err == -ENOMEM ? cp_mem_refused(err) : cp_log_tree_first(CP_LOG_TREE_COUNTER_WAIT))
        cp_log("%s: cannot add a counter for now (%s); its samples wait in memory and go "
               "into the file once it can grow (lost if it never can: "
               "ctrprof/health:lost:nbucket)",
               file.path, cp_cfile_strerror(err));
}

/* b's counter of value i (*ctr) made; false if it cannot be (said and counted here) */
static __attribute__((noinline)) bool make_bucket_ctr(struct cp_bucket *b, int i, uint32_t *ctr)
{
    int err = cp_stacktab_counter(&file, b, i, module_seen, NULL);
    if (err == CP_CFILE_EBROKEN) {
        *ctr = 0;
        cp_check_file(); /* said there, once; nothing more goes to the file */
    } else if (err && (pending_blocked = growth_for_now(err)) && can_wait()) {
        b->ctr_failed = CP_CTR_PENDING;
        npending++;
        say_counter_waits(err);
    } else if (err) {
        b->ctr_failed = CP_CTR_FAILED;
        if (err == -ENOMEM ? cp_mem_refused(err) : cp_log_tree_first(CP_LOG_TREE_COUNTER))
            cp_log("%s: cannot add a counter (%s); samples that need new counters are lost "
                   "(ctrprof/health:lost:nbucket)",
                   file.path, cp_cfile_strerror(err));
        cp_prof_lost(CP_LOST_NBUCKET, 1);
    }
    return !err;
}

/* Value i of b: the whole units (1 << shift) of cur + off (bucket.h's cp_bucket_round_off;
 * 0 where shift is) not in *pub yet (a multiple of them), added to its counter *ctr (made
 * if need be: counted in *made); false: b publishes nothing more now. */
static inline bool publish_value(struct cp_bucket *b, int i, uint32_t *ctr, uint64_t *pub,
                                 uint64_t cur, unsigned shift, uint64_t off, unsigned *made)
{
    uint64_t d = ((cur + off) >> shift) - (*pub >> shift);
    if (!d)
        return true;
    if (__builtin_expect(!*ctr, 0) && (++*made, !make_bucket_ctr(b, i, ctr)))
        return false;
    add(cp_cfile_value(&file, *ctr), d);
    *pub += d << shift;
    return true;
}

unsigned cp_publish_bucket(struct cp_bucket *b)
{
    /* heap: alloc and free objects, alloc and free bytes (unbiased, 1/65536: bucket.h); mutex
     * and block: count (1/65536), delay. In that order, each alone (rate 1: every event).
     * Returns the counters it made (the flush drains the rings between such bursts). */
    unsigned made = 0;
    if (!have_file || b->ctr_failed)
        return 0;
    if (b->type != CP_HEAP) {
        if (publish_value(b, 0, &b->ctr[0], &b->pub[0], b->u.blk.count_q16, 0, 0, &made))
            publish_value(b, 1, &b->ctr[1], &b->pub[1], b->u.blk.delay, 0, 0, &made);
        return made;
    }
    uint64_t off = cp_bucket_round_off(b);
    if (publish_value(b, 0, &b->ctr[0], &b->pub[0], b->u.mem.active.aobj, 16, off, &made) &&
        publish_value(b, 1, &b->ctr[1], &b->pub[1], b->u.mem.active.fobj, 16, off, &made)) {
        struct cp_bmix *m = b->u.mem.mix; /* bytes: implied by size0 until mixed (cp_bmix) */
        if (b->u.mem.mixed &&
            publish_value(b, 2, &m->ctr[0], &m->pub[0], m->abytes, 16, off, &made))
            publish_value(b, 3, &m->ctr[1], &m->pub[1], m->fbytes, 16, off, &made);
    }
    return made;
}

const char *cp_prof_strerror(int code)
{
    return cp_cfile_strerror(code);
}

int cp_prof_fault(const void *addr)
{
    return cp_cfile_fault(addr);
}

/* heaptime.c's way to the file (cp_flush_lock held): a bucket's counter by names.h's
 * which, ctrprof/<kind>:<id> as the stack table names it (stacktab.h); a named one. A
 * counter that cannot be made for now (as make_bucket_ctr's) is not lost: heaptime.c
 * asks ht_waits and keeps what it would count for a later try. */
static bool ht_for_now; /* the last refusal was for now */

static bool ht_refused(int err)
{
    ht_for_now = growth_for_now(err) && can_wait();
    if (ht_for_now)
        say_counter_waits(err);
    return ht_for_now;
}

static uint64_t *ht_bucket_ctr(struct cp_bucket *b, int which)
{
    char name[CP_CFILE_MAX_NAME];
    uint64_t *v;
    ht_for_now = false;
    if (!have_file)
        return NULL;
    size_t n = cp_names_kind(which, name, sizeof name);
    int err =
        n ? cp_stacktab_kind_counter(&file, b, name, n, &v, module_seen, NULL) : CP_CFILE_ENAME;
    if (err == CP_CFILE_EBROKEN)
        cp_check_file();
    else if (err && !ht_refused(err))
        cp_prof_lost(CP_LOST_NBUCKET, 1);
    return err ? NULL : v;
}

static uint64_t *ht_named_ctr(const char *name)
{
    uint64_t *v;
    ht_for_now = false;
    if (!have_file)
        return NULL;
    int err = cp_cfile_counter(&file, name, strlen(name), &v);
    if (err && err != CP_CFILE_EBROKEN)
        ht_refused(err);
    return err ? NULL : v;
}

static bool ht_waits(void)
{
    return ht_for_now;
}

static const struct cp_ht_sink ht_sink = {ht_bucket_ctr, ht_named_ctr, ht_waits};

/* (not while the file waits to be created: each site would fail its counters for good,
 * heaptime.c's failed; what it holds goes out once the file is there) */
void cp_publish_heaptime(bool force)
{
    if (!open_waits)
        cp_ht_publish(&ht_sink, force);
}

void cp_publish_heaptime_life(void)
{
    if (!open_waits)
        cp_ht_publish_life(&ht_sink);
}

/* An event after the final flush: into the bucket's published state at once, under the
 * flush lock, and out to the file; O(1), so a destructor freeing many objects late does
 * not pay a flush each. Every earlier event of the process is already published (the
 * final flush drained every ring), so the file never shows a free without its alloc. */
void cp_late_event(enum cp_rec_kind kind, const uint64_t *w, unsigned n, const uint64_t *x,
                   unsigned nx)
{
    int bus;
    if (!cp_file_lock(&bus))
        return;
    cp_settle_child_books(); /* (a fork child whose final flush had nothing to publish) */
    /* the first thing this process records may come this late (a library destructor
     * running after ours): its file is created now */
    cp_open_pending();
    cp_check_file();
    struct cp_bucket *b = NULL;
    switch (kind) {
    case CP_REC_ALLOC:       /* the whole stack is in x; w[3] is the ref */
    case CP_REC_ALLOC_PLACE: /* (the same, the object put in the live table here) */
        b = cp_resolve_alloc((void *)(uintptr_t)w[0], cp_alloc_size(w[1]),
                             w[1] & CP_ALLOC_HASHED ? w[4] : w[3], (const uintptr_t *)x, nx, 0,
                             true, w[2], kind == CP_REC_ALLOC_PLACE);
        break;
    case CP_REC_FREE:
        b = cp_resolve_free_event(w, 0, true);
        break;
    case CP_REC_FREE_PTR:
        b = cp_resolve_free_ptr(w, 0, true);
        break;
    case CP_REC_DELAY:
        b = (struct cp_bucket *)(uintptr_t)w[0];
        if (n >= 3) {
            b->u.blk.count_q16 += w[1];
            b->u.blk.delay += w[2];
        }
        break;
    default:
        break;
    }
    if (b) {
        cp_publish_begin();
        cp_publish_bucket(b);
        cp_publish_heaptime(false);
        cp_publish_end();
    }
    cp_file_unlock(bus);
}

/* The unwinder's counts (core/stack.c) as last published. */
static uint64_t pub_unw[5];

/* A health counter whose source has moved since it was last published: most do not move
 * between two flushes, and a single-threaded process at rate 1 flushes at every event, so
 * the comparison is made here, inline, and only a change pays add_health's lookup. */
static inline void health(const char *name, uint64_t cur, uint64_t *pub)
{
    if (cur != *pub) {
        add_health(name, cur - *pub);
        *pub = cur;
    }
}

/* Try the waiting buckets again (see npending). At the last flush what still cannot be
 * made is lost: the first such bucket is counted and said by make_bucket_ctr, the rest
 * are counted here without a try (each would be a failing system call). */
static __attribute__((noinline)) void publish_pending(void)
{
    bool give_up = false, all = republish_all;
    uint32_t i = 1, nb = cp_bucket_last_index();
    for (; i <= nb && (npending || all); i++) {
        struct cp_bucket *b = cp_bucket_by_hidx(i);
        if (b && all && !b->ctr_failed) {
            if (give_up && !b->ctr[0]) { /* (the last flush: no more failing tries) */
                b->ctr_failed = CP_CTR_FAILED;
                cp_prof_lost(CP_LOST_NBUCKET, 1);
                continue;
            }
            pending_blocked = false;
            cp_publish_bucket(b);
            if (pending_blocked && can_wait())
                break;
            give_up = pending_blocked;
            continue;
        }
        if (!b || b->ctr_failed != CP_CTR_PENDING)
            continue;
        npending--;
        if (give_up) {
            b->ctr_failed = CP_CTR_FAILED;
            cp_prof_lost(CP_LOST_NBUCKET, 1);
            continue;
        }
        b->ctr_failed = 0;
        pending_blocked = false;
        cp_publish_bucket(b);
        if (pending_blocked && can_wait())
            break; /* (b waits again: so would the rest) */
        give_up = pending_blocked;
    }
    if (i > nb)
        republish_all = false;
}

void cp_publish_final(void)
{
    pending_final = true;
}

void cp_publish_health(void)
{
    if (__builtin_expect(npending != 0 || republish_all, 0) && have_file)
        publish_pending();
    static const char *const sname[CP_NPTYPES] = {"ctrprof/health:samples:heap",
                                                  "ctrprof/health:samples:mutex",
                                                  "ctrprof/health:samples:block"};
    static const char *const lname[CP_NLOST] = {
        "ctrprof/health:lost:noring", "ctrprof/health:lost:overflow", "ctrprof/health:lost:reentry",
        "ctrprof/health:lost:nbucket", "ctrprof/health:profiler-waits"};
    for (int t = 0; t < CP_NPTYPES; t++)
        health(sname[t], cp_samples[t], &pub_samples[t]);
    for (int i = 0; i < CP_NLOST; i++) {
        uint64_t l = __atomic_load_n(&cp_lost_n[i], __ATOMIC_RELAXED);
        if (i == CP_LOST_OVERFLOW)
            l += cp_ring_lost_total;
        health(lname[i], l, &pub_lost[i]);
    }
    health("ctrprof/health:ring-waits", cp_ring_waits_total, &pub_waits);
    health("ctrprof/health:overflow-buckets", cp_bucket_overflowed(), &pub_overflowed);
    /* a high-water mark: the mapped bytes also fall (a table moved, a fork child drops
     * the parent's), and a counter only adds (a fall once wrapped it to 2^64-1) */
    uint64_t by = cp_arena_mapped();
    if (by > pub_bytes)
        health("ctrprof/health:profiler-bytes", by, &pub_bytes);
    health("ctrprof/health:truncated-stacks", cp_trunc_events, &pub_trunc);
    health("ctrprof/health:block-thinned", __atomic_load_n(&cp_block_thinned, __ATOMIC_RELAXED),
           &pub_thinned);
    health("ctrprof/health:life-unbracketed", cp_life_unbracketed, &pub_unbracketed);
    health("ctrprof/health:life-in-run", cp_life_in_run, &pub_in_run);
    if (cp_memo) {
        health("ctrprof/health:stack-memo-hits", cp_memo->hits, &pub_memo_hits);
        health("ctrprof/health:stack-memo-misses", cp_memo->misses, &pub_memo_misses);
    }
    /* (a high-water mark that only rises, unlike profiler-bytes' source: no guard) */
    health("ctrprof/health:block-rate-max", __atomic_load_n(&cp_block_rate_max, __ATOMIC_RELAXED),
           &pub_rate_max);
    static const char *const uname[5] = {
        "ctrprof/health:unwind-fallbacks", "ctrprof/health:unwind-checked",
        "ctrprof/health:unwind-differs", "ctrprof/health:unwind-fp-fallbacks",
        "ctrprof/health:libunwind-loaded"};
    uint64_t u[5];
    cp_stack_stats(&u[0], &u[1], &u[2]);
    u[3] = cp_stack_fp_fallbacks();
    u[4] = cp_stack_libunwind_loaded(); /* 0 or 1, never falls: a fork child adds nothing */
    for (int i = 0; i < 5; i++)
        health(uname[i], u[i], &pub_unw[i]);
}

int cp_file_init(const char *path, const char *meta, size_t metalen, bool lazy)
{
    if (path) { /* kept for files created later: a lazy one, a fork child's */
        memcpy(meta_text, meta, metalen);
        meta_len = metalen;
    }
    if (path && lazy) {
        size_t pl = strlen(path);
        if (pl >= sizeof pending_path)
            return -ENAMETOOLONG;
        memcpy(pending_path, path, pl + 1);
        cp_file_pending = true;
        pending_own = true;
    } else if (path) {
        int err = cp_cfile_open(&file, path, meta, metalen);
        if (err) {
            /* every process of a tree that shares the file finds the same: one line */
            if (cp_log_tree_first(CP_LOG_TREE_FILE))
                cp_log("%s: %s; not profiling", path, cp_cfile_strerror(err));
            return err;
        }
        have_file = true;
        say_mode_kept();
        reserve_counters();
    }
    return 0;
}

void cp_publish_fork_health(void)
{
    /* a child in its parent's file, unless cp_publish_fork_file gives it one of its own
     * next: the parent writes that file too, so the child's adds are the CAS, and a file
     * the parent had not made yet is opened as the parent's (pending_own) */
    sole = false;
    pending_own = false;
    cp_stack_stats(&pub_unw[0], &pub_unw[1], &pub_unw[2]);
    pub_unw[3] = cp_stack_fp_fallbacks();
    pub_unw[4] = cp_stack_libunwind_loaded();
    /* (a child with a file of its own starts every count from 0: cp_publish_fork_file) */
    memcpy(pub_samples, cp_samples, sizeof pub_samples);
    for (int i = 0; i < CP_NLOST; i++)
        pub_lost[i] = __atomic_load_n(&cp_lost_n[i], __ATOMIC_RELAXED) +
                      (i == CP_LOST_OVERFLOW ? cp_ring_lost_total : 0);
    pub_waits = cp_ring_waits_total;
    pub_overflowed = cp_bucket_overflowed();
    uint64_t by = cp_arena_mapped();
    if (by > pub_bytes)
        pub_bytes = by;
    pub_trunc = cp_trunc_events;
    pub_thinned = __atomic_load_n(&cp_block_thinned, __ATOMIC_RELAXED);
    pub_rate_max = __atomic_load_n(&cp_block_rate_max, __ATOMIC_RELAXED);
    pub_unbracketed = cp_life_unbracketed;
    pub_in_run = cp_life_in_run;
    pub_memo_hits = cp_memo ? cp_memo->hits : 0;
    pub_memo_misses = cp_memo ? cp_memo->misses : 0;
}

bool cp_publish_fork_file(const char *newpath)
{
    if (!have_file && !cp_file_pending)
        return false;
    /* Per-process files: the child writes its own, from zero, created when it first
     * has something to say (cp_open_pending). The parent's mapping is dropped (the
     * buckets' pointers into it are reset by the caller). */
    if (have_file)
        cp_cfile_close(&file);
    have_file = false;
    sole = false;
    n_named_cache = 0;
    cp_stacktab_reset();
    npending = 0; /* (the caller clears every bucket's ctr_failed) */
    open_waits = republish_all = false;
    seq_begun = seq_ended = NULL;
    size_t pl = strlen(newpath);
    if (pl >= sizeof pending_path)
        pl = sizeof pending_path - 1;
    memcpy(pending_path, newpath, pl);
    pending_path[pl] = 0;
    cp_file_pending = true;
    pending_own = true;
    memset(pub_samples, 0, sizeof pub_samples);
    memset(pub_lost, 0, sizeof pub_lost);
    pub_waits = 0;
    pub_overflowed = cp_bucket_overflowed();
    pub_bytes = 0;
    pub_trunc = 0;
    pub_thinned = pub_rate_max = pub_unbracketed = pub_in_run = pub_memo_hits = pub_memo_misses = 0;
    nmod_published = 0;
    return true;
}
