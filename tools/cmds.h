/* cmds.h — the subcommands of `ctrprof` (each in its own file under tools/). Each takes
 * argv starting at the subcommand name and returns the process exit status: 0 success,
 * 1 bad input (a file that cannot be read), 2 bad usage. */
#ifndef CP_CMDS_H
#define CP_CMDS_H

int cp_cmd_run(int argc, char **argv);
int cp_cmd_report(int argc, char **argv);
int cp_cmd_dump(int argc, char **argv);

#endif
