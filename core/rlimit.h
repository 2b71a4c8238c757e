/*
 * rlimit.h — what the host's resource limits allow the profiler to take.
 */
#ifndef CP_RLIMIT_H
#define CP_RLIMIT_H

#include <stdbool.h>

/* Would a thread of ours cost the program a process it could otherwise start? True when
 * RLIMIT_NPROC (which counts threads too) was set below the kernel's own default
 * (threads-max / 2, what every process gets unless someone lowered it: `ulimit -u`, PAM's
 * limits.conf, a service manager's LimitNPROC). Unreadable threads-max: any finite
 * limit counts as set. A few system calls: call once per process, not per event. */
bool cp_rlimit_nproc_tight(void);

#endif
