/* The main thread leaves before the program's other threads end, as daemons and thread
 * pools do: glibc ends the process when the last thread ends (exit status 0). Under a
 * profiler whose own thread outlived the program's, the process never ended (and, its
 * one thread blocking every signal, SIGTERM did not end it either).
 *   mainexit exit|cancel|workerexit
 *     exit:       main calls pthread_exit while a worker still runs; the worker allocates
 *                 1,000 blocks in late_allocs() after main is gone, prints "done", returns
 *     cancel:     the worker cancels main (blocked in pause(), a cancellation point),
 *                 then does the same
 *     workerexit: as exit, and the worker ends with pthread_exit
 *   bare: prints "done", exits 0 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *mode;
static pthread_t main_thread;
static void *keep[1000];

static __attribute__((noinline)) void late_allocs(void)
{
    for (int i = 0; i < 1000; i++)
        keep[i] = malloc(48);
    for (int i = 0; i < 1000; i++)
        free(keep[i]);
}

static void *worker(void *arg)
{
    if (strcmp(mode, "cancel") == 0) {
        usleep(50000);
        pthread_cancel(main_thread);
    }
    usleep(100000); /* main is gone by now (exit: it left at once) */
    late_allocs();
    printf("done\n");
    fflush(stdout);
    if (strcmp(mode, "workerexit") == 0)
        pthread_exit(arg);
    return arg;
}

int main(int argc, char **argv)
{
    mode = argc > 1 ? argv[1] : "exit";
    main_thread = pthread_self();
    pthread_t w;
    pthread_create(&w, NULL, worker, NULL);
    pthread_detach(w);
    if (strcmp(mode, "cancel") == 0)
        for (;;)
            pause();
    pthread_exit(NULL);
}
