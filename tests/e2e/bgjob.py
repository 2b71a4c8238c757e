#!/usr/bin/env python3
# bgjob.py SHIM PROG DIR — hostfiles.sh section 9: PROG (tests/programs/stderrfile keep)
# run under SHIM at rate 1 as a background job of an interactive bash on a terminal of
# its own (a pty) under `stty tostop`, its standard error that terminal. The profiler has
# a line to say; a write to the terminal from a background job under tostop raises
# SIGTTOU, which stops the job (the shell's wait then says 150). Prints "job=STATUS"
# (job=none if the shell said nothing in 30 s); the program's own output goes to DIR/out.
import os
import pty
import re
import select
import sys
import time

shim, prog, work = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.environ.pop("LD_PRELOAD", None)
    os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])

out = b""


def send(s):
    os.write(fd, s.encode())


def read_until(pattern, limit):
    global out
    end = time.time() + limit
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                return False
            if re.search(pattern, out.replace(b"\r", b"")):
                return True
    return False


send("stty tostop; PS1='$ '\n")
# (the echo's text is split so that the terminal's echo of the line does not match)
send(f"CTRPROF_DIR={work} CTRPROF_MEM_RATE=1 LD_PRELOAD={shim} {prog} keep {work}/data "
     f">{work}/out & wait $!; echo \"jo\"\"b=$?\"\n")
read_until(rb"\njob=\d+\n", 30)
m = re.findall(rb"\njob=(\d+)\n", out.replace(b"\r", b""))
print("job=" + (m[-1].decode() if m else "none"))
send("kill -9 %1 2>/dev/null; exit\n")
time.sleep(0.3)
try:
    os.kill(pid, 9)
except OSError:
    pass
