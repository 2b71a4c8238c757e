/*
 * sanitizers.c — living beside a sanitizer's runtime (AddressSanitizer, ThreadSanitizer;
 * gcc's and clang's), or any other definition the program put ahead of libc's.
 *
 * The shim's own calls to libc's string, memory and file functions (memcpy, strlen, read,
 * mmap ...) were bound like the program's, through the global scope, so in a process with
 * a sanitizer's runtime they reached its interceptors: ThreadSanitizer then saw the
 * profiler's copies on the flusher thread and on the program's threads, which our own
 * atomics order and it cannot see, reported them as data races in libctrprof (2-7 a run
 * of a small threaded program) and made the program exit 66 instead of 0. At start-up
 * each such slot of the shim's GOT that does not point into libc is pointed at libc's
 * definition (its dlsym, in libc's own scope): a sanitizer checks the program's memory
 * and no longer the profiler's. In a process with none of that (the usual one) six of
 * the functions are found to be libc's and nothing more is done (`sentinels`). Not the
 * pthread functions, dlopen,
 * signals or the heap: those the sanitizer must see (it tracks threads made through its
 * pthread_create; the program's malloc and locks go to it through the hooks' RTLD_NEXT).
 *
 * And AddressSanitizer (gcc's, whose runtime is a shared library) refused to run at all
 * under LD_PRELOAD: "ASan runtime does not come first in initial library list", exit 1,
 * before any constructor. Its check reads its options first, and a program may give
 * defaults through __asan_default_options: the shim defines it with the check off
 * (verify_asan_link_order=0). The program's own definition of it, or ASAN_OPTIONS, comes
 * first (the executable ahead of us; the environment after the defaults): a program that
 * defines it still stops there unless ASAN_OPTIONS says verify_asan_link_order=0. With the
 * check off its allocations go through the hooks to ASan's allocator, and are profiled.
 *
 * LeakSanitizer (in ASan's runtime, or alone) counts every block the dynamic linker
 * allocated as reachable (its dynamic TLS blocks and link maps are referenced from places
 * it cannot scan), telling them by their allocation's caller: the frame above its
 * interceptor. A block the hooks sampled was allocated from the hook's slow path, so that
 * caller was the shim, and at exit it reported the linker's blocks as leaks (exit 1 at
 * rate 1). The slow paths now hand such a block (called from the linker: cp_shim_ldso_lo,
 * _len) to __lsan_ignore_object, which makes it reachable as the rule would have; the
 * fast paths tail-call the allocator, so the linker is the caller there already.
 *
 * Contexts: the constructor (cp_shim_bind_libc, first after its guard is taken: the
 * loader's allocations for dlsym are not the program's); __asan_default_options is
 * called by ASan's runtime before any constructor.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gotslots.h"
#include "line.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT const char *__asan_default_options(void);
EXPORT const char *__asan_default_options(void)
{
    return "verify_asan_link_order=0";
}

/* Functions whose calls from the shim go to libc's own definitions. */
static const char *const to_libc[] = {
    "memchr",   "memcmp", "memcpy",  "memmem",    "memmove",  "memset",   "strchr",
    "strcmp",   "strlen", "strncmp", "strrchr",   "strstr",   "strtol",   "strtoull",
    "strerror", "open",   "close",   "read",      "write",    "pread",    "pwrite",
    "fstat",    "stat",   "lstat",   "fallocate", "fcntl",    "readlink", "linkat",
    "access",   "getcwd", "mmap",    "munmap",    "mprotect", "madvise",
};

/* A few of them as the loader bound them for the shim (this table's relocations, each a
 * symbol lookup at load time: not all of them): a sanitizer intercepts these, and a
 * program that defines one of the others likely defines these too. If each is libc's,
 * no slot of ours needs a look (the usual process: a few dozen instructions; the scan
 * is ~10,000). */
typedef void (*any_fn)(void);
static const any_fn sentinels[] = {(any_fn)memcpy, (any_fn)memset, (any_fn)strlen,
                                   (any_fn)read,   (any_fn)open,   (any_fn)mmap};

static bool wanted(const char *name)
{
    for (size_t i = 0; i < sizeof to_libc / sizeof *to_libc; i++)
        if (!strcmp(name, to_libc[i]))
            return true;
    return false;
}

CP_READ_MOSTLY void (*cp_shim_lsan_ignore)(const void *);
CP_READ_MOSTLY uintptr_t cp_shim_ldso_lo, cp_shim_ldso_len;
static bool wipe_evex; /* LeakSanitizer on AVX-512: zero ymm16-31 */

/* LeakSanitizer scans every thread's registers, the vector ones too, and takes any word
 * there that points into a block for a reference to it. A sampled allocation's pointer
 * goes through the hooks' copies, and glibc's memmove on an AVX-512 machine (its EVEX
 * forms) keeps data in ymm16-31, which the program may never touch again: a block leaked
 * right after was "reachable" from there (LSAN_OPTIONS=log_pointers=1: the same xstate
 * offset each time) and not reported, LeakSanitizer alone at rate 1, ~1 run in 3. Where
 * it is, the allocation slow paths end by zeroing those sixteen registers (the ABI lets a
 * call clobber them; the compiler uses none of them in the shim). */
void cp_wipe_evex(void);
__asm__(".text\n"
        ".globl cp_wipe_evex\n"
        ".hidden cp_wipe_evex\n"
        ".type cp_wipe_evex, @function\n"
        "cp_wipe_evex:\n"
        "    vpxord %xmm16, %xmm16, %xmm16\n    vpxord %xmm17, %xmm17, %xmm17\n"
        "    vpxord %xmm18, %xmm18, %xmm18\n    vpxord %xmm19, %xmm19, %xmm19\n"
        "    vpxord %xmm20, %xmm20, %xmm20\n    vpxord %xmm21, %xmm21, %xmm21\n"
        "    vpxord %xmm22, %xmm22, %xmm22\n    vpxord %xmm23, %xmm23, %xmm23\n"
        "    vpxord %xmm24, %xmm24, %xmm24\n    vpxord %xmm25, %xmm25, %xmm25\n"
        "    vpxord %xmm26, %xmm26, %xmm26\n    vpxord %xmm27, %xmm27, %xmm27\n"
        "    vpxord %xmm28, %xmm28, %xmm28\n    vpxord %xmm29, %xmm29, %xmm29\n"
        "    vpxord %xmm30, %xmm30, %xmm30\n    vpxord %xmm31, %xmm31, %xmm31\n"
        "    ret\n"
        ".size cp_wipe_evex, .-cp_wipe_evex\n");

/* Bytes of stack the scrub zeroes under its own frame: what a hook may use of a program
 * thread's stack (core/ownstack.h's CP_APP_STACK_BOUND, 4 KiB: stacks.sh) less the slow
 * path's frames above the scrub's, so that it touches nothing a hook could not */
#define SCRUB_BYTES 3584

/* The end of an allocation slow path where LeakSanitizer is (malloc.c's leave_no_copy):
 * no copy of the block's pointer stays where it looks for references: the part of this
 * thread's stack below the program's frame, which the engine's frames used (the event
 * written, the stack walked) and which the program and exit's frames later cover without
 * writing every word (a block leaked right before exit was "reachable" from there,
 * LSAN_OPTIONS=log_pointers=1: a STACK range, a word 0x308 above the checking thread's
 * SP; LeakSanitizer alone at rate 1, in CI once and in 20 runs of 20 with the blocks
 * leaked 1 ms apart: tests/e2e/sanitizers.sh), and ymm16-31 (above). Not inlined: its
 * frame is where the zeroing starts. */
__attribute__((noinline, cold)) void cp_shim_scrub(void)
{
    char buf[SCRUB_BYTES];
    memset(buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory"); /* (the stores are kept) */
    if (wipe_evex)
        cp_wipe_evex();
}

struct spans {
    uintptr_t ldso;   /* the dynamic linker's load address (AT_BASE) */
    uintptr_t shim;   /* an address in the shim */
    struct cp_got me; /* its GOT */
    bool found_me;
    uintptr_t libc_lo, libc_hi;
    void *libc; /* dlopen("libc.so.6", RTLD_NOLOAD), once a slot needs it */
    bool san;   /* an object named like a sanitizer's runtime (libasan.so, liblsan.so ...) */
};

static int find(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct spans *s = arg;
    uintptr_t lo, hi;
    cp_got_span(info, &lo, &hi);
    /* (the first object is the program: the shim's sources built into a program, as
     * stress.sh's TSan build does, leave the program's own slots alone) */
    if (s->shim >= lo && s->shim < hi)
        s->found_me = info->dlpi_name && info->dlpi_name[0] && cp_got_parse(info, &s->me);
    if (info->dlpi_addr == s->ldso && s->ldso && hi > lo) {
        cp_shim_ldso_lo = lo;
        cp_shim_ldso_len = hi - lo;
    }
    const char *n = info->dlpi_name ? strrchr(info->dlpi_name, '/') : NULL;
    n = n ? n + 1 : info->dlpi_name;
    if (n && strstr(n, "san") && strstr(n, ".so"))
        s->san = true;
    if (n && !strncmp(n, "libc.so", 7)) {
        s->libc_lo = lo;
        s->libc_hi = hi;
    }
    return 0;
}

static void to_libc_slot(const struct cp_got *g, const char *name, uintptr_t *slot, void *arg)
{
    struct spans *s = arg;
    uintptr_t cur = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if ((cur >= s->libc_lo && cur < s->libc_hi) || !wanted(name))
        return;
    if (!s->libc)
        s->libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    /* (dlsym with libc's handle looks in libc and its dependencies: its definition,
     * an IFUNC's chosen implementation; not ours: the shim defines none of these) */
    uintptr_t f = s->libc ? (uintptr_t)dlsym(s->libc, name) : 0;
    if (f >= s->libc_lo && f < s->libc_hi)
        cp_got_store(g, slot, f); /* (a page that stays read-only: left as it was) */
}

bool cp_shim_sanitized;

void cp_shim_bind_libc(void)
{
    int saved = errno;
    struct spans s = {.shim = (uintptr_t)&cp_shim_bind_libc, .ldso = getauxval(AT_BASE)};
    dl_iterate_phdr(find, &s);
    bool elsewhere = false;
    for (size_t i = 0; i < sizeof sentinels / sizeof *sentinels; i++)
        elsewhere |= (uintptr_t)sentinels[i] - s.libc_lo >= s.libc_hi - s.libc_lo;
    if (elsewhere && s.found_me && s.libc_hi)
        cp_got_each(&s.me, to_libc_slot, &s);
    if (s.libc)
        dlclose(s.libc);
    /* (NULL without LeakSanitizer: the slow paths' one load and test). Looked for only
     * where a sanitizer is (a lookup that fails walks every object's symbol table: ~10,000
     * instructions of every process's start-up); its failure's message is taken back, so
     * that the program's next dlerror() does not see it. */
    void *ignore = NULL;
    cp_shim_sanitized = elsewhere || s.san;
    if (elsewhere || s.san) {
        ignore = dlsym(RTLD_DEFAULT, "__lsan_ignore_object");
        if (!ignore)
            dlerror();
    }
    if (ignore) {
        __builtin_cpu_init(); /* (a constructor may run before libgcc's) */
        wipe_evex = __builtin_cpu_supports("avx512vl");
    }
    __atomic_store_n(&cp_shim_lsan_ignore, (void (*)(const void *))ignore, __ATOMIC_RELEASE);
    errno = saved;
}
