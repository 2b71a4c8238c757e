/*
 * stackmemo.c — the flush's memo of recent heap stacks (see stackmemo.h).
 *
 * Contexts: resolve.c's account_alloc, cp_flush_lock held (which guards everything here).
 * The slots come from the arena once (cp_memo_want, at a dense rate) and stay: a bucket
 * is never removed and a frame node never changes (frames.h), so a slot is never stale;
 * a new stack put in a set whose two slots are taken replaces the older. A fork child keeps the
 * memo with the buckets it names.
 */
#include "stackmemo.h"

#include <string.h>

#include "arena.h"
#include "prof_int.h"

struct cp_memo *cp_memo;
static bool tried;

bool cp_memo_want(void)
{
    if (cp_memo)
        return true;
    if (tried || !cp_dense())
        return false;
    tried = true;
    struct cp_memo *m = cp_arena_alloc(sizeof *m);
    if (!m)
        return false;
    m->mask = (1u << CP_MEMO_BITS) - 1;
    cp_memo = m;
    return true;
}

void cp_memo_one_set_for_tests(bool on)
{
    if (!cp_memo_want())
        return;
    memset(cp_memo->set, 0, sizeof cp_memo->set);
    cp_memo->rest = cp_memo->wn = cp_memo->wh = 0;
    cp_memo->mask = on ? 0 : (1u << CP_MEMO_BITS) - 1;
}

void cp_memo_put(struct cp_memo_slot *set, uint32_t node, const uintptr_t *x, unsigned nx,
                 struct cp_bucket *b)
{
    set[1] = set[0];
    struct cp_memo_slot *s = &set[0];
    s->node = node;
    s->nx = nx + 1;
    s->b = b;
    for (unsigned i = 0; i < CP_MEMO_PCS; i++)
        s->pcs[i] = i < nx ? x[i] : 0;
}

/* A window of lookups that hit less than a quarter of the time: the program's stacks do
 * not recur within the memo's reach (bench/progs/namestacks: 228,000 stacks, none hit), and
 * a miss costs a lookup and a put on top of the chains' search, so the next REST records
 * go by without (then a window tries again). Where stacks do recur 99% or more of the
 * lookups hit (namechurn, churn, perl at rate 1). */
#define REST 65536

void cp_memo_window(struct cp_memo *m)
{
    if (m->wh < CP_MEMO_WINDOW / 4)
        m->rest = REST;
    m->wn = m->wh = 0;
}
