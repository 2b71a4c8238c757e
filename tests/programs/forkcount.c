/*
 * forkcount.c — known allocations on both sides of a fork, for the exact-count checks of
 * tests/e2e/inline.sh: a single-threaded process publishes its events itself ("inline",
 * core/flusher.c), and puts its health and heap-over-time counters off to once a flush
 * interval; whatever it had not published when it forked must be published once, by
 * the parent, and whatever either process recorded must be in the file when it ends.
 *
 *   forkcount HOW N    parent_site: N malloc+free pairs of 48 bytes, then a fork made with
 *                      HOW (fork | _Fork); the child: child_site, N pairs of 80 bytes, then
 *                      _exit(0) (no exit handlers: the shim's _exit publishes); the parent
 *                      waits for it, then parent_site again (N pairs), then returns 0
 *   forkcount exec N   parent_site (N pairs), then execs /bin/true: the shim's exec hook
 *                      publishes what was put off before the image is replaced
 *
 * Nothing else allocates: output goes through write(2).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static __attribute__((noinline)) void parent_site(long n)
{
    for (long i = 0; i < n; i++) {
        void *volatile p = malloc(48);
        free(p);
    }
}

static __attribute__((noinline)) void child_site(long n)
{
    for (long i = 0; i < n; i++) {
        void *volatile p = malloc(80);
        free(p);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    long n = atol(argv[2]);
    parent_site(n);
    if (!strcmp(argv[1], "exec")) {
        execl("/bin/true", "true", (char *)NULL);
        return 1;
    }
    pid_t pid = !strcmp(argv[1], "_Fork") ? _Fork() : fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        child_site(n);
        _exit(0);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 1;
    parent_site(n);
    static const char ok[] = "ok\n";
    (void)!write(1, ok, sizeof ok - 1);
    return 0;
}
