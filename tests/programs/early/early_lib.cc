// early_lib.cc — a shared library whose static initialiser allocates, for tests/e2e/
// early.sh (built there with g++ -O0). The program links it, so its initialiser runs
// before libctrprof.so's constructor, as libstdc++'s (the emergency exception pool) does:
// 1111 bytes malloc'd and freed, 2222 bytes realloc'd to 3333 and kept, a vector of two
// strings (operator new) kept.
#include <cstdlib>
#include <string>
#include <vector>

struct Init {
    std::vector<std::string> *v;
    void *keep;
    Init()
    {
        v = new std::vector<std::string>{"a string long enough to be on the heap, one",
                                         "another one, long enough for the heap too"};
        void *p = std::malloc(1111);
        std::free(p);
        void *q = std::malloc(2222);
        keep = std::realloc(q, 3333);
    }
};
static Init init;

extern "C" int early_lib_count()
{
    return (int)init.v->size();
}
