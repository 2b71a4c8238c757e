/*
 * modules.c — the module table (see modules.h): every loaded ELF object, for naming frames.
 *
 * Contexts: the flusher (naming new buckets: cp_modules_find), the constructor, the
 * dlclose hook (preload/dl.c: a refresh before an object goes), the fork child
 * (cp_modules_loader_suspect, cp_modules_fork_child). Lookups are lock-free (entries are
 * immutable once counted); a refresh takes the table's lock, a leaf that a fork need not
 * take (docs/ARCHITECTURE.md, "Locks": a child that could inherit it held never
 * refreshes). A refresh first asks whether this is a new process no atfork handler saw
 * (newproc.h: a _Fork child whose first call into us is the dlclose hook), so that the
 * child's reset, which marks it loader-suspect and re-initialises the lock, runs before
 * the lock is looked at. The shim, which sees no module table (it includes prof.h only),
 * reaches it through prof.h's cp_prof_code_unloading and cp_prof_code_range, at the end.
 */
#include "modules.h"

#include <dlfcn.h>
#include <elf.h>
#include <limits.h>
#include <link.h>
#include <stdbool.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arena.h"
#include "elfnote.h"
#include "newproc.h"
#include "prof.h"
#include "rawsys.h"
#include "spin.h"

/* The table grows in chunks that never move (a module pointer stays valid for good): a
 * process pays address space for the modules it has, not 4.5 MiB up front (which, with
 * the rest, made mlockall(MCL_CURRENT) fail under the default RLIMIT_MEMLOCK). */
#define MAXMOD 8192
#define MODCHUNK 256
#define POOLCHUNK ((size_t)64 << 10) /* > PATH_MAX: any path fits a fresh chunk */

static struct cp_module *modchunk[MAXMOD / MODCHUNK]; /* guarded by lock; set once each */
static unsigned nmods;                                /* atomic: entries immutable once counted */
static char *pool;                                    /* guarded by lock: the current chunk */
static size_t pool_used;
static cp_spin lock = CP_SPIN_INIT;

static struct cp_module *mod_at(unsigned i)
{
    return &modchunk[i / MODCHUNK][i % MODCHUNK];
}

static uint32_t fnv32(uint32_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 16777619u;
    }
    return h;
}

static const char *intern(const char *s)
{
    size_t n = strlen(s) + 1;
    if (n > POOLCHUNK)
        return "?";
    if (!pool || pool_used + n > POOLCHUNK) {
        char *c = cp_mmap_anon(POOLCHUNK);
        if (!c)
            return "?";
        pool = c;
        pool_used = 0;
    }
    char *p = pool + pool_used;
    memcpy(p, s, n);
    pool_used += n;
    return p;
}

static void read_buildid(struct dl_phdr_info *info, struct cp_module *m)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uint32_t n;
        const uint8_t *id =
            ph->p_type != PT_NOTE
                ? NULL
                : cp_note_find((const void *)(info->dlpi_addr + ph->p_vaddr), ph->p_memsz,
                               ph->p_align, "GNU", NT_GNU_BUILD_ID, &n);
        if (id) {
            m->buildid_len = n > CP_BUILDID_MAX ? CP_BUILDID_MAX : (uint8_t)n;
            memcpy(m->buildid, id, m->buildid_len);
            return;
        }
    }
}

/* The program's own path (the loader names it ""): /proc/self/exe, or with no /proc (a
 * chroot or mount namespace without it) the path it was executed by (AT_EXECFN), made
 * absolute with the working directory of now (the constructor registers it, before the
 * program can change directory). Until session 26 it was "" there: the report could not
 * find the program, and its every frame stayed unsymbolized. */
static const char *main_path(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n > 0) {
        buf[n] = 0;
        return buf;
    }
    const char *fn = (const char *)getauxval(AT_EXECFN);
    size_t fl = fn ? strlen(fn) : 0;
    buf[0] = 0;
    if (!fl || fl >= len)
        return buf;
    size_t cl = 0;
    if (fn[0] != '/') {
        while (fn[0] == '.' && fn[1] == '/' && fl > 2)
            fn += 2, fl -= 2;
        if (!getcwd(buf, len) || (cl = strlen(buf)) + 1 + fl >= len) {
            buf[0] = 0;
            return buf;
        }
        if (cl > 1)
            buf[cl++] = '/';
        else
            cl = 1; /* (the cwd is "/") */
    }
    memcpy(buf + cl, fn, fl + 1);
    return buf;
}

/* [*lo, *hi): the span of an object's executable segments, loaded at bias (what a module
 * covers); *hi 0 if it has none */
static void code_span(const ElfW(Phdr) * ph, unsigned n, uintptr_t bias, uintptr_t *lo,
                      uintptr_t *hi)
{
    *lo = UINTPTR_MAX, *hi = 0;
    for (unsigned i = 0; i < n; i++)
        if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_X)) {
            uintptr_t a = bias + ph[i].p_vaddr;
            if (a < *lo)
                *lo = a;
            if (a + ph[i].p_memsz > *hi)
                *hi = a + ph[i].p_memsz;
        }
}

static int on_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    uintptr_t lo, hi;
    code_span(info->dlpi_phdr, info->dlpi_phnum, info->dlpi_addr, &lo, &hi);
    if (hi == 0)
        return 0;
    for (unsigned i = 0; i < nmods; i++)
        if (mod_at(i)->lo == lo && mod_at(i)->hi == hi && mod_at(i)->bias == info->dlpi_addr)
            return 0; /* known */
    if (nmods == MAXMOD)
        return 1;
    if (!modchunk[nmods / MODCHUNK] &&
        !(modchunk[nmods / MODCHUNK] = cp_mmap_anon(MODCHUNK * sizeof(struct cp_module))))
        return 1;
    struct cp_module *m = mod_at(nmods);
    memset(m, 0, sizeof *m);
    m->lo = lo;
    m->hi = hi;
    m->bias = info->dlpi_addr;
    char exe[PATH_MAX];
    const char *name = info->dlpi_name;
    if (!name || !name[0])
        name = main_path(exe, sizeof exe);
    m->path = intern(name);
    read_buildid(info, m);
    char hex[2 * CP_BUILDID_MAX + 1];
    for (unsigned i = 0; i < m->buildid_len; i++) {
        hex[2 * i] = "0123456789abcdef"[m->buildid[i] >> 4];
        hex[2 * i + 1] = "0123456789abcdef"[m->buildid[i] & 15];
    }
    hex[2 * m->buildid_len] = 0;
    uint32_t h = fnv32(2166136261u, m->path, strlen(m->path) + 1);
    m->id = fnv32(h, hex, strlen(hex));
    /* release: the entry is complete before readers see the new count */
    __atomic_store_n(&nmods, nmods + 1, __ATOMIC_RELEASE);
    return 0;
}

/* A fork child of a multi-threaded parent: no dl_iterate_phdr until exec (stack.c,
 * cp_stack_loader_suspect, says why). */
static bool loader_suspect; /* written in the child's atfork handler, before other use */
static __thread bool no_loader __attribute__((tls_model("initial-exec")));

void cp_modules_no_loader(void)
{
    no_loader = true;
}

void cp_modules_loader_suspect(void)
{
    loader_suspect = true;
}

void cp_modules_fork_child(void)
{
    cp_spin_reset(&lock); /* its holder, if any, is not in the child */
}

int cp_modules_refresh(void)
{
    cp_newproc(); /* a child no handler saw: reset (loader-suspect, the lock) first */
    if (loader_suspect || no_loader)
        return -11; /* -EAGAIN: dl_iterate_phdr may never return here (above) */
    cp_spin_lock(&lock);
    dl_iterate_phdr(on_object, NULL);
    cp_spin_unlock(&lock);
    return 0;
}

/* The object that holds pc, registered alone from glibc's lock-free _dl_find_object: its
 * link map (name, bias), ELF header and program headers (at the start of its mapping)
 * read with cp_raw_read_self (rawsys.h: a read that fails rather than faults, for the
 * object may be unmapped meanwhile by a dlclose that passed no hook). Not dl_iterate_phdr, which
 * waits for the loader's lock: a flush (cp_flush_lock held) naming the first frame of a newly
 * dlopen'ed object waited for a thread that held it in a dl_iterate_phdr callback and forked, its
 * atfork prepare waiting for cp_flush_lock: hung for good (session 26). Under `lock` (a dlclose
 * hook's refresh takes it before the object goes). 0: registered (or there); -1: no object holds
 * pc, or its object has no code there; 1: not this way (a sandbox, whose allow-list may forbid
 * process_vm_readv, an unusual layout): the caller reads them all. */
static int add_object_of(uintptr_t pc)
{
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 35)
    struct dl_find_object o;
    if (_dl_find_object((void *)pc, &o) != 0)
        return -1;
    if (__atomic_load_n(&cp_sandboxed, __ATOMIC_RELAXED) || !o.dlfo_link_map)
        return 1;
    struct link_map lm;
    ElfW(Ehdr) eh;
    ElfW(Phdr) ph[64];
    uintptr_t base = (uintptr_t)o.dlfo_map_start;
    if (!cp_raw_read_self(&lm, (uintptr_t)o.dlfo_link_map, sizeof lm) ||
        !cp_raw_read_self(&eh, base, sizeof eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_phentsize != sizeof(ElfW(Phdr)) || !eh.e_phnum ||
        eh.e_phnum > sizeof ph / sizeof ph[0] ||
        !cp_raw_read_self(ph, base + eh.e_phoff, eh.e_phnum * sizeof(ElfW(Phdr))))
        return 1;
    /* pc outside the object's code (its .bss: some frame-pointer walk's guess, which reads
     * whatever rbp points at): the module on_object would make spans its PF_X segments
     * only, so neither this nor reading every object names it. Until session 31 the
     * caller then read them all (dl_iterate_phdr, under cp_flush_lock), and a thread that
     * forked in a dl_iterate_phdr callback hung with the flusher (loaderlock.c fork with
     * its stubs' callee in tests/programs/exprframe.h: about half the runs). */
    uintptr_t xlo, xhi;
    code_span(ph, eh.e_phnum, lm.l_addr, &xlo, &xhi);
    if (pc < xlo || pc >= xhi)
        return -1;
    for (unsigned i = 0; i < eh.e_phnum; i++) /* (read_buildid reads the notes in place) */
        if (ph[i].p_type == PT_NOTE && ph[i].p_memsz <= 4096) {
            uint8_t note[4096];
            if (!cp_raw_read_self(note, lm.l_addr + ph[i].p_vaddr, ph[i].p_memsz))
                return 1;
        }
    char name[PATH_MAX];
    size_t n = 0;
    if (lm.l_name) /* (a page at a time: the string may end just before an unmapped one) */
        while (n < sizeof name - 1) {
            uintptr_t a = (uintptr_t)lm.l_name + n;
            size_t k = 4096 - (a & 4095);
            if (k > sizeof name - 1 - n)
                k = sizeof name - 1 - n;
            if (!cp_raw_read_self(name + n, a, k))
                return 1;
            void *z = memchr(name + n, 0, k);
            n += k;
            if (z) {
                n = (size_t)((char *)z - name);
                break;
            }
        }
    name[n] = 0;
    struct dl_phdr_info info = {
        .dlpi_addr = lm.l_addr, .dlpi_name = name, .dlpi_phdr = ph, .dlpi_phnum = eh.e_phnum};
    on_object(&info, sizeof info, NULL);
    return 0;
#else
    (void)pc;
    return 1;
#endif
}

static const struct cp_module *lookup(uintptr_t pc)
{
    unsigned n = __atomic_load_n(&nmods, __ATOMIC_ACQUIRE);
    for (unsigned i = n; i-- > 0;) /* newest first: a dlopen may reuse a closed one's range */
        if (pc >= mod_at(i)->lo && pc < mod_at(i)->hi)
            return mod_at(i);
    return NULL;
}

/* A pc the table does not hold: its object alone (add_object_of), or none (a frame of
 * generated code, a JIT's, which no reading of the objects can name: until session 26
 * each such frame read them all, under cp_flush_lock, and a fork from a dl_iterate_phdr
 * callback then hung the program, tests/programs/loaderlock.c), or else all of them. */
const struct cp_module *cp_modules_find(uintptr_t pc)
{
    pc = pc ? pc - 1 : 0; /* a return address may sit just past its caller's end */
    const struct cp_module *m = lookup(pc);
    if (!m) {
        cp_newproc(); /* (as cp_modules_refresh: the lock is looked at) */
        int r = 1;
        cp_spin_lock(&lock);
        if (!(m = lookup(pc)))
            r = add_object_of(pc);
        cp_spin_unlock(&lock);
        if (r < 0)
            return NULL;
        if (!m && !(m = lookup(pc))) {
            cp_modules_refresh();
            m = lookup(pc);
        }
    }
    return m;
}

unsigned cp_modules_count(void)
{
    return __atomic_load_n(&nmods, __ATOMIC_ACQUIRE);
}

const struct cp_module *cp_modules_at(unsigned i)
{
    return i < cp_modules_count() ? mod_at(i) : NULL;
}

/* prof.h: the dlclose hook's refresh, and the shim's own text range (constructor) */
void cp_prof_code_unloading(void)
{
    cp_modules_refresh();
}

int cp_prof_code_range(const void *addr, uintptr_t *lo, uintptr_t *hi)
{
    const struct cp_module *m = cp_modules_find((uintptr_t)addr + 1);
    if (!m)
        return -2; /* -ENOENT */
    *lo = m->lo;
    *hi = m->hi;
    return 0;
}
