# threading and multiprocessing under the shim (fork start method, then spawn).
import multiprocessing as mp
import threading

def work(n):
    return sum(len(str(i) * (i % 7)) for i in range(n))

def main():
    res = [0] * 8
    def t(i):
        res[i] = work(20000 + i)
    ts = [threading.Thread(target=t, args=(i,)) for i in range(8)]
    for x in ts: x.start()
    for x in ts: x.join()
    print(sum(res))
    for method in ("fork", "spawn"):
        with mp.get_context(method).Pool(2) as p:
            print(method, sum(p.map(work, [5000, 6000, 7000, 8000])))

if __name__ == "__main__":
    main()
