#!/usr/bin/env python3
"""Build a tree of N distinct MIDI files from a corpus, for the import benchmark.

Each output file is a corpus file (plain SMF: "MThd" at offset 0, header length
6) with one extra Text meta event (FF 01 "midipipe-bench <n>") at the start of
its first track, so every file is valid, analyses like its source, and has
content of its own (no two files share a SHA-256). Files are spread over
subdirectories of 500 (PER_DIR) so no directory grows huge.

usage: make_tree.py CORPUS_DIR OUT_DIR N [FIRST [PER_DIR]]
(FIRST numbers the variants, so two trees with different FIRST share no content;
scripts/bench-scale.sh uses PER_DIR 1000, the issue's 1,000 folders of 1,000)
"""
import os
import struct
import sys


def sources(corpus):
    out = []
    for dirpath, dirnames, filenames in os.walk(corpus):
        dirnames.sort()
        if os.sep + "edge" in dirpath[len(corpus):] or dirpath.endswith(os.sep + "edge"):
            continue
        for name in sorted(filenames):
            if not name.lower().endswith((".mid", ".midi", ".kar", ".smf")):
                continue
            data = open(os.path.join(dirpath, name), "rb").read()
            if len(data) < 22 or data[:4] != b"MThd" or struct.unpack(">I", data[4:8])[0] != 6:
                continue
            if data[14:18] != b"MTrk":
                continue
            (tlen,) = struct.unpack(">I", data[18:22])
            if 22 + tlen > len(data):
                continue
            out.append(data)
    return out


def variant(data, n):
    text = b"midipipe-bench %d" % n
    event = b"\x00\xff\x01" + bytes([len(text)]) + text
    (tlen,) = struct.unpack(">I", data[18:22])
    return data[:18] + struct.pack(">I", tlen + len(event)) + event + data[22:]


def main():
    if len(sys.argv) not in (4, 5, 6):
        sys.exit(__doc__)
    corpus, out, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    first = int(sys.argv[4]) if len(sys.argv) >= 5 else 0
    per_dir = int(sys.argv[5]) if len(sys.argv) == 6 else 500
    src = sources(corpus)
    if not src:
        sys.exit("no usable corpus files under " + corpus)
    total = 0
    for n in range(count):
        sub = os.path.join(out, "d%04d" % (n // per_dir))
        if n % per_dir == 0:
            os.makedirs(sub, exist_ok=True)
        data = variant(src[n % len(src)], first + n)
        with open(os.path.join(sub, "f%07d.mid" % n), "wb") as f:
            f.write(data)
        total += len(data)
    print("%d files, %d bytes, from %d corpus files, in %s" % (count, total, len(src), out))


if __name__ == "__main__":
    main()
