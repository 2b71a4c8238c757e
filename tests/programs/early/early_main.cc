// early_main.cc — a C++ program with static initialisers that allocate, linked with
// early_lib.cc's library, for tests/e2e/early.sh (built there with g++ -O0).
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

extern "C" int early_lib_count();
static std::vector<std::string> names = {"a string long enough to be on the heap, not inline",
                                         "another string long enough to be on the heap"};
static std::map<int, std::string> table = {{1, std::string(100, 'x')}, {2, std::string(200, 'y')}};

int main()
{
    std::vector<int> v;
    for (int i = 0; i < 1000; i++)
        v.push_back(i);
    return names.size() + table.size() + early_lib_count() == 6 ? 0 : 1;
}
