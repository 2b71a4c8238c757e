/*
 * viewutil.c — what the views of `ctrprof report` share (views.h): values in human units,
 * a sample's frames expanded through inlining. Offline context.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "views.h"

const char *cp_rep_human(double v, const char *unit, char *buf, size_t len)
{
    double a = fabs(v);
    if (!strcmp(unit, "bytes")) {
        static const char *const u[] = {"B", "kB", "MB", "GB", "TB"};
        int i = 0;
        while (a >= 1024 && i < 4) {
            a /= 1024;
            v /= 1024;
            i++;
        }
        snprintf(buf, len, i ? "%.2f%s" : "%.0f%s", v, u[i]);
    } else if (!strcmp(unit, "nanoseconds")) {
        static const char *const u[] = {"ns", "us", "ms", "s"};
        int i = 0;
        while (a >= 1000 && i < 3) {
            a /= 1000;
            v /= 1000;
            i++;
        }
        snprintf(buf, len, i ? "%.2f%s" : "%.0f%s", v, u[i]);
    } else {
        snprintf(buf, len, fabs(v - llround(v)) < 1e-9 ? "%.0f" : "%.2f", v);
    }
    return buf;
}

/* The symbolic frames of a sample, innermost first, expanded through inlining. */
size_t cp_rep_frames(const struct cp_profile *p, const struct cp_sample *s,
                     const struct cp_sym_frame **out, size_t max)
{
    size_t n = 0;
    for (uint32_t i = 0; i < s->nlocs && n < max; i++) {
        const struct cp_loc *l = &p->locs[s->locs[i]];
        for (size_t k = 0; k < l->nframes && n < max; k++)
            out[n++] = &l->frames[k];
    }
    return n;
}
