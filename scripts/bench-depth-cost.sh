#!/usr/bin/env bash
# Depth's extra engine work, in instructions (issue 16, target (e)):
#
#   bash scripts/bench-depth-cost.sh [BUILD_DIR]
#
# Runs `valgrind --tool=callgrind build/test/bench_import/bench_files 1 LIST [depth]` over the
# corpus files outside edge/ (*.mid; MIDIPIPE_CORPUS, default test/corpus), once with depth
# off and once on (the two runs side by side), and prints the instructions of analyze_with()
# (parse + analysis, called once per file) in both, their parts with depth on (compute_depth:
# chords, performance traits and structure, drums, the note sort and the rest), the content
# search columns (compute_content, issue 18, computed with depth), and the ratio depth's extra
# instructions without content's / the analysis without depth (target: at most 0.4).
# Instruction counts do not depend on the machine's load: the figure reproduces to a few
# parts per million on the same build and corpus. Needs valgrind (callgrind_annotate).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-${MIDIPIPE_BUILD_DIR:-$root/build}}
corpus=${MIDIPIPE_CORPUS:-$root/test/corpus}
bench=$build/test/bench_import/bench_files
me=bench-depth-cost.sh

command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null ||
  { echo "$me: needs valgrind and callgrind_annotate" >&2; exit 1; }
[[ -x $bench ]] || { echo "$me: no $bench (build first: cmake --build $build)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/midipipe-depth-cost.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
find "$corpus" -type f -name '*.mid' -not -path '*/edge/*' | LC_ALL=C sort >"$tmp/list"
files=$(wc -l <"$tmp/list")
[[ $files -gt 0 ]] || { echo "$me: no *.mid files outside edge/ in $corpus" >&2; exit 1; }

# bench_files forks its worker: %p names each process's profile; the worker's is the largest.
for mode in off on; do
  arg=()
  [[ $mode == on ]] && arg=(depth)
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$mode.%p" \
    "$bench" 1 "$tmp/list" "${arg[@]}" >"$tmp/log.$mode" 2>&1 &
done
wait
profile() { ls -S "$tmp"/cg."$1".* | head -1; }

# inclusive instructions of the function whose name matches $2 (the largest entry) in $1
incl() {
  callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
    awk -v pat="$2" 'index($0, pat) { v = $1; gsub(",", "", v); if (v + 0 > m) m = v + 0 } END { print m + 0 }'
}
off=$(profile off)
on=$(profile on)
base=$(incl "$off" "midipipe::analyze_with(")
with=$(incl "$on" "midipipe::analyze_with(")
depth=$(incl "$on" "midipipe::compute_depth(")
chords=$(incl "$on" "depth_detail::analyze_chords(")
perf=$(incl "$on" "::performance(midipipe::DepthInput")
drums=$(incl "$on" "depth_detail::analyze_drums(")
content=$(incl "$on" "midipipe::compute_content(")

awk -v files="$files" -v base="$base" -v with="$with" -v depth="$depth" -v chords="$chords" \
  -v perf="$perf" -v drums="$drums" -v content="$content" 'BEGIN {
  M = 1e6; extra = with - base - content
  printf "files: %d (*.mid outside edge/)\n", files
  printf "analyze_with, depth off:  %8.1f M instructions\n", base / M
  printf "analyze_with, depth on:   %8.1f M\n", with / M
  printf "  content search:         %8.1f M (compute_content, issue 18; not counted below)\n", content / M
  printf "  depth extra:            %8.1f M\n", extra / M
  printf "    compute_depth:        %8.1f M\n", depth / M
  printf "      chords:             %8.1f M\n", chords / M
  printf "      performance+struct: %8.1f M\n", perf / M
  printf "      drums:              %8.1f M\n", drums / M
  printf "      sort, maps, rest:   %8.1f M\n", (depth - chords - perf - drums) / M
  printf "    collecting the notes: %8.1f M (analyze_with on - off - compute_depth - compute_content)\n", (extra - depth) / M
  printf "depth_extra_ratio=%.3f (target <= 0.4)\n", extra / base
  printf "content_extra_ratio=%.3f (reported)\n", content / base
}'
