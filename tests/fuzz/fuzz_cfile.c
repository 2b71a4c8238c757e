/* fuzz_cfile.c — libFuzzer target for the counter-file reader: any byte sequence must
 * give a clear error or a parse, never a crash, a hang or an out-of-bounds read (ASan and
 * UBSan watch). Also decodes every name, as the report does. And the reader's quick walk
 * (cfile_quick.c) must agree with its exact walk: the same code, message and counters in
 * the same order, or the target aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfile.h"
#include "cfile_quick.h"

static void on_meta(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    ((size_t *)ctx)[3] += kl + vl;
}

/* every counter's name and value, in order; and each name decoded, as the report does */
static void on_counter(void *ctx, const uint8_t *name, size_t len, uint64_t value)
{
    size_t *s = ctx;
    char out[256];
    size_t n = cp_cfile_decode_name(name, len, out, sizeof out);
    s[0] = (s[0] ^ (size_t)cp_hash_bytes(name, len) ^ (size_t)value) * 0x100000001B3ull;
    s[1]++;
    s[2] += n + (n ? (size_t)(out[0] & 1) : 0);
}

static void both(const uint8_t *data, size_t size)
{
    size_t q[4] = {0}, x[4] = {0};
    char where[128], wx[128];
    int rq = cp_cfile_parse(data, size, on_meta, on_counter, q, where, sizeof where);
    int rx = cp_cfile_parse_exact(data, size, on_meta, on_counter, x, wx, sizeof wx);
    if (rq != rx || strcmp(where, wx) != 0 || q[0] != x[0] || q[1] != x[1] || q[3] != x[3])
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Fuzzed inputs are usually short; pad them to a page so the record checks are
     * reached too, and parse the unpadded input as well. */
    both(data, size);
    if (size < CP_CFILE_PAGE) {
        uint8_t *buf = calloc(1, CP_CFILE_PAGE);
        memcpy(buf, data, size);
        both(buf, CP_CFILE_PAGE);
        free(buf);
    }
    return 0;
}
