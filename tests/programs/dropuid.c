/* A daemon that drops root once it has what it needs (dnsmasq, chronyd, lighttpd after
 * binding their ports), or a server that takes a request's user for a while (Samba's
 * seteuid), and allocates as that user, with its profile in a directory only root may
 * write.
 *   dropuid UID HOW [N]
 *     HOW  setuid: setuid(UID); setresuid: setresuid(UID, UID, UID); raw:
 *          syscall(SYS_setuid, UID) (one thread: the same); setfsuid: setfsuid(UID)
 *          (file access as UID, as NFS servers do); then N distinct sites
 *          (default 2,000) and the big site
 *          seteuid-back: seteuid(UID), N distinct sites, seteuid(0) again, the big site
 *          caps: stays root (UID unused) but drops every capability (capset), so that
 *          it may no longer write in a directory of another user's; then the sites
 * Before: nothing allocated (at the default rate nothing is sampled before the drop).
 * After: N distinct sites (manysites.h, innermost function drop_site) of one 100-byte
 * object each, freed, and 64 blocks of 1 MiB (drop_big), freed: the profile must grow.
 * Prints "ok" (the drop needs root), or the error and exits 1. */
#define _GNU_SOURCE
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

int capset(cap_user_header_t hdr, const cap_user_data_t data); /* (glibc's; no header) */

#include "manysites.h"

static __attribute__((noinline)) void drop_site(size_t size)
{
    void *volatile p = malloc(size);
    free(p);
}

MANY_SITES(route, drop_site)

static __attribute__((noinline)) void drop_big(void)
{
    for (int i = 0; i < 64; i++) {
        void *volatile p = malloc(1 << 20);
        free(p);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    uid_t u = (uid_t)atoi(argv[1]);
    unsigned n = argc > 3 ? (unsigned)atoi(argv[3]) : 2000;
    const char *how = argv[2];
    int r;
    if (!strcmp(how, "setuid"))
        r = setuid(u);
    else if (!strcmp(how, "setresuid"))
        r = setresuid(u, u, u);
    else if (!strcmp(how, "raw"))
        r = (int)syscall(SYS_setuid, u);
    else if (!strcmp(how, "setfsuid")) {
        setfsuid(u);
        r = setfsuid((uid_t)-1) == (int)u ? 0 : -1; /* (it returns the previous one) */
    } else if (!strcmp(how, "seteuid-back"))
        r = seteuid(u);
    else if (!strcmp(how, "caps")) {
        struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct none[2] = {{0, 0, 0}, {0, 0, 0}};
        r = capset(&h, none);
    } else
        return 2;
    if (r != 0) {
        perror(how);
        return 1;
    }
    for (unsigned code = 0; code < n; code++)
        route(code, 100);
    if (!strcmp(how, "seteuid-back") && seteuid(0) != 0) {
        perror("seteuid back");
        return 1;
    }
    drop_big();
    printf("ok\n");
    return 0;
}
