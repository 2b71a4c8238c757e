/*
 * report.c — `ctrprof report`: the command line only. The views it writes are elsewhere
 * (views.h): textviews.c (top, tree, folded, raw), pprof.c, flame.c; inputs.c finds the
 * files (directories, --program, --pid) and groups them, names.c shortens C++ names.
 * Offline context.
 *
 *   ctrprof report [--profile heap|peak|mutex|block] [--sample NAME] [--temp-under B]
 *                  [--format top|tree|folded|pprof|flame|raw|lifetimes|timeline]
 *                  [-o FILE] [--base FILE]
 *                  [--demangle short|templates|full] [--program NAME] [--pid N] FILE|DIR...
 *
 * Files at different rates are not merged (a sample's weight depends on the rate): each
 * program (and rate) is a group of its own, reported as a section of top, tree and raw,
 * under a root frame "[NAME (MemRate R)]" in folded and flame; pprof, one profile per
 * file, and --base then want one group, picked with --program or --pid.
 *
 * The heap over time (issue 21): the peak and temporary-object views are heap profiles
 * with other values (profile.c's cp_profile_set_view), in every format; lifetimes and
 * timeline are heapviews.c's (which also parses their options).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "inputs.h"
#include "why.h"
#include "profile.h"
#include "views.h"

static void usage(FILE *f)
{
    fputs(
        "usage: ctrprof report [options] FILE|DIR...\n"
        "  --profile heap|peak|mutex|block   which profile (default heap); peak: the heap at\n"
        "                               its largest (inuse_space, inuse_objects)\n"
        "  --sample NAME                heap: inuse_space (default), inuse_objects, alloc_space,\n"
        "                               alloc_objects, temp_space, temp_objects (objects freed\n"
        "                               sooner than --temp-under); mutex/block: delay (default),\n"
        "                               contentions\n"
        "  --temp-under 1us|10us|100us|1ms|10ms|100ms|1s|10s   (default 1ms)\n"
        "  --format top|tree|folded|pprof|flame|raw|lifetimes|timeline   (default top);\n"
        "                               lifetimes: objects per lifetime class per site;\n"
        "                               timeline: heap and RSS over time, one line a point\n"
        "  -o FILE                      write there instead of standard output\n"
        "  --base FILE                  subtract this profile (as pprof -diff_base)\n"
        "  --debug-dir DIR[:DIR...]     also look there for separate debug files (by build-id:\n"
        "                               DIR/.build-id/xx/yyyy.debug; by .gnu_debuglink)\n"
        "  --demangle short|templates|full\n"
        "                               C++ names: short (default) drops return types, template\n"
        "                               arguments and parameters, but keeps parameters, then\n"
        "                               template arguments, where two functions would print "
        "alike;\n"
        "                               templates keeps template arguments; full the whole name\n"
        "                               (always in flame's tooltip and pprof's system_name)\n"
        "  --program NAME               only the processes of this program (repeatable)\n"
        "  --pid N                      only this process (repeatable): per-process files\n"
        "                               ctrprof.<program>.<pid>[.<gen>].count; a shared file has\n"
        "                               no pids and is skipped with one line\n"
        "A DIR means every profile in it (symlinks not followed, subdirectories not entered,\n"
        "anything else skipped with one line). Files at one rate merge into one report; at\n"
        "different rates each program (and rate) is a group: a section per group in top, tree\n"
        "and raw, a root frame \"[NAME (MemRate R)]\" per group in folded and flame; pprof and\n"
        "--base then need one group (pick it with --program or --pid).\n",
        f);
}

/* ---- the command -------------------------------------------------------------------- */

struct group {
    struct cp_profile p;
    char label[320]; /* "NAME (MemRate R)", when there are several groups */
    size_t nfiles;
};

static const char *const rate_keys[3] = {"MemRate", "MutexFraction", "BlockRate"};

/* Several groups: top, tree and raw print a section per group; folded and flame put each
 * group under a root frame of its label; pprof holds one profile and is refused. */
static int write_views(FILE *out, struct group *g, size_t ng, int fmt, int vi)
{
    /* the peak profile says when the peak was and how large: a header line in the text
     * views, the flame page's title, pprof's comment; folded has no room (standard error) */
    for (size_t i = 0; i < ng; i++)
        if (g[i].p.view == CP_VIEW_PEAK) {
            cp_profile_peak_line(&g[i].p, g[i].p.header, sizeof g[i].p.header);
            if (fmt == 2 && g[i].p.header[0])
                fprintf(stderr, "ctrprof: %s\n", g[i].p.header);
        }
    if (fmt == 3)
        return cp_rep_pprof(out, &g[0].p);
    if (fmt == 4) {
        const struct cp_profile *ps[ng];
        const char *labels[ng];
        for (size_t i = 0; i < ng; i++) {
            ps[i] = &g[i].p;
            labels[i] = g[i].label;
        }
        cp_rep_flame(out, ps, ng > 1 ? labels : NULL, ng, vi);
        return 0;
    }
    for (size_t i = 0; i < ng; i++) {
        if (ng > 1 && fmt != 2)
            fprintf(out, "%s== %s: %zu file%s ==\n", i ? "\n" : "", g[i].label, g[i].nfiles,
                    g[i].nfiles == 1 ? "" : "s");
        if (g[i].p.header[0] && (fmt == 0 || fmt == 1 || fmt == 5))
            fprintf(out, "%s\n", g[i].p.header);
        if (fmt == 0)
            cp_rep_top(out, &g[i].p, vi);
        else if (fmt == 1)
            cp_rep_tree(out, &g[i].p, vi);
        else if (fmt == 2)
            cp_rep_folded(out, &g[i].p, vi, ng > 1 ? g[i].label : NULL);
        else
            cp_rep_raw(out, &g[i].p);
    }
    return 0;
}

/* An empty heap profile says why, where the shim noted it (tools/why.c). */
static void say_why_empty(const struct cp_input *in, size_t nin)
{
    for (size_t i = 0; i < nin; i++) {
        struct cp_notes n = {0};
        char why[600];
        if (cp_notes_read(in[i].path, &n) == 0 && cp_why_empty(&n, in[i].program, why, sizeof why))
            fprintf(stderr, "ctrprof: %s: the heap profile is empty: %s\n", in[i].path, why);
    }
}

int cp_cmd_report(int argc, char **argv)
{
    const char *profile = "heap", *sample = NULL, *temp_under = "1ms", *format = "top",
               *outpath = NULL, *base = NULL, *debugdir = NULL, *demangle = "short";
    char **files = calloc((size_t)argc, sizeof *files);
    const char **programs = calloc((size_t)argc, sizeof *programs);
    long *pids = calloc((size_t)argc, sizeof *pids);
    struct cp_select sel = {programs, 0, pids, 0};
    struct cp_input *in = NULL;
    size_t nin = 0, ng = 0;
    struct group *g = NULL;
    int nfiles = 0, rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        char flag[64];
        const char *eq = !strncmp(a, "--", 2) ? strchr(a, '=') : NULL;
        if (eq && (size_t)(eq - a) < sizeof flag) { /* --flag=value */
            memcpy(flag, a, (size_t)(eq - a));
            flag[eq - a] = 0;
            a = flag;
            v = eq + 1;
        }
        static const char *const opts[] = {"--profile", "--sample", "--format",    "-o",
                                           "--output",  "--base",   "--debug-dir", "--demangle",
                                           "--program", "--pid",    "--temp-under"};
        int o = -1;
        for (int k = 0; k < 11; k++)
            if (!strcmp(a, opts[k]) && (k != 3 || !v))
                o = k;
        if (o < 0 && !v && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
            usage(stdout);
            rc = 0;
            goto out;
        }
        if (o < 0 && (v || (a[0] == '-' && a[1]))) {
            fprintf(stderr, "ctrprof: report: unknown option '%s'\n", argv[i]);
            usage(stderr);
            goto out;
        }
        if (o < 0) {
            files[nfiles++] = argv[i];
            continue;
        }
        if (!v) {
            if (i + 1 >= argc) {
                fprintf(stderr, "ctrprof: report: %s needs a value\n", a);
                goto out;
            }
            v = argv[++i];
        }
        const char **dst[] = {&profile, &sample, &format,   &outpath,
                              &outpath, &base,   &debugdir, &demangle};
        if (o < 8) {
            *dst[o] = v;
        } else if (o == 10) {
            temp_under = v;
        } else if (o == 8) {
            programs[sel.nprograms++] = v;
        } else {
            char *e;
            long pid = strtol(v, &e, 10);
            if (*e || e == v || pid <= 0) {
                fprintf(stderr, "ctrprof: report: --pid wants a process id, not '%s'\n", v);
                goto out;
            }
            pids[sel.npids++] = pid;
        }
    }
    int view = CP_VIEW_HEAP;
    if (!strcmp(profile, "peak")) {
        profile = "heap";
        view = CP_VIEW_PEAK;
    }
    int type = !strcmp(profile, "heap")    ? CP_R_HEAP
               : !strcmp(profile, "mutex") ? CP_R_MUTEX
               : !strcmp(profile, "block") ? CP_R_BLOCK
                                           : -1;
    if (type < 0) {
        fprintf(stderr, "ctrprof: report: unknown profile '%s' (heap, peak, mutex or block)\n",
                profile);
        goto out;
    }
    static const char *const formats[] = {"top",   "tree", "folded",    "pprof",
                                          "flame", "raw",  "lifetimes", "timeline"};
    int fmt = -1;
    for (int k = 0; k < 8; k++)
        if (!strcmp(format, formats[k]))
            fmt = k;
    if (fmt < 0) {
        fprintf(stderr,
                "ctrprof: report: unknown format '%s' (top, tree, folded, pprof, flame, raw, "
                "lifetimes, timeline)\n",
                format);
        goto out;
    }
    int dm = !strcmp(demangle, "short")       ? CP_DEMANGLE_SHORT
             : !strcmp(demangle, "templates") ? CP_DEMANGLE_TEMPLATES
             : !strcmp(demangle, "full")      ? CP_DEMANGLE_FULL
                                              : -1;
    if (dm < 0) {
        fprintf(stderr, "ctrprof: report: unknown --demangle '%s' (short, templates or full)\n",
                demangle);
        goto out;
    }
    if (nfiles == 0) {
        fprintf(stderr, "ctrprof: report: no profile file given\n");
        usage(stderr);
        goto out;
    }
    int temp_classes, vi = type == CP_R_HEAP ? 3 : 1;
    if (cp_rep_heap_args(type == CP_R_HEAP, sample, temp_under, format, fmt >= 6, &view, &vi,
                         &temp_classes))
        goto out;
    if (view == CP_VIEW_HEAP && sample) { /* (the other views' sample is chosen above) */
        vi = -1;
        static const char *const names[2][4] = {
            {"alloc_objects", "alloc_space", "inuse_objects", "inuse_space"},
            {"contentions", "delay"}};
        for (int k = 0; k < (type == CP_R_HEAP ? 4 : 2); k++)
            if (!strcmp(names[type != CP_R_HEAP][k], sample))
                vi = k;
        if (vi < 0) {
            fprintf(stderr, "ctrprof: report: %s profiles have no sample '%s' (%s)\n", profile,
                    sample,
                    type == CP_R_HEAP ? "inuse_space, inuse_objects, alloc_space, alloc_objects"
                                      : "delay, contentions");
            goto out;
        }
    }
    rc = 1;
    if (cp_inputs_collect(files, (size_t)nfiles, type, &sel, &in, &nin))
        goto out;
    if (nin == 0) {
        fprintf(stderr, "ctrprof: report: no profile%s\n",
                sel.nprograms || sel.npids ? " matches --program/--pid" : " found");
        goto out;
    }
    ng = cp_inputs_group(in, nin);
    if (ng > 1 && (fmt == 3 || base)) {
        fprintf(stderr, "ctrprof: report: the profiles are at different rates (");
        for (size_t i = 0, last = (size_t)-1; i < nin; i++)
            for (size_t k = 0; k < nin; k++)
                if (in[k].group == i && last != i) {
                    fprintf(stderr, "%s%s: %s %llu", i ? "; " : "", in[k].program, rate_keys[type],
                            (unsigned long long)in[k].rate);
                    last = i;
                }
        fprintf(stderr, "); %s holds one: pick with --program or --pid\n",
                base ? "--base applies to" : "a pprof file");
        rc = 2;
        ng = 0;
        goto out;
    }
    cp_sym_set_debug_dirs(debugdir);
    g = calloc(ng, sizeof *g);
    for (size_t k = 0; k < ng; k++) {
        cp_profile_init(&g[k].p, type);
        cp_profile_set_view(&g[k].p, view, temp_classes);
        g[k].p.demangle = dm;
    }
    size_t without_ht = 0;
    uint64_t lost = 0;
    for (size_t i = 0; i < nin; i++) {
        struct group *gr = &g[in[i].group];
        if (in[i].buf)
            cp_profile_add_image(&gr->p, in[i].buf, in[i].len, in[i].rate);
        else if (cp_profile_load(&gr->p, in[i].path, +1))
            goto out;
        if ((view != CP_VIEW_HEAP || fmt >= 6) &&
            !(fmt == 7 ? gr->p.file_has_tl : gr->p.file_has_ht) && ++without_ht)
            fprintf(stderr,
                    "ctrprof: %s: no %s in this profile (written by a ctrprof from before "
                    "the heap-over-time counters, or nothing was sampled)\n",
                    in[i].path,
                    view == CP_VIEW_PEAK ? "peak"
                    : fmt == 7           ? "timeline"
                                         : "object lifetimes");
        cp_inputs_release(&in[i]);
        gr->nfiles++;
        snprintf(gr->label, sizeof gr->label, "%s (%s %llu)", in[i].program, rate_keys[type],
                 (unsigned long long)in[i].rate);
    }
    if (base && cp_profile_load(&g[0].p, base, -1))
        goto out;
    size_t nsamples = 0;
    for (size_t k = 0; k < ng; k++)
        nsamples += g[k].p.ns;
    if (type == CP_R_HEAP && nsamples == 0)
        say_why_empty(in, nin);
    for (size_t k = 0; k < ng; k++) {
        lost += g[k].p.lost;
        g[k].p.no_symbols = fmt == 5; /* raw prints module+offset only */
        cp_profile_finish(&g[k].p);
    }
    if (lost)
        fprintf(stderr,
                "ctrprof: warning: %llu samples were lost while profiling (see ctrprof dump, "
                "ctrprof/health:lost:*)\n",
                (unsigned long long)lost);
    uint64_t thinned = 0, rate_max = 0;
    for (size_t k = 0; k < ng && type == CP_R_BLOCK; k++) {
        thinned += g[k].p.block_thinned;
        if (g[k].p.block_rate_max > rate_max)
            rate_max = g[k].p.block_rate_max;
    }
    if (thinned)
        fprintf(stderr,
                "ctrprof: note: %llu block samples were kept at a rate raised up to %.3g ms "
                "on threads over CTRPROF_BLOCK_BUDGET (each weighted by its rate: the "
                "estimates stay unbiased, from fewer samples)\n",
                (unsigned long long)thinned, (double)rate_max / 1e6);
    FILE *out = stdout;
    if (outpath && strcmp(outpath, "-")) {
        out = fopen(outpath, "w");
        if (!out) {
            fprintf(stderr, "ctrprof: %s: %s\n", outpath, strerror(errno));
            goto out;
        }
    } else if (fmt == 3 && isatty(1)) {
        fprintf(stderr,
                "ctrprof: report: not writing a gzipped profile to a terminal; use -o FILE\n");
        rc = 2;
        goto out;
    }
    if (without_ht == nin) {
        rc = 1;
        goto out;
    }
    if (fmt >= 6)
        rc = 0; /* (it was 1 until here, the status of a failed load: lifetimes and timeline
                 * exited 1 after a whole report) */
    for (size_t k = 0; k < ng && fmt >= 6; k++) {
        if (ng > 1)
            fprintf(out, "%s# == %s: %zu file%s ==\n", k ? "\n" : "", g[k].label, g[k].nfiles,
                    g[k].nfiles == 1 ? "" : "s");
        rc |= cp_rep_heaptime(out, &g[k].p, fmt == 7);
    }
    if (fmt < 6)
        rc = write_views(out, g, ng, fmt, vi);
    if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "ctrprof: %s: write error\n", outpath ? outpath : "standard output");
        rc = 1;
    }
    if (out != stdout)
        fclose(out);
out:
    for (size_t k = 0; g && k < ng; k++)
        cp_profile_free(&g[k].p);
    free(g);
    cp_inputs_free(in, nin);
    free(files);
    free(programs);
    free(pids);
    return rc;
}
