/*
 * run.c — `ctrprof run [options] -- cmd args...`: runs cmd with the shim preloaded and
 * the options turned into CTRPROF_* variables; says where the profile went.
 * Offline context (a normal program).
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
#include "options.h"

static void usage(FILE *f)
{
    fputs("usage: ctrprof run [options] -- cmd [args...]\n"
          "  --rate N            heap: bytes per sample (CTRPROF_MEM_RATE; 1 = every allocation, 0 = off)\n"
          "  --mutex-fraction N  1 in N mutex contentions (CTRPROF_MUTEX_FRACTION; 0 = off)\n"
          "  --block-rate NS     block profile rate in ns (CTRPROF_BLOCK_RATE; 0 = off)\n"
          "  --file F            write (or add) into this file (CTRPROF_FILE)\n"
          "  --dir D             directory for ctrprof.<program>.<pid>.count (CTRPROF_DIR)\n"
          "  --flush-ms N        flush interval (CTRPROF_FLUSH_MS)\n"
          "  --depth N           stack depth (CTRPROF_DEPTH)\n"
          "  --unwind U          cfi, libunwind, fp or check (CTRPROF_UNWIND)\n",
          f);
}

struct flag {
    const char *name, *env;
    int numeric;
};

static const struct flag flags[] = {
    {"--rate", "CTRPROF_MEM_RATE", 1},       {"--mutex-fraction", "CTRPROF_MUTEX_FRACTION", 1},
    {"--block-rate", "CTRPROF_BLOCK_RATE", 1}, {"--file", "CTRPROF_FILE", 0},
    {"--dir", "CTRPROF_DIR", 0},             {"--flush-ms", "CTRPROF_FLUSH_MS", 1},
    {"--depth", "CTRPROF_DEPTH", 1},         {"--unwind", "CTRPROF_UNWIND", 0},
};

/* libctrprof.so beside this binary */
static int find_shim(char *out, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = 0;
    if ((size_t)snprintf(out, len, "%s/libctrprof.so", self) >= len)
        return -1;
    return access(out, R_OK);
}

int cp_cmd_run(int argc, char **argv)
{
    int i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            i++;
            break;
        }
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
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
        if (!strcmp(f->name, "--unwind") && cp_unwind_parse(v) < 0) {
            fprintf(stderr, "ctrprof: run: --unwind takes cfi, libunwind, fp or check, not '%s'\n", v);
            return 2;
        }
        setenv(f->env, v, 1);
    }
    if (i >= argc) {
        fprintf(stderr, "ctrprof: run: no command given\n");
        usage(stderr);
        return 2;
    }
    char shim[PATH_MAX];
    if (find_shim(shim, sizeof shim) != 0) {
        fprintf(stderr, "ctrprof: run: libctrprof.so not found next to the ctrprof binary\n");
        return 1;
    }
    const char *old = getenv("LD_PRELOAD");
    char *pre = malloc(strlen(shim) + (old ? strlen(old) : 0) + 2);
    if (!pre)
        return 1;
    sprintf(pre, "%s%s%s", shim, old && *old ? " " : "", old && *old ? old : "");
    setenv("LD_PRELOAD", pre, 1);
    free(pre);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "ctrprof: run: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
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
    const char *file = getenv("CTRPROF_FILE");
    const char *dir = getenv("CTRPROF_DIR");
    if (file && *file)
        fprintf(stderr, "ctrprof: profile in %s\n", file);
    else {
        const char *slash = strrchr(argv[i], '/');
        const char *prog = slash ? slash + 1 : argv[i];
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/ctrprof.%s.%d.count", dir && *dir ? dir : ".", prog, (int)pid);
        struct stat sb;
        if (stat(path, &sb) == 0)
            fprintf(stderr, "ctrprof: profile in %s (children write their own, by pid)\n", path);
        else /* a process that records nothing leaves no file (core/prof.c) */
            fprintf(stderr,
                    "ctrprof: %s recorded nothing, so it left no profile (too few bytes "
                    "allocated to draw a sample: --rate 1 records every allocation); profiles "
                    "of its children, if any, in %s/ctrprof.*.count\n",
                    prog, dir && *dir ? dir : ".");
    }
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}
