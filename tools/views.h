/* views.h — the views of a profile and what they share (tools/ only): viewutil.c (human
 * units, a sample's frames), textviews.c (top, tree, folded, raw), pprof.c, flame.c.
 * `ctrprof report` (report.c), serve and top call them; none of them calls back. */
#ifndef CP_VIEWS_H
#define CP_VIEWS_H

#include <stdio.h>

#include "profile.h"

const char *cp_rep_human(double v, const char *unit, char *buf, size_t len);
size_t cp_rep_frames(const struct cp_profile *p, const struct cp_sample *s,
                     const struct cp_sym_frame **out, size_t max);
/* gzipped profile.proto, as Go's runtime writes heap/mutex/block profiles; 0 or 1 */
int cp_rep_pprof(FILE *out, const struct cp_profile *p);
/* pprof's -top text view of sample type vi (what `ctrprof report --format top` prints) */
void cp_rep_top(FILE *out, const struct cp_profile *p, int vi);
/* the callers and callees of each function, by cum */
void cp_rep_tree(FILE *out, const struct cp_profile *p, int vi);
/* one line per stack, root first, "a;b;c VALUE"; with root, under a frame "[root]" */
void cp_rep_folded(FILE *out, const struct cp_profile *p, int vi, const char *root);
/* the samples as read: raw counts, unbiased values and locations */
void cp_rep_raw(FILE *out, const struct cp_profile *p);
/* one self-contained interactive HTML flame graph of n profiles of one type; with labels,
 * each profile under a root frame "[label]" */
void cp_rep_flame(FILE *out, const struct cp_profile *const *ps, const char *const *labels,
                  size_t n, int vi);
/* heapviews.c: --temp-under's decade boundary as the number of lifetime classes below it
 * (-1: not one); --format lifetimes (timeline = 0) or timeline of one group; 0 or 1 */
int cp_rep_temp_classes(const char *boundary);
/* The heap-over-time options: --sample temp_* makes the view CP_VIEW_TEMP; for the peak
 * and temp views, the sample's index into vi. 0, or 2 after saying what is wrong. */
int cp_rep_heap_args(int heap, const char *sample, const char *temp_under, const char *format,
                     int heapfmt, int *view, int *vi, int *temp_classes);
int cp_rep_heaptime(FILE *out, const struct cp_profile *p, int timeline);

#endif
