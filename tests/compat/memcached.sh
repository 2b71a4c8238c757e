#!/bin/bash
# memcached under a bounded loopback load: 4 client threads x N (default 3000) set/get
# pairs against a memcached on 127.0.0.1 (a free port), then a clean shutdown. Prints what
# the clients saw, which is deterministic. Also the lock workload of make bench.
#   memcached.sh DIR [N]
set -eu
dir=$1
n=${2:-3000}
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
memcached -l 127.0.0.1 -p "$port" -U 0 -t 4 -m 64 -u root &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
python3 - "$port" "$n" <<'PY'
import socket, sys, threading, time
port, n = int(sys.argv[1]), int(sys.argv[2])
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        time.sleep(0.05)  # a poll: until memcached accepts
hits = [0] * 4
def client(t):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rwb")
    for i in range(n):
        key, val = b"k%d-%d" % (t, i % 500), b"v" * (i % 300 + 1)
        f.write(b"set %s 0 0 %d\r\n%s\r\n" % (key, len(val), val)); f.flush()
        assert f.readline() == b"STORED\r\n"
        f.write(b"get %s\r\n" % key); f.flush()
        line = f.readline()
        if line.startswith(b"VALUE"):
            f.readline(); f.readline(); hits[t] += 1
    s.close()
ts = [threading.Thread(target=client, args=(t,)) for t in range(4)]
for x in ts: x.start()
for x in ts: x.join()
print("hits", hits)
PY
