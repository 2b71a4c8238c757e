/* A daemon that locks itself in a directory (chroot, as sshd's privilege-separated child,
 * ntpd or postfix do) and allocates there, with its profile outside; or that gives itself
 * a private tmpfs over a directory in a mount namespace of its own (systemd's
 * PrivateTmp=, done by the program), the profile's directory.
 *   jailed DIR HOW
 *     HOW  name: chroot(DIR); raw: syscall(SYS_chroot, DIR); then chdir("/")
 *          tmpfs: unshare(CLONE_NEWNS), / made private (mount --make-rprivate), a tmpfs
 *          mounted over DIR; tmpfs-raw: the same through syscall(SYS_mount)
 *          setns: a child makes that namespace and waits; the program enters it
 *          (setns(fd, 0): the type from the descriptor), then kills the child
 * Before: nothing allocated (a profile created at its first sample is created in the
 * jail). After: 2,000 distinct sites (manysites.h, innermost function jail_site) of one
 * 100-byte object each, freed, and 64 blocks of 1 MiB (jail_big), freed: the profile must
 * grow. Prints "ok" (needs the right to chroot: root), or the error and exits 1. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
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
    if (!strcmp(argv[2], "setns")) {
        int p[2];
        if (pipe(p) != 0)
            return 1;
        pid_t c = fork();
        if (c == 0) {
            char ok = unshare(CLONE_NEWNS) == 0 &&
                      mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
                      mount("tmpfs", argv[1], "tmpfs", 0, NULL) == 0;
            (void)!write(p[1], &ok, 1);
            pause();
            _exit(0);
        }
        char ok = 0, path[64];
        if (c < 0 || read(p[0], &ok, 1) != 1 || !ok) {
            fprintf(stderr, "the child's namespace failed\n");
            return 1;
        }
        snprintf(path, sizeof path, "/proc/%d/ns/mnt", (int)c);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        int r = fd < 0 ? -1 : setns(fd, 0);
        kill(c, SIGKILL);
        waitpid(c, NULL, 0);
        if (r != 0) {
            perror("setns");
            return 1;
        }
    } else if (!strncmp(argv[2], "tmpfs", 5)) {
        int raw = !strcmp(argv[2], "tmpfs-raw");
        if (unshare(CLONE_NEWNS) != 0 ||
            (raw ? syscall(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)
                 : mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) != 0 ||
            (raw ? syscall(SYS_mount, "tmpfs", argv[1], "tmpfs", 0, NULL)
                 : mount("tmpfs", argv[1], "tmpfs", 0, NULL)) != 0) {
            perror("mount");
            return 1;
        }
    } else {
        int r = strcmp(argv[2], "raw") == 0 ? (int)syscall(SYS_chroot, argv[1]) : chroot(argv[1]);
        if (r != 0 || chdir("/") != 0) {
            perror("chroot");
            return 1;
        }
    }
    for (unsigned code = 0; code < 2000; code++)
        route(code, 100);
    jail_big();
    printf("ok\n");
    return 0;
}
