/* engine1.h — a unit test's engine at rate 1, flushing every millisecond with a given
 * flusher, in a process that has one thread (the premise of the live table kept by the
 * flush: core/live.h's cp_live_deferred), its file /tmp/ctrprof-NAME.PID.count. Included
 * by slots.h and test_stackmemo.c. */
#ifndef ENGINE1_H
#define ENGINE1_H

#include <stdio.h>
#include <sys/single_threaded.h>
#include <unistd.h>

#include "options.h"
#include "prof.h"

/* 0, or -1 (cmocka's group set-up then fails); path (len bytes) gets the file's name */
static int engine1_start(const char *name, enum cp_flusher flusher, char *path, size_t len)
{
    char meta[256];
    int ml = snprintf(meta, sizeof meta, "Program: %s\nCtrprof-Format: 4\nMemRate: 1\n\n", name);
    snprintf(path, len, "/tmp/ctrprof-%s.%d.count", name, (int)getpid());
    unlink(path);
    struct cp_options o;
    cp_options_load(&o, NULL);
    o.flush_ms = 1;
    o.mem_rate = 1;
    o.flusher = flusher;
    if (!__libc_single_threaded || ml < 0 || (size_t)ml >= sizeof meta)
        return -1;
    if (cp_prof_init(&o, path, meta, (size_t)ml, false) || cp_prof_start())
        return -1;
    return 0;
}

#endif
