# Dicts, lists and strings: the allocation pattern of typical Python programs.
import collections
d = {}
for i in range(400000):
    k = "key-%d-%s" % (i, "x" * (i % 17))
    d[k] = [i, str(i), (i, i * 2)]
c = collections.Counter()
for k, v in d.items():
    c[len(k)] += len(v[1])
words = " ".join(str(i) for i in range(200000)).split()
s = sorted(words, key=lambda w: (len(w), w[::-1]))
print(len(d), sum(c.values()), s[:3], s[-1])
