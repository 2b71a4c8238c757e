/* deep_main DIR MODE: loads DIR/libdeep.so with RTLD_DEEPBIND (MODE now: RTLD_NOW; lazy:
 * RTLD_LAZY; name: "libdeep.so" by name, found through this program's RUNPATH, which
 * glibc looks in only when the call comes from the program; dlmopen: into a new
 * namespace), and DIR/libownalloc.so with RTLD_DEEPBIND.
 *   main_keep: 500 objects of 200 bytes the program allocates and the plugin frees
 *   deep_site: 1000 objects (1000..1999 bytes) the plugin allocates; the program frees
 *              500 of them, the plugin the rest (dlmopen: the plugin frees them all)
 *   own_site:  100 objects from libownalloc.so's own malloc (never the shim's)
 * Prints "ok" and what own_churn counted ("own 200"), or what went wrong (exit 1). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *deep[1000], *mine[500];

static __attribute__((noinline)) void main_keep(void)
{
    for (int i = 0; i < 500; i++)
        mine[i] = malloc(200);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    char path[4096];
    const char *mode = argv[2];
    snprintf(path, sizeof path, "%s/libdeep.so", argv[1]);
    void *h;
    if (!strcmp(mode, "dlmopen"))
        h = dlmopen(LM_ID_NEWLM, path, RTLD_NOW);
    else if (!strcmp(mode, "name"))
        h = dlopen("libdeep.so", RTLD_NOW | RTLD_DEEPBIND);
    else
        h = dlopen(path, (!strcmp(mode, "lazy") ? RTLD_LAZY : RTLD_NOW) | RTLD_DEEPBIND);
    if (!h) {
        printf("dlopen: %s\n", dlerror());
        return 1;
    }
    void (*deep_alloc)(void **, int) = (void (*)(void **, int))dlsym(h, "deep_alloc");
    void (*deep_free)(void **, int) = (void (*)(void **, int))dlsym(h, "deep_free");
    /* dlsym(RTLD_NEXT) for this program: the object after it (the shim's puts is libc's) */
    if (!deep_alloc || !deep_free || dlsym(RTLD_NEXT, "puts") != dlsym(RTLD_DEFAULT, "puts")) {
        printf("dlsym: %s\n", dlerror());
        return 1;
    }
    deep_alloc(deep, 1000);
    if (!strcmp(mode, "dlmopen")) {
        deep_free(deep, 1000); /* (its own heap: only it can free them) */
    } else {
        main_keep();
        for (int i = 0; i < 500; i++)
            free(deep[i]);
        deep_free(deep + 500, 500);
        deep_free(mine, 500);
    }
    snprintf(path, sizeof path, "%s/libownalloc.so", argv[1]);
    void *o = dlopen(path, RTLD_NOW | RTLD_DEEPBIND);
    int (*own_churn)(int) = o ? (int (*)(int))dlsym(o, "own_churn") : NULL;
    if (!own_churn) {
        printf("libownalloc: %s\n", dlerror());
        return 1;
    }
    printf("ok own %d\n", own_churn(100));
    return 0;
}
