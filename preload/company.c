/*
 * company.c — what else is in the process that changes what the shim does there, each
 * found by the constructor (shim.c) before the engine starts:
 *   - valgrind's thread checkers (the shim forwards every call);
 *   - another copy of the shim ahead of this one (this one forwards, inert);
 *   - Go's runtime (every event published on the thread that records it).
 * Constructor only; no allocation (getenv, dl_iterate_phdr, the auxiliary vector).
 */
#include <elf.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "elfnote.h"
#include "gotslots.h"
#include "log.h"
#include "shim.h"

/* valgrind's thread checkers, helgrind and drd, run the program (their preload, which
 * valgrind puts in the client's LD_PRELOAD, is there): they see the profiler's lock-free
 * synchronisation (atomics, its own spin locks) as data races, and reported dozens in a
 * program that has none (helgrind: "Possible data race" on cp_stopping and the rings'
 * words, exit status changed under --error-exitcode); drd asserted at the exit of every
 * program ("drd_stop_using_mem: a1 <= a2"). There the shim forwards every call and says
 * so once. Constructor only (getenv). */
bool cp_shim_thread_checker(void)
{
    const char *pre = getenv("LD_PRELOAD");
    const char *tool = !pre                                ? NULL
                       : strstr(pre, "vgpreload_helgrind") ? "helgrind"
                       : strstr(pre, "vgpreload_drd")      ? "drd"
                                                           : NULL;
    if (tool && cp_log_tree_first(CP_LOG_TREE_THREAD_CHECKER))
        cp_log("valgrind's %s checks this program's threads, and the profiler's own "
               "synchronisation is not what it can see; not profiling",
               tool);
    return tool != NULL;
}

/* Any valgrind tool runs the program (its core's preload is in LD_PRELOAD): it refuses a
 * clone that is neither a thread nor a fork, and ends the program ("Unsupported clone()
 * flags"), so there is no flusher process (core/flushproc.c). Constructor only. */
bool cp_shim_under_valgrind(void)
{
    const char *pre = getenv("LD_PRELOAD");
    return pre && strstr(pre, "vgpreload_");
}

/* Another copy of the shim (another build's libctrprof.so, by another path: the loader
 * takes both) ahead of this one in the lookup order: LD_PRELOAD naming two, or
 * /etc/ld.so.preload's and `ctrprof run`'s. Both profiled every process, each into a
 * file of its own, and a report over the directory counted everything twice. The copy
 * the program's calls reach first profiles; a later one steps aside, inert: its hooks
 * forward (the first copy's lookups of the real functions find them), and it leaves the
 * environment to the first (said.c, exec.c). The loader lists the preloaded objects in
 * their lookup order; a shim is known by its soname. */
struct copies {
    uintptr_t me;
    const char *ahead, *mine;
};

static int find_copies(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct copies *c = arg;
    uintptr_t lo, hi;
    cp_got_span(info, &lo, &hi);
    if (c->me >= lo && c->me < hi) {
        c->mine = info->dlpi_name;
        return 1; /* (what comes after this copy is not ahead of it) */
    }
    struct cp_got g;
    const char *so = cp_got_parse(info, &g) ? cp_got_soname(&g) : NULL;
    if (so && !strcmp(so, "libctrprof.so") && !c->ahead)
        c->ahead = info->dlpi_name;
    return 0;
}

bool cp_shim_copy_ahead(void)
{
    struct copies c = {.me = (uintptr_t)&cp_shim_copy_ahead};
    dl_iterate_phdr(find_copies, &c);
    if (!c.ahead || !c.mine)
        return false;
    if (cp_log_tree_first(CP_LOG_TREE_ANOTHER_COPY))
        cp_log("another copy of the profiler, %s, is loaded ahead of this one, %s: it "
               "profiles the program, this one does not",
               c.ahead, c.mine);
    return true;
}

/* A Go program (its executable carries Go's build-id note): Go's runtime ends the process
 * by the exit_group system call, from main's return and os.Exit alike, and runs no exit
 * handler, so nothing recorded after the flusher's last flush reached the file: a cgo
 * program that allocated 200 MiB through C's malloc in 0.3 s left no profile at all at
 * the default rate (the first flush is a second in), and at rate 1 one whose goroutines
 * made 160,000 C allocations left 300-7,000 of them out. Its every event is published by
 * the thread that records it instead (cp_prof_inline_only), as in a single-threaded
 * process. */
bool cp_shim_go_program(void)
{
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
    size_t n = getauxval(AT_PHNUM);
    uintptr_t bias = 0;
    for (size_t i = 0; ph && i < n; i++)
        if (ph[i].p_type == PT_PHDR)
            bias = (uintptr_t)ph - ph[i].p_vaddr;
    uint32_t len;
    for (size_t i = 0; ph && i < n; i++)
        if (ph[i].p_type == PT_NOTE &&
            cp_note_find((const void *)(bias + ph[i].p_vaddr), ph[i].p_memsz, ph[i].p_align, "Go",
                         CP_NT_GO_BUILDID, &len))
            return true;
    return false;
}
