/* A real-time main thread (SCHED_FIFO 10) that starts two normal workers (SCHED_OTHER,
 * explicitly) which allocate for 300 ms: the profiler's thread, started by main's first
 * pthread_create, inherited SCHED_FIFO, so its flushes preempted the normal workers at
 * real-time priority. After 100 ms main counts the process's threads whose policy
 * (/proc/self/task/N/stat, field 41) is not SCHED_OTHER and prints "rt_threads N": 1
 * bare (main). Exits 77 where SCHED_FIFO is not allowed. */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile int stop;

static void *worker(void *arg)
{
    while (!stop) {
        void *p = malloc(64);
        free(p);
    }
    return arg;
}

static int policy_of(const char *tid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/task/%s/stat", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the name may hold spaces */
    int field = 2, pol = -1;
    for (char *tok = strtok(p ? p + 1 : buf, " "); tok; tok = strtok(NULL, " "))
        if (++field == 41)
            pol = atoi(tok);
    return pol;
}

int main(void)
{
    struct sched_param rt = {.sched_priority = 10}, z = {.sched_priority = 0};
    if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &rt) != 0) {
        printf("no rt\n");
        return 77;
    }
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&a, SCHED_OTHER);
    pthread_attr_setschedparam(&a, &z);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], &a, worker, NULL) != 0)
            return 1;
    usleep(100000);
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.' && policy_of(e->d_name) > 0)
            n++;
    if (d)
        closedir(d);
    usleep(200000);
    stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("rt_threads %d\n", n);
    return 0;
}
