/* fuzz_unwind.c — libFuzzer target for the CFI walker's parser (core/ehframe.c): an
 * .eh_frame_hdr, its search table, FDEs, CIEs and call-frame instructions, all from the
 * input. Input: 4 bytes of a signed pc offset from the header, then the object's bytes
 * starting at its .eh_frame_hdr (the encodings are pc- and header-relative, so an image cut
 * from a real binary parses the same here; tests/fuzz/run.sh seeds with some). Nothing
 * outside the input may be read, and every answer is one of the three kinds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ehframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    int32_t off;
    memcpy(&off, data, 4);
    /* an exact-size copy, so that ASan sees a read past the end */
    uint8_t *img = malloc(size - 4 ? size - 4 : 1);
    if (!img)
        return 0;
    memcpy(img, data + 4, size - 4);
    uint64_t s = cp_ehframe_parse(img, img, img + (size - 4), (uintptr_t)img + (intptr_t)off, 0);
    if ((s & 3) == 0)
        abort(); /* "no shape" is never an answer */
    free(img);
    return 0;
}
