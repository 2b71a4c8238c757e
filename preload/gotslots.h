/*
 * gotslots.h — a loaded object's GOT slots: the JUMP_SLOT and GLOB_DAT relocations of the
 * symbols it takes from other objects, found from its program headers and dynamic
 * section, and a store into one (through RELRO: mprotect around it). Used by deepbind.c
 * (a DEEPBIND library's slots pointed at the shim's hooks) and sanitizers.c (the shim's
 * own slots pointed at libc's functions); its soname by shim.c (another copy of the
 * shim). No malloc; the caller keeps errno and says nothing is done in a sandbox
 * (mprotect may be refused there).
 */
#ifndef CP_GOTSLOTS_H
#define CP_GOTSLOTS_H

#include <link.h>
#include <stdbool.h>
#include <stdint.h>

struct cp_got {
    uintptr_t bias, lo, hi; /* its load bias, and the span of its segments */
    uintptr_t relro_lo, relro_hi;
    const ElfW(Sym) * symtab;
    const char *strtab;
    size_t strsz;
    uintptr_t rela, jmprel;
    size_t relasz, pltsz;
    size_t soname; /* DT_SONAME's offset in strtab (0: none) */
};

/* The span [*lo, *hi) of the object's loaded segments (*lo > *hi: none). */
void cp_got_span(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi);
/* The object dl_iterate_phdr described; false: no dynamic symbol or string table. */
bool cp_got_parse(const struct dl_phdr_info *info, struct cp_got *o);
/* Its DT_SONAME, NULL if it has none. */
static inline const char *cp_got_soname(const struct cp_got *o)
{
    return o->soname && o->soname < o->strsz ? o->strtab + o->soname : NULL;
}
/* fn(o, name, slot, arg) for each JUMP_SLOT and GLOB_DAT relocation of an undefined,
 * named symbol whose slot lies in the object */
typedef void (*cp_got_fn)(const struct cp_got *o, const char *name, uintptr_t *slot, void *arg);
void cp_got_each(const struct cp_got *o, cp_got_fn fn, void *arg);
/* *slot = value; false: its RELRO page could not be made writable (nothing stored) */
bool cp_got_store(const struct cp_got *o, uintptr_t *slot, uintptr_t value);

#endif
