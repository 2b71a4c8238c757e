/* fuzz_report.c — libFuzzer target for the whole `ctrprof report` path: any counter file
 * must give a report or one clear error, never a crash, a hang, a leak past the run or an
 * out-of-bounds access (ASan and UBSan watch). The input is written to a file (the report
 * opens paths, as users give them) and reported as each profile type (and the peak)
 * through every view (and the heap's lifetimes, timeline and temporary objects),
 * with a second copy merged and a third as --base, so loading, merging, unbiasing,
 * symbolizing the recorded modules and every renderer see it. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "packed.h"
#include "symbolize.h"

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void remove_input(void)
{
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(path, sizeof path, "/tmp/ctrprof-fuzz-report.%d.count", (int)getpid());
    /* every report of every input opens the same few module files (libc and its
     * separate debug file above all): open each once for the whole run */
    cp_sym_share_files(1);
    /* a packed input unpacks to 64 MiB at most: a few bytes of zstd make gigabytes, past
     * libFuzzer's memory limit (the real limit, 4 GiB, is test_packed's) */
    cp_packed_limit((size_t)64 << 20);
    atexit(remove_input);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return 0;
    for (size_t off = 0; off < size;) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(fd);
    static const char *const profiles[] = {"heap", "peak", "mutex", "block"};
    static const char *const formats[] = {"top",   "tree", "folded",    "pprof",
                                          "flame", "raw",  "lifetimes", "timeline"};
    for (int p = 0; p < 4; p++) {
        for (int f = 0; f < (p < 2 ? 8 : 6); f++) {
            char *argv[] = {"report",
                            "--profile",
                            (char *)profiles[p],
                            "--format",
                            (char *)formats[f],
                            "-o",
                            "/dev/null",
                            path,
                            NULL};
            if (cp_cmd_report(8, argv) == 1)
                break; /* the file was refused: every view would refuse it the same way */
        }
    }
    char *merged[] = {"report", "--sample",  "alloc_objects", "--format", "folded",
                      "-o",     "/dev/null", "--base",        path,       path,
                      path,     NULL};
    cp_cmd_report(11, merged);
    char *temp[] = {"report", "--sample", "temp_space", "--temp-under", "10us", "--format",
                    "raw",    "-o",       "/dev/null",  path,           NULL};
    cp_cmd_report(10, temp);
    return 0;
}
