/*
 * readfile.c — how every ctrprof command opens a counter file, live or packed
 * (cfile/packed.h): load a snapshot, validate the whole of it (core's reader checks every
 * chain before any counter is handed over), and say what is wrong in one line. Offline
 * context.
 */
#include <stdio.h>

#include "cmds.h"
#include "packed.h"

int cp_tool_check(const char *path, uint8_t **buf, size_t *len, cp_cfile_meta_fn meta_cb, void *ctx,
                  char *why, size_t whylen)
{
    int err = cp_cfile_load_any(path, buf, len, NULL); /* a live file, or a packed one */
    if (err) {
        snprintf(why, whylen, "%s", cp_cfile_strerror(err));
        return 1;
    }
    char where[256] = "";
    err = cp_cfile_parse(*buf, *len, meta_cb, NULL, ctx, where, sizeof where);
    if (err) {
        snprintf(why, whylen, "%s%s%s", cp_cfile_strerror(err), where[0] ? ": " : "", where);
        cp_cfile_unload(*buf, *len);
        *buf = NULL;
        return 1;
    }
    return 0;
}

int cp_tool_read(const char *path, uint8_t **buf, size_t *len, cp_cfile_meta_fn meta_cb, void *ctx)
{
    char why[400];
    if (cp_tool_check(path, buf, len, meta_cb, ctx, why, sizeof why)) {
        fprintf(stderr, "ctrprof: %s: %s\n", path, why);
        return 1;
    }
    return 0;
}
