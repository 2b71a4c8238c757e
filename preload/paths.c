/*
 * paths.c — the calls after which the profile's path may lead elsewhere: chroot,
 * pivot_root, a mount over its directory or one above it, setns into another mount
 * namespace (by name, and as raw system calls from sandbox.c's syscall hook:
 * cp_shim_paths_syscall).
 *
 * The file is created lazily and grows by its path (cfile.c, "No descriptor is kept").
 * A daemon that jails itself (chroot: sshd's privilege-separated child, ntpd, postfix)
 * and one that mounts a private tmpfs over /tmp in a mount namespace of its own (as
 * systemd's PrivateTmp= does for a service, done by a program on itself) changed where
 * that path leads: a file made afterwards was made in the jail or in the tmpfs, which
 * goes with the namespace (the whole profile lost, and nothing said), and a file made
 * before could no longer grow. Before such a call the engine makes the file if it waited,
 * and a megabyte of room in it (core/publish.c's cp_prof_root_changing); past that, new
 * counters are counted lost and said.
 *
 * A mount that only changes propagation (MS_PRIVATE, MS_SHARED, MS_SLAVE, MS_UNBINDABLE:
 * `mount --make-rprivate /`, which every namespace-making program does first) moves no
 * path and asks nothing; nor does a mount elsewhere (a container's rootfs). The target
 * is compared with the profile's directories by device and inode. Not umount: made first, the file
 * would be in the file system that goes (a lazy unmount of a tmpfs: unreachable by anyone, then
 * freed), where made afterwards it is in the one beneath, which stays.
 *
 * Context: any application thread, the program's own call. Result and errno are the real
 * function's own; nothing is recorded. Not from profiler code (the guard), nor in a vfork
 * child (getpid() is not the shim's).
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "path.h"
#include "prof.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

#ifndef NS_GET_NSTYPE
#define NS_GET_NSTYPE _IO(0xb7, 0x3) /* linux/nsfs.h */
#endif

/* The hooks act at all: profiling, not from profiler code, not in a vfork child, not
 * under a filter of the program's (which may forbid the stat below) */
static bool on(void)
{
    return cp_shim_may_act() && !cp_prof_in_sandbox();
}

static void changing(void)
{
    if (!on())
        return;
    int saved = errno;
    int64_t cd = cp_shim_enter();
    cp_prof_root_changing();
    cp_shim_leave(cd);
    errno = saved;
}

/* Is the directory at target the profile's directory or one above it? Asked of the
 * kernel (device and inode, by stat): the program's pointer is read by the kernel only (a
 * bad one is its EFAULT to give, not a fault of ours), relative targets and symbolic links
 * resolve as the mount's own will. */
static bool above_profile(const char *target)
{
    const char *prof = cp_shim_profile_path();
    if (!target || !prof || prof[0] != '/')
        return false;
    int saved = errno;
    bool above = false;
    struct stat t, d;
    char dir[CP_PATH_MAX];
    size_t n = strlen(prof);
    if (n < sizeof dir && stat(target, &t) == 0 && S_ISDIR(t.st_mode)) {
        memcpy(dir, prof, n + 1);
        while (!above && cp_path_up(dir)) /* the file's directory, then each above it */
            above = stat(dir, &d) == 0 && d.st_dev == t.st_dev && d.st_ino == t.st_ino;
    }
    errno = saved;
    return above;
}

static bool moves_paths(unsigned long flags)
{
    const unsigned long propagation = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;
    return !(flags & propagation) || (flags & (MS_BIND | MS_MOVE | MS_REMOUNT));
}

void cp_shim_paths_setns(int fd, int nstype)
{
    int saved = errno;
    int t = nstype ? nstype : ioctl(fd, NS_GET_NSTYPE);
    errno = saved;
    if (t == CLONE_NEWNS)
        changing();
}

void cp_shim_paths_syscall(long n, long a1, long a2, long a3, long a4)
{
    (void)a3;
    if (n == SYS_chroot || n == SYS_pivot_root)
        changing();
    else if (n == SYS_mount && on() && moves_paths((unsigned long)a4) &&
             above_profile((const char *)a2))
        changing();
    else if (n == SYS_setns)
        cp_shim_paths_setns((int)a1, (int)a2);
}

EXPORT int chroot(const char *path)
{
    static void *real;
    int (*f)(const char *) = (int (*)(const char *))cp_shim_next(&real, "chroot");
    changing();
    return f(path);
}

EXPORT int mount(const char *source, const char *target, const char *fstype, unsigned long flags,
                 const void *data)
{
    static void *real;
    int (*f)(const char *, const char *, const char *, unsigned long, const void *) =
        (int (*)(const char *, const char *, const char *, unsigned long,
                 const void *))cp_shim_next(&real, "mount");
    if (on() && moves_paths(flags) && above_profile(target))
        changing();
    return f(source, target, fstype, flags, data);
}
