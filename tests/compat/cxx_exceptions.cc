// C++ workload for the compatibility suite: new/delete, containers, exceptions thrown
// through frames that allocate, std::thread. Deterministic output.
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

static int depth_throw(int n)
{
    std::vector<std::string> v(n, std::string(40, 'x'));
    if (n == 0)
        throw std::runtime_error("bottom");
    return depth_throw(n - 1) + (int)v.size();
}

int main()
{
    long caught = 0, sum = 0;
    for (int i = 0; i < 2000; i++) {
        try {
            depth_throw(i % 12);
        } catch (const std::exception &e) {
            caught += std::string(e.what()).size();
        }
    }
    std::vector<std::thread> ts;
    std::vector<long> part(4);
    for (int t = 0; t < 4; t++)
        ts.emplace_back([t, &part] {
            std::map<int, std::unique_ptr<std::string>> m;
            for (int i = 0; i < 50000; i++)
                m[i % 5000] = std::make_unique<std::string>(std::to_string(i * (t + 1)));
            long s = 0;
            for (auto &kv : m)
                s += (long)kv.second->size();
            part[t] = s;
        });
    for (auto &t : ts)
        t.join();
    for (long p : part)
        sum += p;
    std::cout << caught << " " << sum << std::endl;
    return 0;
}
