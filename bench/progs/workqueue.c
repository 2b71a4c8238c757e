/* Shape (e) of issue 23: lock-heavy code, a thread pool's shape. T workers take small
 * tasks from one mutex-and-condition-variable queue that a producer fills, and add their
 * results under a second, shared mutex: contention on every lock, blocking on every wait.
 *   workqueue [TASKS] [T]   default 2 M tasks, 4 workers; prints a checksum */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define QCAP 256
static uint64_t q[QCAP];
static unsigned qh, qt;
static int done;
static pthread_mutex_t qmu = PTHREAD_MUTEX_INITIALIZER, rmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t notempty = PTHREAD_COND_INITIALIZER, notfull = PTHREAD_COND_INITIALIZER;
static uint64_t result;

static void *worker(void *arg)
{
    for (;;) {
        pthread_mutex_lock(&qmu);
        while (qh == qt && !done)
            pthread_cond_wait(&notempty, &qmu);
        if (qh == qt) {
            pthread_mutex_unlock(&qmu);
            return arg;
        }
        uint64_t t = q[qh++ % QCAP];
        pthread_cond_signal(&notfull);
        pthread_mutex_unlock(&qmu);
        for (int i = 0; i < 200; i++) /* the task */
            t = t * 6364136223846793005ull + 1442695040888963407ull;
        pthread_mutex_lock(&rmu);
        result += t >> 32;
        pthread_mutex_unlock(&rmu);
    }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    int nt = argc > 2 ? atoi(argv[2]) : 4;
    pthread_t th[64];
    if (nt > 64)
        nt = 64;
    for (int i = 0; i < nt; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&qmu);
        while (qt - qh == QCAP)
            pthread_cond_wait(&notfull, &qmu);
        q[qt++ % QCAP] = (uint64_t)i;
        pthread_cond_signal(&notempty);
        pthread_mutex_unlock(&qmu);
    }
    pthread_mutex_lock(&qmu);
    done = 1;
    pthread_cond_broadcast(&notempty);
    pthread_mutex_unlock(&qmu);
    for (int i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    printf("tasks %ld checksum %llu\n", n, (unsigned long long)result);
    return 0;
}
