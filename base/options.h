/*
 * options.h — ctrprof's configuration, read once at start from the environment block
 * (not getenv: the constructor may run before libc's locale and getenv are safe).
 *
 * One table of options (options.c). A bad value (garbage, negative, overflowing, out of
 * range) is reported once on stderr, in one line naming the variable, and the default is
 * used; the program always runs on.
 */
#ifndef CP_OPTIONS_H
#define CP_OPTIONS_H

#include <stdint.h>

/* cfi: our own CFI walker (unwind.h), libunwind for any stack it cannot walk; check: both,
 * libunwind's result kept and differences counted (for tests) */
enum cp_unwind {
    CP_UNWIND_LIBUNWIND = 0,
    CP_UNWIND_FP = 1,
    CP_UNWIND_CFI = 2,
    CP_UNWIND_CHECK = 3
};
/* Their CTRPROF_UNWIND spellings, indexed by enum cp_unwind. */
extern const char *const cp_unwind_names[4];
/* The enum cp_unwind value spelled s, or -1. */
int cp_unwind_parse(const char *s);

/* CTRPROF_FLUSHER: who publishes a single-threaded process's events (core/flusher.c, "who
 * flushes"). inline: the thread that records each event, until the program makes a second
 * thread; process: the flusher process (core/flushproc.c: a process of ours sharing the
 * program's memory, not a thread) from the first heap event on; auto: process at rate 1,
 * inline otherwise; thread: the profiler's own thread from the first heap event on, in
 * every process (at the cost of a thread the program did not make and of what a SIGKILL
 * loses: README) */
enum cp_flusher {
    CP_FLUSHER_AUTO = 0,
    CP_FLUSHER_THREAD = 1,
    CP_FLUSHER_PROCESS = 2,
    CP_FLUSHER_INLINE = 3
};
extern const char *const cp_flusher_names[4];
/* The enum cp_flusher value spelled s, or -1. */
int cp_flusher_parse(const char *s);

#define CP_PATH_MAX 4096

struct cp_options {
    uint64_t mem_rate;       /* CTRPROF_MEM_RATE, bytes per sample; 0 = heap off; default 524288 */
    uint64_t mutex_fraction; /* CTRPROF_MUTEX_FRACTION, 1 in N waits; 0 = off; default 100 */
    uint64_t block_rate;     /* CTRPROF_BLOCK_RATE, ns; 0 = off; default 100000 */
    uint64_t block_budget;   /* CTRPROF_BLOCK_BUDGET, kept block samples a second a thread
                              * before its rate doubles; 0 = a fixed rate; default 1000 */
    uint64_t flush_ms;       /* CTRPROF_FLUSH_MS, default 1000, 1..3600000 */
    uint64_t depth;          /* CTRPROF_DEPTH, frames, default 64, 1..128 */
    uint64_t max_bucket_mb;  /* CTRPROF_MAX_BUCKET_MB, default 256 */
    int unwind;              /* CTRPROF_UNWIND=cfi|libunwind|fp|check, default cfi */
    int debug;               /* CTRPROF_DEBUG=0|1 */
    int heap_time;           /* CTRPROF_HEAP_TIME=0|1, default 1: peak, lifetimes, timeline */
    int flusher;             /* CTRPROF_FLUSHER=auto|thread|process|inline, default auto */
    char file[CP_PATH_MAX];  /* CTRPROF_FILE, "" if unset */
    char dir[CP_PATH_MAX];   /* CTRPROF_DIR, default "." */
    /* CTRPROF_BLOCK_LOCK_FRACTION, 1 in N lock waits (the thread holds the lock after it:
     * mutexes, rwlocks, spin locks) measured for the block profile, each counted N times;
     * 0 = none; default: mutex_fraction, or 100 when that is 0 */
    uint64_t block_lock_fraction;
};

/* Fill o with the defaults, then apply every CTRPROF_* variable found in envp (a
 * NULL-terminated environment block such as environ). Warnings go through cp_log. */
void cp_options_load(struct cp_options *o, char *const *envp);

/* A CTRPROF_* variable that takes one of a list of names (CTRPROF_UNWIND, CTRPROF_FLUSHER):
 * NULL if val is one of them, else the list as the warning gives it ("auto or thread"),
 * for a caller's own error (tools/run.c's flags). NULL for any other variable. */
const char *cp_options_names_refused(const char *env, const char *val);

/* Parse one decimal unsigned value strictly (digits only, no sign, no overflow, within
 * [min, max]). Returns 0 or -EINVAL / -ERANGE. Exposed for tests. */
int cp_options_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
