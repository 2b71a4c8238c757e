/*
 * gotslots.c — see gotslots.h. Contexts: deepbind.c's rewriting (a program's thread in
 * its dl calls, or the flusher, under deepbind.c's lock) and the constructor
 * (sanitizers.c, company.c's cp_shim_copy_ahead). Reads only what the loader mapped; no malloc, no
 * locks of its own.
 */
#include <elf.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gotslots.h"

/* A dynamic entry's address: glibc relocates .dynamic in place on x86-64; a value below
 * the bias is still a link-time address */
static uintptr_t dyn_ptr(const struct cp_got *o, ElfW(Addr) p)
{
    return p < o->bias ? o->bias + p : p;
}

void cp_got_span(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi)
{
    *lo = UINTPTR_MAX;
    *hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        uintptr_t a = info->dlpi_addr + p->p_vaddr;
        if (p->p_type != PT_LOAD)
            continue;
        if (a < *lo)
            *lo = a;
        if (a + p->p_memsz > *hi)
            *hi = a + p->p_memsz;
    }
}

bool cp_got_parse(const struct dl_phdr_info *info, struct cp_got *o)
{
    *o = (struct cp_got){.bias = info->dlpi_addr};
    cp_got_span(info, &o->lo, &o->hi);
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        uintptr_t a = o->bias + p->p_vaddr;
        if (p->p_type == PT_DYNAMIC) {
            dyn = (const ElfW(Dyn) *)a;
        } else if (p->p_type == PT_GNU_RELRO) {
            o->relro_lo = a;
            o->relro_hi = a + p->p_memsz;
        }
    }
    for (const ElfW(Dyn) *d = dyn; d && d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB:
            o->symtab = (const ElfW(Sym) *)dyn_ptr(o, d->d_un.d_ptr);
            break;
        case DT_STRTAB:
            o->strtab = (const char *)dyn_ptr(o, d->d_un.d_ptr);
            break;
        case DT_STRSZ:
            o->strsz = d->d_un.d_val;
            break;
        case DT_SONAME:
            o->soname = d->d_un.d_val;
            break;
        case DT_RELA:
            o->rela = dyn_ptr(o, d->d_un.d_ptr);
            break;
        case DT_RELASZ:
            o->relasz = d->d_un.d_val;
            break;
        case DT_JMPREL:
            o->jmprel = dyn_ptr(o, d->d_un.d_ptr);
            break;
        case DT_PLTRELSZ:
            o->pltsz = d->d_un.d_val;
            break;
        }
    }
    return o->symtab && o->strtab;
}

static void each_in(const struct cp_got *o, uintptr_t rel, size_t sz, cp_got_fn fn, void *arg)
{
    if (!rel || !sz)
        return;
    const ElfW(Rela) *r = (const ElfW(Rela) *)rel;
    for (size_t i = 0; i < sz / sizeof *r; i++) {
        unsigned type = (unsigned)ELF64_R_TYPE(r[i].r_info);
        if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT)
            continue;
        const ElfW(Sym) *s = &o->symtab[ELF64_R_SYM(r[i].r_info)];
        if (s->st_shndx != SHN_UNDEF || !s->st_name || s->st_name >= o->strsz)
            continue; /* (the object's own definition) */
        uintptr_t *slot = (uintptr_t *)(o->bias + r[i].r_offset);
        if ((uintptr_t)slot < o->lo || (uintptr_t)slot + sizeof *slot > o->hi)
            continue;
        fn(o, o->strtab + s->st_name, slot, arg);
    }
}

void cp_got_each(const struct cp_got *o, cp_got_fn fn, void *arg)
{
    each_in(o, o->jmprel, o->pltsz, fn, arg);
    each_in(o, o->rela, o->relasz, fn, arg);
}

bool cp_got_store(const struct cp_got *o, uintptr_t *slot, uintptr_t value)
{
    uintptr_t a = (uintptr_t)slot;
    bool ro = a >= o->relro_lo && a < o->relro_hi;
    long pg = sysconf(_SC_PAGESIZE);
    void *page = (void *)(a & ~(uintptr_t)(pg - 1));
    if (ro && mprotect(page, (size_t)pg, PROT_READ | PROT_WRITE))
        return false;
    __atomic_store_n(slot, value, __ATOMIC_RELEASE);
    if (ro)
        mprotect(page, (size_t)pg, PROT_READ);
    return true;
}
