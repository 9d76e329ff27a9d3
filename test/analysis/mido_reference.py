#!/usr/bin/python3
"""Reference figures from mido (Debian's python3-mido) for the analysis tests.

    /usr/bin/python3 mido_reference.py [--out FILE] [--check-every N] PATH...

Walks every PATH (files or directories; *.mid *.midi *.kar *.rmi *.smf in any
case), reads each file with mido.MidiFile(path, clip=False) and, for every
format 0 or 1 file mido can read, writes one JSON line:

    path, format, ntracks, division (raw header field), smpte (bool), ppq,
    duration (MidiFile.length: computed by playback_length(), which repeats
    mido's algorithm without its copies, and checked against MidiFile.length
    itself on every Nth file, N = --check-every, default 1 = all), tempo_bpm (tempo in force at tick 0),
    note_count, drum_note_count, pitch_min, pitch_max (non-drum notes),
    channels (any channel message), programs (program changes off channel 9)

with SPEC's definitions: a note is a note_on with velocity > 0, channel index 9
is the drum channel. Files mido cannot read are reported on stderr and counted
("skipped"); format 2 files are counted too (mido has no length for them).
Output is generated at test time; never commit it.
"""
import json
import os
import struct
import sys

import mido

EXTENSIONS = ('.mid', '.midi', '.kar', '.rmi', '.smf')


def walk(paths):
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    if f.lower().endswith(EXTENSIONS):
                        yield os.path.join(root, f)
        else:
            yield p


def raw_division(path):
    """The MThd division field as stored (None when there is no plain MThd)."""
    with open(path, 'rb') as f:
        head = f.read(14)
    if len(head) < 14 or head[:4] != b'MThd':
        return None
    return struct.unpack('>H', head[12:14])[0]


def playback_length(mid):
    """MidiFile.length without its per-message copies (it spends most of its
    time in Message.copy): the same merge (stable sort by absolute tick, tracks
    in file order), the same tick2second, the same rule that a set_tempo
    applies from the next message on. main() checks it against
    MidiFile.length itself on every --check-every'th file."""
    events = []
    for track in mid.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            events.append((tick, msg.type == 'set_tempo' and msg.tempo))
    events.sort(key=lambda e: e[0])
    tempo = mido.midifiles.midifiles.DEFAULT_TEMPO
    total = 0.0
    prev = 0
    for tick, new_tempo in events:
        if tick > prev:
            total += mido.tick2second(tick - prev, mid.ticks_per_beat, tempo)
            prev = tick
        if new_tempo is not False:
            tempo = new_tempo
    return total


def reference(path, check_length=False):
    mid = mido.MidiFile(path, clip=False)
    if mid.type not in (0, 1):
        return None
    division = raw_division(path)
    notes = drums = 0
    pmin = pmax = None
    channels = set()
    programs = set()
    tempo0 = 500000
    for track in mid.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == 'set_tempo' and tick == 0:
                # mido's playback merges the tracks with a stable sort by tick,
                # so the last set_tempo at tick 0 in file order is the one in
                # force at tick 0.
                tempo0 = msg.tempo
            if not hasattr(msg, 'channel'):
                continue
            channels.add(msg.channel)
            if msg.type == 'note_on' and msg.velocity > 0:
                notes += 1
                if msg.channel == 9:
                    drums += 1
                else:
                    pmin = msg.note if pmin is None else min(pmin, msg.note)
                    pmax = msg.note if pmax is None else max(pmax, msg.note)
            elif msg.type == 'program_change' and msg.channel != 9:
                programs.add(msg.program)
    duration = playback_length(mid)
    if check_length:
        exact = mid.length
        if abs(exact - duration) > 1e-9 * max(1.0, abs(exact)):
            raise AssertionError('playback_length %r != MidiFile.length %r for %s'
                                 % (duration, exact, path))
    return {
        'path': path,
        'format': mid.type,
        'ntracks': len(mid.tracks),
        'division': division,
        'smpte': division is not None and bool(division & 0x8000),
        'ppq': mid.ticks_per_beat,
        'duration': duration,
        'tempo_bpm': 60e6 / tempo0 if tempo0 > 0 else None,
        'note_count': notes,
        'drum_note_count': drums,
        'pitch_min': pmin,
        'pitch_max': pmax,
        'channels': sorted(channels),
        'programs': sorted(programs),
    }


def main(argv):
    out = sys.stdout
    args = argv[1:]
    check_every = 1
    while len(args) >= 2 and args[0] in ('--out', '--check-every'):
        if args[0] == '--out':
            out = open(args[1], 'w', encoding='utf-8')
        else:
            check_every = int(args[1])
        args = args[2:]
    checked = 0
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    written = skipped = format2 = 0
    for i, path in enumerate(walk(args)):
        check = check_every > 0 and i % check_every == 0
        try:
            ref = reference(path, check)
        except AssertionError:
            raise
        except Exception as e:  # mido raises many kinds on bad input
            skipped += 1
            print('mido cannot read %s: %s: %s' % (path, type(e).__name__, e), file=sys.stderr)
            continue
        if ref is None:
            format2 += 1
            continue
        out.write(json.dumps(ref) + '\n')
        written += 1
        checked += check
    print('mido_reference: %d files written (%d durations checked against MidiFile.length),'
          ' %d unreadable by mido, %d format 2' % (written, checked, skipped, format2),
          file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
