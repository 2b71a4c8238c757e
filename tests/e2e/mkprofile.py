#!/usr/bin/env python3
"""Writes a counter file (Go telemetry v1) with the given metadata and counters, for
report tests that need exact synthetic profiles. Records are placed one after another
with the page rule; chains are linked newest first, as the format requires.

    mkprofile.py OUT 'Key: value' ... -- NAME=VALUE ...   (NAME may contain \\n escapes)
"""
import struct
import sys

P = 16384


def bucket(name):
    h = 2166136261
    for b in name:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    h ^= h >> 16
    return h % 512


def write_file(path, meta, counters):
    """Writes a counter file: meta (bytes, ending in an empty line), counters a list of
    (name bytes, value) in creation order."""
    h = (32 + len(meta) + 31) // 32 * 32
    buf = bytearray(P)
    buf[0:28] = b"# telemetry/counter file v1\n"
    buf[28:32] = struct.pack("<I", h)
    buf[32:32 + len(meta)] = meta
    limit = h + 2052
    heads = [0] * 512
    for name, value in counters:
        n = (16 + len(name) + 31) // 32 * 32
        start = (limit + 31) // 32 * 32
        if start // P != (start + n) // P:
            start = (limit + P - 1) // P * P
        end = start + n
        if len(buf) < (end + P - 1) // P * P:
            buf.extend(bytearray((end + P - 1) // P * P - len(buf)))
        b = bucket(name)
        struct.pack_into("<QII", buf, start, value, len(name) | 0xFF000000, heads[b])
        buf[start + 16:start + 16 + len(name)] = name
        heads[b] = start
        limit = end
    struct.pack_into("<I", buf, h, limit)
    for i, off in enumerate(heads):
        struct.pack_into("<I", buf, h + 4 + 4 * i, off)
    with open(path, "wb") as f:
        f.write(buf)
    return len(buf)


def main():
    args = sys.argv[2:]
    sep = args.index("--")
    meta = "".join(line + "\n" for line in args[:sep]) + "\n"
    counters = []
    for a in args[sep + 1:]:
        name, value = a.rsplit("=", 1)
        counters.append((name.encode().decode("unicode_escape").encode("latin-1"), int(value)))
    write_file(sys.argv[1], meta.encode(), counters)


if __name__ == "__main__":
    main()
