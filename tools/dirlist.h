/* dirlist.h — a directory given as input (tools/ only; offline context): what `ctrprof
 * report` (inputs.c) and `ctrprof serve` and `top` (snapshot.c) read when a DIR is named.
 * One walk for both: entries in name order, symbolic links never followed,
 * subdirectories never descended into. */
#ifndef CP_DIRLIST_H
#define CP_DIRLIST_H

#include <stddef.h>

/* Called per entry in name order with its path (DIR/NAME); why is NULL for a regular file
 * to read, else why it is skipped (a symbolic link, a directory, not a regular file, a
 * packed NAME.count.zst beside its NAME.count, whose counts it repeats, or the error of
 * stat). */
typedef void (*cp_dir_entry_fn)(void *ctx, const char *path, const char *why);

/* The length of a profile's name without the ".zst" of a packed one (NAME.count.zst:
 * NAME.count's length; cfile/packed.h), else strlen(name). */
size_t cp_count_name_len(const char *name);

enum {
    /* Only NAME.count (and packed NAME.count.zst) entries that are regular files, and no one is
     * told about the rest (serve and top list a directory again and again: a note per refresh would
     * be noise). Without it every entry but "." and ".." is handed over. */
    CP_DIR_COUNT_FILES = 1,
};

/* Walks dir (at most max entries, 0: no limit). 0, or -errno if it cannot be listed
 * (nothing is called then). */
int cp_dir_each(const char *dir, int flags, size_t max, cp_dir_entry_fn fn, void *ctx);

#endif
