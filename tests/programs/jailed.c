/* A daemon that locks itself in a directory (chroot, as sshd's privilege-separated child,
 * ntpd or postfix do) and allocates there, with its profile outside.
 *   jailed DIR HOW
 *     HOW  name: chroot(DIR); raw: syscall(SYS_chroot, DIR); then chdir("/")
 * Before: nothing allocated (a profile created at its first sample is created in the
 * jail). After: 2,000 distinct sites (manysites.h, innermost function jail_site) of one
 * 100-byte object each, freed, and 64 blocks of 1 MiB (jail_big), freed: the profile must
 * grow. Prints "ok" (needs the right to chroot: root), or the error and exits 1. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "manysites.h"

static __attribute__((noinline)) void jail_site(size_t size)
{
    void *volatile p = malloc(size);
    free(p);
}

MANY_SITES(route, jail_site)

static __attribute__((noinline)) void jail_big(void)
{
    for (int i = 0; i < 64; i++) {
        void *volatile p = malloc(1 << 20);
        free(p);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    int r = strcmp(argv[2], "raw") == 0 ? (int)syscall(SYS_chroot, argv[1]) : chroot(argv[1]);
    if (r != 0 || chdir("/") != 0) {
        perror("chroot");
        return 1;
    }
    for (unsigned code = 0; code < 2000; code++)
        route(code, 100);
    jail_big();
    printf("ok\n");
    return 0;
}
