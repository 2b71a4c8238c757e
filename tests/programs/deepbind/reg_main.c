/* reg_main DIR MODE: loads DIR/libreg.so with RTLD_DEEPBIND and never calls dlsym: the
 * plugin registers its functions from its constructor (reg_plugin, exported: build with
 * -rdynamic). Then reg_site allocates 1000 objects (1000..1999 bytes), the program frees
 * 500 of them and the plugin the rest:
 *   thread   on a thread the program makes after the load;
 *   flusher  on the main thread, 400 ms after the load, in a program that made an idle
 *            thread before it (a profiler's thread may then run meanwhile).
 * Prints "ok", or what went wrong (exit 1). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void (*plug_alloc)(void **, int);
static void (*plug_free)(void **, int);
static void *objs[1000];
static sem_t done;

void reg_plugin(void (*alloc)(void **, int), void (*release)(void **, int));
void reg_plugin(void (*alloc)(void **, int), void (*release)(void **, int))
{
    plug_alloc = alloc;
    plug_free = release;
}

static void *use(void *arg)
{
    plug_alloc(objs, 1000);
    for (int i = 0; i < 500; i++)
        free(objs[i]);
    plug_free(objs + 500, 500);
    return arg;
}

static void *idle(void *arg)
{
    sem_wait(&done);
    return arg;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[2], "thread") && strcmp(argv[2], "flusher")))
        return 2;
    sem_init(&done, 0, 0);
    pthread_t t, i;
    int flusher = !strcmp(argv[2], "flusher");
    if (flusher && pthread_create(&i, NULL, idle, NULL))
        return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/libreg.so", argv[1]);
    if (!dlopen(path, RTLD_NOW | RTLD_DEEPBIND) || !plug_alloc) {
        printf("dlopen: %s\n", plug_alloc ? dlerror() : "not registered");
        return 1;
    }
    if (flusher) {
        struct timespec ts = {0, 400000000};
        nanosleep(&ts, NULL);
        use(NULL);
        sem_post(&done);
        pthread_join(i, NULL);
    } else if (pthread_create(&t, NULL, use, NULL) || pthread_join(t, NULL)) {
        return 1;
    }
    printf("ok\n");
    return 0;
}
