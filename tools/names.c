/*
 * names.c — how a report prints a C++ function name (report --demangle). Offline context.
 *
 * The symbolizer gives the whole demangled name: return type, qualified name with every
 * template argument expanded, parameters, qualifiers; std::vector<std::string>::
 * emplace_back alone is ~900 characters. A report shows, by default, the qualified name
 * without the return type, template arguments or parameters (as pprof does), unless that
 * would give two different functions of the same report the same text: then those names
 * keep, in this order until they differ, their parameters (overloads), their template
 * arguments but not their parameters (instantiations), the whole name. --demangle=templates
 * starts at "template arguments, no parameters", --demangle=full shows the whole name.
 * The whole name stays in cp_sym_frame.full for the flame page's tooltip and pprof's
 * Function.system_name.
 *
 * The levels of a name: 0 short, 1 short name + parameters, 2 name with template
 * arguments, 3 the whole text.
 */
#include <stdlib.h>
#include <string.h>

#include "profile.h"

static int is_ident(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* "operator" as a word at s[i] */
static int at_operator(const char *s, size_t i)
{
    return !strncmp(s + i, "operator", 8) && (i == 0 || !is_ident(s[i - 1])) && !is_ident(s[i + 8]);
}

/* After "operator" at s[i]: the end of the operator's own symbol ("<<", "()", "[]", "->*",
 * " new[]"); a conversion operator's type is left to the caller. */
static size_t operator_end(const char *s, size_t i)
{
    i += 8;
    if (s[i] == '(' && s[i + 1] == ')')
        return i + 2;
    if (s[i] == '[' && s[i + 1] == ']')
        return i + 2;
    while (s[i] && strchr("+-*/%^&|~!=<>,", s[i]))
        i++;
    if (!strncmp(s + i, " new", 4) || !strncmp(s + i, " delete", 7)) {
        i += s[i + 1] == 'n' ? 4 : 7;
        if (s[i] == '[' && s[i + 1] == ']')
            i += 2;
    }
    return i;
}

static const char opens[] = "(<[{", closes[] = ")>]}";

/* The index of the bracket closing the one at s[i], or the end of the string. */
static size_t skip_group(const char *s, size_t i)
{
    int depth = 0;
    for (; s[i]; i++) {
        if (at_operator(s, i)) { /* operator<, operator() inside template arguments */
            i = operator_end(s, i) - 1;
            continue;
        }
        if (strchr(opens, s[i]))
            depth++;
        else if (strchr(closes, s[i]) && --depth == 0)
            return i;
    }
    return i;
}

/* Where the parameter list starts (the last top-level '(' group not followed by "::" and
 * not an operator's name), or strlen(s); and where the qualified name starts (after the
 * return type). */
static void split(const char *s, size_t *name_start, size_t *params)
{
    size_t n = strlen(s), last_space = (size_t)-1, op = (size_t)-1;
    *params = n;
    for (size_t i = 0; i < n; i++) {
        if (at_operator(s, i)) {
            if (op == (size_t)-1)
                op = i;
            i = operator_end(s, i) - 1;
            continue;
        }
        if (s[i] == ' ' && op == (size_t)-1)
            last_space = i;
        if (s[i] == '(') {
            size_t e = skip_group(s, i);
            if (strncmp(s + e + (s[e] != 0), "::", 2))
                *params = i;
            i = e;
            if (!s[i])
                break;
        } else if (strchr(opens, s[i])) {
            i = skip_group(s, i);
            if (!s[i])
                break;
        }
    }
    /* a space after the parameters (" const", " [clone .cold]") is not a return type */
    *name_start = last_space != (size_t)-1 && last_space < *params ? last_space + 1 : 0;
}

/* Copy s[a, b) without template arguments and ABI tags. */
static size_t strip_templates(const char *s, size_t a, size_t b, char *out)
{
    size_t o = 0;
    for (size_t i = a; i < b; i++) {
        if (at_operator(s, i)) {
            size_t e = operator_end(s, i);
            memcpy(out + o, s + i, e - i);
            o += e - i;
            i = e - 1;
        } else if (s[i] == '<' || (s[i] == '[' && !strncmp(s + i, "[abi:", 5))) {
            size_t e = skip_group(s, i);
            if (o && out[o - 1] == ' ')
                o--; /* "operator<< <char>" */
            i = e < b ? e : b;
        } else if (s[i] == '(' || s[i] == '{') { /* "(anonymous namespace)", lambdas */
            size_t e = skip_group(s, i);
            e = e < b ? e + 1 : b;
            memcpy(out + o, s + i, e - i);
            o += e - i;
            i = e - 1;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = 0;
    return o;
}

static char *shorten(const char *s, int level)
{
    if (level >= 3 || !(strchr(s, '(') || strchr(s, '<')))
        return NULL; /* as it is */
    size_t ns, ps, n = strlen(s);
    split(s, &ns, &ps);
    char *out = malloc(n + 1);
    size_t o;
    if (level == 2) {
        o = ps - ns;
        memcpy(out, s + ns, o);
        out[o] = 0;
    } else {
        o = strip_templates(s, ns, ps, out);
        if (level == 1) {
            memcpy(out + o, s + ps, n - ps + 1);
            o += n - ps;
        }
    }
    if (o == 0 || !strcmp(out, s)) {
        free(out);
        return NULL;
    }
    return out;
}

struct name {
    const char *full;
    char *shown; /* NULL: as full */
    int level;
};

static const char *shown(const struct name *n)
{
    return n->shown ? n->shown : n->full;
}

static int by_shown(const void *a, const void *b)
{
    const struct name *x = *(struct name *const *)a, *y = *(struct name *const *)b;
    int c = strcmp(shown(x), shown(y));
    return c ? c : strcmp(x->full, y->full);
}

static int by_full(const void *a, const void *b)
{
    return strcmp(((const struct name *)a)->full, ((const struct name *)b)->full);
}

void cp_profile_names(struct cp_profile *p, int mode)
{
    size_t total = 0;
    for (size_t i = 0; i < p->nl; i++)
        if (p->locs[i].kind <= 1)
            total += p->locs[i].nframes;
    if (total == 0)
        return;
    /* the distinct full names */
    struct name *v = malloc(total * sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < p->nl; i++)
        if (p->locs[i].kind <= 1)
            for (size_t k = 0; k < p->locs[i].nframes; k++)
                v[n++] = (struct name){p->locs[i].frames[k].func, NULL, 0};
    qsort(v, n, sizeof *v, by_full);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (!u || strcmp(v[u - 1].full, v[i].full))
            v[u++] = v[i];
    n = u;
    int base = mode == CP_DEMANGLE_FULL ? 3 : mode == CP_DEMANGLE_TEMPLATES ? 2 : 0;
    for (size_t i = 0; i < n; i++) {
        v[i].level = base;
        v[i].shown = shorten(v[i].full, base);
    }
    /* raise the names that print alike until they do not */
    struct name **o = malloc(n * sizeof *o);
    for (int round = 0, again = 1; again && round < 4; round++) {
        again = 0;
        for (size_t i = 0; i < n; i++)
            o[i] = &v[i];
        qsort(o, n, sizeof *o, by_shown);
        for (size_t i = 0, j; i < n; i = j) {
            for (j = i + 1; j < n && !strcmp(shown(o[i]), shown(o[j])); j++)
                ;
            if (j - i == 1)
                continue;
            for (size_t k = i; k < j; k++)
                if (o[k]->level < 3) {
                    o[k]->level++;
                    free(o[k]->shown);
                    o[k]->shown = shorten(o[k]->full, o[k]->level);
                    again = 1;
                }
        }
    }
    free(o);
    /* the frames as shown: one array for every location, the full name kept */
    struct cp_sym_frame *fr = malloc(total * sizeof *fr);
    size_t f = 0;
    for (size_t i = 0; i < p->nl; i++) {
        struct cp_loc *l = &p->locs[i];
        if (l->kind > 1)
            continue;
        for (size_t k = 0; k < l->nframes; k++) {
            struct name key = {l->frames[k].func, NULL, 0};
            struct name *hit = bsearch(&key, v, n, sizeof *v, by_full);
            fr[f + k] = l->frames[k];
            fr[f + k].full = l->frames[k].func;
            fr[f + k].func = shown(hit);
        }
        l->frames = fr + f;
        f += l->nframes;
    }
    p->shown_frames = fr;
    p->shown_names = v;
    p->nshown = n;
}

void cp_profile_names_free(struct cp_profile *p)
{
    struct name *v = p->shown_names;
    for (size_t i = 0; i < p->nshown; i++)
        free(v[i].shown);
    free(v);
    free(p->shown_frames);
}
