/*
 * ehframe.c — the .eh_frame parser: the shape (ehframe.h) of the frame at one pc, from
 * the object's .eh_frame_hdr, one FDE and its CIE. Pure: bytes in, a shape out, no state
 * of its own; fuzzed on its own (tests/fuzz/fuzz_unwind.c links this file alone).
 *
 * Context: the CFI walker's (unwind.c's parse_shape, for a return address whose shape is
 * not cached yet): hook context (a sampled event, re-entrancy guard held), any thread, also a
 * signal handler that allocates. No malloc, no locks, no globals; no call into libc for
 * what can be done by hand (strnlen: ownstack.h, no lazy binding). Every read stays
 * inside the object's mapping [lo, hi) the caller gives, whatever the bytes say.
 *
 * What is parsed (DWARF 4 §6.4 and the LSB's .eh_frame / .eh_frame_hdr): the sorted
 * search table of .eh_frame_hdr (datarel sdata4 entries, what every linker writes), one
 * FDE and its CIE, and the call-frame instructions up to the return address. Registers
 * that matter on x86-64: CFA (from rsp = 7 or rbp = 6), rbp (6) and the return address
 * column (16). Anything outside that is "unusable" and sends the stack to libunwind.
 */
#include "ehframe.h"

#include <stddef.h>
#include <string.h>

#if HAVE_CFI

/* ---- reading .eh_frame --------------------------------------------------------------- */

struct rd {
    const uint8_t *p, *end;
    int bad;
};

/* LEB128; signed: sign-extended from the last byte's bit 6. */
static uint64_t leb(struct rd *r, int is_signed)
{
    uint64_t v = 0;
    unsigned shift = 0;
    while (r->p < r->end) {
        uint8_t b = *r->p++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) {
            if (is_signed && shift < 64 && (b & 0x40))
                v |= ~(uint64_t)0 << shift;
            return v;
        }
    }
    r->bad = 1;
    return 0;
}

static uint64_t uleb(struct rd *r)
{
    return leb(r, 0);
}

static int64_t sleb(struct rd *r)
{
    return (int64_t)leb(r, 1);
}

static uint64_t fixed(struct rd *r, unsigned n)
{
    if (r->p > r->end || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    memcpy(&v, r->p, n); /* little-endian */
    r->p += n;
    return v;
}

/* A DW_EH_PE-encoded pointer. pcrel is relative to the field itself; datarel to base. */
static uint64_t encoded(struct rd *r, uint8_t enc, uintptr_t base)
{
    if (enc == 0xff) /* DW_EH_PE_omit */
        return 0;
    uintptr_t at = (uintptr_t)r->p;
    uint64_t v;
    switch (enc & 0x0f) {
    case 0x00:
        v = fixed(r, 8);
        break;
    case 0x01:
        v = uleb(r);
        break;
    case 0x02:
        v = fixed(r, 2);
        break;
    case 0x03:
        v = fixed(r, 4);
        break;
    case 0x04:
        v = fixed(r, 8);
        break;
    case 0x09:
        v = (uint64_t)sleb(r);
        break;
    case 0x0a:
        v = (uint64_t)(int64_t)(int16_t)fixed(r, 2);
        break;
    case 0x0b:
        v = (uint64_t)(int64_t)(int32_t)fixed(r, 4);
        break;
    case 0x0c:
        v = fixed(r, 8);
        break;
    default:
        r->bad = 1;
        return 0;
    }
    switch (enc & 0x70) {
    case 0x00:
        break;
    case 0x10:
        v += at;
        break;
    case 0x30:
        v += base;
        break;
    default:
        r->bad = 1;
        return 0; /* textrel, funcrel, aligned: not on x86-64 Linux */
    }
    if (enc & 0x80) /* indirect: only personality pointers use it, and they are skipped */
        r->bad = 1;
    return v;
}

/* Register rules, just the three columns that matter: the CFA, and the rules of rbp and of
 * the return address (col[C_BP], col[C_RA]). */
enum { R_SAME, R_UNDEF, R_OFFSET, R_OTHER };
enum { C_BP, C_RA };
struct rule {
    int kind; /* R_* */
    int64_t off;
};
struct rules {
    int cfa_reg; /* DWARF register; -1: an expression */
    int64_t cfa_off;
    struct rule col[2];
};

#define DW_RBP 6
#define DW_RSP 7
#define DW_RA 16

struct cie {
    int64_t data_align;
    uint64_t code_align;
    uint64_t ra_reg;
    uint8_t fde_enc;
    int has_z, signal;
    struct rd init; /* initial instructions */
};

/* A DWARF block (an expression): skipped; one that runs past the instructions is an error. */
static void skip_block(struct rd *r)
{
    uint64_t n = uleb(r);
    if (n > (uint64_t)(r->end - r->p)) {
        r->bad = 1;
        r->p = r->end;
    } else {
        r->p += n;
    }
}

/* A factored offset: wraps instead of overflowing (a garbage value is caught by the range
 * checks on the final row). */
static int64_t scaled(uint64_t v, int64_t align)
{
    return (int64_t)(v * (uint64_t)align);
}

/* The column a DWARF register's rule is kept in, or -1 for a register that does not
 * matter here. */
static int column(uint64_t reg)
{
    return reg == DW_RBP ? C_BP : reg == DW_RA ? C_RA : -1;
}

static void set_rule(struct rules *s, uint64_t reg, int kind, int64_t off)
{
    int c = column(reg);
    if (c >= 0)
        s->col[c] = (struct rule){kind, off};
}

/* Run call-frame instructions from loc, stopping before the row that starts past pc. */
static int run_cfa(struct rd *r, const struct cie *c, struct rules *s, const struct rules *init,
                   uintptr_t loc, uintptr_t pc)
{
    struct rules stack[4]; /* remember_state depth: compilers nest one or two */
    unsigned depth = 0;
    while (r->p < r->end && !r->bad) {
        uint8_t op = *r->p++;
        uint64_t reg, delta = 0;
        switch (op & 0xc0) {
        case 0x40: /* advance_loc */
            delta = (op & 0x3f) * c->code_align;
            goto advance;
        case 0x80: /* offset */
            set_rule(s, op & 0x3f, R_OFFSET, scaled(uleb(r), c->data_align));
            continue;
        case 0xc0: /* restore */
            reg = op & 0x3f;
            goto restore;
        }
        switch (op) {
        case 0x00: /* nop */
            break;
        case 0x01: /* set_loc */
            loc = encoded(r, c->fde_enc, 0);
            if (loc > pc)
                return 0;
            break;
        case 0x02:
            delta = fixed(r, 1) * c->code_align;
            goto advance;
        case 0x03:
            delta = fixed(r, 2) * c->code_align;
            goto advance;
        case 0x04:
            delta = fixed(r, 4) * c->code_align;
            goto advance;
        case 0x05: /* offset_extended */
            reg = uleb(r);
            set_rule(s, reg, R_OFFSET, scaled(uleb(r), c->data_align));
            break;
        case 0x06: /* restore_extended */
            reg = uleb(r);
            goto restore;
        case 0x07: /* undefined */
            set_rule(s, uleb(r), R_UNDEF, 0);
            break;
        case 0x08: /* same_value */
            set_rule(s, uleb(r), R_SAME, 0);
            break;
        case 0x09: /* register */
        case 0x14: /* val_offset: both a register and one more ULEB operand */
            reg = uleb(r);
            (void)uleb(r);
            set_rule(s, reg, R_OTHER, 0);
            break;
        case 0x0a: /* remember_state */
            if (depth == sizeof stack / sizeof stack[0])
                return -1;
            stack[depth++] = *s;
            break;
        case 0x0b: /* restore_state: the CFA rule included, as GCC's and LLVM's
                      unwinders do (an early-return epilogue relies on it) */
            if (!depth)
                return -1;
            *s = stack[--depth];
            break;
        case 0x0c: /* def_cfa */
            s->cfa_reg = (int)uleb(r);
            s->cfa_off = (int64_t)uleb(r);
            break;
        case 0x0d: /* def_cfa_register */
            s->cfa_reg = (int)uleb(r);
            break;
        case 0x0e: /* def_cfa_offset */
            s->cfa_off = (int64_t)uleb(r);
            break;
        case 0x0f: /* def_cfa_expression */
            s->cfa_reg = -1;
            skip_block(r);
            break;
        case 0x10: /* expression */
        case 0x16: /* val_expression */
            reg = uleb(r);
            skip_block(r);
            set_rule(s, reg, R_OTHER, 0);
            break;
        case 0x11: /* offset_extended_sf */
            reg = uleb(r);
            set_rule(s, reg, R_OFFSET, scaled((uint64_t)sleb(r), c->data_align));
            break;
        case 0x12: /* def_cfa_sf */
            s->cfa_reg = (int)uleb(r);
            s->cfa_off = scaled((uint64_t)sleb(r), c->data_align);
            break;
        case 0x13: /* def_cfa_offset_sf */
            s->cfa_off = scaled((uint64_t)sleb(r), c->data_align);
            break;
        case 0x15: /* val_offset_sf */
            reg = uleb(r);
            (void)sleb(r);
            set_rule(s, reg, R_OTHER, 0);
            break;
        case 0x2e: /* GNU_args_size */
            (void)uleb(r);
            break;
        case 0x2f: /* GNU_negative_offset_extended */
            reg = uleb(r);
            set_rule(s, reg, R_OFFSET, scaled(0 - uleb(r), c->data_align));
            break;
        default:
            return -1;
        }
        continue;
    advance:
        loc += delta;
        if (loc > pc)
            return 0;
        continue;
    restore:
        if (!init)
            return -1; /* restore inside the CIE itself */
        if (column(reg) >= 0)
            s->col[column(reg)] = init->col[column(reg)];
    }
    return r->bad ? -1 : 0;
}

static int parse_cie(const uint8_t *p, const uint8_t *lo, const uint8_t *hi, struct cie *c)
{
    if (p < lo || p + 8 > hi)
        return -1;
    uint32_t len;
    memcpy(&len, p, 4);
    if (len == 0 || len == 0xffffffffu || (size_t)(hi - p) < 4 + (size_t)len)
        return -1;
    struct rd r = {p + 4, p + 4 + len, 0};
    if (fixed(&r, 4) != 0) /* CIE id */
        return -1;
    uint8_t version = (uint8_t)fixed(&r, 1);
    if (version != 1 && version != 3)
        return -1;
    const char *aug = (const char *)r.p;
    size_t alen = 0; /* strnlen, without a call into libc (ownstack.h: no lazy binding) */
    while (alen < (size_t)(r.end - r.p) && aug[alen])
        alen++;
    if (alen == (size_t)(r.end - r.p))
        return -1;
    r.p += alen + 1;
    memset(c, 0, sizeof *c);
    c->fde_enc = 0; /* absptr */
    c->code_align = uleb(&r);
    c->data_align = sleb(&r);
    c->ra_reg = version == 1 ? fixed(&r, 1) : uleb(&r);
    if (aug[0] == 'z') {
        c->has_z = 1;
        uint64_t n = uleb(&r);
        if (r.bad || n > (uint64_t)(r.end - r.p))
            return -1;
        const uint8_t *data_end = r.p + n;
        for (size_t i = 1; i < alen; i++) {
            switch (aug[i]) {
            case 'R':
                c->fde_enc = (uint8_t)fixed(&r, 1);
                break;
            case 'L':
                (void)fixed(&r, 1);
                break;
            case 'P': {
                uint8_t pe = (uint8_t)fixed(&r, 1);
                struct rd skip = r;
                (void)encoded(&skip, pe & 0x7f, 0); /* the pointer's size only */
                r.p = skip.p;
                break;
            }
            case 'S':
                c->signal = 1;
                break;
            default:
                r.p = data_end;
                i = alen;
                break; /* unknown: the length says where */
            }
        }
        r.p = data_end;
    } else if (alen != 0) {
        return -1; /* pre-'z' augmentations ("eh") are not produced any more */
    }
    if (r.bad || c->ra_reg != DW_RA || c->code_align == 0)
        return -1;
    c->init = r;
    return 0;
}

static int32_t tab_at(const uint8_t *tab, size_t i)
{
    int32_t v;
    memcpy(&v, tab + 4 * i, 4);
    return v;
}

/* The row for pc in the object mapped at [lo, hi) whose .eh_frame_hdr is at hdr; every
 * read stays inside [lo, hi). */
uint64_t cp_ehframe_parse(const uint8_t *hdr, const uint8_t *lo, const uint8_t *hi, uintptr_t pc,
                          unsigned gen)
{
    uint64_t unusable = make_shape(K_UNUSABLE, 0, 0, 0, 0, gen);
    /* code of the object that no FDE covers (V8's builtins in node: 41% of its sampled
     * stacks had such a frame; hand-written code): libunwind finds nothing either and
     * follows rbp; so does the walker (unwind.c: nocfi_step) */
    uint64_t uncovered = make_shape(K_END, 0, 0, 0, 0, gen) | S_NOCFI;
    if (hdr < lo || hdr + 4 > hi || hdr[0] != 1 || hdr[3] != 0x3b)
        return unusable; /* version 1, table of datarel sdata4 pairs */
    struct rd r = {hdr + 4, hi, 0};
    (void)encoded(&r, hdr[1], (uintptr_t)hdr);
    uint64_t count = encoded(&r, hdr[2], (uintptr_t)hdr);
    const uint8_t *tab = r.p;
    if (r.bad || count == 0 || count > (uint64_t)(hi - r.p) / 8)
        return unusable;
    /* the last entry whose start is <= pc */
    size_t a = 0, b = (size_t)count;
    while (b - a > 1) {
        size_t m = a + (b - a) / 2;
        if ((uintptr_t)hdr + (intptr_t)tab_at(tab, 2 * m) <= pc)
            a = m;
        else
            b = m;
    }
    if ((uintptr_t)hdr + (intptr_t)tab_at(tab, 2 * a) > pc)
        return uncovered;
    const uint8_t *fde = hdr + tab_at(tab, 2 * a + 1);
    if (fde < lo || fde + 8 > hi)
        return unusable;
    uint32_t len, cie_ptr;
    memcpy(&len, fde, 4);
    memcpy(&cie_ptr, fde + 4, 4);
    if (len < 4 || len == 0xffffffffu || cie_ptr == 0 || (size_t)(hi - fde) < 4 + (size_t)len)
        return unusable;
    struct cie c;
    if (parse_cie(fde + 4 - cie_ptr, lo, hi, &c) != 0)
        return unusable;
    if (c.signal) {
        /* a signal frame ('S'): only the kernel's return path is understood, x86-64
         * Linux's rt_sigreturn trampoline at the return address pc + 1 (glibc's
         * __restore_rt, whose FDE starts one byte early for this lookup):
         * mov $15, %rax; syscall */
        static const uint8_t tramp[9] = {0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};
        const uint8_t *code = (const uint8_t *)pc + 1;
        if ((uintptr_t)code >= (uintptr_t)lo && (uintptr_t)hi - (uintptr_t)code >= sizeof tramp &&
            (uintptr_t)hi > (uintptr_t)code) {
            unsigned i = 0;
            while (i < sizeof tramp && code[i] == tramp[i])
                i++;
            if (i == sizeof tramp)
                return make_shape(K_END, 1, 0, 0, 0, gen);
        }
        return unusable;
    }
    struct rd f = {fde + 8, fde + 4 + len, 0};
    uintptr_t begin = (uintptr_t)encoded(&f, c.fde_enc, 0);
    uintptr_t range = (uintptr_t)encoded(&f, c.fde_enc & 0x0f, 0);
    if (f.bad)
        return unusable;
    if (pc < begin || pc - begin >= range)
        return uncovered;
    if (c.has_z) {
        uint64_t n = uleb(&f);
        if (n > (uint64_t)(f.end - f.p))
            return unusable;
        f.p += n;
    }
    struct rules s = {.cfa_reg = DW_RSP, .cfa_off = 8, .col = {{R_SAME, 0}, {R_SAME, 0}}};
    struct rd ci = c.init;
    if (run_cfa(&ci, &c, &s, NULL, begin, pc) != 0)
        return unusable;
    struct rules init = s;
    if (run_cfa(&f, &c, &s, &init, begin, pc) != 0)
        return unusable;
    const struct rule ra = s.col[C_RA], bp = s.col[C_BP];
    if (ra.kind == R_UNDEF)
        return make_shape(K_END, 0, 0, 0, 0, gen);
    if (ra.kind != R_OFFSET || ra.off != -8 || (s.cfa_reg != DW_RSP && s.cfa_reg != DW_RBP) ||
        s.cfa_off < INT32_MIN || s.cfa_off > INT32_MAX)
        return unusable;
    if (bp.kind == R_OFFSET) {
        if (bp.off < INT16_MIN || bp.off > INT16_MAX)
            return unusable;
    } else if (bp.kind != R_SAME) {
        return unusable;
    }
    return make_shape(K_FRAME, s.cfa_reg == DW_RBP, bp.kind == R_OFFSET, (int)bp.off,
                      (int32_t)s.cfa_off, gen);
}

#else /* !HAVE_CFI */

uint64_t cp_ehframe_parse(const uint8_t *hdr, const uint8_t *lo, const uint8_t *hi, uintptr_t pc,
                          unsigned gen)
{
    (void)hdr, (void)lo, (void)hi, (void)pc;
    return make_shape(K_UNUSABLE, 0, 0, 0, 0, gen);
}

#endif
