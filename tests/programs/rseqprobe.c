/* rseqprobe: does this kernel clear an armed rseq_cs at a switch, as core/switchwatch.h
 * relies on (tests/e2e/eventloop.sh: the precondition of "runs of frees engaged")?
 *
 *   rseqprobe    prints "clears", "keeps" (a kernel that leaves it: no runs of frees
 *                there) or "none" (glibc registered no rseq area)
 *
 * The same check cp_sw_init makes, with a descriptor of its own: an empty section whose
 * abort_ip follows the signature glibc registered with. Not linked with the engine. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/rseq.h>
#include <time.h>
#include <unistd.h>

static const uint32_t sig[2] __attribute__((aligned(8))) = {RSEQ_SIG, 0};
static struct rseq_cs cs __attribute__((aligned(32)));

int main(void)
{
    if (__rseq_size < 20) {
        puts("none");
        return 0;
    }
    volatile struct rseq *a =
        (volatile struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
    if ((int32_t)a->cpu_id < 0) {
        puts("none");
        return 0;
    }
    cs.start_ip = cs.abort_ip = (uint64_t)(uintptr_t)&sig[1];
    for (int i = 0; i < 3; i++) {
        a->rseq_cs = (uint64_t)(uintptr_t)&cs;
        (void)getppid();
        if (a->rseq_cs != (uint64_t)(uintptr_t)&cs)
            continue; /* (a signal or a preemption just then) */
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
        if (a->rseq_cs == (uint64_t)(uintptr_t)&cs)
            break;
        puts("clears");
        return 0;
    }
    puts("keeps");
    return 0;
}
