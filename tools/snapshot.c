/*
 * snapshot.c — profile files read while their programs run (snapshot.h): the inputs of
 * `ctrprof serve` and `ctrprof top`, their snapshots, and merged profiles of them made by
 * profile.c exactly as `ctrprof report` makes them. Offline context; not thread-safe.
 *
 * Validating a file (cp_cfile_parse walks all of it) is remembered by path and hash of
 * its bytes, so an unchanged file is read and hashed but not parsed again.
 *
 * A snapshot's bytes go into a memfd that cp_profile_load reads by /proc/self/fd/N, so
 * what was hashed is what is profiled, and a delta's base is an earlier copy (loaded with
 * sign -1, as --base does). Nothing but the inputs' own paths and the names listed in
 * input directories is ever opened.
 */
#include "snapshot.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfile.h"
#include "dirlist.h"
#include "packed.h"

#define MAX_FILES 4096 /* per snapshot: bounded memory whatever a directory holds */

struct cp_snapin {
    int n;
    struct {
        char *path;
        int is_dir;
    } v[];
};

struct cp_snapin *cp_snapin_new(const char *const *paths, int n)
{
    struct cp_snapin *in = calloc(1, sizeof *in + (size_t)n * sizeof in->v[0]);
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) < 0) {
            fprintf(stderr, "ctrprof: %s: %m\n", paths[i]);
            cp_snapin_free(in);
            return NULL;
        }
        in->v[i].path = strdup(paths[i]);
        in->v[i].is_dir = S_ISDIR(st.st_mode);
        in->n++;
    }
    return in;
}

void cp_snapin_free(struct cp_snapin *in)
{
    if (!in)
        return;
    for (int i = 0; i < in->n; i++)
        free(in->v[i].path);
    free(in);
}

struct metactx {
    struct cp_snap *s;
    int has_format;
};

static void on_meta(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    struct metactx *m = ctx;
    if (cp_meta_key(k, kl, "Program"))
        snprintf(m->s->program, sizeof m->s->program, "%.*s", (int)vl, v);
    if (cp_meta_key(k, kl, "Ctrprof-Format"))
        m->has_format = 1;
    static const char *const keys[3] = {"MemRate", "MutexFraction", "BlockRate"};
    for (int i = 0; i < 3; i++)
        if (cp_meta_key(k, kl, keys[i]))
            m->s->rate[i] = cp_meta_u64(v, vl);
}

/* What validating a file's bytes found, by (path, hash of the bytes): an unchanged file
 * is not parsed again at the next snapshot. A small direct-mapped table; a collision only
 * costs a parse. */
#define NMEMO 1024
static struct memo {
    uint64_t key, hash;
    int err; /* 0, a cp_cfile code, or 1: not a ctrprof profile */
    char program[64];
    uint64_t rate[3];
} memo[NMEMO];

static void take(struct cp_snapset *s, const char *path, cp_say_fn say, void *ctx)
{
    if (s->n == MAX_FILES) {
        say(ctx, path, "more than 4096 profile files: the rest are left out");
        s->bad++;
        return;
    }
    struct cp_snap sn = {0};
    int err = cp_cfile_load_any(path, &sn.buf, &sn.len, NULL);
    if (err) {
        say(ctx, path, cp_cfile_strerror(err));
        s->bad++;
        return;
    }
    sn.hash = cp_hash_bytes(sn.buf, sn.len);
    uint64_t key = cp_hash_bytes(path, strlen(path)) | 1;
    struct memo *mo = &memo[key % NMEMO];
    if (mo->key != key || mo->hash != sn.hash) {
        struct metactx m = {&sn, 0};
        char where[256] = "";
        err = cp_cfile_parse(sn.buf, sn.len, on_meta, NULL, &m, where, sizeof where);
        *mo = (struct memo){key, sn.hash, err ? err : !m.has_format, "", {0}};
        memcpy(mo->program, sn.program, sizeof mo->program);
        memcpy(mo->rate, sn.rate, sizeof mo->rate);
    }
    memcpy(sn.program, mo->program, sizeof sn.program);
    memcpy(sn.rate, mo->rate, sizeof sn.rate);
    if (mo->err) {
        cp_cfile_unload(sn.buf, sn.len);
        say(ctx, path,
            mo->err == 1 ? "a counter file, but not a ctrprof profile (no Ctrprof-Format)"
                         : cp_cfile_strerror(mo->err));
        s->bad++;
        return;
    }
    sn.path = strdup(path);
    if (s->n == s->cap)
        s->v = realloc(s->v, (s->cap = s->cap ? 2 * s->cap : 16) * sizeof *s->v);
    s->v[s->n++] = sn;
    s->hash = (s->hash ^ cp_hash_bytes(path, strlen(path))) * 1099511628211ull ^ sn.hash;
}

struct dirctx {
    struct cp_snapset *s;
    cp_say_fn say;
    void *ctx;
};

static void take_entry(void *c, const char *path, const char *why)
{
    struct dirctx *d = c;
    if (!why) /* CP_DIR_COUNT_FILES: only regular NAME.count files come here */
        take(d->s, path, d->say, d->ctx);
}

static void take_dir(struct cp_snapset *s, const char *dir, cp_say_fn say, void *ctx)
{
    struct dirctx d = {s, say, ctx};
    if (cp_dir_each(dir, CP_DIR_COUNT_FILES, MAX_FILES, take_entry, &d) < 0) {
        say(ctx, dir, "cannot list the directory");
        s->bad++;
    }
}

struct cp_snapset *cp_snapshot(const struct cp_snapin *in, cp_say_fn say, void *ctx)
{
    struct cp_snapset *s = calloc(1, sizeof *s);
    s->hash = 1469598103934665603ull;
    for (int i = 0; i < in->n; i++) {
        if (in->v[i].is_dir)
            take_dir(s, in->v[i].path, say, ctx);
        else
            take(s, in->v[i].path, say, ctx);
    }
    return s;
}

void cp_snapset_free(struct cp_snapset *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        cp_cfile_unload(s->v[i].buf, s->v[i].len);
        free(s->v[i].path);
    }
    free(s->v);
    free(s);
}

/* Load one snapshot into p through a memfd (cp_profile_load takes a path). 0 or 1. */
static int load_snap(struct cp_profile *p, const struct cp_snap *sn, int sign, cp_say_fn say,
                     void *ctx)
{
    int fd = memfd_create("ctrprof-snapshot", MFD_CLOEXEC);
    if (fd < 0) {
        say(ctx, sn->path, "memfd_create failed");
        return 1;
    }
    size_t off = 0;
    while (off < sn->len) {
        ssize_t w = write(fd, sn->buf + off, sn->len - off);
        if (w <= 0) {
            close(fd);
            say(ctx, sn->path, "cannot copy the snapshot");
            return 1;
        }
        off += (size_t)w;
    }
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    int rc = cp_profile_load(p, proc, sign);
    close(fd);
    if (rc) /* the loader said why, naming the memfd */
        say(ctx, sn->path, "not loaded (the line above says why)");
    return rc;
}

void cp_snap_build(struct cp_profile *p, int type, const struct cp_snapset *set,
                   const struct cp_snapset *base, int no_symbols, struct cp_symbolizer *sym,
                   cp_say_fn say, void *ctx)
{
    cp_profile_init(p, type);
    cp_sym_free(p->sym); /* the caller's symbolizer instead (its cache lives on) */
    p->sym = sym;
    p->no_symbols = no_symbols;
    static const char *const keys[3] = {"MemRate", "MutexFraction", "BlockRate"};
    for (size_t i = 0; i < set->n; i++) {
        if (p->files && set->v[i].rate[type] != p->rate) {
            char why[160];
            snprintf(why, sizeof why, "%s %llu, not the %llu of the files before it: not merged",
                     keys[type], (unsigned long long)set->v[i].rate[type],
                     (unsigned long long)p->rate);
            say(ctx, set->v[i].path, why);
            continue;
        }
        if (load_snap(p, &set->v[i], +1, say, ctx) || !base)
            continue;
        for (size_t k = 0; k < base->n; k++)
            if (!strcmp(base->v[k].path, set->v[i].path)) {
                load_snap(p, &base->v[k], -1, say, ctx);
                break;
            }
    }
    cp_profile_finish(p);
}

void cp_snap_release(struct cp_profile *p)
{
    p->sym = NULL; /* the caller's, not the profile's */
    cp_profile_free(p);
}
