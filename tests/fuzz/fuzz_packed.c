/* fuzz_packed.c — libFuzzer target for packed profiles (cfile/packed.c): any bytes must
 * unpack or give CP_CFILE_EPACKED, never a crash, a hang, an allocation past the limit or
 * an out-of-bounds access (ASan and UBSan watch); what unpacks goes through the
 * counter-file reader, as every ctrprof command does with it, and cp_packed_same (pack's
 * check) must say the input unpacks to those bytes and not to them with one changed or one
 * fewer; what does not unpack must not be the same as anything. The input is taken as it is
 * and, so that the frame decoder is reached past its magic, also behind a zstd magic
 * number. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfile.h"
#include "packed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const uint8_t *data, size_t size)
{
    uint8_t *out;
    size_t len;
    /* (64 MiB: libFuzzer's memory limit is 2 GiB, and a few bytes of RLE blocks make
     * that much; cp_packed_unpack's own limit, 4 GiB, is tested in test_packed) */
    int err = cp_packed_unpack_max(data, size, (size_t)64 << 20, &out, &len);
    if (err == 0) {
        char where[128];
        cp_cfile_parse(out, len, NULL, NULL, NULL, where, sizeof where);
        if (cp_packed_same(data, size, out, len) != 0)
            abort();
        if (len && cp_packed_same(data, size, out, len - 1) != CP_CFILE_EPACKED)
            abort();
        if (len) {
            out[len / 2] ^= 1;
            if (cp_packed_same(data, size, out, len) != CP_CFILE_EPACKED)
                abort();
        }
        cp_cfile_unload(out, len);
    } else if (err != CP_CFILE_EPACKED && err != -12 /* ENOMEM */) {
        abort(); /* no other answer is documented */
    } else if (err == CP_CFILE_EPACKED && size < ((size_t)64 << 20) &&
               cp_packed_same(data, size, data, size) == 0) {
        abort(); /* (refused, or more than 64 MiB: neither is these few bytes) */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(data, size);
    if (!cp_packed_is(data, size)) {
        uint8_t *b = malloc(size + 4);
        memcpy(b, "\x28\xb5\x2f\xfd", 4);
        memcpy(b + 4, data, size);
        one(b, size + 4);
        free(b);
    }
    return 0;
}
