/*
 * modules.h — the module table (modules.c): every loaded ELF object (path, GNU build-id,
 * load bias, executable ranges), gathered with dl_iterate_phdr and refreshed when a PC
 * falls outside every known module (dlopen). Entries are never removed (dlclose'd modules
 * keep their record so PCs captured earlier still resolve). Storage is mmap'd, never
 * malloc'd.
 */
#ifndef CP_MODULES_H
#define CP_MODULES_H

#include <stdint.h>

#define CP_BUILDID_MAX 64 /* bytes of GNU build-id kept */

struct cp_module {
    uintptr_t lo, hi; /* [lo, hi): executable address range in this process */
    uintptr_t bias;   /* dlpi_addr: pc - bias = the ELF virtual address */
    uint32_t id;      /* FNV-1a 32 of path '\0' build-id-hex: the id in frame names */
    uint8_t buildid_len;
    uint8_t buildid[CP_BUILDID_MAX];
    const char *path; /* in the module table's own string storage */
};

/* Build / refresh the module table (flusher or constructor context; takes a lock; the
 * caller holds the shim's re-entrancy guard, as dl_iterate_phdr may allocate). */
int cp_modules_refresh(void);
/* Find the module holding pc; refreshes once if not found. NULL if none. */
const struct cp_module *cp_modules_find(uintptr_t pc);
/* Iterate over known modules (for publishing module records). */
unsigned cp_modules_count(void);
const struct cp_module *cp_modules_at(unsigned i);

/* A fork child whose parent had other threads (cp_stack_loader_suspect): refresh never
 * again (dl_iterate_phdr's lock may be held by a thread this process does not have). */
void cp_modules_loader_suspect(void);
/* The calling thread never takes the loader's locks (dl_iterate_phdr): the flusher
 * process (core/flusher.c), whose glibc thread state is a copy of the program thread's
 * that made it, so that glibc's recursive loader lock would take it for that thread. A
 * pc no lock-free look names (_dl_find_object) stays unnamed there. Its own thread-local
 * flag. */
void cp_modules_no_loader(void);
/* Fork child (either kind, newproc.h): the table's lock, which a thread the child does not
 * have may have held, is free again. */
void cp_modules_fork_child(void);

#endif
