/*
 * why.h — why a profile has no heap samples, from what the shim noted in it (the
 * ctrprof/note:* counters of the process `ctrprof run` started, docs/SCHEMA.md) and what
 * `ctrprof run` saw of the program before it started it. Offline context.
 */
#ifndef CP_WHY_H
#define CP_WHY_H

#include <stddef.h>
#include <stdint.h>

struct cp_notes {
    int have_bytes, have_cpu;
    uint64_t malloc_bytes, cpu_ms;
    uint64_t exec_unprofiled;            /* execs with LD_PRELOAD cleared */
    uint64_t forks;                      /* children it forked */
    uint64_t heap_samples, lock_samples; /* ctrprof/health:samples:* */
    uint64_t mem_rate;                   /* MemRate */
    int have_rate;                       /* (a MemRate line was read) */
};

/* Add the notes of the profile at path into *n (zero it first; several files of one
 * process add up). 0, or -1 if it cannot be read (said by the caller's own load). */
int cp_notes_read(const char *path, struct cp_notes *n);
/* What cp_notes_read hands cp_cfile_parse, for a caller that parses the file anyway (ctx:
 * a struct cp_notes); and one file's notes added to those of others, as cp_notes_read
 * would have added them. */
void cp_notes_on_meta(void *ctx, const char *k, size_t kl, const char *v, size_t vl);
void cp_notes_on_counter(void *ctx, const uint8_t *name, size_t len, uint64_t v);
void cp_notes_add(struct cp_notes *to, const struct cp_notes *from);

/* If the profile's heap part is empty, write why into out (one sentence, no newline) and
 * return 1; otherwise 0. prog names the program. */
int cp_why_empty(const struct cp_notes *n, const char *prog, char *out, size_t len);

/* If the process exec'd a program with LD_PRELOAD cleared, say so into out (whether or
 * not its own heap profile is empty) and return 1; otherwise 0. */
int cp_why_exec(const struct cp_notes *n, const char *prog, char *out, size_t len);

#endif
