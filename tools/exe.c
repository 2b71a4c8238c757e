/*
 * exe.c — see exe.h. Reads the command's ELF header and program headers (PT_INTERP: no
 * dynamic loader, no LD_PRELOAD), follows a script's #! line once, and checks the
 * set-id bits and file capabilities the way the kernel decides AT_SECURE for this user.
 */
#include "exe.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "elfnote.h"

static int find(const char *cmd, char *out, size_t len)
{
    if (strchr(cmd, '/')) {
        snprintf(out, len, "%s", cmd);
        return access(out, F_OK) == 0 ? 0 : -errno;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/bin:/usr/bin";
    for (const char *p = path;;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        if ((size_t)snprintf(out, len, "%.*s%s%s", (int)n, p, n ? "/" : "", cmd) < len) {
            struct stat st;
            if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
                return 0;
        }
        if (!colon)
            return -ENOENT;
        p = colon + 1;
    }
}

/* Does a PT_NOTE segment (offset, size, alignment) hold Go's build-id note? */
static bool go_note(int fd, uint64_t off, uint64_t size, uint64_t align)
{
    unsigned char buf[4096];
    uint32_t len;
    return size <= sizeof buf && pread(fd, buf, size, (off_t)off) == (ssize_t)size &&
           cp_note_find(buf, size, align, "Go", CP_NT_GO_BUILDID, &len);
}

/* Does the ELF file at fd have a PT_INTERP? 1 yes, 0 no, -1 not an ELF executable. *go:
 * is it a Go program (64-bit only). */
static int has_interp(int fd, bool *go)
{
    *go = false;
    unsigned char id[EI_NIDENT];
    if (pread(fd, id, sizeof id, 0) != (ssize_t)sizeof id || memcmp(id, ELFMAG, SELFMAG) != 0)
        return -1;
    if (id[EI_CLASS] == ELFCLASS64) {
        Elf64_Ehdr eh;
        if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh ||
            (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) || eh.e_phentsize != sizeof(Elf64_Phdr))
            return -1;
        int interp = 0;
        for (unsigned i = 0; i < eh.e_phnum && i < 4096; i++) {
            Elf64_Phdr ph;
            if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * sizeof ph)) !=
                (ssize_t)sizeof ph)
                return -1;
            if (ph.p_type == PT_INTERP)
                interp = 1;
            if (ph.p_type == PT_NOTE && !*go)
                *go = go_note(fd, ph.p_offset, ph.p_filesz, ph.p_align);
        }
        return interp;
    }
    if (id[EI_CLASS] == ELFCLASS32) {
        Elf32_Ehdr eh;
        if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh ||
            (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) || eh.e_phentsize != sizeof(Elf32_Phdr))
            return -1;
        for (unsigned i = 0; i < eh.e_phnum && i < 4096; i++) {
            Elf32_Phdr ph;
            if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * sizeof ph)) !=
                (ssize_t)sizeof ph)
                return -1;
            if (ph.p_type == PT_INTERP)
                return 1;
        }
        return 0;
    }
    return -1;
}

static int in_groups(gid_t g)
{
    if (g == getgid())
        return 1;
    gid_t list[256];
    int n = getgroups(256, list);
    for (int i = 0; i < n; i++)
        if (list[i] == g)
            return 1;
    return 0;
}

/* The kernel runs a set-id program with AT_SECURE when it changes this user's ids. */
static void secure_why(const char *path, const struct stat *st, char *out, size_t len)
{
    out[0] = 0;
    if ((st->st_mode & S_ISUID) && st->st_uid != getuid()) {
        struct passwd *pw = getpwuid(st->st_uid);
        if (pw)
            snprintf(out, len, "setuid (it runs as %s)", pw->pw_name);
        else
            snprintf(out, len, "setuid (it runs as uid %u)", (unsigned)st->st_uid);
    } else if ((st->st_mode & S_ISGID) && (st->st_mode & S_IXGRP) && !in_groups(st->st_gid)) {
        struct group *gr = getgrgid(st->st_gid);
        if (gr)
            snprintf(out, len, "setgid (it runs as group %s)", gr->gr_name);
        else
            snprintf(out, len, "setgid (it runs as gid %u)", (unsigned)st->st_gid);
    } else if (getxattr(path, "security.capability", NULL, 0) > 0) {
        snprintf(out, len, "given file capabilities");
    }
}

static int inspect_file(const char *path, struct cp_exe *e, int depth)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    char head[PATH_MAX + 2];
    ssize_t n = pread(fd, head, sizeof head - 1, 0);
    if (n >= 2 && head[0] == '#' && head[1] == '!' && depth == 0) {
        /* a script: the kernel runs its interpreter (set-id bits on scripts are ignored) */
        close(fd);
        head[n] = 0;
        char *s = head + 2;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t k = strcspn(s, " \t\n");
        s[k] = 0;
        snprintf(e->interp, sizeof e->interp, "%s", s);
        return *s ? inspect_file(s, e, 1) : 0;
    }
    bool go;
    int i = has_interp(fd, &go);
    close(fd);
    e->go = i >= 0 && go;
    e->kind = i == 1 ? CP_EXE_DYNAMIC : i == 0 ? CP_EXE_STATIC : CP_EXE_OTHER;
    if (depth == 0)
        secure_why(path, &st, e->secure, sizeof e->secure);
    return 0;
}

int cp_exe_inspect(const char *cmd, struct cp_exe *e)
{
    memset(e, 0, sizeof *e);
    e->kind = CP_EXE_OTHER;
    int err = find(cmd, e->path, sizeof e->path);
    return err ? err : inspect_file(e->path, e, 0);
}
