/* test_symbolize.c — the symbolizer's per-compile-unit function tables
 * (symbolize/symbolize.c) against libdw's own walk, and an inlined-call chain three deep
 * whose functions and lines are known.
 *
 * The tables replace dwarf_getscopes (a walk of the whole unit per address) with one walk
 * per unit; the result must be the same frames, file and line for every address. The
 * reference is the same symbolizer with cp_sym_set_libdw_walk, which keeps the old walk.
 * Compared on every 37th byte of libc's code (DWARF from libc6-dbg: thousands of inlined
 * chains, lexical blocks, assembler units with several labels on one function) and on
 * every byte of this test's own code. */
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h> /* after the headers it needs */

#include "symbolize.h"

/* ---- a chain of inlined calls with known lines ---- */

static uintptr_t captured;
static int line_leaf, line_mid, line_outer;

static __attribute__((noinline)) void capture(void)
{
    captured = (uintptr_t)__builtin_return_address(0);
    __asm__ volatile("" ::: "memory");
}

static inline __attribute__((always_inline)) void leaf_inl(int n)
{
    if (n > 0) {
        line_leaf = __LINE__ + 1;
        capture();
        __asm__ volatile("" ::: "memory");
    }
}

static inline __attribute__((always_inline)) void mid_inl(int n)
{
    for (int i = 0; i < n; i++) {
        int k = i * 2;
        line_mid = __LINE__ + 1;
        leaf_inl(k + 1);
        __asm__ volatile("" ::: "memory");
    }
}

static __attribute__((noinline)) void outer_fn(int n)
{
    line_outer = __LINE__ + 1;
    mid_inl(n);
    __asm__ volatile("" ::: "memory");
}

/* ---- modules of this process ---- */

struct text {
    const char *want; /* substring of the object's name; "" for the main program */
    char path[4096];
    uintptr_t bias;
    uint64_t lo, hi; /* its executable segment, ELF virtual addresses */
    int found;
};

static int find_text(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct text *t = arg;
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    if (t->want[0] ? !strstr(name, t->want) : name[0] != 0)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            t->lo = ph->p_vaddr;
            t->hi = ph->p_vaddr + ph->p_memsz;
        }
    }
    t->bias = info->dlpi_addr;
    if (t->want[0])
        snprintf(t->path, sizeof t->path, "%s", name);
    else {
        ssize_t n = readlink("/proc/self/exe", t->path, sizeof t->path - 1);
        t->path[n > 0 ? n : 0] = 0;
    }
    t->found = t->hi > t->lo && t->path[0] == '/';
    return 1;
}

static const char *base(const char *p)
{
    const char *s = p ? strrchr(p, '/') : NULL;
    return s ? s + 1 : p;
}

static int same_frame(const struct cp_sym_frame *a, const struct cp_sym_frame *b)
{
    return strcmp(a->func, b->func) == 0 && a->line == b->line &&
           (a->file == b->file || (a->file && b->file && strcmp(a->file, b->file) == 0));
}

static int same_frames(const struct cp_sym_frame *a, size_t na, const struct cp_sym_frame *b,
                       size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (!same_frame(&a[i], &b[i]))
            return 0;
    return 1;
}

/* Compares the two ways on every `stride`-th byte of the module's code; returns the
 * number of addresses that resolved to an inlined chain (more than one frame). */
static size_t compare_module(struct text *t, uint64_t stride)
{
    struct cp_symbolizer *fast = cp_sym_new(), *slow = cp_sym_new();
    assert_non_null(fast);
    assert_non_null(slow);
    cp_sym_set_libdw_walk(slow, 1);
    cp_sym_add_module(fast, 1, t->path, "-");
    cp_sym_add_module(slow, 1, t->path, "-");
    size_t chains = 0, addrs = 0, differ = 0;
    for (uint64_t a = t->lo; a < t->hi; a += stride, addrs++) {
        const struct cp_sym_frame *ff, *sf;
        size_t nf = cp_sym_lookup(fast, 1, a, 1, &ff);
        size_t ns = cp_sym_lookup(slow, 1, a, 1, &sf);
        if (!same_frames(ff, nf, sf, ns) && differ++ < 5) {
            fprintf(stderr, "%s+0x%llx: %zu frames (%s:%d) vs libdw's %zu (%s:%d)\n", t->path,
                    (unsigned long long)a, nf, ff[0].func, ff[0].line, ns, sf[0].func, sf[0].line);
            for (size_t i = 0; i < nf || i < ns; i++)
                fprintf(stderr, "  %-40s %s\n", i < nf ? ff[i].func : "", i < ns ? sf[i].func : "");
        }
        chains += nf > 1;
    }
    fprintf(stderr, "%s: %zu addresses, %zu inlined chains, %zu differ\n", t->path, addrs, chains,
            differ);
    assert_int_equal(differ, 0);
    cp_sym_free(fast);
    cp_sym_free(slow);
    return chains;
}

static void test_inlined_chain(void **state)
{
    outer_fn(1);
    struct text self = {.want = ""};
    dl_iterate_phdr(find_text, &self);
    assert_true(self.found);
    struct cp_symbolizer *s = cp_sym_new();
    cp_sym_add_module(s, 7, self.path, "-");
    const struct cp_sym_frame *f;
    size_t n = cp_sym_lookup(s, 7, captured - self.bias, 1, &f);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "  %s %s:%d\n", f[i].func, base(f[i].file), f[i].line);
    assert_int_equal(n, 3);
    assert_string_equal(f[0].func, "leaf_inl");
    assert_string_equal(f[1].func, "mid_inl");
    assert_string_equal(f[2].func, "outer_fn");
    assert_int_equal(f[0].line, line_leaf);
    assert_int_equal(f[1].line, line_mid);
    assert_int_equal(f[2].line, line_outer);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(base(f[i].file), "test_symbolize.c");
    cp_sym_free(s);
}

static void test_tables_match_libdw_self(void **state)
{
    struct text self = {.want = ""};
    dl_iterate_phdr(find_text, &self);
    assert_true(self.found);
    assert_true(compare_module(&self, 1) > 0); /* leaf_inl and mid_inl at least */
}

static void test_tables_match_libdw_libc(void **state)
{
    struct text libc = {.want = "libc.so.6"};
    dl_iterate_phdr(find_text, &libc);
    assert_true(libc.found);
    size_t chains = compare_module(&libc, 37);
    /* without libc's DWARF (Debian's libc6-dbg) nothing above compared any inlining */
    if (chains < 1000)
        fail_msg("only %zu inlined chains in libc: is libc6-dbg installed?", chains);
}

/* Shared files (the fuzzer's mode): symbolizers made one after another, each freed before
 * the next, give what a private one gives -- the shared session outlives them. */
static void test_shared_files_same_answers(void **state)
{
    struct text libc = {.want = "libc.so.6"};
    dl_iterate_phdr(find_text, &libc);
    assert_true(libc.found);
    struct cp_symbolizer *ref = cp_sym_new();
    cp_sym_add_module(ref, 1, libc.path, "-");
    cp_sym_add_module(ref, 2, "/nonexistent/lib.so", "-");
    cp_sym_share_files(1);
    size_t differ = 0, n = 0;
    for (int round = 0; round < 3; round++) {
        struct cp_symbolizer *s = cp_sym_new();
        cp_sym_add_module(s, 1, libc.path, "-");
        cp_sym_add_module(s, 2, "/nonexistent/lib.so", "-");
        for (uint64_t a = libc.lo + (uint64_t)round * 7; a < libc.hi; a += 4001, n++) {
            const struct cp_sym_frame *ff, *rf;
            size_t nf = cp_sym_lookup(s, 1, a, 1, &ff), nr = cp_sym_lookup(ref, 1, a, 1, &rf);
            differ += !same_frames(ff, nf, rf, nr);
        }
        const struct cp_sym_frame *f;
        assert_int_equal(cp_sym_lookup(s, 2, 0x1234, 1, &f), 1);
        assert_string_equal(f[0].func, "lib.so+0x1234");
        cp_sym_free(s);
    }
    cp_sym_share_files(0);
    cp_sym_free(ref);
    fprintf(stderr, "shared files: %zu lookups, %zu differ\n", n, differ);
    assert_int_equal(differ, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inlined_chain),
        cmocka_unit_test(test_shared_files_same_answers),
        cmocka_unit_test(test_tables_match_libdw_self),
        cmocka_unit_test(test_tables_match_libdw_libc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
