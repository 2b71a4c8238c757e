/*
 * profile.h — a ctrprof profile read from counter files (docs/SCHEMA.md), merged,
 * optionally diffed against a base, and unbiased as Go/pprof do. Offline context.
 */
#ifndef CP_PROFILE_H
#define CP_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "symbolize.h"

enum cp_ptype_r { CP_R_HEAP = 0, CP_R_MUTEX = 1, CP_R_BLOCK = 2 };
/* how C++ names print (report --demangle; tools/names.c) */
enum cp_demangle { CP_DEMANGLE_SHORT = 0, CP_DEMANGLE_TEMPLATES = 1, CP_DEMANGLE_FULL = 2 };

/* A location: one recorded return address (or a marker), shared by every sample. */
struct cp_loc {
    uint32_t mod;   /* module id; 0 with kind != 0 */
    uint64_t off;   /* ELF virtual address in the module, or the absolute address */
    int kind;       /* 0 module+offset, 1 unknown module, 2 "truncated", 3 overflow */
    size_t nframes; /* symbolized frames, innermost first */
    const struct cp_sym_frame *frames;
};

struct cp_sample {
    uint32_t *locs; /* indices into locs, innermost first */
    uint32_t nlocs;
    uint64_t size;          /* heap object size (a site of Ctrprof-Format 3: the average, after
                             * cp_profile_finish; 0 before) */
    int site;               /* a Ctrprof-Format 3 heap site: wraw, peakb and lifeb hold its values,
                             * already unbiased; raw, peak and life are its objects */
    double wraw[2];         /* site: bytes allocated, freed (unbiased) */
    double peakb, lifeb[9]; /* site: bytes in use at the peak, freed per lifetime class */
    double raw[2];          /* heap: sampled allocs, frees (site: unbiased objects); mutex/block:
                             * contentions, delay */
    double v[4];            /* unbiased values, one per sample type */
    /* heap over time (docs/SCHEMA.md): sampled objects in use at the peak, and freed
     * sampled objects per lifetime class (CP_NLIFE_R, heaptime.c's decades) */
    double peak;
    double life[9];
};

#define CP_NLIFE_R 9
/* The heap profile's views: what v[] holds (cp_profile_finish). */
enum cp_view { CP_VIEW_HEAP = 0, CP_VIEW_PEAK = 1, CP_VIEW_TEMP = 2 };

/* One process's timeline, from ctrprof/timeline:<pid>:* (points [0, n): ms since its
 * start, heap in use, RSS, bytes allocated so far). */
struct cp_tlseries {
    long pid;
    uint64_t n;
    uint64_t (*pt)[4];
    size_t cap;
};

/* One process's peak, from ctrprof/heap-peak:<pid>:{ms,bytes}. */
struct cp_peak {
    long pid;
    uint64_t ms, bytes;
};

struct cp_profile {
    int type;
    uint64_t rate; /* MemRate, MutexFraction or BlockRate of the files */
    int nvalues;   /* sample types: 4 for heap, 2 otherwise */
    const char *vname[4], *vunit[4];
    struct cp_sample *s;
    size_t ns, caps;
    struct cp_loc *locs;
    size_t nl, capl;
    uint64_t lost, files;
    /* block samples kept at a rate a thread raised under CTRPROF_BLOCK_BUDGET (summed
     * over the files), and the highest such rate (ns: the largest file's counter, itself
     * summed over the processes that shared that file) */
    uint64_t block_thinned, block_rate_max;
    struct cp_symbolizer *sym;
    int no_symbols;             /* raw view: frames stay module+offset; skip the symbolizer */
    const char *default_sample; /* pprof's default_sample_type (NULL: none): Go's allocs
                                 * profile is the heap profile opening on alloc_space */
    void *index;                /* key -> sample, while loading */
    void *locindex;             /* (mod, off, kind) -> loc */
    int demangle;               /* enum cp_demangle, applied by cp_profile_finish */
    struct cp_sym_frame *shown_frames; /* the frames as shown (names.c) */
    void *shown_names;
    size_t nshown;
    int view;         /* enum cp_view, set before loading */
    int temp_classes; /* CP_VIEW_TEMP: lifetime classes [0, temp_classes) are temporary */
    int file_has_ht;  /* the file loaded last had the heap-over-time counters */
    int file_has_tl;  /* ... and a timeline */
    struct cp_tlseries *tl;
    size_t ntl;
    struct cp_peak *peaks;
    size_t npeaks;
    char header[400]; /* a line the views show first ("" for none): the peak's */
};

/* Set the heap profile's view (before loading): sample types inuse_objects/inuse_space at
 * the peak, or temp_objects/temp_space under 10^(temp_classes - 1) us. */
void cp_profile_set_view(struct cp_profile *p, int view, int temp_classes);
/* The peak of the loaded processes, in one line ("" if no file had one). */
void cp_profile_peak_line(const struct cp_profile *p, char *buf, size_t len);

/* For cp_cfile_parse's metadata callbacks: is the key k[0..kl) exactly want; and a
 * metadata value as a decimal number (its first 31 bytes; 0 if it is none). */
int cp_meta_key(const char *k, size_t kl, const char *want);
uint64_t cp_meta_u64(const char *v, size_t vl);

/* Load and merge files (sign +1) or a base to subtract (sign -1). On error prints one line
 * "ctrprof: FILE: what" and returns 1. */
int cp_profile_load(struct cp_profile *p, const char *path, int sign);
/* Merge a file image already read and validated (inputs.c), of this rate. */
void cp_profile_add_image(struct cp_profile *p, const uint8_t *buf, size_t len, uint64_t rate);
/* After loading: unbias, symbolize, drop samples that are all zero. */
void cp_profile_finish(struct cp_profile *p);
void cp_profile_init(struct cp_profile *p, int type);
void cp_profile_free(struct cp_profile *p);
int cp_profile_sample_index(const struct cp_profile *p, const char *name);
/* Shorten the frames' C++ names as p->demangle says, never giving two different functions
 * the same text (names.c; called by cp_profile_finish). */
void cp_profile_names(struct cp_profile *p, int mode);
void cp_profile_names_free(struct cp_profile *p);
/* The whole name of a frame (func may be shortened). */
static inline const char *cp_frame_full(const struct cp_sym_frame *f)
{
    return f->full ? f->full : f->func;
}

#endif
