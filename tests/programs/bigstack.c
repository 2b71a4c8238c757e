/* A pthread_create that fails with EAGAIN for a reason that is not a process limit: a
 * stack of 2^46 bytes cannot be mapped (glibc says EAGAIN). The program keeps one thread
 * of its own alive (so a profiler has a thread of its own running), tries the big stack,
 * then counts its tasks in /proc/self/task.
 *   bigstack     prints "create: 11" (EAGAIN) and "tasks: N"
 * A profiler that took the refusal for RLIMIT_NPROC's retires its thread for good (N is
 * 2 under it as bare); one that keeps it has N = 3. */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sem_t done;

static void *idle(void *arg)
{
    sem_wait(&done);
    return arg;
}

static void *nothing(void *arg)
{
    return arg;
}

static int tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

int main(void)
{
    sem_init(&done, 0, 0);
    pthread_t t, big;
    if (pthread_create(&t, NULL, idle, NULL))
        return 1;
    for (int i = 0; i < 100; i++) { /* (a profiler's thread comes with the first) */
        void *volatile p = malloc(4096);
        free(p);
    }
    usleep(50000);
    pthread_attr_t a;
    pthread_attr_init(&a);
    int r = pthread_attr_setstacksize(&a, (size_t)1 << 46);
    if (r == 0)
        r = pthread_create(&big, &a, nothing, NULL);
    printf("create: %d\n", r);
    usleep(50000);
    printf("tasks: %d\n", tasks());
    sem_post(&done);
    pthread_join(t, NULL);
    return 0;
}
