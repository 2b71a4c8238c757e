/* dlopen/dlclose cycles for the compatibility suite: loads libraries, calls into them so
 * they allocate, closes them, and loads them again (address reuse after dlclose). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    const char *libs[] = {"libz.so.1", "libm.so.6", "libcrypt.so.1"};
    unsigned long acc = 0;
    for (int round = 0; round < 50; round++) {
        for (unsigned i = 0; i < sizeof libs / sizeof *libs; i++) {
            void *h = dlopen(libs[i], RTLD_NOW | RTLD_LOCAL);
            if (!h) {
                printf("skip %s\n", libs[i]);
                continue;
            }
            if (!strcmp(libs[i], "libz.so.1")) {
                const char *(*zv)(void) = (const char *(*)(void))dlsym(h, "zlibVersion");
                if (zv)
                    acc += strlen(zv());
            } else if (!strcmp(libs[i], "libm.so.6")) {
                double (*c)(double) = (double (*)(double))dlsym(h, "cos");
                if (c)
                    acc += (unsigned long)(c(0.0) * 10);
            }
            char *p = malloc(100 + round);
            memset(p, round, 100);
            acc += (unsigned char)p[5];
            free(p);
            dlclose(h);
        }
    }
    printf("%lu\n", acc);
    return 0;
}
