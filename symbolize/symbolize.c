/*
 * symbolize.c — libdwfl symbolization (see symbolize.h). Offline context: malloc and
 * stdio are fine; warnings go to stderr, once per module.
 *
 * About 790 lines, one concept: libdwfl symbolization (modules, inline chains, names).
 *
 * The libdwfl idiom (as elfutils' addr2line): one Dwfl with the standard offline
 * callbacks, each module reported with dwfl_report_offline; an address in the module's
 * own ELF space is moved into the Dwfl's space by the module's bias; dwarf_getscopes
 * gives the inlined-call chain, whose call_file/call_line locate each caller.
 *
 * dwarf_getscopes walks its compile unit from the root on every call, so each address
 * cost a walk of the whole CU (100k distinct frames took ~2 s). Instead each CU is walked
 * once, on its first address, into a table of the address ranges of its subprogram and
 * inlined_subroutine DIEs, flattened so every piece of the CU's code maps to its innermost
 * function DIE; a lookup is then a binary search and a walk up the recorded parents.
 */
#include "symbolize.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A function symbol of a module, in the Dwfl's address space. */
struct fsym {
    GElf_Addr lo, hi;
    const char *name; /* libelf's string table: lives as long as the Dwfl */
    int rank;         /* global 0, weak 1, local 2: the name to show among aliases */
};

/* A function DIE of a CU (subprogram or inlined_subroutine) and its nearest function
 * ancestor in the CU's tree (-1 for none). */
struct scope_node {
    Dwarf_Die die;
    int parent;
    int tag;
};

/* A piece [lo, hi) of a CU's code (CU-relative addresses) and its innermost function DIE. */
struct seg {
    Dwarf_Addr lo, hi;
    int node;
};

struct cuinfo {
    Dwarf_Off off; /* the CU DIE's offset: the key */
    struct scope_node *nodes;
    struct seg *segs;
    size_t nsegs;
    struct cuinfo *next;
};

#define CU_BUCKETS 1024

struct module {
    uint32_t id;
    char *path, *buildid;
    Dwfl_Module *mod;
    GElf_Addr bias;
    int tried, usable;
    /* the symbol table sorted once: dwfl_module_addrinfo scans every symbol per call,
     * which made a 100k-frame report take seconds */
    struct fsym *syms;
    size_t nsyms;
    int syms_built;
    unsigned lookups;    /* before the table is worth building */
    struct cuinfo **cus; /* CU_BUCKETS chains, allocated on the first DWARF lookup */
};

struct cache_entry {
    uint32_t id;
    uint64_t off;
    int ret;
    size_t n;
    struct cp_sym_frame *frames;
    struct cache_entry *next;
};

#define CACHE_BUCKETS 65536

struct cp_symbolizer {
    Dwfl *dwfl;
    Dwfl_Callbacks cb;
    struct module *mods;
    size_t nmods, cap;
    int libdw_walk;
    int shared; /* dwfl is the process's shared one (cp_sym_share_files) */
    struct cache_entry *cache[CACHE_BUCKETS];
};

static char *debuginfo_path;

void cp_sym_set_debug_dirs(const char *dirs)
{
    static char buf[4096];
    if (!dirs || !*dirs) {
        debuginfo_path = NULL;
        return;
    }
    /* libdwfl's default path (debuglink CRCs checked), then ours */
    snprintf(buf, sizeof buf, ":.debug:/usr/lib/debug:%s", dirs);
    debuginfo_path = buf;
}

/* cp_sym_share_files: one Dwfl for every symbolizer of the process, and each path
 * reported to it once (a module's ELF and DWARF, decompressed, stay open). */
static int share_files;
static Dwfl *shared_dwfl;
static Dwfl_Callbacks shared_cb;
struct shared_file {
    char *path;
    Dwfl_Module *mod; /* NULL: reporting it failed, with `err` */
    char *err;
};
static struct shared_file *shared_files;
static size_t nshared, capshared;

void cp_sym_share_files(int on)
{
    share_files = on;
}

static void init_callbacks(Dwfl_Callbacks *cb)
{
    cb->find_elf = dwfl_build_id_find_elf;
    cb->find_debuginfo = dwfl_standard_find_debuginfo;
    cb->section_address = dwfl_offline_section_address;
    cb->debuginfo_path = &debuginfo_path;
}

struct cp_symbolizer *cp_sym_new(void)
{
    struct cp_symbolizer *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (share_files) {
        if (!shared_dwfl) {
            init_callbacks(&shared_cb);
            shared_dwfl = dwfl_begin(&shared_cb);
        }
        s->dwfl = shared_dwfl;
        s->shared = 1;
        return s;
    }
    init_callbacks(&s->cb);
    s->dwfl = dwfl_begin(&s->cb);
    return s;
}

/* Report path to the symbolizer's Dwfl (once per process when files are shared). NULL
 * with *err set when libdwfl cannot use it. */
static Dwfl_Module *report_file(struct cp_symbolizer *s, const char *path, const char **err)
{
    if (s->shared)
        for (size_t i = 0; i < nshared; i++)
            if (strcmp(shared_files[i].path, path) == 0) {
                *err = shared_files[i].err;
                return shared_files[i].mod;
            }
    dwfl_report_begin_add(s->dwfl);
    Dwfl_Module *mod = dwfl_report_offline(s->dwfl, path, path, -1);
    dwfl_report_end(s->dwfl, NULL, NULL);
    *err = mod ? NULL : dwfl_errmsg(-1);
    if (s->shared) {
        if (nshared == capshared) {
            size_t nc = capshared ? 2 * capshared : 16;
            struct shared_file *q = realloc(shared_files, nc * sizeof *q);
            if (!q)
                return mod; /* not remembered: reported again next time */
            shared_files = q;
            capshared = nc;
        }
        char *p = strdup(path), *e = *err ? strdup(*err) : NULL;
        if (p && (e || !*err)) {
            shared_files[nshared++] = (struct shared_file){p, mod, e};
            *err = e;
        } else {
            free(p);
            free(e);
        }
    }
    return mod;
}

void cp_sym_set_libdw_walk(struct cp_symbolizer *s, int libdw_walk)
{
    s->libdw_walk = libdw_walk;
}

void cp_sym_free(struct cp_symbolizer *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < CACHE_BUCKETS; i++)
        for (struct cache_entry *e = s->cache[i], *n; e; e = n) {
            n = e->next;
            for (size_t k = 0; k < e->n; k++) {
                free((char *)e->frames[k].func);
                free((char *)e->frames[k].file);
            }
            free(e->frames);
            free(e);
        }
    for (size_t i = 0; i < s->nmods; i++) {
        free(s->mods[i].path);
        free(s->mods[i].buildid);
        free(s->mods[i].syms);
        if (s->mods[i].cus)
            for (size_t b = 0; b < CU_BUCKETS; b++)
                for (struct cuinfo *c = s->mods[i].cus[b], *n; c; c = n) {
                    n = c->next;
                    free(c->nodes);
                    free(c->segs);
                    free(c);
                }
        free(s->mods[i].cus);
    }
    free(s->mods);
    if (s->dwfl && !s->shared)
        dwfl_end(s->dwfl);
    free(s);
}

void cp_sym_add_module(struct cp_symbolizer *s, uint32_t id, const char *path, const char *buildid)
{
    for (size_t i = 0; i < s->nmods; i++)
        if (s->mods[i].id == id)
            return;
    if (s->nmods == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->mods = realloc(s->mods, s->cap * sizeof *s->mods);
    }
    struct module *m = &s->mods[s->nmods++];
    memset(m, 0, sizeof *m);
    m->id = id;
    m->path = strdup(path);
    m->buildid = strdup(buildid);
}

static struct module *find_module(struct cp_symbolizer *s, uint32_t id)
{
    for (size_t i = 0; i < s->nmods; i++)
        if (s->mods[i].id == id)
            return &s->mods[i];
    return NULL;
}

const char *cp_sym_module_path(struct cp_symbolizer *s, uint32_t id)
{
    struct module *m = find_module(s, id);
    return m ? m->path : NULL;
}

const char *cp_sym_module_buildid(struct cp_symbolizer *s, uint32_t id)
{
    struct module *m = find_module(s, id);
    return m && strcmp(m->buildid, "-") ? m->buildid : NULL;
}

static void hex(const unsigned char *b, int n, char *out)
{
    for (int i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
    out[2 * n] = 0;
}

/* Open the module once; warn once if it cannot be used. */
static int open_module(struct cp_symbolizer *s, struct module *m)
{
    if (m->tried)
        return m->usable;
    m->tried = 1;
    if (!s->dwfl)
        return 0;
    if (m->path[0] != '/' || access(m->path, R_OK) != 0) {
        fprintf(stderr, "ctrprof: warning: %s: module not found; its frames stay unsymbolized\n",
                m->path);
        return 0;
    }
    const char *err;
    m->mod = report_file(s, m->path, &err);
    if (!m->mod) {
        fprintf(stderr, "ctrprof: warning: %s: %s; its frames stay unsymbolized\n", m->path,
                err ? err : "cannot be read");
        return 0;
    }
    const unsigned char *bits;
    GElf_Addr vaddr;
    int n = dwfl_module_build_id(m->mod, &bits, &vaddr);
    if (strcmp(m->buildid, "-") != 0) {
        char got[2 * 256 + 1] = "";
        if (n > 0 && n <= 256)
            hex(bits, n, got);
        if (strcmp(got, m->buildid) != 0) {
            fprintf(stderr,
                    "ctrprof: warning: %s: build-id %s does not match the profile's %s (the file "
                    "changed since); its frames stay unsymbolized\n",
                    m->path, got[0] ? got : "(none)", m->buildid);
            return 0;
        }
    }
    if (!dwfl_module_getelf(m->mod, &m->bias)) {
        fprintf(stderr, "ctrprof: warning: %s: %s\n", m->path, dwfl_errmsg(-1));
        return 0;
    }
    m->usable = 1;
    return 1;
}

char *cp_sym_demangle(const char *name)
{
    static char *(*demangle)(const char *, char *, size_t *, int *);
    static int tried;
    if (!name || name[0] != '_' || name[1] != 'Z')
        return NULL;
    if (!tried) {
        tried = 1;
        void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
        if (h)
            *(void **)&demangle = dlsym(h, "__cxa_demangle");
    }
    if (!demangle)
        return NULL;
    int st = 0;
    char *r = demangle(name, NULL, NULL, &st);
    if (st != 0) {
        free(r);
        return NULL;
    }
    return r;
}

static char *nice_name(const char *n)
{
    if (!n)
        return NULL;
    char *d = cp_sym_demangle(n);
    return d ? d : strdup(n);
}

static const char *die_name(Dwarf_Die *die)
{
    Dwarf_Attribute a;
    const char *n = NULL;
    if (dwarf_attr_integrate(die, DW_AT_linkage_name, &a) ||
        dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a))
        n = dwarf_formstring(&a);
    if (!n)
        n = dwarf_diename(die);
    if (!n && dwarf_attr_integrate(die, DW_AT_name, &a))
        n = dwarf_formstring(&a);
    return n;
}

static int has_linkage_name(Dwarf_Die *die)
{
    Dwarf_Attribute a;
    return dwarf_attr_integrate(die, DW_AT_linkage_name, &a) ||
           dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a);
}

static int fsym_cmp(const void *a, const void *b)
{
    const struct fsym *x = a, *y = b;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    return x->rank - y->rank;
}

static void build_syms(struct module *m)
{
    m->syms_built = 1;
    int n = dwfl_module_getsymtab(m->mod);
    if (n <= 1)
        return;
    m->syms = malloc((size_t)n * sizeof *m->syms);
    if (!m->syms)
        return;
    size_t k = 0;
    for (int i = 1; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr addr;
        GElf_Word shndx;
        const char *name = dwfl_module_getsym_info(m->mod, i, &sym, &addr, &shndx, NULL, NULL);
        int t = GELF_ST_TYPE(sym.st_info);
        if (!name || !*name || (t != STT_FUNC && t != STT_GNU_IFUNC) || shndx == SHN_UNDEF ||
            sym.st_size == 0)
            continue;
        int b = GELF_ST_BIND(sym.st_info);
        m->syms[k++] = (struct fsym){addr, addr + sym.st_size, name,
                                     b == STB_GLOBAL ? 0
                                     : b == STB_WEAK ? 1
                                                     : 2};
    }
    m->nsyms = k;
    qsort(m->syms, k, sizeof *m->syms, fsym_cmp);
}

/* The name of the function symbol containing addr: a binary search in the sorted table,
 * the best-ranked alias at the innermost start; libdwfl's own (linear) lookup only for an
 * address no sized function symbol contains. */
static const char *symbol_at(struct module *m, GElf_Addr addr)
{
    GElf_Sym sym;
    GElf_Off symoff;
    /* a small report asks a few dozen addresses: libdwfl's scan is cheaper than reading
     * and sorting a symbol table of tens of thousands of entries */
    if (!m->syms_built && ++m->lookups <= 64)
        return dwfl_module_addrinfo(m->mod, addr, &symoff, &sym, NULL, NULL, NULL);
    if (!m->syms_built)
        build_syms(m);
    size_t lo = 0, hi = m->nsyms;
    while (lo < hi) { /* first index whose start is above addr */
        size_t mid = lo + (hi - lo) / 2;
        if (m->syms[mid].lo <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo, steps = 0; i-- > 0 && steps < 64; steps++) {
        if (addr >= m->syms[i].hi)
            continue;
        size_t best = i; /* aliases share a start: the first of them ranks best */
        while (best > 0 && m->syms[best - 1].lo == m->syms[i].lo) {
            best--;
            if (addr < m->syms[best].hi)
                i = best;
        }
        return m->syms[i].name;
    }
    return dwfl_module_addrinfo(m->mod, addr, &symoff, &sym, NULL, NULL, NULL);
}

/* The name users know for a function of glibc (or any library built the same way):
 * glibc declares its internal calls with asm labels, so DWARF's linkage name is the hidden
 * alias "__GI_<name>" (__GI___strdup, __GI__IO_file_doallocate); and it defines many public
 * functions as "__<name>" with <name> an alias (__strdup and strdup, __printf and printf).
 * "__GI_" is dropped, then "__<name>" becomes <name> when the symbol table has a global or
 * weak <name> at the same address as "__<name>". Returns n itself when nothing applies. */
static const char *public_name(struct module *m, const char *n)
{
    if (!n)
        return n;
    if (!strncmp(n, "__GI_", 5) && n[5])
        n += 5;
    if (n[0] != '_' || n[1] != '_' || !n[2] || n[2] == '_')
        return n;
    if (!m->syms_built)
        build_syms(m);
    for (size_t i = 0; i < m->nsyms; i++) {
        if (strcmp(m->syms[i].name, n) != 0)
            continue;
        size_t k = i; /* its aliases: the symbols at the same start (the table is by address) */
        while (k > 0 && m->syms[k - 1].lo == m->syms[i].lo)
            k--;
        for (; k < m->nsyms && m->syms[k].lo == m->syms[i].lo; k++)
            if (m->syms[k].rank <= 1 && !strcmp(m->syms[k].name, n + 2))
                return m->syms[k].name;
        break;
    }
    return n;
}

struct framebuf {
    struct cp_sym_frame *f;
    size_t n, cap;
};

static void push(struct framebuf *b, char *func, const char *file, int line)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 4;
        b->f = realloc(b->f, b->cap * sizeof *b->f);
    }
    b->f[b->n++] = (struct cp_sym_frame){func, file ? strdup(file) : NULL, line, NULL};
}

/* ---- per-CU function ranges ---- */

struct iv {
    Dwarf_Addr lo, hi;
    int node, depth;
};

struct cubuild {
    struct scope_node *nodes;
    size_t nn, ncap;
    struct iv *ivs;
    size_t ni, icap;
    int bad; /* out of memory or nesting too deep: use libdw's own walk for this CU */
};

/* The DIEs whose children can hold code, as libdw's scope walk descends them. */
static int may_have_scopes(int tag)
{
    switch (tag) {
    case DW_TAG_compile_unit:
    case DW_TAG_partial_unit:
    case DW_TAG_module:
    case DW_TAG_lexical_block:
    case DW_TAG_with_stmt:
    case DW_TAG_catch_block:
    case DW_TAG_try_block:
    case DW_TAG_entry_point:
    case DW_TAG_inlined_subroutine:
    case DW_TAG_subprogram:
    case DW_TAG_namespace:
    case DW_TAG_class_type:
    case DW_TAG_structure_type:
        return 1;
    default:
        return 0;
    }
}

static int grow(void **p, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 1;
    size_t nc = *cap ? 2 * *cap : 64;
    void *q = realloc(*p, nc * elem);
    if (!q)
        return 0;
    *p = q;
    *cap = nc;
    return 1;
}

static void walk_scopes(struct cubuild *b, Dwarf_Die *die, int parent, int depth)
{
    Dwarf_Die child;
    if (depth > 512) {
        b->bad = 1;
        return;
    }
    if (dwarf_child(die, &child) != 0)
        return;
    do {
        int tag = dwarf_tag(&child);
        int me = parent;
        if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) {
            Dwarf_Addr base, lo, hi;
            ptrdiff_t off = 0;
            int idx = (int)b->nn, any = 0;
            while ((off = dwarf_ranges(&child, off, &base, &lo, &hi)) > 0) {
                if (lo >= hi)
                    continue;
                if (!grow((void **)&b->ivs, &b->icap, b->ni, sizeof *b->ivs)) {
                    b->bad = 1;
                    return;
                }
                b->ivs[b->ni++] = (struct iv){lo, hi, idx, depth};
                any = 1;
            }
            if (any) {
                if (!grow((void **)&b->nodes, &b->ncap, b->nn, sizeof *b->nodes)) {
                    b->bad = 1;
                    return;
                }
                b->nodes[b->nn++] = (struct scope_node){child, parent, tag};
                me = idx;
            }
        }
        if (dwarf_haschildren(&child) && may_have_scopes(tag))
            walk_scopes(b, &child, me, depth + 1);
        if (b->bad)
            return;
    } while (dwarf_siblingof(&child, &child) == 0);
}

static int iv_cmp(const void *a, const void *b)
{
    const struct iv *x = a, *y = b;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    if (x->depth != y->depth)
        return x->depth - y->depth; /* the outer one first */
    if (x->hi != y->hi)
        return x->hi > y->hi ? -1 : 1;
    /* the same range twice (two labels of one function): the first DIE is on top of the
     * stack, as libdw's walk takes the first DIE that contains the address */
    return y->node - x->node;
}

/* Give [*cur, to) to node (nothing if that is empty) and move *cur to `to`. */
static void advance(struct seg *segs, size_t *n, Dwarf_Addr *cur, Dwarf_Addr to, int node)
{
    if (*cur >= to)
        return;
    if (*n > 0 && segs[*n - 1].hi == *cur && segs[*n - 1].node == node)
        segs[*n - 1].hi = to;
    else
        segs[(*n)++] = (struct seg){*cur, to, node};
    *cur = to;
}

/* Flatten the nested ranges into sorted, disjoint segments, each owned by the innermost
 * range covering it. A well-formed CU nests its ranges; a malformed one still gives
 * disjoint segments (a range poking out of its parent keeps the part it covers). */
static struct seg *flatten(struct iv *ivs, size_t ni, size_t *nsegs)
{
    qsort(ivs, ni, sizeof *ivs, iv_cmp);
    /* each range adds at most two segments: its start splits its parent once, its end
     * resumes the parent once */
    struct seg *segs = malloc((2 * ni + 1) * sizeof *segs);
    struct iv *stk = malloc((ni + 1) * sizeof *stk);
    size_t n = 0, sp = 0;
    if (!segs || !stk) {
        free(segs);
        free(stk);
        return NULL;
    }
    Dwarf_Addr cur = 0;
    for (size_t i = 0; i < ni; i++) {
        for (; sp > 0 && stk[sp - 1].hi <= ivs[i].lo; sp--) /* ranges that ended */
            advance(segs, &n, &cur, stk[sp - 1].hi, stk[sp - 1].node);
        if (sp > 0) /* the enclosing range, up to where this one starts */
            advance(segs, &n, &cur, ivs[i].lo, stk[sp - 1].node);
        else if (cur < ivs[i].lo) /* a gap no function covers */
            cur = ivs[i].lo;
        stk[sp++] = ivs[i];
    }
    for (; sp > 0; sp--)
        advance(segs, &n, &cur, stk[sp - 1].hi, stk[sp - 1].node);
    free(stk);
    *nsegs = n;
    return segs;
}

/* The function ranges of the CU `cu`, built on its first use; NULL if they cannot be. */
static struct cuinfo *cu_scopes(struct module *m, Dwarf_Die *cu)
{
    if (!m->cus && !(m->cus = calloc(CU_BUCKETS, sizeof *m->cus)))
        return NULL;
    Dwarf_Off off = dwarf_dieoffset(cu);
    size_t h = (size_t)((off * 0x9E3779B97F4A7C15ull) >> 54) % CU_BUCKETS;
    for (struct cuinfo *c = m->cus[h]; c; c = c->next)
        if (c->off == off)
            return c->segs ? c : NULL;
    struct cuinfo *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->off = off;
    struct cubuild b = {0};
    walk_scopes(&b, cu, -1, 0);
    if (!b.bad)
        c->segs = flatten(b.ivs, b.ni, &c->nsegs);
    free(b.ivs);
    if (c->segs)
        c->nodes = b.nodes;
    else
        free(b.nodes);
    c->next = m->cus[h]; /* a CU that failed is remembered too, so it is not walked again */
    m->cus[h] = c;
    return c->segs ? c : NULL;
}

/* The innermost function DIE of the CU at CU-relative address pc, or -1. */
static int cu_node_at(const struct cuinfo *c, Dwarf_Addr pc)
{
    size_t lo = 0, hi = c->nsegs;
    while (lo < hi) { /* first segment starting above pc */
        size_t mid = lo + (hi - lo) / 2;
        if (c->segs[mid].lo <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && pc < c->segs[lo - 1].hi ? c->segs[lo - 1].node : -1;
}

/* One function DIE of the chain: pushes its frame at (*file, *line) and moves them to
 * its call site. Returns 1 at the subprogram, which ends the chain. */
static int push_scope(struct module *m, Dwarf_Die *die, int tag, Dwarf_Addr addr,
                      Dwarf_Files *files, const char **file, int *line, struct framebuf *out)
{
    const char *name = die_name(die);
    if (tag == DW_TAG_subprogram && !has_linkage_name(die)) {
        /* GCC gives functions with internal linkage (C++ static functions, members of
         * anonymous namespaces) no linkage name; the symbol table still has their
         * mangled name, with the parameters people expect to see */
        const char *sn = symbol_at(m, addr);
        if (sn && sn[0] == '_' && sn[1] == 'Z')
            name = sn;
    }
    push(out, nice_name(name ? public_name(m, name) : "??"), *file, *line);
    if (tag == DW_TAG_subprogram)
        return 1;
    Dwarf_Attribute a;
    Dwarf_Word w;
    *line = 0;
    *file = NULL;
    if (dwarf_attr(die, DW_AT_call_line, &a) && dwarf_formudata(&a, &w) == 0)
        *line = (int)w;
    if (files && dwarf_attr(die, DW_AT_call_file, &a) && dwarf_formudata(&a, &w) == 0)
        *file = dwarf_filesrc(files, w, NULL, NULL);
    return 0;
}

static void resolve(struct cp_symbolizer *s, struct module *m, uint64_t off, int ret,
                    struct framebuf *out)
{
    Dwarf_Addr addr = off - (ret && off ? 1 : 0) + m->bias;
    const char *file = NULL;
    int line = 0;
    Dwfl_Line *dl = dwfl_module_getsrc(m->mod, addr);
    if (dl)
        file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);
    Dwarf_Addr cubias = 0;
    Dwarf_Die *cu = dwfl_module_addrdie(m->mod, addr, &cubias);
    Dwarf_Files *files = NULL;
    if (cu)
        dwarf_getsrcfiles(cu, &files, NULL);
    const char *cur_file = file;
    int cur_line = line;
    size_t before = out->n;
    struct cuinfo *ci = cu && !s->libdw_walk ? cu_scopes(m, cu) : NULL;
    if (ci) {
        /* the innermost function and its recorded parents: the concrete chain of callers */
        int steps = 0;
        for (int i = cu_node_at(ci, addr - cubias); i >= 0 && steps < 4096;
             i = ci->nodes[i].parent, steps++)
            if (push_scope(m, &ci->nodes[i].die, ci->nodes[i].tag, addr, files, &cur_file,
                           &cur_line, out))
                break;
    } else if (cu) {
        /* libdw's walk, from the CU's root for this one address */
        Dwarf_Die *scopes = NULL;
        int n = dwarf_getscopes(cu, addr - cubias, &scopes);
        if (n > 0) {
            /* dwarf_getscopes continues into an inlined function's abstract definition;
             * the concrete chain of callers comes from the innermost scope's own parents
             * (as elfutils' addr2line -i does) */
            Dwarf_Die inner = scopes[0];
            free(scopes);
            scopes = NULL;
            n = dwarf_getscopes_die(&inner, &scopes);
        }
        for (int i = 0; i < n; i++) {
            int tag = dwarf_tag(&scopes[i]);
            if ((tag == DW_TAG_inlined_subroutine || tag == DW_TAG_subprogram) &&
                push_scope(m, &scopes[i], tag, addr, files, &cur_file, &cur_line, out))
                break;
        }
        free(scopes);
    }
    if (out->n == before) {
        /* no DWARF for this address: the ELF symbol table */
        const char *name = symbol_at(m, addr);
        if (name)
            push(out, nice_name(public_name(m, name)), file, line);
    }
}

size_t cp_sym_lookup(struct cp_symbolizer *s, uint32_t id, uint64_t offset, int ret,
                     const struct cp_sym_frame **out)
{
    size_t h = ((size_t)id * 31 + (size_t)(offset * 0x9E3779B97F4A7C15ull >> 20) + (size_t)ret) %
               CACHE_BUCKETS;
    for (struct cache_entry *e = s->cache[h]; e; e = e->next)
        if (e->id == id && e->off == offset && e->ret == ret) {
            *out = e->frames;
            return e->n;
        }
    struct framebuf fb = {0};
    struct module *m = find_module(s, id);
    if (m && open_module(s, m))
        resolve(s, m, offset, ret, &fb);
    if (fb.n == 0) {
        char buf[300];
        const char *base = m ? strrchr(m->path, '/') : NULL;
        snprintf(buf, sizeof buf, "%s+0x%llx",
                 base ? base + 1
                 : m  ? m->path
                      : "?",
                 (unsigned long long)offset);
        push(&fb, strdup(buf), NULL, 0);
    }
    struct cache_entry *e = malloc(sizeof *e);
    *e = (struct cache_entry){id, offset, ret, fb.n, fb.f, s->cache[h]};
    s->cache[h] = e;
    *out = e->frames;
    return e->n;
}
