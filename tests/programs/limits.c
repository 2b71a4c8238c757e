/*
 * limits.c — a program that lives close to its resource limits (issue 29).
 *
 *   limits mlock   mlockall(MCL_CURRENT | MCL_FUTURE) after allocating 8 MiB in 1 MiB
 *                  blocks (sampled at the default rate: the profile exists by then), then
 *                  allocates again; prints "mlockall ok" or the error
 *   limits as      allocates 8 MiB as above, then maps 256 MiB regions until mmap fails
 *                  (under ulimit -v); prints how many it got
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static __attribute__((noinline)) void churn(void)
{
    for (int i = 0; i < 8; i++) {
        void *volatile p = malloc(1 << 20);
        free(p);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    churn();
    if (!strcmp(argv[1], "mlock")) {
        if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
            int e = errno;
            char l[256], vm[64] = "?";
            FILE *f = fopen("/proc/self/status", "r");
            while (f && fgets(l, sizeof l, f))
                if (!strncmp(l, "VmSize:", 7))
                    sscanf(l + 7, " %63[^\n]", vm);
            if (f)
                fclose(f);
            printf("mlockall: %s (VmSize %s)\n", strerror(e), vm);
            return 1;
        }
        churn();
        printf("mlockall ok\n");
        return 0;
    }
    int n = 0;
    while (mmap(NULL, (size_t)256 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) !=
           MAP_FAILED)
        n++;
    printf("%d\n", n);
    return 0;
}
