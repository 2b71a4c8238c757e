/*
 * dump.c — `ctrprof dump [--json] FILE`: the raw counters of a counter file, for
 * debugging the format. Offline context (stdio and malloc are fine).
 *
 * Text: the metadata lines, an empty line, then one counter per line as
 * "<value> <name>", where a stack counter's frames (the lines after the first) follow
 * on lines of their own, indented. --json: {"meta": {...}, "counters": {...}} exactly as
 * Go's parser reports them (ditto marks expanded, a repeated key: the last one wins),
 * values as exact integers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cfile.h"
#include "names_read.h"
#include "cmds.h"

struct kv {
    char *k;
    size_t kl;
    char *v;
    size_t vl;
    uint64_t val;
    size_t order;
};

struct dump {
    struct kv *meta, *ctr;
    size_t nmeta, nctr, capmeta, capctr;
};

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fputs("ctrprof: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

static char *dup_bytes(const void *p, size_t n)
{
    char *d = xrealloc(NULL, n + 1);
    memcpy(d, p, n);
    d[n] = 0;
    return d;
}

static void on_meta(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    struct dump *d = ctx;
    if (d->nmeta == d->capmeta) {
        d->capmeta = d->capmeta ? 2 * d->capmeta : 16;
        d->meta = xrealloc(d->meta, d->capmeta * sizeof *d->meta);
    }
    d->meta[d->nmeta] = (struct kv){dup_bytes(k, kl), kl, dup_bytes(v, vl), vl, 0, d->nmeta};
    d->nmeta++;
}

static void on_counter(void *ctx, const uint8_t *name, size_t len, uint64_t value)
{
    struct dump *d = ctx;
    if (d->nctr == d->capctr) {
        d->capctr = d->capctr ? 2 * d->capctr : 256;
        d->ctr = xrealloc(d->ctr, d->capctr * sizeof *d->ctr);
    }
    size_t dl = cp_cfile_decode_name(name, len, NULL, 0);
    char *dec = xrealloc(NULL, dl + 1);
    cp_cfile_decode_name(name, len, dec, dl);
    dec[dl] = 0;
    d->ctr[d->nctr] = (struct kv){dec, dl, NULL, 0, value, d->nctr};
    d->nctr++;
}

static int by_key_then_order(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    size_t n = x->kl < y->kl ? x->kl : y->kl;
    int c = memcmp(x->k, y->k, n);
    if (c)
        return c;
    if (x->kl != y->kl)
        return x->kl < y->kl ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static void kv_free(struct kv *e)
{
    free(e->k);
    free(e->v);
}

/* Keep the last of each run of equal keys (Go's map: the last assignment wins). A profile's
 * own names (ctrprof/...) never repeat in a file; expanded from format 2 they do when two
 * processes sharing a file recorded one stack: those add up. */
static size_t last_wins(struct kv *a, size_t n)
{
    if (n > 1)
        qsort(a, n, sizeof *a, by_key_then_order);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && a[i].kl == a[i + 1].kl && !memcmp(a[i].k, a[i + 1].k, a[i].kl)) {
            if (a[i].kl > 8 && !memcmp(a[i].k, "ctrprof/", 8) && !a[i].v)
                a[i + 1].val += a[i].val;
            kv_free(&a[i]);
            continue;
        }
        a[o++] = a[i];
    }
    return o;
}

static void dump_free(struct dump *d)
{
    for (size_t i = 0; i < d->nmeta; i++)
        kv_free(&d->meta[i]);
    for (size_t i = 0; i < d->nctr; i++)
        kv_free(&d->ctr[i]);
    free(d->meta);
    free(d->ctr);
}

/* JSON string: valid UTF-8 passes through, control characters are escaped, and each
 * byte of an invalid sequence becomes U+FFFD (as Go's encoding/json does). */
static void json_str(FILE *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', out);
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc((int)c, out);
            i++;
        } else if (c == '\n') {
            fputs("\\n", out);
            i++;
        } else if (c == '\t') {
            fputs("\\t", out);
            i++;
        } else if (c == '\r') {
            fputs("\\r", out);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(out, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            fputc((int)c, out);
            i++;
        } else {
            size_t k = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
            int ok = k && i + k <= n;
            for (size_t j = 1; ok && j < k; j++)
                ok = (p[i + j] & 0xC0) == 0x80;
            if (ok && k == 3 && ((c == 0xE0 && p[i + 1] < 0xA0) || (c == 0xED && p[i + 1] >= 0xA0)))
                ok = 0;
            if (ok && k == 4 && ((c == 0xF0 && p[i + 1] < 0x90) || (c == 0xF4 && p[i + 1] >= 0x90)))
                ok = 0;
            if (ok) {
                fwrite(p + i, 1, k, out);
                i += k;
            } else {
                fputs("\\ufffd", out);
                i++;
            }
        }
    }
    fputc('"', out);
}

static void usage(FILE *f)
{
    fputs("usage: ctrprof dump [--json] [--raw] FILE\n"
          "  --raw  the records as stored (a Ctrprof-Format 2, 3 or 4 profile names each bucket\n"
          "         by id, its stack once, maybe as a ditto of another's); by default each\n"
          "         bucket is shown with its stack: a format-3 or -4 heap site as its objects and\n"
          "         bytes, others as the format-1 counters they stand for\n",
          f);
}

int cp_cmd_dump(int argc, char **argv)
{
    int json = 0, raw = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--raw"))
            raw = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "ctrprof: dump: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "ctrprof: dump: one file at a time ('%s' and '%s')\n", path, argv[i]);
            return 2;
        } else
            path = argv[i];
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        /* dump shows the bytes of one counter file (any, not only profiles) */
        fprintf(stderr,
                "ctrprof: %s: a directory; dump reads one counter file (ctrprof report %s "
                "reads every profile in it)\n",
                path, path);
        return 1;
    }
    uint8_t *buf;
    size_t len;
    struct dump d = {0};
    if (cp_tool_read(path, &buf, &len, on_meta, &d)) {
        dump_free(&d);
        return 1;
    }
    if (raw)
        cp_cfile_parse(buf, len, NULL, on_counter, &d, NULL, 0);
    else
        cp_names_parse(buf, len, NULL, on_counter, &d, NULL, 0);
    cp_cfile_unload(buf, len);
    if (json) {
        size_t nm = d.nmeta = last_wins(d.meta, d.nmeta), nc = d.nctr = last_wins(d.ctr, d.nctr);
        fputs("{\"meta\": {", stdout);
        for (size_t i = 0; i < nm; i++) {
            fputs(i ? ", " : "", stdout);
            json_str(stdout, d.meta[i].k, d.meta[i].kl);
            fputs(": ", stdout);
            json_str(stdout, d.meta[i].v, d.meta[i].vl);
        }
        fputs("}, \"counters\": {", stdout);
        for (size_t i = 0; i < nc; i++) {
            fputs(i ? ", " : "", stdout);
            json_str(stdout, d.ctr[i].k, d.ctr[i].kl);
            printf(": %llu", (unsigned long long)d.ctr[i].val);
        }
        fputs("}}\n", stdout);
    } else {
        for (size_t i = 0; i < d.nmeta; i++)
            printf("%s: %s\n", d.meta[i].k, d.meta[i].v);
        printf("\n%zu counters\n", d.nctr);
        for (size_t i = 0; i < d.nctr; i++) {
            const char *name = d.ctr[i].k;
            const char *nl = memchr(name, '\n', d.ctr[i].kl);
            size_t first = nl ? (size_t)(nl - name) : d.ctr[i].kl;
            printf("%20llu %.*s\n", (unsigned long long)d.ctr[i].val, (int)first, name);
            while (nl) {
                const char *start = nl + 1;
                nl = memchr(start, '\n', d.ctr[i].kl - (size_t)(start - name));
                size_t l = nl ? (size_t)(nl - start) : d.ctr[i].kl - (size_t)(start - name);
                printf("%20s     %.*s\n", "", (int)l, start);
            }
        }
    }
    dump_free(&d);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "ctrprof: dump: write error\n");
        return 1;
    }
    return 0;
}
