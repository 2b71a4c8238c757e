/* inputs.h — which profile files a report reads: its FILE and DIR arguments expanded,
 * filtered by --program/--pid, and grouped by program when their rates differ (tools/ only;
 * offline context). */
#ifndef CP_INPUTS_H
#define CP_INPUTS_H

#include <stddef.h>
#include <stdint.h>

struct cp_input {
    char *path;
    char *program; /* Program; for a shared file, the programs that wrote it, joined by ',' */
    long pid;      /* from the file name ctrprof.<program>.<pid>[.<gen>].count; -1 if none */
    int shared;    /* several processes may have written it (Program: shared) */
    uint64_t rate; /* MemRate, MutexFraction or BlockRate, as the report's profile type */
    size_t group;
    uint8_t *buf; /* the validated image read here, kept while the images kept add up to
                   * at most CP_INPUTS_KEEP bytes (read again by path otherwise) */
    size_t len;
};

#define CP_INPUTS_KEEP ((size_t)512 << 20)

struct cp_select {
    const char **programs; /* --program NAME ... (any of them) */
    size_t nprograms;
    long *pids; /* --pid N ... (any of them) */
    size_t npids;
};

/* Expand args (files as given; a directory: every regular file in it, sorted by name, no
 * symlink followed, anything else skipped with one line "ctrprof: PATH: skipped: why"),
 * keep what sel picks. A given file that cannot be read is an error: one line, return 1.
 * type: CP_R_HEAP, CP_R_MUTEX or CP_R_BLOCK. */
int cp_inputs_collect(char **args, size_t nargs, int type, const struct cp_select *sel,
                      struct cp_input **out, size_t *n);
/* Number the groups (sets .group, 0-based, groups ordered by program then rate) and
 * return how many: 1 when every file has the same rate (one merged report, as before);
 * otherwise one group per program and rate. */
size_t cp_inputs_group(struct cp_input *in, size_t n);
/* Unload in->buf, if kept. */
void cp_inputs_release(struct cp_input *in);
void cp_inputs_free(struct cp_input *in, size_t n);

#endif
