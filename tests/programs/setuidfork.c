/*
 * setuidfork.c — a server that forks workers which drop privileges (issue 29): a worker
 * that can no longer create its profile says so; the tree of processes should say it
 * once, not once per worker.
 *
 *   setuidfork UID [N [exec]]  allocate, fork N workers (default 5) that setuid(UID),
 *                        allocate 16 MiB in 1 MiB blocks and exit(0); reap them; print
 *                        "workers N". With "exec", each worker execs this program again
 *                        after setuid ("setuidfork child 2": that image allocates and
 *                        execs itself once more, then exits 0): every image after the
 *                        first of each worker is a new one, which cannot make its file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void churn(void)
{
    for (int i = 0; i < 16; i++) {
        char *volatile p = malloc(1 << 20);
        p[0] = 1;
        free(p);
    }
}

int main(int argc, char **argv)
{
    if (argc > 2 && !strcmp(argv[1], "child")) {
        churn();
        int left = atoi(argv[2]);
        if (left > 1) {
            char n[16];
            snprintf(n, sizeof n, "%d", left - 1);
            execl("/proc/self/exe", argv[0], "child", n, (char *)NULL);
            return 3;
        }
        return 0;
    }
    int do_exec = argc > 3 && !strcmp(argv[3], "exec");
    uid_t uid = argc > 1 ? (uid_t)atoi(argv[1]) : 65534;
    int n = argc > 2 ? atoi(argv[2]) : 5;
    churn();
    int ok = 0;
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) {
            if (setgid(uid) != 0 || setuid(uid) != 0)
                _exit(1);
            churn();
            if (do_exec) {
                execl("/proc/self/exe", argv[0], "child", "2", (char *)NULL);
                _exit(2);
            }
            exit(0);
        }
        int st;
        if (p > 0 && waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0)
            ok++;
    }
    printf("workers %d\n", ok);
    return 0;
}
