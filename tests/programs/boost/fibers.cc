// fibers — boost.context fibers (HOSTS: coroutine and fiber stacks), four threads each
// running, ROUNDS times, two fibers that take turns: one on a malloc'd stack
// (fixedsize_stack) that allocates 50 objects and hands them over, takes a mutex the
// other threads take too, then throws and catches an exception; one on an mmap'd stack
// with a guard page (protected_fixedsize_stack) that frees what it was handed and
// allocates and frees one object a turn, and is destroyed unfinished (boost unwinds its
// stack with an exception: forced_unwind).
//
//   fibers STACK [ROUNDS [THREAD_STACK]]
//                           fiber stacks of STACK bytes (8192: boost's smallest useful),
//                           on threads of THREAD_STACK bytes (default: glibc's); prints
//                           "handed H turned T" (fiber_hand's objects, and fiber_turn's),
//                           then "total S left 0"
//
// boost's make_fcontext has no CFI, so a profiler's walk from a fiber needs libunwind,
// which must not run on the fiber's 8 KiB: a protected fiber stack is mmap'd just below
// its thread's stack block, and was taken for the thread's own (SIGSEGV, session 26),
// with threads of the default size and, until later that session, of a smaller one.
#include <boost/context/fiber.hpp>
#include <boost/context/fixedsize_stack.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <pthread.h>
#include <vector>
namespace ctx = boost::context;

static std::mutex mu;
static long total;
static std::atomic<long> handed, turned;

__attribute__((noinline)) static void *fiber_hand(size_t n)
{
    void *p = std::malloc(n);
    __asm__ volatile("" ::"r"(p) : "memory"); /* (not a tail call: its frame is the site) */
    handed++;
    return p;
}

__attribute__((noinline)) static void *fiber_turn(size_t n)
{
    void *p = std::malloc(n);
    __asm__ volatile("" ::"r"(p) : "memory"); /* (not a tail call: its frame is the site) */
    turned++;
    return p;
}

static void run(size_t stack, int rounds, std::vector<void *> &handoff)
{
    for (int r = 0; r < rounds; r++) {
        ctx::fiber f1{std::allocator_arg, ctx::fixedsize_stack(stack), [&](ctx::fiber &&m) {
                          for (int i = 0; i < 50; i++) {
                              handoff.push_back(fiber_hand(64 + i));
                              {
                                  std::lock_guard<std::mutex> g(mu);
                                  total += i;
                              }
                              m = std::move(m).resume();
                          }
                          try {
                              throw std::runtime_error("in a fiber");
                          } catch (const std::exception &) {
                              std::lock_guard<std::mutex> g(mu);
                              total++;
                          }
                          return std::move(m);
                      }};
        ctx::fiber f2{std::allocator_arg, ctx::protected_fixedsize_stack(stack),
                      [&](ctx::fiber &&m) {
                          for (;;) {
                              if (!handoff.empty()) {
                                  std::free(handoff.back());
                                  handoff.pop_back();
                              }
                              std::free(fiber_turn(128));
                              m = std::move(m).resume();
                          }
                          return std::move(m);
                      }};
        for (int i = 0; i < 60 && f1; i++) {
            f1 = std::move(f1).resume();
            f2 = std::move(f2).resume();
        }
    } // (f2, unfinished, is unwound here)
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: fibers STACK [ROUNDS]\n");
        return 2;
    }
    size_t stack = std::strtoul(argv[1], nullptr, 10);
    int rounds = argc > 2 ? std::atoi(argv[2]) : 200;
    size_t tstack = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 0;
    enum { THREADS = 4 };
    std::vector<std::vector<void *>> h(THREADS);
    struct job {
        size_t stack;
        int rounds;
        std::vector<void *> *handoff;
    } jobs[THREADS];
    pthread_t ts[THREADS];
    pthread_attr_t at;
    pthread_attr_init(&at);
    if (tstack && pthread_attr_setstacksize(&at, tstack)) {
        std::fprintf(stderr, "fibers: a thread stack of %zu bytes\n", tstack);
        return 2;
    }
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = {stack, rounds, &h[t]};
        auto body = [](void *p) -> void * {
            job *j = static_cast<job *>(p);
            run(j->stack, j->rounds, *j->handoff);
            return nullptr;
        };
        if (pthread_create(&ts[t], &at, body, &jobs[t]))
            return 2;
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(ts[t], nullptr);
    size_t left = 0;
    for (auto &v : h) {
        left += v.size();
        for (void *p : v)
            std::free(p);
    }
    std::printf("handed %ld turned %ld\ntotal %ld left %zu\n", handed.load(), turned.load(), total,
                left);
    return 0;
}
