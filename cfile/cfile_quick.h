/*
 * cfile_quick.h — the quick walk of a counter file's chains (cfile_quick.c), which
 * cfile_read.c's cp_cfile_parse tries before its exact walk, and the reads of a file image
 * both walks make. Offline only.
 */
#ifndef CP_CFILE_QUICK_H
#define CP_CFILE_QUICK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cfile.h"

/* The 32-bit word at off of an image of len bytes; 0 past its end (Go: a head beyond the
 * end of the file reads as 0). */
static inline uint32_t cp_cfile_rd32(const uint8_t *buf, size_t len, size_t off)
{
    if (off + 4 > len)
        return 0;
    uint32_t v;
    memcpy(&v, buf + off, 4);
    return v;
}

/* The length of the name of the record at off (the low 24 bits of its third word). */
static inline size_t cp_cfile_name_len(const uint8_t *buf, size_t len, size_t off)
{
    return cp_cfile_rd32(buf, len, off + 8) & 0x00FFFFFFu;
}

/* The records a quick walk found, in Go's order (bucket 0..511, chain order). */
struct cp_cfile_walk {
    uint32_t *off; /* n record offsets */
    size_t n, cap; /* (cap: what the mapping holds) */
};

/* Walks every chain of the image (H = h) with Go's bounds checks and looks for a raw name
 * repeated, or a raw name equal to another record's decoded name, without the exact
 * walk's sets: one hash a name, then the hashes grouped by their top bits (each group
 * small enough for the caches), equal hashes compared byte for byte. Returns 0 when every
 * record is in bounds and no name meets another (w holds the records: the file parses,
 * and the exact walk would say so too), 1 when anything is out of the ordinary (a record
 * out of bounds, a name met twice in either sense, more records than the file can hold,
 * hashes that collide too often): the exact walk then decides and says what is wrong, in
 * Go's order. -ENOMEM when scratch memory cannot be mapped. Either way w is to be freed. */
int cp_cfile_walk_quick(const uint8_t *buf, size_t len, uint32_t h, struct cp_cfile_walk *w);
void cp_cfile_walk_free(struct cp_cfile_walk *w);

/* cp_cfile_parse with the exact walk alone: for the tests and the fuzzer, which compare
 * the two (every answer, every message, every counter in its order). */
int cp_cfile_parse_exact(const uint8_t *buf, size_t len, cp_cfile_meta_fn meta_cb,
                         cp_cfile_counter_fn counter_cb, void *ctx, char *where, size_t wherelen);

#endif
