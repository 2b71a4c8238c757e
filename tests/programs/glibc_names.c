/*
 * glibc_names.c — allocations made inside glibc through its internal aliases: strdup
 * (glibc's __strdup, reached as __GI___strdup in its DWARF) and stdio's buffer
 * (_IO_file_doallocate, __GI__IO_file_doallocate), for symbols.sh: reports name them as
 * users know them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    char *volatile p = strdup("hello");
    FILE *f = fopen("/proc/self/status", "r");
    char line[64];
    if (!f || !fgets(line, sizeof line, f))
        return 1;
    fclose(f);
    printf("%s %d\n", p, (int)strlen(line)); /* printf: stdout's buffer */
    free(p);
    return 0;
}
