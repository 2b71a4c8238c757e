/* holders.h — which other processes hold files open or mapped: one pass over /proc for
 * any number of files (holders.c). `ctrprof pack` and `ctrprof run` ask it before packing
 * a profile and again before removing it. Offline context. */
#ifndef CP_HOLDERS_H
#define CP_HOLDERS_H

#include <stddef.h>
#include <sys/types.h>

struct cp_held {
    /* in: the file, as lstat gives it, and its real path ("" if it has none) */
    dev_t dev;
    ino_t ino;
    const char *real;
    /* out: a process other than this one that has it open or mapped, 0 if none was seen
     * (processes of other users cannot be seen: their /proc/PID/fd and maps are theirs) */
    long pid;
};

/* One pass over /proc: each file's pid. A process's descriptors are looked at before its
 * mappings (a writer closes its descriptor only once the file is mapped: holders.c). A
 * mapping is the file's when its device and inode are, or its path is the file's real
 * path (overlayfs shows the layer's device and inode in /proc/PID/maps). Stops once
 * every file has one. 0, or -1 when it could not look (no memory for its indices: the
 * caller must not take the files for unwritten). */
int cp_held_scan(struct cp_held *f, size_t n);

/* The command name of process pid ("" if gone) into out[len]. */
void cp_held_comm(long pid, char *out, size_t len);

#endif
