/* fuzz_cfile.c — libFuzzer target for the counter-file reader: any byte sequence must
 * give a clear error or a parse, never a crash, a hang or an out-of-bounds read (ASan and
 * UBSan watch). Also decodes every name, as the report does. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfile.h"

static void on_meta(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    *(size_t *)ctx += kl + vl;
}

static void on_counter(void *ctx, const uint8_t *name, size_t len, uint64_t value)
{
    char out[256];
    size_t n = cp_cfile_decode_name(name, len, out, sizeof out);
    *(size_t *)ctx += n + (size_t)(value & 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t acc = 0;
    char where[128];
    /* Fuzzed inputs are usually short; pad them to a page so the record checks are
     * reached too, and parse the unpadded input as well. */
    cp_cfile_parse(data, size, on_meta, on_counter, &acc, where, sizeof where);
    if (size < CP_CFILE_PAGE) {
        uint8_t *buf = calloc(1, CP_CFILE_PAGE);
        memcpy(buf, data, size);
        cp_cfile_parse(buf, CP_CFILE_PAGE, on_meta, on_counter, &acc, where, sizeof where);
        free(buf);
    }
    return 0;
}
