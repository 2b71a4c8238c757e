// cxx_names.cc — C++ frames whose whole names are long or alike, for tests/e2e/names.sh
// (compiled there with g++): std::vector<std::string>::emplace_back, an overloaded pair
// (app::fill(int), app::fill(double)), two instantiations of one template with the same
// parameters (app::blk<1>, app::blk<2>), an operator<< and a lambda. Sizes are distinct
// so each site can be found by its bytes at CTRPROF_MEM_RATE=1.
#include <cstdlib>
#include <string>
#include <vector>

namespace app {
__attribute__((noinline)) void *fill(int n)
{
    return std::malloc(1000 + n); // 1001 bytes
}
__attribute__((noinline)) void *fill(double d)
{
    return std::malloc(2000 + (int)d); // 2002 bytes
}
template <int N> __attribute__((noinline)) void *blk()
{
    return std::malloc(3000 + N); // 3001 and 3002 bytes
}
struct Sink {
    void *last = nullptr;
    __attribute__((noinline)) Sink &operator<<(int n)
    {
        last = std::malloc(4000 + n); // 4004 bytes
        return *this;
    }
};
} // namespace app

int main()
{
    std::vector<std::string> v;
    v.reserve(100); // 3200 bytes
    for (int i = 0; i < 100; i++) // 100 x 63 bytes
        v.emplace_back("a string too long for the small-string buffer, so it allocates");
    void *a = app::fill(1), *b = app::fill(2.0);
    void *c = app::blk<1>(), *d = app::blk<2>();
    app::Sink s;
    s << 4;
    auto lam = [](int n) __attribute__((noinline)) { return std::malloc(5000 + n); };
    void *e = lam(5); // 5005 bytes
    std::free(a);
    std::free(b);
    std::free(c);
    std::free(d);
    std::free(s.last);
    std::free(e);
    return 0;
}
