// cxxterminate — a C++ program that ends by an uncaught exception (std::terminate, then
// abort), with a thread of its own beside (so that the profiler has a flusher thread,
// whose last interval would end with the process). At CTRPROF_MEM_RATE=1 the profile
// must hold site_kept's 50 blocks of 1000 bytes (tests/e2e/shim.sh: preload/exit.c's
// abort hook publishes them first). Exits by SIGABRT.
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <unistd.h>

static void *volatile keep[64];

__attribute__((noinline)) static void site_kept()
{
    for (int i = 0; i < 50; i++)
        keep[i] = malloc(1000);
}

int main()
{
    std::thread t([] {
        for (;;)
            pause();
    });
    t.detach();
    site_kept();
    throw std::runtime_error("uncaught");
}
