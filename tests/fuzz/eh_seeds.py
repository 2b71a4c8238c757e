#!/usr/bin/env python3
"""Seeds for fuzz_unwind: for each ELF object given, the bytes from its .eh_frame_hdr to
the end of its .eh_frame, behind a pc offset (4 bytes, signed, from the header) for a few
of its functions' return addresses. Usage: eh_seeds.py OUTDIR OBJECT..."""
import os
import struct
import subprocess
import sys


def sections(path):
    out = subprocess.run(["readelf", "-SW", path], capture_output=True, text=True).stdout
    secs = {}
    for line in out.splitlines():
        f = line.replace("[ ", "[").split()
        if len(f) > 6 and f[0].startswith("[") and f[1].startswith("."):
            secs[f[1]] = (int(f[3], 16), int(f[4], 16), int(f[5], 16))  # addr, off, size
    return secs


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    for path in sys.argv[2:]:
        s = sections(path)
        if ".eh_frame_hdr" not in s or ".eh_frame" not in s or ".text" not in s:
            continue
        haddr, hoff, _ = s[".eh_frame_hdr"]
        faddr, foff, fsize = s[".eh_frame"]
        if faddr < haddr or foff - hoff != faddr - haddr:
            continue
        with open(path, "rb") as f:
            f.seek(hoff)
            img = f.read(foff + fsize - hoff)
        taddr, _, tsize = s[".text"]
        for k, frac in enumerate((0.1, 0.37, 0.5, 0.81)):
            pc = taddr + int(tsize * frac)
            name = "%s/seed-%s-%d" % (outdir, os.path.basename(path), k)
            with open(name, "wb") as f:
                f.write(struct.pack("<i", pc - haddr) + img)


main()
