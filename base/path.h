/*
 * path.h — a path's parent directory, in place: what the counter file's creation
 * (cfile.c: the directory its unnamed file is made in), the uid hooks' look at the
 * profile's directory (core/publish.c) and the mount hook's walk up from it
 * (preload/paths.c) each spelled out. Any context: no system call, no allocation.
 */
#ifndef CP_PATH_H
#define CP_PATH_H

#include <stdbool.h>
#include <string.h>

/* p's parent, in place: "/a/b" -> "/a", "/a" -> "/", "b" -> "." (p has room for it: two
 * bytes at least); false, p unchanged, for "/" and "" (nothing above them). */
static inline bool cp_path_up(char *p)
{
    size_t n = strlen(p);
    if (n == 0 || (n == 1 && p[0] == '/'))
        return false;
    while (n > 0 && p[n - 1] != '/')
        n--;
    if (n == 0) {
        p[0] = '.', p[1] = 0;
        return true;
    }
    p[n > 1 ? n - 1 : 1] = 0; /* "/x" -> "/" */
    return true;
}

#endif
