/*
 * main.c — the `ctrprof` command: dispatches to the subcommands.
 * Offline context: a normal program (stdio and malloc are fine here).
 */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "version.h"

static void usage(FILE *f)
{
    fputs("usage: ctrprof run [options] -- cmd [args...]\n"
          "       ctrprof report [options] FILE|DIR...\n"
          "       ctrprof dump [--json] FILE\n"
          "       ctrprof serve [--listen ADDR:PORT] FILE|DIR...\n"
          "       ctrprof top [--profile heap|mutex|block] [--once] FILE|DIR...\n"
          "       ctrprof pack [--keep] [--level N] FILE|DIR...\n"
          "       ctrprof --version\n"
          "run 'ctrprof <command> --help' for the options of each command\n",
          f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run"))
        return cp_cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "report"))
        return cp_cmd_report(argc - 1, argv + 1);
    if (!strcmp(cmd, "dump"))
        return cp_cmd_dump(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve"))
        return cp_cmd_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "top"))
        return cp_cmd_top(argc - 1, argv + 1);
    if (!strcmp(cmd, "pack"))
        return cp_cmd_pack(argc - 1, argv + 1);
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        /* the string every counter file carries as its Version: */
        printf("%s\n", CP_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "ctrprof: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
