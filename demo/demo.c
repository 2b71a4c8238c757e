/*
 * demo.c — the bundled demo for `make demo`: a small "document indexer" whose call sites
 * allocate very different amounts, so its heap report has clear leaders:
 *
 *   load_documents   ~24 MB of document text, kept (the largest in-use site)
 *   tokenize         many small token strings, mostly freed again (large alloc_space,
 *                    little in use)
 *   build_index      a growing hash table (realloc) kept until exit
 *   leak_cache       a deliberate leak of 1 MB in 4 KiB pieces
 *
 * Two threads tokenize in parallel, one frees tokens the other made.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NDOCS 3000
#define DOCLEN 8000

static char *docs[NDOCS];

static __attribute__((noinline)) void load_documents(void)
{
    for (int i = 0; i < NDOCS; i++) {
        docs[i] = malloc(DOCLEN);
        for (int k = 0; k < DOCLEN - 1; k++)
            docs[i][k] = (char)(k % 11 == 0 ? ' ' : 'a' + (i * 7 + k) % 26);
        docs[i][DOCLEN - 1] = 0;
    }
}

struct index {
    char **keys;
    size_t n, cap, seen;
};

static __attribute__((noinline)) void build_index(struct index *ix, const char *tok)
{
    if (ix->n == ix->cap) {
        ix->cap = ix->cap ? ix->cap * 2 : 1024;
        ix->keys = realloc(ix->keys, ix->cap * sizeof *ix->keys);
    }
    if (ix->seen++ % 50 == 0) /* one token in 50 is kept */
        ix->keys[ix->n++] = strdup(tok);
}

static __attribute__((noinline)) char *tokenize(const char *s, size_t *len)
{
    const char *e = strchr(s, ' ');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    char *t = malloc(n + 1);
    memcpy(t, s, n);
    t[n] = 0;
    *len = n;
    return t;
}

struct work {
    int from, to;
    struct index ix;
    char **handoff;
    size_t nhand;
};

static void *worker(void *arg)
{
    struct work *w = arg;
    for (int d = w->from; d < w->to; d++) {
        const char *p = docs[d];
        while (*p) {
            size_t n;
            char *t = tokenize(p, &n);
            build_index(&w->ix, t);
            if (w->nhand < 4096)
                w->handoff[w->nhand++] = t; /* freed by the other thread */
            else
                free(t);
            p += n;
            while (*p == ' ')
                p++;
        }
    }
    return NULL;
}

static __attribute__((noinline)) void leak_cache(void)
{
    for (int i = 0; i < 256; i++) {
        volatile char *p = malloc(4096);
        p[0] = 1;
    }
}

int main(void)
{
    load_documents();
    struct work w[2] = {{0, NDOCS / 2, {0}, NULL, 0}, {NDOCS / 2, NDOCS, {0}, NULL, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        w[i].handoff = malloc(4096 * sizeof(char *));
        pthread_create(&t[i], NULL, worker, &w[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) { /* each frees the tokens the other thread made */
        for (size_t k = 0; k < w[1 - i].nhand; k++)
            free(w[1 - i].handoff[k]);
        free(w[1 - i].handoff);
    }
    leak_cache();
    printf("indexed %zu keys from %d documents\n", w[0].ix.n + w[1].ix.n, NDOCS);
    return 0;
}
