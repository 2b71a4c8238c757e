/*
 * serve.h — what `ctrprof serve`'s HTTP side (serve.c) asks of its data side
 * (serve_data.c). Offline context: a normal multi-threaded program. Every function here
 * takes the server's one lock itself (the symbolizer and the cache are not thread-safe);
 * none of them blocks on a client.
 */
#ifndef CP_SERVE_H
#define CP_SERVE_H

#include <stddef.h>
#include <stdint.h>

/* The inputs given on the command line: files, or directories re-listed per request. */
int cp_srv_init(const char *const *inputs, int n, int metrics_top);
void cp_srv_fini(void);

/* A response body (malloc'd; the caller frees it) with its status and content type. */
struct cp_srv_body {
    int status;
    const char *ctype; /* static */
    char *p;
    size_t n;
};

enum cp_srv_kind { CP_SRV_HEAP, CP_SRV_ALLOCS, CP_SRV_MUTEX, CP_SRV_BLOCK };

/* A snapshot of every input file as of now (for a delta's base; free it with
 * cp_snapset_free, snapshot.h). */
struct cp_snapset;
struct cp_snapset *cp_srv_snapshot(void);

/* The merged, symbolized profile of kind: gzipped profile.proto (text top view when
 * debug), minus base when base is not NULL (a delta: only files present in both). */
void cp_srv_profile(enum cp_srv_kind kind, int debug, struct cp_snapset *base,
                    struct cp_srv_body *out);
/* /metrics: Prometheus text exposition format 0.0.4. */
void cp_srv_metrics(struct cp_srv_body *out);
/* The number of profile files the inputs name right now (for the index page). */
size_t cp_srv_nfiles(void);

#endif
