/* A thread that works inside a dl_iterate_phdr callback (as crash reporters and module
 * listers do), holding the loader's lock, while another runs generated code (a JIT's
 * stubs in an anonymous executable mapping) that allocates.
 *
 *   loaderlock alloc   the callback allocates 20,000 objects; prints "done", exits 0
 *   loaderlock fork    the callback forks (the child leaves at once); the same
 *   loaderlock plugins DIR N
 *                      the callback forks; the other thread, instead of generated code,
 *                      loads DIR/libplugin-1.so .. -N.so (copies of
 *                      tests/programs/plugin/libplugin.c) one at a time and has each
 *                      allocate 5 blocks of 1 MiB, freed: a new object's first frames for
 *                      the flush to name (it read all the objects, dl_iterate_phdr)
 *
 * Under a profiler at rate 1 the flusher, for a stack through a stub's callee (alloc_via's
 * expr_call, whose CFA is a DWARF expression: the CFI walker gives up, so libunwind is loaded, by
 * dlopen; the objects were read again, by dl_iterate_phdr; until session 31 the stub's own
 * frame, in no loaded object, did that), waits for the loader's lock that thread holds, and that
 * thread waited for the flusher: to drain its full event ring (alloc), or for the flush
 * lock the fork's atfork handler takes (fork). Before session 26 the program hung there
 * for good; session 26's shim dropped alloc's events after 2 s of waiting, and now the
 * waiting thread flushes itself (core/flusher.c's cp_flush_help). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exprframe.h"

static volatile int stop;

/* The stubs' callee: malloc from a frame whose CFA the CFI gives as a DWARF expression
 * (exprframe.h), which the CFI walker does not take: every sampled allocation's stack
 * here goes to libunwind (by frame pointers until the flusher has loaded it). */
static uintptr_t do_malloc(uintptr_t n)
{
    return (uintptr_t)malloc(n);
}

static __attribute__((noinline)) void *alloc_via(size_t n)
{
    void *p = (void *)expr_call(do_malloc, n);
    __asm__ volatile("" ::: "memory"); /* (not a tail call: this frame stays) */
    return p;
}
static int forks; /* mode "fork" */

static int each_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)info, (void)size, (void)arg;
    if (forks) { /* (once an iteration: a child that leaves at once) */
        pid_t c = fork();
        if (c == 0)
            _exit(0);
        if (c > 0)
            waitpid(c, NULL, 0);
        return 1;
    }
    for (int i = 0; i < 20000; i++) {
        void *volatile p = malloc(32 + i % 16);
        free(p);
    }
    return 0;
}

/* Between two passes the loader's lock is let go for 100 us. Passes back to back took it
 * again at once, and glibc's lock is not fair: a thread woken to take it found it taken
 * again, for as long as the passes went on. Bare, nothing else takes that lock here; under
 * a profiler whose walks fall back to libunwind, which takes it (dl_iterate_phdr), main's
 * sampled malloc did, and waited while this thread went on passing: the run never ended,
 * about 1 in 300 at rate 1 (gdb: main in __lll_lock_wait under unw_backtrace, this
 * thread allocating ~7.5 M objects a second, the flusher draining them). A starvation
 * only passes back to back cause, which real listers (a crash reporter, a module list)
 * do not make; what is tested here is that the profiler's own waits (this thread waiting
 * for the flusher inside the callback) end, which the pause leaves as it was: the
 * callback still holds the lock nearly all the time. */
static void *lister(void *arg)
{
    while (!stop) {
        dl_iterate_phdr(each_object, NULL);
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    return arg;
}

int main(int argc, char **argv)
{
    int plugins = argc == 4 && !strcmp(argv[1], "plugins");
    if (!plugins && (argc != 2 || (strcmp(argv[1], "alloc") && strcmp(argv[1], "fork")))) {
        fprintf(stderr, "usage: loaderlock alloc|fork|plugins DIR N\n");
        return 2;
    }
    forks = strcmp(argv[1], "alloc") != 0;
    if (plugins) {
        pthread_t t;
        if (pthread_create(&t, NULL, lister, NULL))
            return 2;
        for (int i = 1, n = atoi(argv[3]); i <= n; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/libplugin-%d.so", argv[2], i);
            void *h = dlopen(path, RTLD_NOW);
            void (*alloc)(void **, int) =
                h ? (void (*)(void **, int))dlsym(h, "plugin_alloc") : NULL;
            if (!alloc) {
                printf("%s: %s\n", path, dlerror());
                return 1;
            }
            for (int k = 0; k < 5; k++) {
                void *o;
                alloc(&o, 1);
                free(o);
            }
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
        stop = 1;
        pthread_join(t, NULL);
        printf("done\n");
        return 0;
    }
    enum { STUB = 64, NSTUB = 2000 };
    uint8_t *code = mmap(NULL, (size_t)STUB * NSTUB, PROT_READ | PROT_WRITE | PROT_EXEC,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) {
        perror("loaderlock: mmap");
        return 2;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, lister, NULL))
        return 2;
    /* each stub at its own address (a new frame, a new site): sub $8,%rsp; movabs
     * $alloc_via,%rax; call *%rax; add $8,%rsp; ret */
    uint8_t s[] = {0x48, 0x83, 0xec, 0x08, 0x48, 0xb8, 0,    0,    0,    0,   0,
                   0,    0,    0,    0xff, 0xd0, 0x48, 0x83, 0xc4, 0x08, 0xc3};
    uintptr_t m = (uintptr_t)alloc_via;
    memcpy(s + 6, &m, sizeof m);
    for (int k = 0; k < NSTUB; k++) {
        uint8_t *c = code + (size_t)k * STUB;
        memcpy(c, s, sizeof s);
        void *(*stub)(size_t) = (void *(*)(size_t))(uintptr_t)c;
        for (int i = 0; i < 10; i++)
            free(stub(100));
    }
    stop = 1;
    pthread_join(t, NULL);
    printf("done\n");
    return 0;
}
