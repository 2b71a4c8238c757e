/*
 * exe.h — what kind of program a command is, seen before `ctrprof run` starts it: the
 * kinds LD_PRELOAD cannot reach (a statically linked executable; one the loader runs in
 * secure mode: setuid, setgid, file capabilities), and a Go program, whose own heap the
 * hooks do not see. Offline context.
 */
#ifndef CP_EXE_H
#define CP_EXE_H

#include <limits.h>
#include <stdbool.h>

enum cp_exe_kind { CP_EXE_DYNAMIC, CP_EXE_STATIC, CP_EXE_OTHER };

struct cp_exe {
    char path[PATH_MAX];   /* the file the command names (PATH searched as execvp does) */
    char interp[PATH_MAX]; /* a script's interpreter ("" otherwise) */
    int kind;              /* of the program that runs: the interpreter for a script */
    char secure[160];      /* why the loader ignores LD_PRELOAD for it ("" if it does not) */
    bool go; /* a Go program (its build-id note): its own heap is Go's runtime's, unseen */
};

/* 0, or -errno if the command cannot be found (execvp will say so itself). */
int cp_exe_inspect(const char *cmd, struct cp_exe *e);

#endif
