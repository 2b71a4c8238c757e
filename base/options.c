/*
 * options.c — CTRPROF_* configuration (see options.h).
 *
 * Context: the shim's constructor, before main, possibly before libc is fully set up:
 * reads the environment block directly (no getenv, no locale, no malloc, no stdio).
 * One table; every bad value is reported in one line naming the variable, and the
 * default is kept: by the first process of a process tree that finds one, not by every
 * process and exec'd image of it (log.h, CP_LOG_TREE_OPTIONS: a build with a bad
 * CTRPROF_MEM_RATE said it once per compiler; issue 29). The shim reads CTRPROF_SAID
 * before this.
 */
#include "options.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "log.h"

const char *const cp_unwind_names[4] = {"libunwind", "fp", "cfi", "check"};

const char *const cp_flusher_names[4] = {"auto", "thread", "process", "inline"};

/* The index of s in names[0..n), or -1 */
static int name_index(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

int cp_unwind_parse(const char *s)
{
    return name_index(cp_unwind_names, 4, s);
}

int cp_flusher_parse(const char *s)
{
    return name_index(cp_flusher_names, 4, s);
}

int cp_options_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || !*s)
        return -EINVAL;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    if (v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

enum kind { NUM, PATH, NAMES, BOOL };

struct opt {
    const char *name;
    enum kind kind;
    size_t off;
    uint64_t min, max;        /* NUM's bounds; NAMES: max is the number of names */
    const char *range;        /* for the warning */
    const char *const *names; /* NAMES: the spellings, an int field taking the index */
};

#define OFF(f) offsetof(struct cp_options, f)
static const struct opt table[] = {
    {"CTRPROF_MEM_RATE", NUM, OFF(mem_rate), 0, (uint64_t)1 << 40, "0..2^40 bytes", NULL},
    {"CTRPROF_MUTEX_FRACTION", NUM, OFF(mutex_fraction), 0, 1000000000, "0..10^9", NULL},
    {"CTRPROF_BLOCK_RATE", NUM, OFF(block_rate), 0, (uint64_t)1 << 50, "0..2^50 ns", NULL},
    {"CTRPROF_BLOCK_LOCK_FRACTION", NUM, OFF(block_lock_fraction), 0, 1000000000, "0..10^9", NULL},
    {"CTRPROF_BLOCK_BUDGET", NUM, OFF(block_budget), 0, 1000000000, "0..10^9 samples a second",
     NULL},
    {"CTRPROF_FLUSH_MS", NUM, OFF(flush_ms), 1, 3600000, "1..3600000 ms", NULL},
    {"CTRPROF_DEPTH", NUM, OFF(depth), 1, 128, "1..128 frames", NULL},
    {"CTRPROF_MAX_BUCKET_MB", NUM, OFF(max_bucket_mb), 1, 1 << 20, "1..1048576 MiB", NULL},
    {"CTRPROF_UNWIND", NAMES, OFF(unwind), 0, 4, "cfi, libunwind, fp or check", cp_unwind_names},
    {"CTRPROF_FLUSHER", NAMES, OFF(flusher), 0, 4, "auto, thread, process or inline",
     cp_flusher_names},
    {"CTRPROF_DEBUG", BOOL, OFF(debug), 0, 1, "0 or 1", NULL},
    {"CTRPROF_HEAP_TIME", BOOL, OFF(heap_time), 0, 1, "0 or 1", NULL},
    {"CTRPROF_FILE", PATH, OFF(file), 0, 0, "a path", NULL},
    {"CTRPROF_DIR", PATH, OFF(dir), 0, 0, "a directory", NULL},
};

const char *cp_options_names_refused(const char *env, const char *val)
{
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (table[i].kind == NAMES && !strcmp(table[i].name, env))
            return name_index(table[i].names, (int)table[i].max, val) < 0 ? table[i].range : NULL;
    return NULL;
}

/* block_lock_fraction until the environment is read: it follows mutex_fraction */
#define UNSET UINT64_MAX

static void defaults(struct cp_options *o)
{
    memset(o, 0, sizeof *o);
    o->mem_rate = 524288;
    o->mutex_fraction = 100; /* issue 23: lock-heavy code within a few % of bare */
    o->block_rate = 100000;
    o->block_lock_fraction = UNSET; /* the mutex fraction's, once that is known */
    o->block_budget = 1000;         /* issue 23: a thread's kept block samples, ~1 us each */
    o->flush_ms = 1000;
    o->depth = 64;
    o->max_bucket_mb = 256;
    o->unwind = CP_UNWIND_CFI;
    o->debug = 0;
    o->heap_time = 1;
    o->flusher = CP_FLUSHER_AUTO;
    memcpy(o->dir, ".", 2);
}

/* Say a bad value? Asked once per load, at its first bad value (*say: 0 not asked yet,
 * 1 this process says them, -1 the tree has) */
static bool say_bad(int *say)
{
    if (!*say)
        *say = cp_log_tree_first(CP_LOG_TREE_OPTIONS) ? 1 : -1;
    return *say > 0;
}

static void apply(struct cp_options *o, const struct opt *t, const char *val, int *say)
{
    char *base = (char *)o + t->off;
    switch (t->kind) {
    case NUM: {
        uint64_t v;
        if (cp_options_parse_u64(val, t->min, t->max, &v) == 0)
            memcpy(base, &v, sizeof v);
        else if (say_bad(say))
            cp_log("%s=%.64s is not a whole number in %s; using the default", t->name, val,
                   t->range);
        break;
    }
    case BOOL:
        if (!strcmp(val, "0") || !strcmp(val, "1"))
            *(int *)(void *)base = val[0] == '1';
        else if (say_bad(say))
            cp_log("%s=%.64s is not %s; using the default", t->name, val, t->range);
        break;
    case NAMES: {
        int u = name_index(t->names, (int)t->max, val);
        if (u >= 0)
            *(int *)(void *)base = u;
        else if (say_bad(say))
            cp_log("%s=%.64s is not %s; using the default", t->name, val, t->range);
        break;
    }
    case PATH: {
        size_t n = strlen(val);
        if (n > 0 && n < CP_PATH_MAX)
            memcpy(base, val, n + 1);
        else if (say_bad(say))
            cp_log("%s is %s; using the default", t->name, n ? "too long" : "empty");
        break;
    }
    }
}

void cp_options_load(struct cp_options *o, char *const *envp)
{
    defaults(o);
    int say = 0;
    for (char *const *e = envp; e && *e; e++) {
        if (strncmp(*e, "CTRPROF_", 8) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        size_t kl = (size_t)(eq - *e);
        for (size_t i = 0; i < sizeof table / sizeof *table; i++)
            if (strlen(table[i].name) == kl && !strncmp(*e, table[i].name, kl))
                apply(o, &table[i], eq + 1, &say);
    }
    /* Lock waits measured for the block profile: by default the very waits the mutex
     * profile tracks (one draw and one pair of clock reads serve both: preload/pthread.c),
     * 1 in 100 with the mutex profile off. Measuring every one puts a clock read in
     * every contended critical section (bench/progs/workqueue: 1.28x bare). */
    if (o->block_lock_fraction == UNSET)
        o->block_lock_fraction = o->mutex_fraction ? o->mutex_fraction : 100;
    cp_log_debug_enabled = o->debug;
}
