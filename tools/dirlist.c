/*
 * dirlist.c — a directory given as input, walked once for every command that takes one
 * (see dirlist.h): report's inputs.c, serve's and top's snapshot.c. Offline context.
 */
#include "dirlist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Is b a's packed copy (a NAME.count beside its NAME.count.zst: `ctrprof pack --keep`)?
 * Names are sorted, so a is the entry just before b. */
static int packed_twin(const char *a, const char *b)
{
    size_t la = strlen(a), lb = cp_count_name_len(b);
    return lb != strlen(b) && la == lb && !strncmp(a, b, la);
}

size_t cp_count_name_len(const char *name)
{
    size_t l = strlen(name);
    return l >= 10 && !strcmp(name + l - 10, ".count.zst") ? l - 4 : l;
}

static int is_count_name(const char *n)
{
    size_t l = cp_count_name_len(n);
    return n[0] != '.' && l >= 7 && !strncmp(n + l - 6, ".count", 6);
}

int cp_dir_each(const char *dir, int flags, size_t max, cp_dir_entry_fn fn, void *ctx)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (!max || n < max) && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if ((flags & CP_DIR_COUNT_FILES) && !is_count_name(e->d_name))
            continue;
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
            if (!nn)
                break;
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name)))
            break;
        n++;
    }
    if (n > 1)
        qsort(names, n, sizeof *names, by_name);
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    for (size_t i = 0; i < n; i++) {
        char *path = malloc(dl + strlen(names[i]) + 2);
        if (path) {
            sprintf(path, "%.*s/%s", (int)dl, dir, names[i]);
            struct stat st;
            const char *why = NULL;
            if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW))
                why = strerror(errno);
            else if (S_ISLNK(st.st_mode))
                why = "a symbolic link (not followed)";
            else if (S_ISDIR(st.st_mode))
                why = "a directory (not descended into)";
            else if (!S_ISREG(st.st_mode))
                why = "not a regular file";
            else if (i > 0 && packed_twin(names[i - 1], names[i]))
                why = "a packed copy of the profile beside it (that one is read)";
            if (!why || !(flags & CP_DIR_COUNT_FILES))
                fn(ctx, path, why);
            free(path);
        }
    }
    for (size_t i = 0; i < n; i++) /* (after the walk: packed_twin reads the name before) */
        free(names[i]);
    free(names);
    closedir(d);
    return 0;
}
