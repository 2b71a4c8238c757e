/*
 * dlfork.c — fork while another thread is inside dlopen/dlclose (issue 29): a child
 * forked then must not inherit a loader or unwinder lock it can never take.
 *
 *   dlfork [N]   a thread dlopen()s and dlclose()s a library not otherwise loaded, in a
 *                loop; main forks N children (default 200), each of which allocates
 *                (so that at CTRPROF_MEM_RATE=1 it walks its stack) and exits 0. A child
 *                that does not exit within 10 s is killed and counted as hung.
 *                Prints "children N, hung H".
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int stop;

static void *loader(void *arg)
{
    static const char *const libs[] = {"libz.so.1", "libcrypt.so.1", "libutil.so.1",
                                       "libresolv.so.2"};
    for (unsigned i = 0; !__atomic_load_n(&stop, __ATOMIC_RELAXED); i++) {
        void *h = dlopen(libs[i % 4], RTLD_NOW | RTLD_LOCAL);
        char *volatile p = malloc(64);
        free(p);
        if (h)
            dlclose(h);
    }
    return arg;
}

__attribute__((noinline)) static void child_work(void)
{
    for (int i = 0; i < 200; i++) {
        char *volatile p = malloc(32 + (size_t)i);
        free(p);
    }
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200;
    pthread_t t;
    pthread_create(&t, NULL, loader, NULL);
    int hung = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            child_work();
            _exit(0);
        }
        int st, done = 0;
        for (int k = 0; k < 1000 && !done; k++) {
            if (waitpid(pid, &st, WNOHANG) == pid)
                done = 1;
            else {
                struct timespec ts = {0, 10 * 1000 * 1000};
                nanosleep(&ts, NULL); /* a poll of waitpid (a hang shows as 10 s) */
            }
        }
        if (!done) {
            hung++;
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break; /* one is enough to tell */
        }
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    pthread_join(t, NULL);
    printf("children %d, hung %d\n", n, hung);
    return 0;
}
