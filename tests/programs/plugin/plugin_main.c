/* plugin_main PLUGIN.so: with a second thread alive (so a flusher thread publishes, not
 * the allocating thread), loads the plugin, has it allocate 64 x 1 MiB (kept), and
 * unloads it before the next flush could name its module. */
#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>

static sem_t unloaded;

static void *idle(void *arg)
{
    sem_wait(&unloaded); /* alive until the plugin is gone: a handshake, not a sleep */
    return arg;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    pthread_t t;
    sem_init(&unloaded, 0, 0);
    pthread_create(&t, NULL, idle, NULL);
    static void *blocks[64];
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    void (*f)(void **, int) = (void (*)(void **, int))dlsym(h, "plugin_alloc");
    f(blocks, 64);
    dlclose(h);
    sem_post(&unloaded);
    pthread_join(t, NULL);
    printf("ok\n");
    return 0;
}
