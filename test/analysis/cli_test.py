#!/usr/bin/python3
"""ctest analysis_cli: midipipe-analyze on the edge corpus and on bad paths.

    /usr/bin/python3 cli_test.py CLI CORPUS_DIR

Checks: exit status 0 whatever the files hold; one line per MIDI-named file of
edge/ (walked recursively), each strict JSON (no NaN/Infinity) in valid UTF-8
with a "path"; analyses carry every midipipe_analysis column, errors carry
error_code/error_message/error_offset; files that are not MIDI give error
objects; a missing path gives io_error; --max-file-size refuses big files
unread; an explicitly named non-MIDI file is read; usage errors exit 2.
"""
import json
import os
import subprocess
import sys
import tempfile

COLUMNS = ('format ntracks ppq smpte_fps smpte_ticks_per_frame duration_ticks duration_seconds '
           'tempo_bpm tempo_mean_bpm tempo_min_bpm tempo_max_bpm tempo_changes time_signature '
           'time_signature_changes key_signature key key_tonic key_mode key_confidence '
           'note_count unique_pitches pitch_min pitch_max pitch_mean velocity_min velocity_max '
           'velocity_mean velocity_stddev note_density polyphony_max polyphony_mean channels '
           'programs instrument_families has_drums drum_note_count cc_count pitch_bend_count '
           'sysex_count title copyright track_names markers has_lyrics').split()
TRACK_COLUMNS = ('track_no name channels program instrument note_count pitch_min pitch_max '
                 'is_drum duration_ticks').split()
EXT = ('.mid', '.midi', '.kar', '.rmi', '.smf')
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)


def reject_constant(name):
    raise ValueError('non-standard JSON constant ' + name)


def run(cli, args):
    p = subprocess.run([cli] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    objs = []
    text = p.stdout.decode('utf-8')  # raises on invalid UTF-8
    for line in text.splitlines():
        objs.append(json.loads(line, parse_constant=reject_constant))
    return p.returncode, objs


def main(argv):
    cli, corpus = argv[1], argv[2]
    edge = os.path.join(corpus, 'edge')
    expected = sorted(os.path.join(r, f) for r, _, fs in os.walk(edge) for f in fs
                      if f.lower().endswith(EXT))
    rc, objs = run(cli, [edge])
    check(rc == 0, 'exit status %d on the edge corpus' % rc)
    paths = sorted(o.get('path') for o in objs)
    check(paths == expected, 'edge: %d lines for %d MIDI-named files' % (len(objs), len(expected)))
    errors = 0
    for o in objs:
        if 'error_code' in o:
            errors += 1
            for k in ('error_message', 'error_offset'):
                check(k in o, '%s: error object without %s' % (o['path'], k))
            check(isinstance(o['error_offset'], int), '%s: error_offset not an int' % o['path'])
        else:
            missing = [c for c in COLUMNS if c not in o]
            check(not missing, '%s: missing %s' % (o['path'], missing))
            for t in o.get('tracks', []):
                tm = [c for c in TRACK_COLUMNS if c not in t]
                check(not tm, '%s: track missing %s' % (o['path'], tm))
            check(isinstance(o.get('warnings'), list), '%s: no warnings list' % o['path'])
    by_name = {os.path.relpath(o['path'], edge): o for o in objs}
    for name, code in (('jazz-soft-test-midi-files/midi/test-illegal-message-all.mid', None),
                       ('nfroidure-midifile/MIDIBadHeaderSMTPE.mid', 'bad_division')):
        o = by_name.get(name)
        check(o is not None, 'no line for ' + name)
        if o is not None and code:
            check(o.get('error_code') == code, '%s: %r, expected %s' % (name, o.get('error_code'), code))
    check(errors >= 5, 'only %d error objects in the edge corpus' % errors)
    print('edge corpus: %d files, %d analyses, %d error objects, exit %d'
          % (len(objs), len(objs) - errors, errors, rc))

    # A missing path, a non-MIDI file named explicitly, the size limit.
    txt = os.path.join(edge, 'midly', 'colorlist.txt')
    big = os.path.join(corpus, 'debian-planetblupi-music-midi')
    rc, objs = run(cli, ['/nonexistent/x.mid', txt, '--max-file-size', '1000', big])
    check(rc == 0, 'exit status %d with bad paths' % rc)
    check(objs and objs[0].get('error_code') == 'io_error' and objs[0]['path'] == '/nonexistent/x.mid',
          'missing file: %r' % (objs[:1],))
    check(len(objs) > 1 and objs[1].get('error_code') == 'not_midi', 'text file: %r' % (objs[1:2],))
    check(len(objs) > 2 and all(o.get('error_code') == 'file_too_large' for o in objs[2:]),
          '--max-file-size: %r' % ([o.get('error_code') for o in objs[2:]],))

    with tempfile.TemporaryDirectory() as d:
        sub = os.path.join(d, 'a', 'b')
        os.makedirs(sub)
        src = os.path.join(corpus, 'debian-pianobooster')
        first = sorted(os.path.join(r, f) for r, _, fs in os.walk(src) for f in fs
                       if f.lower().endswith('.mid'))[0]
        data = open(first, 'rb').read()
        for name in ('X.MID', 'y.Midi', 'z.kar', 'skip.txt', 'skip.mid.bak'):
            open(os.path.join(sub, name), 'wb').write(data)
        rc, objs = run(cli, [d])
        names = sorted(os.path.basename(o['path']) for o in objs)
        check(names == ['X.MID', 'y.Midi', 'z.kar'], 'extension filter: %r' % names)
        check(all('error_code' not in o for o in objs), 'copies did not analyse')

    # A fifo named *.mid (in a directory and named explicitly) is reported, never waited on.
    with tempfile.TemporaryDirectory() as d:
        fifo = os.path.join(d, 'pipe.mid')
        os.mkfifo(fifo)
        for args in ([d], [fifo]):
            try:
                p = subprocess.run([cli] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   timeout=20)
                objs = [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]
                check(p.returncode == 0 and len(objs) == 1 and
                      objs[0].get('error_code') == 'not_regular_file',
                      'fifo %r: exit %d, %r' % (args, p.returncode, objs))
            except subprocess.TimeoutExpired:
                check(False, 'fifo %r: the CLI hung' % (args,))

    for args in ([], ['--max-file-size'], ['--max-file-size', 'abc', edge], ['--bogus', edge]):
        p = subprocess.run([cli] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        check(p.returncode == 2, 'usage error %r exited %d' % (args, p.returncode))

    if failures:
        print('FAIL:')
        for f in failures:
            print('  ' + f)
        return 1
    print('PASS')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
