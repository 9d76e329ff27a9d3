#!/usr/bin/python3
"""ctest analysis_golden: midipipe-analyze's output on every file of test/corpus is unchanged.

    /usr/bin/python3 golden_test.py CLI CORPUS_DIR GOLDEN_FILE [--update]

Runs the CLI (from CORPUS_DIR, with paths relative to it) on every file of the corpus, edge/
and files that are not MIDI included, three times: the default (full analysis, depth on),
--no-depth and --split. GOLDEN_FILE holds one line per file: its path and the first 16 hex
digits of the SHA-256 of its JSON line in each of the three runs. Any difference fails and
names the files and runs that changed. Speed work on the engine must keep the output
byte-identical (issue 16, target (e)); a change meant to alter the output regenerates the
file with --update and commits it with that change (the diff of the file names the files
whose output it altered).
"""
import hashlib
import json
import os
import subprocess
import sys

MODES = (('depth', []), ('nodepth', ['--no-depth']), ('split', ['--split']))


def run(cli, corpus, files, args):
    """path -> digest of its JSON line, for one mode."""
    out = {}
    for i in range(0, len(files), 400):
        chunk = files[i:i + 400]
        p = subprocess.run([cli] + args + chunk, cwd=corpus, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, check=False)
        if p.returncode != 0:
            sys.exit('%s %s exited %d: %s' % (cli, ' '.join(args), p.returncode,
                                              p.stderr.decode(errors='replace')[:500]))
        for line in p.stdout.splitlines():
            path = json.loads(line)['path']
            out[path] = hashlib.sha256(line).hexdigest()[:16]
        missing = [f for f in chunk if f not in out]
        if missing:
            sys.exit('no output for %d files, e.g. %s' % (len(missing), missing[0]))
    return out


def main():
    if len(sys.argv) not in (4, 5) or (len(sys.argv) == 5 and sys.argv[4] != '--update'):
        sys.exit(__doc__)
    cli, corpus, golden = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3]
    files = sorted(os.path.relpath(os.path.join(d, f), corpus)
                   for d, _, fs in os.walk(corpus) for f in fs)
    got = {name: run(cli, corpus, files, args) for name, args in MODES}
    lines = ['%s %s' % (f, ' '.join(got[name][f] for name, _ in MODES)) for f in files]
    if len(sys.argv) == 5:
        with open(golden, 'w', encoding='utf-8') as g:
            g.write('# path, then the SHA-256 (16 hex) of its midipipe-analyze JSON line: '
                    'default (depth), --no-depth, --split (test/analysis/golden_test.py)\n')
            g.write('\n'.join(lines) + '\n')
        print('wrote %s: %d files' % (golden, len(files)))
        return
    want = {}
    with open(golden, encoding='utf-8') as g:
        for line in g:
            if line.startswith('#') or not line.strip():
                continue
            path, *digests = line.rsplit(' ', len(MODES))
            want[path] = digests
    failures = []
    for f in files:
        if f not in want:
            failures.append('%s: not in %s (a new corpus file: --update)' % (f, golden))
            continue
        for (name, _), w in zip(MODES, want[f]):
            if got[name][f] != w.strip():
                failures.append('%s: %s output changed' % (f, name))
    for f in sorted(set(want) - set(files)):
        failures.append('%s: in %s but not in the corpus' % (f, golden))
    for msg in failures[:50]:
        print('FAIL', msg)
    if failures:
        print('%d differences (of %d files x %d runs); regenerate with --update only when the '
              'change is meant' % (len(failures), len(files), len(MODES)))
        sys.exit(1)
    print('ok: %d files x %d runs byte-identical to %s' % (len(files), len(MODES), golden))


if __name__ == '__main__':
    main()
