/* version.h — the version of ctrprof: the shim writes it into every counter file's
 * "Version:" metadata (preload/shim.c), `ctrprof --version` prints it (tools/main.c).
 * One definition, so the two cannot disagree. */
#ifndef CP_VERSION_H
#define CP_VERSION_H

#define CP_VERSION "ctrprof-0.1.0"

#endif
