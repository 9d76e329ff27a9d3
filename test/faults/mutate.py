#!/usr/bin/env python3
"""Build the hostile-input tree for the fault suite (scenario 1). Stdlib only.

usage: mutate.py CORPUS_DIR OUT_DIR N_MUTANTS BIG_NOTE_MB TINY_TRACKS [SEED]

Writes under OUT_DIR:
  edge/...       every regular file of CORPUS_DIR/edge (".mid" appended when the name has no
                 MIDI suffix, so the scan finds it)
  mut/dNN/...    N_MUTANTS files made from valid corpus files, one mutation kind each
                 (round robin over KINDS below, random positions from SEED)
  special/...    one-off files: zero-byte files, a BIG_NOTE_MB MB file of note-ons, a file of
                 TINY_TRACKS tiny tracks, PPQ 0, RIFF around garbage, a sparse file larger than
                 midipipe.max_file_size, a directory named *.mid (holding one valid file)
  manifest.tsv   path <TAB> kind <TAB> expect   (expect: "error:CODE" = must be an error row
                 with that code, "error" = must be an error row, "ok" = must be ok or duplicate,
                 "any" = either, but exactly one row)
The fifo named *.mid is made by the caller (run.sh), not here.
"""
import os
import random
import struct
import sys

MIDI_EXT = (".mid", ".midi", ".kar", ".rmi", ".smf")

KINDS = [
    "truncate",          # cut at a random offset (anywhere, header included)
    "truncate_header",   # cut inside the 14-byte header chunk: always fatal
    "flip",              # 1..8 random bytes XORed with random values
    "len0_track",        # an MTrk length set to 0
    "len7fff_track",     # an MTrk length set to 0x7FFFFFFF
    "lenffff_track",     # an MTrk length set to 0xFFFFFFFF
    "len0_header",       # the MThd length set to 0: always fatal (truncated_header)
    "lenffff_header",    # the MThd length set to 0xFFFFFFFF: always fatal
    "len7fff_header",    # the MThd length set to 0x7FFFFFFF: always fatal
    "running_status",    # a track starts with a data byte and no status before it
    "sysex_unterminated",  # a sysex whose length runs past the end of the file
    "ppq0",              # division 0: always fatal (bad_division)
    "riff_garbage",      # RIFF/RMID header around random bytes: always fatal
    "garbage",           # random bytes that do not start with MThd or RIFF: always fatal
]


def sources(corpus):
    out = []
    for dirpath, dirnames, filenames in os.walk(corpus):
        dirnames.sort()
        rel = os.path.relpath(dirpath, corpus)
        if rel == "edge" or rel.startswith("edge" + os.sep):
            continue
        for name in sorted(filenames):
            if not name.lower().endswith(MIDI_EXT):
                continue
            with open(os.path.join(dirpath, name), "rb") as f:
                data = f.read()
            if len(data) < 26 or data[:4] != b"MThd" or struct.unpack(">I", data[4:8])[0] != 6:
                continue
            if data[14:18] != b"MTrk":
                continue
            out.append(data)
            if len(out) >= 400:
                return out
    return out


def track_offsets(data):
    """Offsets of the MTrk chunk headers of a plain SMF (stops at the first cut chunk)."""
    offs = []
    pos = 14
    while pos + 8 <= len(data):
        (ln,) = struct.unpack(">I", data[pos + 4:pos + 8])
        if data[pos:pos + 4] == b"MTrk":
            offs.append(pos)
        pos += 8 + ln
    return offs


def set_len(data, chunk_off, value):
    return data[:chunk_off + 4] + struct.pack(">I", value) + data[chunk_off + 8:]


def mutate(kind, data, rng):
    tracks = track_offsets(data) or [14]
    t = rng.choice(tracks)
    if kind == "truncate":
        return data[:rng.randrange(1, len(data))]
    if kind == "truncate_header":
        return data[:rng.randrange(1, 14)]
    if kind == "flip":
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] ^= rng.randint(1, 255)
        return bytes(b)
    if kind == "len0_track":
        return set_len(data, t, 0)
    if kind == "len7fff_track":
        return set_len(data, t, 0x7FFFFFFF)
    if kind == "lenffff_track":
        return set_len(data, t, 0xFFFFFFFF)
    if kind == "len0_header":
        return set_len(data, 0, 0)
    if kind == "lenffff_header":
        return set_len(data, 0, 0xFFFFFFFF)
    if kind == "len7fff_header":
        return set_len(data, 0, 0x7FFFFFFF)
    if kind == "running_status":
        # delta 0, then data bytes with no status before them, at the start of a track
        ins = b"\x00\x3c\x40"
        (ln,) = struct.unpack(">I", data[t + 4:t + 8])
        return (data[:t + 4] + struct.pack(">I", ln + len(ins)) + ins + data[t + 8:])
    if kind == "sysex_unterminated":
        # a sysex at the start of the last track claiming 0x0FFFFFFF bytes; the file ends
        # a few bytes later, without F7
        last = tracks[-1]
        body = b"\x00\xf0\xff\xff\xff\x7f\x01\x02\x03"
        return data[:last] + b"MTrk" + struct.pack(">I", len(body)) + body
    if kind == "ppq0":
        return data[:12] + b"\x00\x00" + data[14:]
    if kind == "riff_garbage":
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
        return b"RIFF" + struct.pack("<I", len(junk) + 4) + b"RMID" + junk
    if kind == "garbage":
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 400)))
        if junk[:1] in (b"M", b"R"):
            junk = b"X" + junk[1:]
        return junk
    raise ValueError(kind)


EXPECT = {
    "truncate_header": "error",
    "len0_header": "error:truncated_header",
    "lenffff_header": "error",
    "len7fff_header": "error",
    "ppq0": "error:bad_division",
    "riff_garbage": "error",
    "garbage": "error:not_midi",
}


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main():
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__)
    corpus, out = sys.argv[1], sys.argv[2]
    n, big_mb, tiny = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    max_events = int(sys.argv[6]) if len(sys.argv) > 6 else 2000000
    rng = random.Random(int(sys.argv[6]) if len(sys.argv) == 7 else 4)
    manifest = []

    # the edge corpus, every regular file
    edge = os.path.join(corpus, "edge")
    for dirpath, dirnames, filenames in os.walk(edge):
        dirnames.sort()
        for name in sorted(filenames):
            src = os.path.join(dirpath, name)
            rel = os.path.relpath(src, edge)
            if not rel.lower().endswith(MIDI_EXT):
                rel += ".mid"
            dst = os.path.join(out, "edge", rel)
            with open(src, "rb") as f:
                write(dst, f.read())
            manifest.append((dst, "edge", "any"))

    src = sources(corpus)
    if not src:
        sys.exit("no usable corpus files under " + corpus)
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        data = mutate(kind, src[rng.randrange(len(src))], rng)
        dst = os.path.join(out, "mut", "d%02d" % (i // 500), "m%05d_%s.mid" % (i, kind))
        write(dst, data)
        manifest.append((dst, kind, EXPECT.get(kind, "any")))

    sp = os.path.join(out, "special")
    for i in range(3):
        write(os.path.join(sp, "zero%d.mid" % i), b"")
        manifest.append((os.path.join(sp, "zero%d.mid" % i), "zero_bytes", "error:empty_file"))
    # a big valid file of note-ons (running status: 3 bytes per event after the first)
    body_len = big_mb * 1024 * 1024
    first = b"\x00\x90\x3c\x40"
    reps = (body_len - len(first) - 4) // 3
    body = first + b"\x00\x3c\x40" * reps + b"\x00\xff\x2f\x00"
    big = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 96) + b"MTrk" + struct.pack(">I", len(body)) + body
    write(os.path.join(sp, "big_note_ons.mid"), big)
    # events: the first note, the repeats, End of Track. Above midipipe.max_events (MAX_EVENTS,
    # the default 2,000,000) the file is refused: too_many_events (issue 13's cost model).
    events = 1 + reps + 1
    manifest.append((os.path.join(sp, "big_note_ons.mid"), "big_note_ons",
                     "error:too_many_events" if events > max_events else "ok"))
    del big, body
    # very many tiny tracks (the header's ntrks is 16 bits: it says 65535)
    trk = b"MTrk" + struct.pack(">I", 4) + b"\x00\xff\x2f\x00"
    write(os.path.join(sp, "tiny_tracks.mid"),
          b"MThd" + struct.pack(">IHHH", 6, 1, 0xFFFF, 96) + trk * tiny)
    manifest.append((os.path.join(sp, "tiny_tracks.mid"), "tiny_tracks", "any"))
    # PPQ 0 on an otherwise valid file
    write(os.path.join(sp, "ppq0.mid"), b"MThd" + struct.pack(">IHHH", 6, 0, 1, 0) + trk)
    manifest.append((os.path.join(sp, "ppq0.mid"), "ppq0", "error:bad_division"))
    # RIFF around garbage, and a RIFF whose size field is 0xFFFFFFFF
    write(os.path.join(sp, "riff_garbage.rmi"), b"RIFF" + struct.pack("<I", 12) + b"RMIDdata\xff\xff")
    manifest.append((os.path.join(sp, "riff_garbage.rmi"), "riff_garbage", "error"))
    write(os.path.join(sp, "riff_huge.rmi"), b"RIFF\xff\xff\xff\xffRMIDdata\xff\xff\xff\xff" + trk)
    manifest.append((os.path.join(sp, "riff_huge.rmi"), "riff_huge", "error"))
    # sparse, larger than the default midipipe.max_file_size (64MB): error row, never read
    p = os.path.join(sp, "sparse_70mb.mid")
    with open(p, "wb") as f:
        f.write(b"MThd")
        f.truncate(70 * 1024 * 1024)
    manifest.append((p, "too_large", "error:file_too_large"))
    # a directory named *.mid with a valid file inside (the file must be imported)
    d = os.path.join(sp, "folder.mid")
    os.makedirs(d, exist_ok=True)
    write(os.path.join(d, "inside.mid"), src[0])
    manifest.append((os.path.join(d, "inside.mid"), "inside_dir_named_mid", "ok"))

    with open(os.path.join(out, "manifest.tsv"), "w") as f:
        for path, kind, expect in manifest:
            f.write("%s\t%s\t%s\n" % (path, kind, expect))
    print("%d hostile files in %s (%d mutants, %d MB note-on file, %d tiny tracks)"
          % (len(manifest), out, n, big_mb, tiny))


if __name__ == "__main__":
    main()
