/* cmds.h — the subcommands of `ctrprof` (each in its own file under tools/). Each takes
 * argv starting at the subcommand name and returns the process exit status: 0 success,
 * 1 bad input (a file that cannot be read), 2 bad usage. */
#ifndef CP_CMDS_H
#define CP_CMDS_H

#include <stddef.h>
#include <stdint.h>

#include "cfile.h"

int cp_cmd_run(int argc, char **argv);
int cp_cmd_report(int argc, char **argv);
int cp_cmd_dump(int argc, char **argv);
int cp_cmd_serve(int argc, char **argv);
int cp_cmd_top(int argc, char **argv);
int cp_cmd_pack(int argc, char **argv);

/* Load and validate the counter file at path, calling meta_cb for its metadata; on error
 * print one line "ctrprof: PATH: what" and return 1 (nothing to unload). */
int cp_tool_read(const char *path, uint8_t **buf, size_t *len, cp_cfile_meta_fn meta_cb, void *ctx);
/* The same without printing: on error writes what is wrong (no path) into why. */
int cp_tool_check(const char *path, uint8_t **buf, size_t *len, cp_cfile_meta_fn meta_cb, void *ctx,
                  char *why, size_t whylen);

#endif
