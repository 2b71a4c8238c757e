/*
 * meta.c — the counter file's metadata text (see meta.h; the lines: docs/SCHEMA.md).
 *
 * Contexts: the shim's constructor only (single-threaded in practice); no lock, no
 * malloc, no stdio (cp_fmt, open/pread).
 */
#include "meta.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cfile.h"
#include "log.h"

/* days since 1970-01-01 -> y-m-d (Howard Hinnant's civil_from_days) */
static void civil(long z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long yy = (long)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

static size_t day(char *buf, size_t len, long days)
{
    int y;
    unsigned m, d;
    civil(days, &y, &m, &d);
    return cp_fmt(buf, len, "%d-%02u-%02uT00:00:00Z", y, m, d);
}

size_t cp_meta_build(char *buf, size_t size, long days, const char *program, const char *version,
                     const struct cp_options *o)
{
    char t0[32], t1[32];
    day(t0, sizeof t0, days);
    day(t1, sizeof t1, days + 7);
    size_t n = cp_fmt(buf, size,
                      "TimeBegin: %s\nTimeEnd: %s\nProgram: %s\nVersion: %s\nGOOS: linux\n"
                      "GOARCH: amd64\nCtrprof-Format: 4\nMemRate: %llu\nMutexFraction: %llu\n"
                      "BlockRate: %llu\nUnwind: %s\nDepth: %llu\n\n",
                      t0, t1, program, version, (unsigned long long)o->mem_rate,
                      (unsigned long long)o->mutex_fraction, (unsigned long long)o->block_rate,
                      cp_unwind_names[o->unwind & 3], (unsigned long long)o->depth);
    return n >= size ? size - 1 : n;
}

int cp_meta_adopt_shared(const char *path, char *meta, size_t *len, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return -1;
    char hdr[32 + CP_CFILE_MAX_META + 32];
    ssize_t n = pread(fd, hdr, sizeof hdr - 1, 0);
    close(fd);
    if (n < 32)
        return -1;
    hdr[n] = 0;
    char *their = hdr + 32;
    const char *ours_rest = strstr(meta, "\nProgram: ");
    const char *their_rest = strstr(their, "\nProgram: ");
    if (!ours_rest || !their_rest || strncmp(their, "TimeBegin: ", 11) != 0)
        return -1;
    size_t rl = *len - (size_t)(ours_rest - meta);
    if (strlen(their_rest) < rl || memcmp(ours_rest, their_rest, rl) != 0)
        return -1;
    size_t tl = (size_t)(their_rest - their) + rl;
    if (tl >= size)
        return -1;
    memcpy(meta, their, tl);
    meta[tl] = 0;
    *len = tl;
    return 0;
}

_Static_assert(CP_META_MAX == CP_CFILE_MAX_META, "meta.h's CP_META_MAX is the file's limit");

int cp_meta_mismatch(int err)
{
    return err == CP_CFILE_EMISMATCH;
}
