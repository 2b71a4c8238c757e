// cxxwait.cc — the C++ standard library's timed waits (issue 30): GCC 12's libstdc++
// builds std::condition_variable::wait_for on pthread_cond_clockwait and
// std::timed_mutex::try_lock_for on pthread_mutex_clocklock (inline, from the program).
// Same output as waitvariants.c: "<variant> <sum of the waits, ns> <sum of the waits up to
// the hand-over, ns>", 3 waiters blocked ~20 ms in wait_<variant>() (plain C names),
// released by the main thread at release_<variant>(); BAD if a call fails.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <thread>
#include <time.h>

using namespace std::chrono_literals;

static uint64_t now()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static std::mutex m;
static std::condition_variable cv;
static bool go;
static std::timed_mutex tm;
static uint64_t handed;

extern "C" {
__attribute__((noinline)) bool wait_cv_wait_for()
{
    std::unique_lock<std::mutex> lk(m);
    return cv.wait_for(lk, 60s, [] { return go; });
}
__attribute__((noinline)) bool wait_try_lock_for()
{
    bool ok = tm.try_lock_for(60s);
    if (ok)
        tm.unlock();
    return ok;
}
/* held all along by the main thread: times out after 20 ms, and still blocked 20 ms */
__attribute__((noinline)) bool wait_try_lock_for_timeout()
{
    return !tm.try_lock_for(20ms);
}
__attribute__((noinline)) void release_cv_wait_for()
{
    {
        std::lock_guard<std::mutex> g(m);
        go = true;
    }
    cv.notify_all();
}
__attribute__((noinline)) void release_try_lock_for()
{
    handed = now();
    tm.unlock();
}
}

static void run(const char *name, bool (*wait)(), void (*take)(), void (*release)(), bool charged)
{
    uint64_t waited = 0, t0s[3];
    std::thread t[3];
    int entered = 0;
    go = false;
    if (take)
        take();
    for (int i = 0; i < 3; i++)
        t[i] = std::thread([&, i] {
            t0s[i] = now();
            __atomic_add_fetch(&entered, 1, __ATOMIC_ACQ_REL);
            bool ok = wait();
            __atomic_add_fetch(&waited, now() - t0s[i], __ATOMIC_RELAXED);
            if (!ok)
                std::printf("BAD %s\n", name);
        });
    while (__atomic_load_n(&entered, __ATOMIC_ACQUIRE) < 3)
        std::this_thread::sleep_for(100us); // a poll of entered
    // the hold: the measured workload (each waiter measures its own wait)
    std::this_thread::sleep_for(20ms);
    if (release)
        release();
    uint64_t handed_sum = 0;
    for (int i = 0; i < 3; i++) {
        t[i].join();
        if (charged && handed > t0s[i])
            handed_sum += handed - t0s[i];
    }
    std::printf("%s %llu %llu\n", name, (unsigned long long)waited, (unsigned long long)handed_sum);
}

int main()
{
    run("cv_wait_for", wait_cv_wait_for, nullptr, release_cv_wait_for, false);
    run("try_lock_for", wait_try_lock_for, [] { tm.lock(); }, release_try_lock_for, true);
    tm.lock();
    run("try_lock_for_timeout", wait_try_lock_for_timeout, nullptr, nullptr, false);
    tm.unlock();
    return 0;
}
