/*
 * run.c — `ctrprof run [options] -- cmd args...`: runs cmd with the shim preloaded and
 * the options turned into CTRPROF_* variables; says where the profile went, and when
 * there is none or it is empty, why: a program LD_PRELOAD cannot reach (statically
 * linked, set-id: exe.c, said before it starts), a program that dropped the shim (a
 * wrapper that clears the environment), one that allocates outside malloc or too little
 * (the shim's notes, why.c). The output directory (--dir, or --file's) is created if missing.
 * When the program is done, the profiles it made in the directory are packed (pack.c:
 * nobody may write them any more; a --file stays a counter file, for more runs to add to),
 * unless --no-pack. Offline context (a normal program).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmds.h"
#include "dirlist.h"
#include "exe.h"
#include "options.h"
#include "pack.h"
#include "why.h"

static void usage(FILE *f)
{
    fputs(
        "usage: ctrprof run [options] -- cmd [args...]\n"
        "  --rate N            heap: bytes per sample (CTRPROF_MEM_RATE; 1 = every allocation, 0 = "
        "off)\n"
        "  --mutex-fraction N  1 in N lock waits tracked for the mutex profile "
        "(CTRPROF_MUTEX_FRACTION;\n"
        "                      default 100; 1 = every one; 0 = off)\n"
        "  --block-rate NS     block profile rate in ns (CTRPROF_BLOCK_RATE; default 100000; 0 = "
        "off)\n"
        "  --block-lock-fraction N\n"
        "                      1 in N lock waits measured for the block profile "
        "(CTRPROF_BLOCK_LOCK_FRACTION;\n"
        "                      default: the mutex fraction; 1 = every one; 0 = none)\n"
        "  --block-budget N    block samples a second a thread keeps before its rate doubles\n"
        "                      (CTRPROF_BLOCK_BUDGET; default 1000; 0 = a fixed rate)\n"
        "  --file F            write (or add) into this file (CTRPROF_FILE)\n"
        "  --dir D             directory for ctrprof.<program>.<pid>.count (CTRPROF_DIR)\n"
        "  --flush-ms N        flush interval (CTRPROF_FLUSH_MS)\n"
        "  --depth N           stack depth (CTRPROF_DEPTH)\n"
        "  --unwind U          cfi, libunwind, fp or check (CTRPROF_UNWIND)\n"
        "  --flusher F         auto, thread, process or inline: who publishes a "
        "single-threaded\n"
        "                      program's events (CTRPROF_FLUSHER; README)\n"
        "  --no-pack           leave the profiles as counter files (without it, those of --dir "
        "that\n"
        "                      the run made and nobody writes any more are packed: ctrprof pack)\n",
        f);
}

struct flag {
    const char *name, *env;
    int numeric;
};

/* (a flag whose variable takes one of a list of names is checked against the options
 * table's list: options.h's cp_options_names_refused) */
static const struct flag flags[] = {
    {"--rate", "CTRPROF_MEM_RATE", 1},
    {"--mutex-fraction", "CTRPROF_MUTEX_FRACTION", 1},
    {"--block-rate", "CTRPROF_BLOCK_RATE", 1},
    {"--block-lock-fraction", "CTRPROF_BLOCK_LOCK_FRACTION", 1},
    {"--block-budget", "CTRPROF_BLOCK_BUDGET", 1},
    {"--file", "CTRPROF_FILE", 0},
    {"--dir", "CTRPROF_DIR", 0},
    {"--flush-ms", "CTRPROF_FLUSH_MS", 1},
    {"--depth", "CTRPROF_DEPTH", 1},
    {"--unwind", "CTRPROF_UNWIND", 0},
    {"--flusher", "CTRPROF_FLUSHER", 0},
};

/* The shim, found from this binary's own path: beside it (the build tree, B/ctrprof and
 * B/libctrprof.so), else where `make install` puts it (PREFIX/bin/ctrprof and
 * PREFIX/lib/ctrprof/libctrprof.so). */
static int find_shim(char *out, size_t len)
{
    static const char *const where[] = {"libctrprof.so", "../lib/ctrprof/libctrprof.so"};
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = 0;
    char path[PATH_MAX], real[PATH_MAX];
    for (size_t k = 0; k < sizeof where / sizeof *where; k++)
        if ((size_t)snprintf(path, sizeof path, "%s/%s", self, where[k]) < sizeof path &&
            access(path, R_OK) == 0 && realpath(path, real) && strlen(real) < len) {
            strcpy(out, real); /* without "..": LD_PRELOAD as a reader expects it */
            return 0;
        }
    return -1;
}

/* The output directory (--dir D, or the directory of --file F), made as `perf record -o`
 * would: a missing one is created (and its parents), an unusable one is an error before
 * anything runs. opt names what the user gave ("--dir D", "--file F"). */
static int make_dir(const char *dir, const char *opt)
{
    char buf[PATH_MAX];
    if ((size_t)snprintf(buf, sizeof buf, "%s", dir) >= sizeof buf) {
        fprintf(stderr, "ctrprof: run: %s: path too long\n", opt);
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                fprintf(stderr, "ctrprof: run: %s: cannot create %s: %s\n", opt, buf,
                        strerror(errno));
                return -1;
            }
            *p = c;
            if (!c)
                break;
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "ctrprof: run: %s: %s is not a directory\n", opt, dir);
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        fprintf(stderr, "ctrprof: run: %s: cannot write into %s: %s\n", opt, dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* The names of the profiles in dir (ctrprof.*.count, and packed ones), in name order (the
 * tools' directory walk: regular files only): those there before the run, which its
 * packing leaves alone. */
struct names {
    char **v;
    size_t n;
};

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_profile_name(const char *n)
{
    size_t l = cp_count_name_len(n);
    return !strncmp(n, "ctrprof.", 8) && l >= 8 + 6 && !strncmp(n + l - 6, ".count", 6);
}

static void add_profile(void *ctx, const char *path, const char *why)
{
    struct names *s = ctx;
    const char *n = strrchr(path, '/');
    n = n ? n + 1 : path;
    if (why || !is_profile_name(n))
        return;
    char **nv = realloc(s->v, (s->n + 1) * sizeof *s->v);
    if (nv && (nv[s->n] = strdup(n)))
        s->n++;
    if (nv)
        s->v = nv;
}

static void list_profiles(const char *dir, struct names *s)
{
    cp_dir_each(dir, CP_DIR_COUNT_FILES, 0, add_profile, s);
}

/* The shim's notes in a file of the process the run started, read by the parse that
 * checked the file before packing it (cp_pack_opts' hooks): the packed copy is not
 * unpacked and parsed again for them (0.08 s on a 36 MB profile). */
struct noted {
    char *name; /* the counter file's name in the directory */
    struct cp_notes notes;
};

struct noted_list {
    struct noted *v;
    size_t n;
};

/* The notes read of the file named n (a counter file's name, or its packed copy's), or
 * NULL. */
static const struct cp_notes *noted_of(const struct noted_list *l, const char *n)
{
    size_t len = cp_count_name_len(n);
    for (size_t k = 0; k < l->n; k++)
        if (strlen(l->v[k].name) == len && !strncmp(l->v[k].name, n, len))
            return &l->v[k].notes;
    return NULL;
}

/* Pack the counter files the run made in dir (not there before it, not packed, nobody
 * writing them: a child still running keeps its own, which is said); the notes of those
 * whose name has pidpart (the process the run started: the files whose notes it reads)
 * into *noted. */
static void pack_new(const char *dir, const struct names *before, const char *pidpart,
                     struct noted_list *noted)
{
    struct names now = {0};
    list_profiles(dir, &now);
    /* one batch (cp_pack_batch: one look at who writes them before, one after) */
    struct cp_pack_one *f = calloc(now.n ? now.n : 1, sizeof *f);
    struct cp_notes *notes = calloc(now.n ? now.n : 1, sizeof *notes);
    size_t nf = 0;
    for (size_t k = 0; f && notes && k < now.n; k++) {
        const char *n = now.v[k];
        char path[PATH_MAX];
        if (cp_count_name_len(n) == strlen(n) &&
            !(before->n && bsearch(&n, before->v, before->n, sizeof *before->v, by_name)) &&
            (size_t)snprintf(path, sizeof path, "%s/%s", dir, n) < sizeof path &&
            (f[nf].path = strdup(path))) {
            f[nf].ctx = strstr(n + 8, pidpart) ? &notes[nf] : NULL;
            nf++;
        }
    }
    struct cp_pack_opts o = {3, false, cp_notes_on_meta, cp_notes_on_counter};
    cp_pack_batch(f, nf, &o);
    for (size_t k = 0; k < nf; k++) {
        if (f[k].rc != 0)
            fprintf(stderr, "ctrprof: %s not packed: %s\n", f[k].path, f[k].why);
        struct noted *nv = f[k].ctx && f[k].done.parsed
                               ? realloc(noted->v, (noted->n + 1) * sizeof *noted->v)
                               : NULL;
        if (nv) {
            noted->v = nv;
            /* (its name in the directory: the path's last part, dir/n) */
            if ((nv[noted->n].name = strdup(strrchr(f[k].path, '/') + 1)))
                nv[noted->n++].notes = notes[k];
        }
        free((char *)f[k].path);
    }
    free(f);
    free(notes);
    for (size_t k = 0; k < now.n; k++)
        free(now.v[k]);
    free(now.v);
}

int cp_cmd_run(int argc, char **argv)
{
    int i = 1, pack = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            i++;
            break;
        }
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--no-pack")) {
            pack = 0;
            continue;
        }
        const struct flag *f = NULL;
        for (size_t k = 0; k < sizeof flags / sizeof *flags; k++)
            if (!strcmp(argv[i], flags[k].name))
                f = &flags[k];
        if (!f) {
            if (argv[i][0] != '-')
                break; /* the command itself, without "--" */
            fprintf(stderr, "ctrprof: run: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "ctrprof: run: %s needs a value\n", argv[i]);
            return 2;
        }
        const char *v = argv[++i];
        uint64_t num;
        if (f->numeric && cp_options_parse_u64(v, 0, UINT64_MAX, &num) != 0) {
            fprintf(stderr, "ctrprof: run: %s %s: not a whole number\n", f->name, v);
            return 2;
        }
        const char *takes = cp_options_names_refused(f->env, v);
        if (takes) {
            fprintf(stderr, "ctrprof: run: %s takes %s, not '%s'\n", f->name, takes, v);
            return 2;
        }
        setenv(f->env, v, 1);
    }
    if (i >= argc) {
        fprintf(stderr, "ctrprof: run: no command given\n");
        usage(stderr);
        return 2;
    }
    const char *dir = getenv("CTRPROF_DIR");
    const char *file = getenv("CTRPROF_FILE");
    char opt[PATH_MAX + 16];
    if (file && *file) {
        /* the file's directory, likewise (the shim creates the file, not its directory) */
        char fdir[PATH_MAX];
        const char *fs = strrchr(file, '/');
        snprintf(opt, sizeof opt, "--file %s", file);
        if (fs && fs != file && (size_t)(fs - file) < sizeof fdir) {
            memcpy(fdir, file, (size_t)(fs - file));
            fdir[fs - file] = 0;
            if (make_dir(fdir, opt) != 0)
                return 2;
        }
    } else if (dir && *dir) {
        snprintf(opt, sizeof opt, "--dir %s", dir);
        if (make_dir(dir, opt) != 0)
            return 2;
    }
    /* what LD_PRELOAD cannot reach: said now, and the program runs all the same */
    struct cp_exe exe;
    bool exe_go = false; /* (a Go program: no exit handler runs, its notes never written) */
    const char *slash = strrchr(argv[i], '/');
    const char *prog = slash ? slash + 1 : argv[i];
    char reason[2 * PATH_MAX + 200] = "";
    if (cp_exe_inspect(argv[i], &exe) == 0) {
        exe_go = exe.go && !exe.interp[0];
        if (exe.kind == CP_EXE_STATIC)
            snprintf(reason, sizeof reason,
                     "%s%s%s is statically linked (it has no dynamic loader): LD_PRELOAD cannot "
                     "reach it, so it is not profiled",
                     exe.interp[0] ? "the interpreter of " : "", exe.interp[0] ? prog : "",
                     exe.interp[0] ? exe.interp : prog);
        else if (exe.secure[0])
            snprintf(
                reason, sizeof reason,
                "%s is %s: the dynamic loader ignores LD_PRELOAD for it, so it is not profiled",
                prog, exe.secure);
        if (reason[0])
            fprintf(stderr, "ctrprof: %s; running it anyway\n", reason);
        else if (exe_go)
            fprintf(stderr,
                    "ctrprof: %s is a Go program: what its C code (cgo) allocates and locks is "
                    "profiled; Go's own heap is its runtime's, which ctrprof does not see "
                    "(runtime/pprof profiles it)\n",
                    prog);
    }
    char shim[PATH_MAX];
    if (find_shim(shim, sizeof shim) != 0) {
        fprintf(stderr, "ctrprof: run: libctrprof.so not found next to the ctrprof binary nor in "
                        "../lib/ctrprof/ from it\n");
        return 1;
    }
    const char *old = getenv("LD_PRELOAD");
    char *pre = malloc(strlen(shim) + (old ? strlen(old) : 0) + 2);
    if (!pre)
        return 1;
    sprintf(pre, "%s%s%s", shim, old && *old ? " " : "", old && *old ? old : "");
    setenv("LD_PRELOAD", pre, 1);
    free(pre);
    /* the profiles there already (another run's, a shared file's): not this run's to pack */
    struct names before = {0};
    const char *outdir = dir && *dir ? dir : ".";
    if (pack && !(file && *file))
        list_profiles(outdir, &before);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "ctrprof: run: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        char me[32];
        snprintf(me, sizeof me, "%d", (int)getpid());
        setenv("CTRPROF_RUN_PID", me, 1); /* the shim notes what it saw at exit (shim.c) */
        execvp(argv[i], argv + i);
        fprintf(stderr, "ctrprof: run: %s: %s\n", argv[i], strerror(errno));
        _exit(127);
    }
    /* the child's signals are its own; we only wait */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    /* the process's files: its own, and those of the programs it exec'd (same pid) */
    char pidpart[32];
    snprintf(pidpart, sizeof pidpart, ".%d.", (int)pid);
    struct noted_list noted = {0};
    /* A --file is shared: more runs add to it, so it stays a counter file. */
    if (pack && !(file && *file))
        pack_new(outdir, &before, pidpart, &noted);
    for (size_t k = 0; k < before.n; k++)
        free(before.v[k]);
    free(before.v);
    if (file && *file) {
        if (access(file, F_OK) == 0)
            fprintf(stderr, "ctrprof: profile in %s\n", file);
        else
            fprintf(stderr,
                    "ctrprof: no profile in %s: %s recorded nothing, or the shim did not "
                    "run in it (its own lines above say why)\n",
                    file, prog);
    } else {
        char found[4][PATH_MAX];
        int nfound = 0, more = 0, others = 0; /* others: children's (and theirs) */
        struct names after = {0};             /* (packed by now, or not: both kinds are listed) */
        list_profiles(outdir, &after);
        for (size_t k = 0; k < after.n; k++) {
            const char *n = after.v[k];
            if (!strstr(n + 8, pidpart))
                others++;
            else if (nfound < 4)
                snprintf(found[nfound++], PATH_MAX, "%s/%s", outdir, n);
            else
                more++;
            free(after.v[k]);
        }
        free(after.v);
        struct cp_notes all = {0};
        char why[600];
        if (nfound) {
            for (int k = 0; k < nfound; k++) {
                fprintf(stderr, "ctrprof: profile in %s%s\n", found[k],
                        k == 0 ? " (children write their own, by pid)" : "");
                const struct cp_notes *had = noted_of(&noted, strrchr(found[k], '/') + 1);
                if (had)
                    cp_notes_add(&all, had);
                else
                    cp_notes_read(found[k], &all);
            }
            if (more)
                fprintf(stderr, "ctrprof: and %d more of the same process (programs it exec'd)\n",
                        more);
            if (all.forks) {
                fprintf(stderr,
                        "ctrprof: %s forked %llu child process%s; %d profile%s of other processes "
                        "in %s "
                        "(a child that recorded nothing, exec'd a program out of LD_PRELOAD's "
                        "reach, or "
                        "cleared its environment leaves none)\n",
                        prog, (unsigned long long)all.forks, all.forks == 1 ? "" : "es", others,
                        others == 1 ? "" : "s", outdir);
            }
            if (cp_why_empty(&all, prog, why, sizeof why))
                fprintf(stderr, "ctrprof: its heap profile is empty: %s\n", why);
            else if (cp_why_exec(&all, prog, why, sizeof why))
                fprintf(stderr, "ctrprof: %s\n", why);
        } else if (reason[0]) {
            fprintf(stderr, "ctrprof: no profile: %s\n", reason);
        } else if (WIFSIGNALED(st)) {
            /* killed before its first flush (SIGKILL, or a crash): a process that recorded
             * nothing leaves no file (core/publish.c) */
            fprintf(stderr,
                    "ctrprof: %s was killed by signal %d before it recorded anything, so it "
                    "left no profile\n",
                    prog, WTERMSIG(st));
        } else {
            /* the shim always leaves this process a file at exit (its notes), but for a
             * Go program, which runs no exit handler: a file only if it recorded something */
            if (exe_go)
                fprintf(stderr,
                        "ctrprof: %s left no profile: a Go program whose C code recorded "
                        "nothing (no C allocation sampled, no C lock waited for)\n",
                        prog);
            else
                fprintf(
                    stderr,
                    "ctrprof: %s left no profile: the shim did not run in it (a wrapper that "
                    "clears the environment, such as env -i or sudo, or a program that drops "
                    "LD_PRELOAD, or one that left by _exit or exec before it recorded "
                    "anything); profiles of its children, if any, in %s/ctrprof.*.count[.zst]\n",
                    prog, dir && *dir ? dir : ".");
        }
    }
    for (size_t k = 0; k < noted.n; k++)
        free(noted.v[k].name);
    free(noted.v);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}
