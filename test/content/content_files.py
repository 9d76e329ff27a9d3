#!/usr/bin/python3
"""Files for the content-search tests (docs/content.md), written with mido.

  content_files.py variants CORPUS OUT     originals picked from CORPUS and their variants
                                           (OUT/manifest.tsv: path, original, kind)
  content_files.py excerpts OUT [N]        N random 8-note excerpts of the originals' melodic
                                           lines, transposed at random (OUT/excerpts.tsv)
  content_files.py progressions OUT        hand-made files with known progressions
                                           (OUT/progressions.tsv: path, numerals, bars)
  content_files.py check-cli CLI OUT       the CLI's fingerprints of every variant against its
                                           original (the engine half of the test)
  content_files.py same-notes CLI CORPUS   every group of corpus files with one exact
                                           fingerprint holds the same notes (checked with mido)

Variants of each original: meta events stripped; format 0; format 1 with the tracks in reverse
order; every tempo scaled by 1.37; channels and programs changed (drum channel kept); velocities
changed; resolution doubled (ticks and PPQ x2); transposed by -5..+6 semitones (non-drum notes).
The melodic line is computed here independently of the engine: per track, the non-drum note-ons
clustered by onset (a note within PPQ/24 ticks of its cluster's first onset joins it), the
highest pitch of each cluster.
"""
import os
import random
import subprocess
import sys
import json

import mido

DRUM = 9


def originals(corpus):
    """Every 24th MIDI file (at most 100 kB) of the corpus (sorted paths) that mido reads, with PPQ timing,
    format 0 or 1, 20 to 20,000 non-drum notes and room to transpose by -5..+6."""
    paths = []
    for d, _, files in os.walk(corpus):
        for f in files:
            if f.lower().endswith(('.mid', '.midi')):
                paths.append(os.path.join(d, f))
    paths.sort()
    out = []
    for p in paths[::24]:
        if os.path.getsize(p) > 100_000:
            continue
        try:
            m = mido.MidiFile(p, clip=True)
        except Exception:
            continue
        if m.type == 2 or m.ticks_per_beat <= 0:
            continue
        pitches = [msg.note for t in m.tracks for msg in t
                   if msg.type == 'note_on' and msg.velocity > 0 and msg.channel != DRUM]
        if not 20 <= len(pitches) <= 20000 or min(pitches) < 5 or max(pitches) > 121:
            continue
        out.append((p, m))
    return out


def absolute(track):
    t = 0
    for msg in track:
        t += msg.time
        yield t, msg


def rebuild(events):
    """(abs_tick, msg) pairs -> a MidiTrack with deltas."""
    tr = mido.MidiTrack()
    last = 0
    for t, msg in events:
        tr.append(msg.copy(time=t - last))
        last = t
    return tr


def copy_file(m, tracks, type_=None, tpb=None):
    out = mido.MidiFile(type=m.type if type_ is None else type_,
                        ticks_per_beat=tpb or m.ticks_per_beat)
    out.tracks.extend(tracks)
    return out


def map_msgs(m, fn):
    tracks = []
    for tr in m.tracks:
        tracks.append(rebuild([(t, fn(msg)) for t, msg in absolute(tr) if fn(msg) is not None]))
    return copy_file(m, tracks)


NON_DRUM = [c for c in range(16) if c != DRUM]


def variants(m):
    v = {}
    v['meta_stripped'] = map_msgs(m, lambda x: x if not x.is_meta or x.type == 'end_of_track' else None)
    v['format0'] = copy_file(m, [mido.merge_tracks(m.tracks)], type_=0)
    if m.type == 1 and len(m.tracks) > 1:
        v['format1_reordered'] = copy_file(m, list(reversed([t.copy() for t in m.tracks])))
    v['tempo_scaled'] = map_msgs(
        m, lambda x: x.copy(tempo=min(0xFFFFFF, int(x.tempo * 1.37))) if x.type == 'set_tempo' else x)

    def chan(x):
        if not x.is_meta and hasattr(x, 'channel') and x.channel != DRUM:
            x = x.copy(channel=NON_DRUM[(NON_DRUM.index(x.channel) + 3) % 15])
            if x.type == 'program_change':
                x = x.copy(program=(x.program + 17) % 128)
        return x
    v['channels_programs'] = map_msgs(m, chan)
    v['velocities'] = map_msgs(
        m, lambda x: x.copy(velocity=max(1, min(127, int(x.velocity * 0.6) + 20)))
        if x.type == 'note_on' and x.velocity > 0 else x)
    tracks = [rebuild([(2 * t, msg) for t, msg in absolute(tr)]) for tr in m.tracks]
    v['resolution_doubled'] = copy_file(m, tracks, tpb=2 * m.ticks_per_beat)
    for k in range(-5, 7):
        if k == 0:
            continue
        v['transposed%+d' % k] = map_msgs(
            m, lambda x, k=k: x.copy(note=x.note + k)
            if x.type in ('note_on', 'note_off') and x.channel != DRUM else x)
    return v


def cmd_variants(corpus, out):
    os.makedirs(out, exist_ok=True)
    rows = []
    for i, (p, m) in enumerate(originals(corpus)):
        d = os.path.join(out, 'v%03d' % i)
        os.makedirs(d, exist_ok=True)
        orig = os.path.join(d, 'original.mid')
        with open(p, 'rb') as f, open(orig, 'wb') as g:
            g.write(f.read())
        rows.append((orig, orig, 'original'))
        for kind, vm in variants(m).items():
            path = os.path.join(d, kind + '.mid')
            vm.save(path)
            rows.append((path, orig, kind))
    with open(os.path.join(out, 'manifest.tsv'), 'w') as f:
        for r in rows:
            f.write('\t'.join(r) + '\n')
    print('variants: %d originals, %d files' % (sum(1 for r in rows if r[2] == 'original'), len(rows)))


def melodic_lines(m):
    """{track_no: [(onset_tick, pitch), ...]} (see the module's docstring)."""
    window = m.ticks_per_beat // 24
    lines = {}
    for no, tr in enumerate(m.tracks):
        ons = sorted((t, msg.note) for t, msg in absolute(tr)
                     if msg.type == 'note_on' and msg.velocity > 0 and msg.channel != DRUM)
        line = []
        first = None
        for t, p in ons:
            if first is None or t > first + window:
                first = t
                line.append([t, p])
            elif p > line[-1][1]:
                line[-1][1] = p
        if len(line) >= 8:
            lines[no] = line
    return lines


def cmd_excerpts(out, n):
    rng = random.Random(18)
    origs = [l.split('\t')[0] for l in open(os.path.join(out, 'manifest.tsv'))
             if l.rstrip('\n').split('\t')[2] == 'original']
    cands = []
    for p in origs:
        m = mido.MidiFile(p, clip=True)
        for no, line in melodic_lines(m).items():
            cands.append((p, no, line))
    rows = []
    for _ in range(n):
        p, no, line = rng.choice(cands)
        i = rng.randrange(0, len(line) - 7)
        k = rng.choice([0, 0, -5, -3, -1, 2, 4, 6])
        pitches = [q + k for _, q in line[i:i + 8]]
        if min(pitches) < 0 or max(pitches) > 127:
            k, pitches = 0, [q for _, q in line[i:i + 8]]
        rows.append((p, str(no), str(i + 1), '{' + ','.join(map(str, pitches)) + '}', str(k)))
    with open(os.path.join(out, 'excerpts.tsv'), 'w') as f:
        for r in rows:
            f.write('\t'.join(r) + '\n')
    print('excerpts: %d from %d melodic tracks' % (len(rows), len(cands)))


# Hand-made progressions: (name, key tonic pitch, minor, [(root offset, quality) per bar],
# the numerals to search, the 1-based bars where they start). One chord per 4/4 bar, as a
# sustained triad/seventh in the middle register with its root in the bass; a melody on the
# chord tones. Each ends with a long tonic chord so that the key is unambiguous.
QUAL = {'maj': [0, 4, 7], 'min': [0, 3, 7], '7': [0, 4, 7, 10], 'm7': [0, 3, 7, 10],
        'maj7': [0, 4, 7, 11], 'dim': [0, 3, 6]}
HAND = [
    ('pop_I_V_vi_IV_in_C', 60, False,
     [(0, 'maj'), (7, 'maj'), (9, 'min'), (5, 'maj')] * 3 + [(0, 'maj')], 'I V vi IV', [1, 5, 9]),
    ('jazz_ii_V_I_in_F', 65, False,
     [(0, 'maj7'), (2, 'm7'), (7, '7'), (0, 'maj7'), (9, 'm7'), (2, 'm7'), (7, '7'), (0, 'maj7'),
      (0, 'maj7')], 'ii V I', [2, 6]),
    ('andalusian_i_bVII_bVI_V_in_A_minor', 57, True,
     [(0, 'min'), (10, 'maj'), (8, 'maj'), (7, 'maj')] * 2 + [(0, 'min'), (5, 'min'), (7, 'maj'),
                                                              (0, 'min')], 'i bVII bVI V', [1, 5]),
]


def cmd_progressions(out):
    os.makedirs(out, exist_ok=True)
    rows = []
    tpb = 480
    for name, tonic, minor, bars, query, starts in HAND:
        m = mido.MidiFile(type=1, ticks_per_beat=tpb)
        events = []
        for b, (off, q) in enumerate(bars):
            t0 = b * 4 * tpb
            root = tonic + off
            while root >= tonic + 6:
                root -= 12
            notes = [root - 12] + [root + i for i in QUAL[q]]
            for p in notes:
                events.append((t0, mido.Message('note_on', note=p, velocity=80, channel=0)))
                events.append((t0 + 4 * tpb - 10, mido.Message('note_off', note=p, velocity=0, channel=0)))
            for beat, i in enumerate([0, 1, 2, 1]):
                p = root + 12 + QUAL[q][i]
                events.append((t0 + beat * tpb, mido.Message('note_on', note=p, velocity=90, channel=1)))
                events.append((t0 + (beat + 1) * tpb - 10,
                               mido.Message('note_off', note=p, velocity=0, channel=1)))
        events.sort(key=lambda e: (e[0], e[1].type == 'note_on'))
        tr = rebuild(events)
        tr.append(mido.MetaMessage('end_of_track', time=0))
        m.tracks.append(tr)
        path = os.path.join(out, name + '.mid')
        m.save(path)
        rows.append((path, query, '{' + ','.join(map(str, starts)) + '}'))
    with open(os.path.join(out, 'progressions.tsv'), 'w') as f:
        for r in rows:
            f.write('\t'.join(r) + '\n')
    print('progressions: %d hand-made files' % len(rows))


def cli_json(cli, path):
    res = {}
    for line in subprocess.run([cli, path], capture_output=True, text=True, check=True).stdout.splitlines():
        j = json.loads(line)
        res[j.get('path')] = j
    return res


def cmd_check_cli(cli, out):
    js = cli_json(cli, out)
    bad = 0
    n = 0
    for line in open(os.path.join(out, 'manifest.tsv')):
        path, orig, kind = line.rstrip('\n').split('\t')
        a, o = js[path], js[orig]
        n += 1
        if kind.startswith('transposed'):
            ok = (a['notes_fingerprint_transposed'] == o['notes_fingerprint_transposed']
                  and a['notes_fingerprint'] != o['notes_fingerprint'])
        else:
            ok = a['notes_fingerprint'] == o['notes_fingerprint'] and a['notes_fingerprint']
        if not ok:
            bad += 1
            print('MISMATCH %s (%s of %s)' % (path, kind, orig))
    print('check-cli: %d variants, %d in another group than their original' % (n, bad))
    return 1 if bad else 0


def notes_of(path):
    """The multiset of (onset, end, pitch) of the non-drum notes in 1/48 beat, from the first
    onset, paired here (first-in first-out per track, channel and pitch)."""
    m = mido.MidiFile(path, clip=True)
    q = lambda t: (t * 96 + m.ticks_per_beat) // (2 * m.ticks_per_beat)
    starts, ends = [], []
    for tr in m.tracks:
        for t, msg in absolute(tr):
            if msg.type == 'note_on' and msg.velocity > 0 and msg.channel != DRUM:
                starts.append((q(t), msg.note))
            elif (msg.type == 'note_off' or (msg.type == 'note_on' and msg.velocity == 0)) \
                    and msg.channel != DRUM:
                ends.append((q(t), msg.note))
    if not starts:
        return None
    o = min(s for s, _ in starts)
    return sorted((s - o, p) for s, p in starts), sorted((e - o, p) for e, p in ends)


def cmd_same_notes(cli, corpus):
    groups = {}
    for j in cli_json(cli, corpus).values():
        if j.get('notes_fingerprint'):
            groups.setdefault(j['notes_fingerprint'], []).append(j['path'])
    bad = 0
    shared = 0
    for fp, paths in sorted(groups.items()):
        if len(paths) < 2:
            continue
        shared += 1
        readable = []
        for p in paths:
            try:
                readable.append((p, notes_of(p)))
            except Exception as e:  # a corrupt test file mido refuses
                print('not compared (mido cannot read it: %s): %s' % (type(e).__name__, p))
        if not readable:
            continue
        ref = readable[0][1]
        for p, same in readable[1:]:
            if same is None or ref is None or same != ref:
                bad += 1
                print('DIFFERENT NOTES, ONE FINGERPRINT: %s %s' % (readable[0][0], p))
            else:
                print('same notes: %s = %s' % (os.path.relpath(readable[0][0], corpus), os.path.relpath(p, corpus)))
    print('same-notes: %d fingerprints shared by several files, %d pairs with other notes' % (shared, bad))
    return 1 if bad else 0


def main():
    cmd = sys.argv[1]
    if cmd == 'variants':
        cmd_variants(sys.argv[2], sys.argv[3])
    elif cmd == 'excerpts':
        cmd_excerpts(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 100)
    elif cmd == 'progressions':
        cmd_progressions(sys.argv[2])
    elif cmd == 'check-cli':
        sys.exit(cmd_check_cli(sys.argv[2], sys.argv[3]))
    elif cmd == 'same-notes':
        sys.exit(cmd_same_notes(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main()
