/*
 * packed.h — a profile at rest: a counter file packed into one zstd frame (`ctrprof pack`,
 * and `ctrprof run` when its program is done), and the one load every reader uses, which
 * takes a packed file or a live one alike (packed.c). Offline only: tools, tests, fuzzers;
 * never in a profiled process (the shim writes the counter file itself, uncompressed, so
 * that it survives a crash and can be shared: docs/SCHEMA.md).
 *
 * A packed file is `zstd -d`'s input: unpacked, it is byte for byte the counter file it
 * was made from, which Go's parser reads.
 */
#ifndef CP_PACKED_H
#define CP_PACKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The name a packed profile takes: the counter file's, then this. */
#define CP_PACKED_SUFFIX ".zst"

/* The largest counter file an unpack makes: a file's offsets are 32-bit (FORMAT.md), so
 * no counter file is longer than 4 GiB and a page; a frame that says or makes more is
 * refused (CP_CFILE_EPACKED) before that much is allocated. */
#define CP_PACKED_MAX (((size_t)1 << 32) + 16384)

/* Does buf start as a zstd frame does (its magic number)? */
bool cp_packed_is(const uint8_t *buf, size_t len);

/* Unpack the whole of in (one or more zstd frames, nothing after them) into a new buffer,
 * freed with cp_cfile_unload. 0, CP_CFILE_EPACKED (not zstd, truncated, corrupt, trailing
 * bytes, or more than CP_PACKED_MAX bytes), or -ENOMEM. */
int cp_packed_unpack(const uint8_t *in, size_t inlen, uint8_t **out, size_t *outlen);
/* The same with a lower limit than CP_PACKED_MAX (tests, and the fuzzers, whose memory
 * limit is below 4 GiB). */
int cp_packed_unpack_max(const uint8_t *in, size_t inlen, size_t max, uint8_t **out,
                         size_t *outlen);

/* Lower the limit of cp_packed_unpack (and so of cp_cfile_load_any) for the whole process:
 * the fuzzers, whose memory limit a few bytes of zstd could otherwise pass. */
void cp_packed_limit(size_t max);

/* Pack len bytes at zstd level `level` (1..19) into a new buffer, freed with
 * cp_cfile_unload. 0, CP_CFILE_EPACKED (zstd refused), or -ENOMEM. */
int cp_packed_pack(const uint8_t *in, size_t len, int level, uint8_t **out, size_t *outlen);

/* Does in (zstd frames, as cp_packed_unpack takes) unpack to exactly the len bytes at img?
 * 0 if so, CP_CFILE_EPACKED if not (or corrupt), -ENOMEM. Unpacked a MiB at a time, each
 * compared as it comes: `ctrprof pack`'s check of what it made, without a second copy of
 * the profile. */
int cp_packed_same(const uint8_t *in, size_t inlen, const uint8_t *img, size_t len);

/* What every reader loads a profile with: a packed file is read and unpacked (it does not
 * change: *settled is true); any other goes to cp_cfile_load_settled (a consistent copy of
 * a live file). A NAME.count that is gone is read from NAME.count.zst if that exists (it
 * was packed since it was named or listed). settled may be NULL. Free with
 * cp_cfile_unload. 0 or a negative code. */
int cp_cfile_load_any(const char *path, uint8_t **bufp, size_t *lenp, bool *settled);

#endif
