#!/bin/sh
# run_fuzz.sh FUZZER SECONDS CORPUS REGRESSIONS
# Replays the saved regression inputs, then fuzzes for SECONDS seeded with a
# temporary copy of the MIDI files of CORPUS (never written back). Fails on any
# finding (libFuzzer exits non-zero and leaves crash-* files in the work dir).
set -eu
fuzzer=$1; seconds=$2; corpus=$3; regressions=$4
work=$(mktemp -d /tmp/midipipe-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/seeds"
i=0
find "$corpus" -type f \( -iname '*.mid' -o -iname '*.midi' -o -iname '*.kar' -o -iname '*.rmi' \
     -o -iname '*.smf' -o -iname '*.midi2' -o -iname '*.syx' \) -size -256k | while IFS= read -r f; do
  i=$((i + 1)); cp "$f" "$work/seeds/seed$i"
done
cp "$regressions"/* "$work/seeds/" 2>/dev/null || true
echo "seeds: $(ls "$work/seeds" | wc -l)"
if ls "$regressions"/* >/dev/null 2>&1; then
  "$fuzzer" -runs=0 "$regressions"/*  # each regression input once
fi
cd "$work"
rc=0
"$fuzzer" -max_total_time="$seconds" -max_len=262144 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "$work/seeds" >"$work/log" 2>&1 || rc=$?
tail -25 "$work/log"
findings=$(ls "$work" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' || true)
if [ "$rc" != 0 ] || [ -n "$findings" ]; then
  echo "FUZZER FAILED (exit $rc): $findings"
  for f in $findings; do cp "$work/$f" /tmp/ && echo "saved /tmp/$f"; done
  exit 1
fi
echo "fuzz_short: no findings in $seconds s"
