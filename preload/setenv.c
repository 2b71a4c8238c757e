/*
 * setenv.c — the program's changes to its environment, interposed: setenv, putenv,
 * unsetenv and clearenv, each the real function's call, then said.c's look at environ
 * (cp_shim_said_env_changed): glibc's setenv and putenv of a new name copy environ into
 * an array of their own up to its terminator, and the slot said.c holds after it (what
 * this tree says, invisible till something is said) was lost; system() and popen()
 * children then said a line again (issue 29). said.c puts environ back into an array of
 * its own with the slot.
 *
 * Context: any application thread, the program's own call (glibc's are not async-signal-
 * safe; nor is this). Result and errno are the real function's own. A program that
 * assigns environ itself is not seen: the slot is given up then (said.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

static void changed(bool held)
{
    int saved = errno;
    cp_shim_said_env_changed(held);
    errno = saved;
}

EXPORT int setenv(const char *name, const char *value, int overwrite)
{
    static void *real;
    bool held = cp_shim_said_env_before();
    int r = ((int (*)(const char *, const char *, int))cp_shim_next(&real, "setenv"))(name, value,
                                                                                      overwrite);
    changed(held);
    return r;
}

EXPORT int putenv(char *string)
{
    static void *real;
    bool held = cp_shim_said_env_before();
    int r = ((int (*)(char *))cp_shim_next(&real, "putenv"))(string);
    changed(held);
    return r;
}

EXPORT int unsetenv(const char *name)
{
    static void *real;
    bool held = cp_shim_said_env_before();
    int r = ((int (*)(const char *))cp_shim_next(&real, "unsetenv"))(name);
    changed(held);
    return r;
}

EXPORT int clearenv(void)
{
    static void *real;
    bool held = cp_shim_said_env_before();
    int r = ((int (*)(void))cp_shim_next(&real, "clearenv"))();
    changed(held);
    return r;
}
