/*
 * symbolize.h — offline symbolization of module-relative return addresses with elfutils
 * libdwfl/libdw (never linked into the shim).
 *
 * A module is opened by its recorded path; its GNU build-id must match the recorded one
 * (a mismatch is a warning and no symbols from the wrong file). Separate debug info is
 * found the standard libdwfl way (/usr/lib/debug, .gnu_debuglink, build-id paths, and
 * debuginfod when DEBUGINFOD_URLS is set). Each address resolves to its inlined-call
 * chain (innermost first), each frame with function, file and line; C++ names are
 * demangled. Without DWARF the ELF symbol table names the function; without the module,
 * the frame is "<basename>+0x<offset>" and the module is warned about once.
 */
#ifndef CP_SYMBOLIZE_H
#define CP_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

struct cp_sym_frame {
    const char *func; /* never NULL */
    const char *file; /* NULL if unknown */
    int line;         /* 0 if unknown */
    const char *full; /* NULL from the symbolizer; in a report's frames, the whole name when
                       * func is a shortened one (tools/names.c) */
};

struct cp_symbolizer;

struct cp_symbolizer *cp_sym_new(void);
/* Extra directories (colon-separated) searched for separate debug files after the
 * standard ones (the module's directory, its .debug/, /usr/lib/debug): DIR/.build-id/
 * xx/yyyy.debug by build-id and DIR/<module's directory>/<.gnu_debuglink name>. Applies
 * to symbolizers created afterwards. */
void cp_sym_set_debug_dirs(const char *dirs);
void cp_sym_free(struct cp_symbolizer *s);

/* Declare a module: its id (as in frame names), path and build-id (hex, or "-"). */
void cp_sym_add_module(struct cp_symbolizer *s, uint32_t id, const char *path, const char *buildid);

/* The frames for a return address at ELF virtual address `offset` in module `id`,
 * innermost first. Results are cached and owned by the symbolizer. Returns the count
 * (>= 1). `addr_is_return` makes the lookup use offset - 1. */
size_t cp_sym_lookup(struct cp_symbolizer *s, uint32_t id, uint64_t offset, int addr_is_return,
                     const struct cp_sym_frame **out);

/* How a DWARF address finds its function DIEs: by default each compile unit is walked once
 * into a table of its functions' address ranges; with `libdw_walk` set, libdw's
 * dwarf_getscopes walks the unit from its root for every address (the slow reference the
 * tests compare the table against). Call before the first lookup. */
void cp_sym_set_libdw_walk(struct cp_symbolizer *s, int libdw_walk);

/* For a process that symbolizes many profiles with the same settings (the report fuzzer):
 * every symbolizer created afterwards shares one libdwfl session, in which each module
 * file is opened once and its ELF and (decompressed) DWARF stay open for the process's
 * life. What a lookup returns does not change. Off by default: `ctrprof report` makes
 * one symbolizer. */
void cp_sym_share_files(int on);

/* Module path and build-id of id (NULL if unknown), for pprof mappings. */
const char *cp_sym_module_path(struct cp_symbolizer *s, uint32_t id);
const char *cp_sym_module_buildid(struct cp_symbolizer *s, uint32_t id);

/* Demangle a C++ name if it is one (malloc'd result), else NULL. */
char *cp_sym_demangle(const char *name);

#endif
