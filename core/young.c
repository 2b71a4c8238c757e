/*
 * young.c — a drain's young objects (see young.h): the table, and its objects' way to
 * the live table.
 *
 * Contexts: resolve.c, cp_flush_lock held (which guards everything here).
 */
#include "young.h"

#include "prof_int.h"

struct cp_young cp_young[1u << CP_YOUNG_BITS];
bool cp_young_on;
unsigned cp_young_n;

void cp_young_out(struct cp_young *y)
{
    if (!cp_live_insert((const void *)y->p, y->v, y->size, y->birth))
        cp_prof_lost(CP_LOST_NBUCKET, 1);
    y->p = 0;
    cp_young_n--;
}

void cp_young_begin(void)
{
    cp_young_on = true;
}

void cp_young_end(void)
{
    cp_young_on = false;
    for (unsigned i = 0; cp_young_n && i < (1u << CP_YOUNG_BITS); i++)
        if (cp_young[i].p)
            cp_young_out(&cp_young[i]);
}
