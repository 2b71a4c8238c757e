/*
 * elfnote.h — a note in an ELF note segment (PT_NOTE), found as glibc walks them: each
 * note's description, and the note after it, start at the segment's alignment (4, or 8 as
 * .note.gnu.property's segment has) counted from the note's own start. One walker for
 * the notes of the process's objects (core/modules.c: build-ids; preload/company.c: Go's
 * note) and of files read offline (tools/exe.c). Header only; no allocation, any context.
 */
#ifndef CP_ELFNOTE_H
#define CP_ELFNOTE_H

#include <elf.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Go's build-id note: owner "Go", this type (its linker's NT_GO_BUILDID) */
#define CP_NT_GO_BUILDID 4

/* The description of the first note in seg[0, size) (a note segment's bytes; align its
 * p_align) of the given type whose name is owner (its size owner's length and NUL, or
 * that padded with NULs to 4: Go's linker writes "Go\0\0"), its size in *descsz; NULL if
 * none, or once a note runs past the end (its padding included). */
static inline const uint8_t *cp_note_find(const void *seg, size_t size, uint64_t align,
                                          const char *owner, uint32_t type, uint32_t *descsz)
{
    const uint8_t *p = (const uint8_t *)seg;
    size_t a = align == 8 ? 8 : 4, olen = strlen(owner) + 1;
    for (size_t at = 0; size - at >= sizeof(Elf64_Nhdr);) {
        Elf64_Nhdr nh; /* (the same three words as Elf32_Nhdr) */
        memcpy(&nh, p + at, sizeof nh);
        size_t desc = (at + sizeof nh + (size_t)nh.n_namesz + a - 1) & ~(a - 1);
        size_t next = (desc + (size_t)nh.n_descsz + a - 1) & ~(a - 1);
        if (next > size)
            return NULL;
        const uint8_t *name = p + at + sizeof nh;
        if (nh.n_type == type && nh.n_namesz >= olen && nh.n_namesz <= ((olen + 3) & ~(size_t)3) &&
            !memcmp(name, owner, olen)) {
            size_t k = olen;
            while (k < nh.n_namesz && !name[k])
                k++;
            if (k == nh.n_namesz) {
                *descsz = nh.n_descsz;
                return p + desc;
            }
        }
        at = next;
    }
    return NULL;
}

#endif
