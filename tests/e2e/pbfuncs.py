# pbfuncs.py PROFILE.pb.gz: every Function of a gzipped profile.proto, "name TAB system_name"
# per line (a protobuf reader of its own: no dependency). For tests/e2e/names.sh.
import gzip, sys
def varint(b, i):
    r = s = 0
    while True:
        c = b[i]; i += 1; r |= (c & 0x7f) << s; s += 7
        if c < 0x80: return r, i
def fields(b):
    i = 0
    while i < len(b):
        k, i = varint(b, i); f, t = k >> 3, k & 7
        if t == 0: v, i = varint(b, i)
        elif t == 2: n, i = varint(b, i); v = b[i:i+n]; i += n
        elif t == 1: v = b[i:i+8]; i += 8
        elif t == 5: v = b[i:i+4]; i += 4
        yield f, v
pb = gzip.open(sys.argv[1]).read()
strs = [v.decode() for f, v in fields(pb) if f == 6]
for f, v in fields(pb):
    if f == 5:
        d = dict(fields(v))
        print(strs[d.get(2, 0)] + '\t' + strs[d.get(3, 0)])
