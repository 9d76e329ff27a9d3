#!/usr/bin/env python3
# crafted.py PATH NOTES [VARY]: writes the hostile file of issue 13 (findings 3 and 4): a
# format-0 Standard MIDI File of NOTES running-status note-ons, 3 bytes each (delta 1, pitch,
# velocity), never switched off, then End of Track. The cheapest bytes per note a file can
# have: the most analysis memory and time per byte. The (NOTES+1)-th event (End of Track) is at
# byte 22 + 4 + 3 * (NOTES - 1). VARY changes the velocities (distinct content for copies).
# Written at test time; no binary is committed.
import struct, sys
def crafted(path, notes, vary=0):
    # format 0, one track: running-status note-ons (3 bytes each: delta 1, pitch, velocity),
    # never switched off; pitches and velocities cycle
    body = bytearray(b'\x00\x90\x3c\x40')
    pat = bytearray()
    for i in range(1, 4096 + 1):
        pat += bytes([1, 36 + (i * 7) % 60, 1 + (i * 13 + vary) % 126])
    n = notes - 1
    full, rest = divmod(n, 4096)
    body += pat * full + pat[:3 * rest]
    body += b'\x00\xff\x2f\x00'
    with open(path, 'wb') as f:
        f.write(b'MThd' + struct.pack('>IHHH', 6, 0, 1, 96) + b'MTrk' + struct.pack('>I', len(body)) + body)
crafted(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0)
