#!/usr/bin/env bash
# The import benchmark: the extension's performance targets (issues 3, 6 and 16), measured
# against the engine alone and against the import with analysis depth off, on the same
# machine in the same script.
#
#   bash scripts/bench-import.sh [N]        N distinct files (default 50000; e.g. 5000 for a quick run)
#
# Steps: build (cmake into build/ for bench_files, make && make install for the
# extension), a throwaway cluster (scripts/cluster.sh start /tmp/midipipe-bench/cluster 5497,
# recreated each time), trees of distinct files under /tmp/midipipe-bench built from
# the corpus (test/bench_import/make_tree.py; kept between runs), page cache warmed, then
#   (a) the engine alone (bench_files, 2 processes: read, hash, parse, analyse with
#       depth, read the file name, no database; run before and after the import, the
#       faster counts) and midipipe_import(tree, workers => 2) with the default settings
#       (analysis depth on) on a warm pool of 2, over the same N files: files/s of both
#       (import: wall clock and midipipe_runs started_at..finished_at), their ratio
#       (issue 16: at least 0.75), and the CPU per file of each part: the engine's, the
#       whole server's, and the difference, the database half;
#   (b) a 1-file run with wait => true and workers => 8, cold (midipipe_pool_stop()
#       first: its workers must start) and warm (a pool of 8 already up), each round one
#       cold and MIDIPIPE_BENCH_WARM (3) warm runs, MIDIPIPE_BENCH_ROUNDS rounds (5), the
#       file's row deleted before each run: medians (issue 16: warm at most 10 ms on an
#       idle machine, cold / warm at least 10), printed with the load average;
#   (d) the same import with midipipe.analysis_depth off, on (the default), and on with
#       split_tracks, in alternating rounds (rows deleted and tables vacuumed before
#       each): median files/s with depth over median without, and the median of the
#       rounds' own ratios (issue 16: the default import at least as fast as the
#       depth-off import, both at least 1.0; the depth-off import of this same build
#       is the baseline, faster than the depth-off import of the build before issue 16);
#       with depth and splitting over without, reported. Each round also runs the
#       engine alone with depth off and on (bench_files ... [depth]): the CPU per file
#       that depth's analysis needs before any row is written. The "ceiling" is the
#       on / off CPU ratio the import would have if writing the depth rows cost nothing;
#   (e) the import with depth on, midipipe.content_search on and off in alternating rounds
#       (MIDIPIPE_BENCH_CONTENT_ROUNDS, default 2; issue 18: at least 0.90 of the files/s),
#       the server CPU per file of both, and each round the engine alone with and without
#       the content columns (bench_files depth / depth-nocontent): the "ceiling" is the
#       on / off CPU ratio the import would have if writing the content rows cost nothing;
#       the rows of the last run copied by INSERT ... SELECT with and without their content
#       columns (the cheapest way to write them), and the "floor": the ratio with the
#       engine's extra and that writing cost only;
#       then the latency (median, p95) of 100 queries of each content search on the N
#       files' rows, and EXPLAIN showing their GIN indexes (docs/content.md);
#   (c) the pool workers' memory (VmRSS and RssAnon from /proc/PID/status) before,
#       sampled during, and after the big run. The verdict uses RssAnon (private
#       memory): VmRSS also counts the shared buffers a worker touches, which grows
#       towards shared_buffers whatever the worker's own memory does.
# It ends with a block of figures and PASS/MISS per target. It is a benchmark, not a
# test: it exits 0 unless something broke (build, cluster, a run that did not complete
# with every file ok). The machine may be shared: compare the ratios, which are measured
# back to back in this script, rather than absolute figures across runs.
#
# Input: the trees are made from the MIDI files of MIDIPIPE_CORPUS outside its edge/ folder
# (default test/corpus, the corpus in this repository: 1,484 such files). The files per second
# depend on that mix of files: the README's figures were measured on the larger development
# corpus (1,782 such files, more long piano pieces), MIDIPIPE_CORPUS=/path/to/it to compare.
# The ratios are measured within one run on one tree, whichever corpus it comes from.
# Knobs: MIDIPIPE_CORPUS (test/corpus), MIDIPIPE_BENCH_DIR (/tmp/midipipe-bench),
# MIDIPIPE_BENCH_PORT (5497), MIDIPIPE_BENCH_ROUNDS (5), MIDIPIPE_BENCH_SKIP_BUILD=1,
# MIDIPIPE_BENCH_KEEP=1 (leave the cluster running at the end), MIDIPIPE_BENCH_DEPTH_ROUNDS (2),
# MIDIPIPE_BENCH_WARM (3 warm 1-file runs per cold one), MIDIPIPE_BENCH_BASELINE (a commit whose
# library is the baseline of (d), e.g. 029c34b; none by default), MIDIPIPE_BENCH_PARTS (the
# parts to run, default abde: (a) with (c), (b), (d), (e); e.g. MIDIPIPE_BENCH_PARTS=e bash
# scripts/bench-import.sh 100000 for the content search's figures on a large tree alone).
set -euo pipefail

me=bench-import min_n=200
# shellcheck source=scripts/bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
rounds=${MIDIPIPE_BENCH_ROUNDS:-5}
parts=${MIDIPIPE_BENCH_PARTS:-abde}  # which of (a) (with (c)), (b), (d), (e) to run
want() { [[ $parts == *"$1"* ]]; }
hz=$(getconf CLK_TCK)
workers=2
small_n=1
small_workers=8
warm_per_round=${MIDIPIPE_BENCH_WARM:-3}
cluster=$bdir/cluster
tree=$bdir/tree-$N
small=$bdir/small-$small_n

now() { date +%s.%N; }
quotient() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }  # a / b, 3 decimals

bench_dirs
echo "bench-import: trees made from $corpus ($(find "$corpus" -path "$corpus/edge" -prune -o -type f -iname '*.mid' -print | wc -l) .mid files outside edge/)"

# ------------------------------------------------------------------ build
if [[ ${MIDIPIPE_BENCH_SKIP_BUILD:-0} != 1 ]]; then
  step "build"
  if [[ ! -f build/CMakeCache.txt ]]; then
    cmake -S . -B build -DMIDIPIPE_CORPUS="$corpus" >/dev/null
  fi
  cmake --build build -j2 --target bench_files >/dev/null || die "cmake build of bench_files failed"
  bench_install_extension
  echo "built build/test/bench_import/bench_files and installed midipipe.so"
fi
bench_files=$root/build/test/bench_import/bench_files
[[ -x $bench_files ]] || die "$bench_files missing (run without MIDIPIPE_BENCH_SKIP_BUILD)"

# The baseline of (d): another commit's library (MIDIPIPE_BENCH_BASELINE=REV, e.g. 029c34b, the
# main of before issue 16), built from `git archive REV` in $bdir/baseline. Its imports run with
# depth off on the same cluster and tables: the cluster is stopped, that library copied over the
# installed midipipe.so and started again, and the reverse afterwards (the tables' version must
# be one both libraries write).
baseline=${MIDIPIPE_BENCH_BASELINE:-}
pkglibdir=$("$PG_CONFIG" --pkglibdir)
rm -f "$bdir/current-midipipe.so"
if [[ -n $baseline ]]; then
  step "baseline library: $baseline"
  rm -rf "$bdir/baseline"
  mkdir -p "$bdir/baseline"
  git -C "$root" archive "$baseline" | tar -x -C "$bdir/baseline" || die "git archive $baseline failed"
  make -s -C "$bdir/baseline" -j2 PG_CONFIG="$PG_CONFIG" >/dev/null || die "make of $baseline failed"
  cp "$pkglibdir/midipipe.so" "$bdir/current-midipipe.so"
  echo "built $baseline's midipipe.so; this checkout's is kept in $bdir/current-midipipe.so"
fi

# ------------------------------------------------------------------ trees
make_tree() {  # DIR COUNT FIRST
  local dir=$1 count=$2 first=$3
  if [[ -f $dir/.complete && $(cat "$dir/.complete") == "$count $first $corpus" ]]; then
    echo "$dir: $count files (kept from an earlier run)"
    return
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  "$PY" test/bench_import/make_tree.py "$corpus" "$dir" "$count" "$first" || die "make_tree failed"
  chmod -R a+rX "$dir"
  echo "$count $first $corpus" >"$dir/.complete"
}
step "trees"
make_tree "$tree" "$N" 0
make_tree "$small" "$small_n" 90000000
find "$tree" -name '*.mid' | sort >"$bdir/list-$N.txt"
[[ $(wc -l <"$bdir/list-$N.txt") -eq $N ]] || die "$tree does not hold $N files"

# ------------------------------------------------------------------ cluster
step "cluster"
bash scripts/cluster.sh destroy "$cluster" >/dev/null 2>&1 || true
bash scripts/cluster.sh start "$cluster" "$port" || die "cluster did not start"
cleanup() {
  if [[ ${MIDIPIPE_BENCH_KEEP:-0} != 1 ]]; then
    bash scripts/cluster.sh stop "$cluster" >/dev/null 2>&1 || true
  fi
  if [[ -n ${sampler_pid:-} ]]; then kill "$sampler_pid" 2>/dev/null || true; fi
  # never leave the baseline's library installed
  if [[ -f $bdir/current-midipipe.so ]] && ! cmp -s "$bdir/current-midipipe.so" "$pkglibdir/midipipe.so"; then
    cp "$bdir/current-midipipe.so" "$pkglibdir/midipipe.so" || true
  fi
}
trap cleanup EXIT
bench_database

# ------------------------------------------------------------------ page cache
step "page cache"
warm_cache() { find "$1" -type f -print0 | xargs -0 cat >/dev/null; }
warm_cache "$tree"
warm_cache "$small"
echo "read $tree and $small once"

# ------------------------------------------------------------------ (a) engine alone
if want a; then
step "engine alone: $N files, $workers processes, depth on (the import's default)"
engine_run() {  # -> "files_per_sec cpu_seconds"
  local out
  out=$("$bench_files" "$workers" "$bdir/list-$N.txt" depth) || die "bench_files failed"
  echo "$out" >&2
  echo "$(sed -n 's/^engine_files_per_sec=//p' <<<"$out") $(sed -n 's/^engine_cpu_seconds=//p' <<<"$out")"
}
# Run again after the import; the ratio uses the faster of the two (on a shared
# machine a slow engine run would flatter the import).
read -r engine_fps1 engine_cpu1 < <(engine_run)
[[ -n $engine_fps1 && -n $engine_cpu1 ]] || die "the engine-alone run failed"

# ------------------------------------------------------------------ (a)+(c) the import
step "import: $N files, workers => $workers, warm pool, default settings (depth on)"
got=$(Q -c "SELECT midipipe_pool_start($workers)")
[[ $got -ge $workers ]] || die "midipipe_pool_start($workers) returned $got"
pids=$(Q -c "SELECT string_agg(pid::text, ' ' ORDER BY pid) FROM midipipe_stats WHERE database = current_database()")
echo "pool workers: $pids"

mem_of() {  # PID -> "vmrss_kb rssanon_kb" (empty when gone)
  awk '/^VmRSS:/ {v=$2} /^RssAnon:/ {a=$2} END {if (v != "") print v, a}' "/proc/$1/status" 2>/dev/null || true
}
samples=$bdir/rss-samples.txt
: >"$samples"
for p in $pids; do echo "0 $p before $(mem_of "$p")" >>"$samples"; done
(
  # No forks (the sampler must not take CPU from the run it measures): the pause is a
  # read with a timeout on a pipe nobody writes to. Every 50 ms: a batch's rows make a
  # worker's memory rise and fall within a fraction of a second, and the verdict
  # compares peaks, which sparse samples miss at random (with 200 ms, a 6-second run
  # once put +5.5 MB between the early and the late peak of a flat worker).
  exec {nap}<> <(:)
  t0=$EPOCHREALTIME
  while :; do
    t=$EPOCHREALTIME
    for p in $pids; do
      v='' a=
      while read -r k val _; do
        case $k in VmRSS:) v=$val ;; RssAnon:) a=$val ;; esac
      done <"/proc/$p/status" 2>/dev/null || true
      [[ -n $v ]] && echo "$t $t0 $p during $v $a"
    done
    read -r -t 0.05 -u "$nap" _ || true
  done
) >"$samples.raw" &
sampler_pid=$!

ticks0=$(cluster_ticks)
t_start=$(now)
Q -c "SELECT midipipe_import('$tree', workers => $workers)" >"$bdir/import.out" 2>&1 ||
  {
    cat "$bdir/import.out"
    die "the import failed"
  }
t_end=$(now)
ticks1=$(cluster_ticks)
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=
awk '{printf "%.2f %s %s %s %s\n", $1 - $2, $3, $4, $5, $6}' "$samples.raw" >>"$samples"
for p in $pids; do echo "end $p after $(mem_of "$p")" >>"$samples"; done
tail -n 2 "$bdir/import.out"

step "engine alone again: $N files, $workers processes, depth on"
read -r engine_fps2 engine_cpu2 < <(engine_run)
[[ -n $engine_fps2 && -n $engine_cpu2 ]] || die "the engine-alone run failed"
engine_fps=$(awk -v a="$engine_fps1" -v b="$engine_fps2" 'BEGIN {print (a > b) ? a : b}')
engine_cpu=$(awk -v a="$engine_cpu1" -v b="$engine_cpu2" 'BEGIN {print (a < b) ? a : b}')

IFS='|' read -r run_state run_found run_ok run_failed run_secs < <(Q -c "
  SELECT state, files_found, files_ok, files_failed,
         round(extract(epoch FROM finished_at - started_at)::numeric, 3)
  FROM midipipe_runs ORDER BY run_id DESC LIMIT 1")
[[ $run_state == completed && $run_found -eq $N && $run_ok -eq $N ]] ||
  die "the run did not import every file: state=$run_state found=$run_found ok=$run_ok failed=$run_failed"
rows=$(Q -c "SELECT count(*) FROM midipipe_analysis")
[[ $rows -eq $N ]] || die "midipipe_analysis holds $rows rows, not $N"
wall_secs=$(awk -v a="$t_end" -v b="$t_start" 'BEGIN {printf "%.3f", a - b}')
imp_fps_wall=$(awk -v n="$N" -v s="$wall_secs" 'BEGIN {printf "%.1f", n / s}')
imp_fps_run=$(awk -v n="$N" -v s="$run_secs" 'BEGIN {printf "%.1f", n / s}')
ratio=$(quotient "$imp_fps_wall" "$engine_fps")
imp_cpu=$(awk -v a="$ticks0" -v b="$ticks1" -v hz="$hz" 'BEGIN {printf "%.3f", (b - a) / hz}')
eng_us=$(awk -v c="$engine_cpu" -v n="$N" 'BEGIN {printf "%.1f", c * 1e6 / n}')
imp_us=$(awk -v c="$imp_cpu" -v n="$N" 'BEGIN {printf "%.1f", c * 1e6 / n}')
cpu_ratio=$(quotient "$eng_us" "$imp_us")
db_us=$(awk -v a="$imp_us" -v b="$eng_us" 'BEGIN {printf "%.1f", a - b}')
db_share=$(quotient "$db_us" "$eng_us")
per_worker=$(Q -c "SELECT string_agg(pid || ':' || files_done, ' ' ORDER BY pid) FROM midipipe_stats")
echo "import: $N files in $wall_secs s wall ($imp_fps_wall files/s), $run_secs s by midipipe_runs ($imp_fps_run files/s); files per worker pid: $per_worker"

# Memory: per worker, the largest sample in the first quarter of the run after the
# first 5% (the worker's steady state once its caches are built) against the largest
# sample of the last quarter and the value after the run. Peak against peak: within a
# batch a worker's memory rises and falls (the batch's rows are built in memory, then
# freed and handed back), so a median against a maximum would call that sawtooth growth.
# A busy worker also keeps up to KEEP_FREED_KB of what its batches freed, for the next batch
# (kKeepFreed, src/pg/worker.cpp), and gives it back when it goes idle: a peak may hold that
# much more than an earlier one without any growth. The value after the run (idle) shows
# what stays.
KEEP_FREED_KB=32768
mem_report=$(awk -v T="$wall_secs" -v keep="$KEEP_FREED_KB" '
  $3 == "before" { before[$2] = $4 " / " $5 }
  $3 == "after"  { after_v[$2] = $4; after_a[$2] = $5 }
  $3 == "during" {
    t = $1; p = $2; pids[p] = 1; maxv[p] = ($4 > maxv[p]) ? $4 : maxv[p]
    if (t >= 0.05 * T && t <= 0.30 * T) { early[p, ++ne[p]] = $5 }
    if (t >= 0.75 * T) { if ($5 > late[p]) late[p] = $5 }
  }
  END {
    worst = 0; ok = 1
    for (p in pids) {
      n = ne[p]
      # median of early samples (insertion sort; few samples)
      for (i = 1; i <= n; i++) a[i] = early[p, i]
      for (i = 2; i <= n; i++) { v = a[i]; j = i - 1; while (j >= 1 && a[j] > v) { a[j + 1] = a[j]; j-- } a[j + 1] = v }
      base = n > 0 ? a[n] : 0
      l = late[p]; if (after_a[p] > l) l = after_a[p]
      growth = l - base
      allow = base * 0.10; if (allow < 4096) allow = 4096
      allow += keep
      if (n < 3 || l == 0) ok = -1  # too few samples: the run was too short to judge
      if (ok == 1 && growth > allow) ok = 0
      if (growth > worst) worst = growth
      printf "worker %s: before %s kB (VmRSS / RssAnon); during RssAnon early max %d kB, late max %d kB (growth %+d kB, allowed %d); VmRSS max %d kB; after %s / %s kB\n", p, before[p], base, late[p], growth, allow, maxv[p], after_v[p], after_a[p]
    }
    printf "MEMFLAT %s %d\n", ok == 1 ? "PASS" : (ok == 0 ? "MISS" : "n/a(run-too-short)"), worst
  }' "$samples")
grep -v '^MEMFLAT' <<<"$mem_report"
mem_verdict=$(sed -n 's/^MEMFLAT \([^ ]*\) .*/\1/p' <<<"$mem_report")
mem_growth=$(sed -n 's/^MEMFLAT [^ ]* //p' <<<"$mem_report")

fi
# ------------------------------------------------------------------ (d) analysis depth on
# The same import with midipipe.analysis_depth = on (the default; issue 16: the default import
# at least as fast as the depth-off import), against the same import with it off, in alternating
# rounds (off, on, on + split_tracks; then the reverse order; ...: MIDIPIPE_BENCH_DEPTH_ROUNDS
# rounds, default 2) so that drift of the shared machine falls on all. Before every run the
# rows are deleted and the tables (the queue included) vacuumed, so every run reads and
# analyses every file again into the same tables. The figure is median(on) / median(off);
# (a)'s run, on fresh tables, is not one of them. The third run also splits every
# multi-track file into one format-0 file per track (split_tracks => true): reported, as
# everything the issue adds switched on at once.
depth_rounds=${MIDIPIPE_BENCH_DEPTH_ROUNDS:-2}
use_library() {  # FILE: restart the cluster with that midipipe.so, warm pool of $workers again
  bash scripts/cluster.sh stop "$cluster" >/dev/null 2>&1 || die "cluster stop failed"
  cp "$1" "$pkglibdir/midipipe.so" || die "could not install $1"
  bash scripts/cluster.sh start "$cluster" "$port" >/dev/null || die "cluster did not start with $1"
  Q -c "SELECT midipipe_pool_start($workers)" >/dev/null
}
depth_import() {  # off|on|split|base -> "files/s us": wall clock of the statement, server CPU per file
  local mode=$1 depth=on split=false t0 t1 k0 k1 out=$bdir/import-depth-$1.out
  [[ $mode == off || $mode == base ]] && depth=off
  [[ $mode == split ]] && split=true
  [[ $mode == base ]] && use_library "$bdir/baseline/midipipe.so"
  Q -c "DELETE FROM midipipe_files" >/dev/null || die "could not empty midipipe_files"
  # The queue too: every run leaves twice its file count of dead queue rows (claimed, then
  # deleted at the end), which slowed each later run of a series until autovacuum came.
  Q -c "VACUUM midipipe_files, midipipe_analysis, midipipe_tracks, midipipe_chords, midipipe_queue, midipipe_runs" >/dev/null 2>&1 || true
  Q -c "CHECKPOINT" >/dev/null
  k0=$(cluster_ticks)
  t0=$(now)
  "${PSQL[@]}" -d bench -At -c "SET midipipe.analysis_depth = $depth" \
    -c "SELECT midipipe_import('$tree', workers => $workers, split_tracks => $split)" >"$out" 2>&1 ||
    {
      cat "$out" >&2
      die "the import with analysis_depth = $depth, split_tracks => $split failed"
    }
  t1=$(now)
  k1=$(cluster_ticks)
  [[ $mode == base ]] && use_library "$bdir/current-midipipe.so"
  awk -v n="$N" -v a="$t1" -v b="$t0" -v k="$((k1 - k0))" -v hz="$hz" \
    'BEGIN {printf "%.1f %.1f\n", n / (a - b), k / hz * 1e6 / n}'
}
engine_us() {  # [depth|depth-nocontent] -> CPU per file of the engine alone ($workers processes)
  local out
  out=$("$bench_files" "$workers" "$bdir/list-$N.txt" "$@") || die "bench_files failed"
  awk -v c="$(sed -n 's/^engine_cpu_seconds=//p' <<<"$out")" -v n="$N" 'BEGIN {printf "%.1f", c * 1e6 / n}'
}
engine_depth_us() { if [[ $1 == on ]]; then engine_us depth; else engine_us; fi; }  # off|on
if want d; then
step "analysis depth off, on, on + split_tracks, alternating: $N files, workers => $workers, $depth_rounds rounds"
depth_off_list=() depth_on_list=() depth_split_list=() base_list=() cpu_base_list=() base_ratio_list=()
cpu_off_list=() cpu_on_list=() eng_extra_list=() round_ratio_list=()
for ((r = 1; r <= depth_rounds; r++)); do
  if ((r % 2 == 1)); then  # off, on, split; then split, on, off: drift within a round cancels
    read -r f_off c_off < <(depth_import off)
    read -r f_on c_on < <(depth_import on)
    read -r f_split _ < <(depth_import split)
    f_base=0 c_base=0
    [[ -n $baseline ]] && read -r f_base c_base < <(depth_import base)
    e_off=$(engine_depth_us off)
    e_on=$(engine_depth_us on)
  else
    e_on=$(engine_depth_us on)
    e_off=$(engine_depth_us off)
    f_base=0 c_base=0
    [[ -n $baseline ]] && read -r f_base c_base < <(depth_import base)
    read -r f_split _ < <(depth_import split)
    read -r f_on c_on < <(depth_import on)
    read -r f_off c_off < <(depth_import off)
  fi
  [[ -n $f_off && -n $c_off && -n $f_on && -n $c_on && -n $f_split && -n $e_off && -n $e_on ]] ||
    die "depth round $r: a run failed"
  e_extra=$(awk -v a="$e_on" -v b="$e_off" 'BEGIN {printf "%.1f", a - b}')
  echo "round $r: depth off $f_off files/s, on $f_on, on + split $f_split (on / off = $(quotient "$f_on" "$f_off"));" \
    "server CPU per file off $c_off us, on $c_on us; engine alone off $e_off us, on $e_on us (depth +$e_extra us)"
  depth_off_list+=("$f_off")
  base_list+=("$f_base")
  cpu_base_list+=("$c_base")
  [[ -n $baseline ]] && echo "round $r: baseline $baseline, depth off: $f_base files/s, server CPU per file $c_base us (default / baseline = $(quotient "$f_on" "$f_base"))"
  [[ -n $baseline ]] && base_ratio_list+=("$(quotient "$f_on" "$f_base")")
  depth_on_list+=("$f_on")
  depth_split_list+=("$f_split")
  cpu_off_list+=("$c_off")
  cpu_on_list+=("$c_on")
  eng_extra_list+=("$e_extra")
  round_ratio_list+=("$(quotient "$f_on" "$f_off")")
done
depth_off_fps=$(median "${depth_off_list[@]}")
depth_on_fps=$(median "${depth_on_list[@]}")
depth_split_fps=$(median "${depth_split_list[@]}")
depth_ratio=$(quotient "$depth_on_fps" "$depth_off_fps")
split_ratio=$(quotient "$depth_split_fps" "$depth_off_fps")
# The same question asked per round (on and off of one round ran minutes apart, not
# tens of minutes): the verdict needs both this median and the ratio of the medians.
round_ratio=$(median "${round_ratio_list[@]}")
base_fps=$(median "${base_list[@]}")
cpu_base=$(median "${cpu_base_list[@]}")
echo "import with depth: median $depth_on_fps files/s; with depth and split: $depth_split_fps; without: $depth_off_fps; with depth / without = $depth_ratio"
# By CPU: on / off of files/s is off / on of CPU per file when the CPUs are the limit;
# the engine's share of depth's extra CPU is measured alone, without the database.
cpu_off=$(median "${cpu_off_list[@]}")
cpu_on=$(median "${cpu_on_list[@]}")
eng_extra=$(median "${eng_extra_list[@]}")
cpu_ratio_d=$(quotient "$cpu_off" "$cpu_on")
ceiling=$(awk -v c="$cpu_off" -v e="$eng_extra" 'BEGIN {printf "%.3f", c / (c + e)}')
fi

# ------------------------------------------------------------------ (e) content search
if want e; then
# The import with depth on, with midipipe.content_search on (the default) and off (a server
# setting the workers read at each batch: ALTER SYSTEM + reload), alternating as (d) does
# (MIDIPIPE_BENCH_CONTENT_ROUNDS, default 2; issue 18: the content columns may cost at most 10%
# of the import's files/s). Then, on the tables of the last "on" run, the latency of each
# search over 100 queries (median and 95th percentile, server-side clock_timestamp()):
# midipipe_find_melody of 8-note excerpts of stored melodic lines, midipipe_find_progression
# of 10 common progressions (each 10 times), midipipe_similar of 100 contents; and EXPLAIN of
# the statements inside them, which must name the GIN indexes.
content_rounds=${MIDIPIPE_BENCH_CONTENT_ROUNDS:-2}
content_import() {  # on|off -> "files/s server_cpu_us_per_file"
  Q -c "ALTER SYSTEM SET midipipe.content_search = $1" -c "SELECT pg_reload_conf()" >/dev/null
  sleep 1
  depth_import on
}
# The engine alone, depth on, with and without the content columns: CPU per file of
# $workers bench_files processes (no database). What content costs before any row is written.
engine_content_us() { if [[ $1 == on ]]; then engine_us depth; else engine_us depth-nocontent; fi; }  # on|off
step "content search off, on, alternating (depth on): $N files, workers => $workers, $content_rounds rounds"
content_on_list=() content_off_list=() content_round_list=()
ccpu_on_list=() ccpu_off_list=() ceng_extra_list=()
for ((r = 1; r <= content_rounds; r++)); do
  if ((r % 2 == 1)); then
    read -r c_off k_off < <(content_import off)
    read -r c_on k_on < <(content_import on)
    ce_off=$(engine_content_us off)
    ce_on=$(engine_content_us on)
  else
    ce_on=$(engine_content_us on)
    ce_off=$(engine_content_us off)
    read -r c_on k_on < <(content_import on)
    read -r c_off k_off < <(content_import off)
    read -r c_on2 k_on2 < <(content_import on)  # the last run of the series leaves the content rows
    c_on=$(awk -v a="$c_on" -v b="$c_on2" 'BEGIN {print (a + b) / 2}')
    k_on=$(awk -v a="$k_on" -v b="$k_on2" 'BEGIN {print (a + b) / 2}')
  fi
  [[ -n $c_off && -n $k_off && -n $c_on && -n $k_on && -n $ce_off && -n $ce_on ]] ||
    die "content round $r: a run failed"
  ce_extra=$(awk -v a="$ce_on" -v b="$ce_off" 'BEGIN {printf "%.1f", a - b}')
  echo "round $r: content off $c_off files/s, on $c_on (on / off = $(quotient "$c_on" "$c_off"));" \
    "server CPU per file off $k_off us, on $k_on us; engine alone off $ce_off us, on $ce_on us (content +$ce_extra us)"
  content_on_list+=("$c_on")
  content_off_list+=("$c_off")
  content_round_list+=("$(quotient "$c_on" "$c_off")")
  ccpu_on_list+=("$k_on")
  ccpu_off_list+=("$k_off")
  ceng_extra_list+=("$ce_extra")
done
((content_rounds % 2 == 1)) && content_import on >/dev/null  # the search below needs the rows
# As for depth in (d): the ceiling is the on / off ratio of CPU per file the import would have if
# writing the content columns and their index entries cost nothing (the engine's extra alone).
ccpu_on=$(median "${ccpu_on_list[@]}")
ccpu_off=$(median "${ccpu_off_list[@]}")
ceng_extra=$(median "${ceng_extra_list[@]}")
ccpu_ratio=$(quotient "$ccpu_off" "$ccpu_on")
cceiling=$(awk -v c="$ccpu_off" -v e="$ceng_extra" 'BEGIN {printf "%.3f", c / (c + e)}')
Q -c "ALTER SYSTEM RESET midipipe.content_search" -c "SELECT pg_reload_conf()" >/dev/null
content_on_fps=$(median "${content_on_list[@]}")
content_off_fps=$(median "${content_off_list[@]}")
content_ratio=$(quotient "$content_on_fps" "$content_off_fps")
content_round_ratio=$(median "${content_round_list[@]}")
# The database's own floor for the content columns: the rows of the last "on" run copied by
# INSERT ... SELECT into empty tables shaped as midipipe_analysis and midipipe_tracks (their
# indexes, the GIN ones included), once with the content columns NULL and once as they are:
# the cheapest way to write the same rows (no analysis, no per-row statements). The best of 3
# of each, alternating; the difference per file is what the content rows cost to write at
# least, whoever writes them.
step "content rows written alone (INSERT ... SELECT), the best of 3"
write_floor=$(Q <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_x_analysis, bench_x_tracks;
CREATE TABLE bench_x_analysis (LIKE midipipe_analysis INCLUDING ALL);
CREATE TABLE bench_x_tracks (LIKE midipipe_tracks INCLUDING ALL);
CREATE TEMP TABLE wf (kind text, us double precision);
DO $$
DECLARE
  n bigint := (SELECT count(*) FROM midipipe_analysis);
  an_all text; an_plain text; tr_all text; tr_plain text; t0 timestamptz;
BEGIN
  -- every column, and every column with the content ones (from notes_fingerprint on, and
  -- the melody_* of the tracks) as NULL
  SELECT string_agg(attname, ', ' ORDER BY attnum),
         string_agg(CASE WHEN attnum >= (SELECT attnum FROM pg_attribute WHERE attrelid = 'midipipe_analysis'::regclass
                                           AND attname = 'notes_fingerprint') THEN 'NULL' ELSE attname END, ', ' ORDER BY attnum)
    INTO an_all, an_plain
    FROM pg_attribute WHERE attrelid = 'midipipe_analysis'::regclass AND attnum > 0 AND NOT attisdropped;
  SELECT string_agg(attname, ', ' ORDER BY attnum),
         string_agg(CASE WHEN attname LIKE 'melody\_%' THEN 'NULL' ELSE attname END, ', ' ORDER BY attnum)
    INTO tr_all, tr_plain
    FROM pg_attribute WHERE attrelid = 'midipipe_tracks'::regclass AND attnum > 0 AND NOT attisdropped;
  FOR i IN 1 .. 3 LOOP
    TRUNCATE bench_x_analysis, bench_x_tracks;
    t0 := clock_timestamp();
    EXECUTE format('INSERT INTO bench_x_analysis SELECT %s FROM midipipe_analysis', an_plain);
    EXECUTE format('INSERT INTO bench_x_tracks SELECT %s FROM midipipe_tracks', tr_plain);
    INSERT INTO wf VALUES ('plain', extract(epoch FROM clock_timestamp() - t0) * 1e6 / n);
    TRUNCATE bench_x_analysis, bench_x_tracks;
    t0 := clock_timestamp();
    EXECUTE format('INSERT INTO bench_x_analysis SELECT %s FROM midipipe_analysis', an_all);
    EXECUTE format('INSERT INTO bench_x_tracks SELECT %s FROM midipipe_tracks', tr_all);
    INSERT INTO wf VALUES ('content', extract(epoch FROM clock_timestamp() - t0) * 1e6 / n);
  END LOOP;
END $$;
DROP TABLE bench_x_analysis, bench_x_tracks;
SELECT round(min(us) FILTER (WHERE kind = 'plain')::numeric, 1) || ' ' ||
       round(min(us) FILTER (WHERE kind = 'content')::numeric, 1) FROM wf;
SQL
) || die "the INSERT ... SELECT of the content rows failed"
read -r wf_plain wf_content <<<"$write_floor"
wf_extra=$(awk -v a="$wf_content" -v b="$wf_plain" 'BEGIN {printf "%.1f", a - b}')
cfloor=$(awk -v c="$ccpu_off" -v e="$ceng_extra" -v w="$wf_extra" 'BEGIN {printf "%.3f", c / (c + e + w)}')
echo "rows of $N files, INSERT ... SELECT: without content $wf_plain us per file, with it $wf_content us (+$wf_extra us)"
Q -c "VACUUM ANALYZE midipipe_analysis, midipipe_tracks" >/dev/null  # as autovacuum would: merges the GIN pending lists
step "search latency: 100 queries each"
search_out=$(Q <<'SQL'
CREATE TEMP TABLE lat (kind text, ms double precision);
DO $$
DECLARE t0 timestamptz; q int[]; p text; f bigint; n bigint;
  progs text[] := '{"ii V I","I V vi IV","I IV V","i bVII bVI V","vi IV I V","I vi IV V","i iv V","IV V I","V I","ii V"}';
BEGIN
  PERFORM setseed(0.18);
  FOR i IN 1 .. 100 LOOP
    -- an 8-note excerpt of a stored melodic line, starting at pitch 60
    SELECT ARRAY[60] || ARRAY(SELECT 60 + sum(x) OVER (ORDER BY o) FROM unnest(t.iv) WITH ORDINALITY u(x, o))::int[] INTO q
      FROM (SELECT melody_intervals[s : s + 6] AS iv
              FROM (SELECT melody_intervals, 1 + floor(random() * (cardinality(melody_intervals) - 7))::int AS s
                      FROM midipipe_tracks WHERE cardinality(melody_intervals) >= 8
                     ORDER BY random() LIMIT 1) x) t;
    CONTINUE WHEN q IS NULL OR cardinality(q) < 8
                  OR (SELECT min(x) FROM unnest(q) x) < 0 OR (SELECT max(x) FROM unnest(q) x) > 127;
    t0 := clock_timestamp();
    SELECT count(*) INTO n FROM midipipe_find_melody(q);
    INSERT INTO lat VALUES ('melody', extract(epoch FROM clock_timestamp() - t0) * 1000);
  END LOOP;
  FOR i IN 1 .. 100 LOOP
    p := progs[1 + (i - 1) % 10];
    t0 := clock_timestamp();
    SELECT count(*) INTO n FROM midipipe_find_progression(p);
    INSERT INTO lat VALUES ('progression', extract(epoch FROM clock_timestamp() - t0) * 1000);
  END LOOP;
  FOR i IN 1 .. 100 LOOP
    SELECT file_id INTO f FROM midipipe_analysis WHERE notes_bands IS NOT NULL
     ORDER BY random() LIMIT 1;
    CONTINUE WHEN f IS NULL;
    t0 := clock_timestamp();
    SELECT count(*) INTO n FROM midipipe_similar(f, 0.5);
    INSERT INTO lat VALUES ('similar', extract(epoch FROM clock_timestamp() - t0) * 1000);
  END LOOP;
END $$;
SELECT kind || ' ' || count(*) || ' ' ||
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) || ' ' ||
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 2)
  FROM lat GROUP BY kind ORDER BY kind;
SQL
) || die "the search latency queries failed"
echo "$search_out"
lat() { awk -v k="$1" -v f="$2" '$1 == k {print $f}' <<<"$search_out"; }
explain=$(Q <<'SQL'
EXPLAIN SELECT t.file_id FROM midipipe__melody_query('{60,62,64,65,67,69,71,72}') q
  JOIN midipipe_tracks t ON t.melody_ngrams OPERATOR(pg_catalog.@>) q.ngrams;
EXPLAIN SELECT a.file_id FROM midipipe__progression_query('ii V I') q
  JOIN midipipe_analysis a ON a.progression_ngrams OPERATOR(pg_catalog.@>) q.ngrams;
EXPLAIN SELECT a.file_id FROM midipipe_analysis t JOIN midipipe_analysis a
  ON a.notes_bands OPERATOR(pg_catalog.&&) t.notes_bands WHERE t.file_id = 1;
SQL
)
echo "$explain"
explain_idx=$(grep -oE 'midipipe_(tracks_melody_ngrams|analysis_progression_ngrams|analysis_notes_bands)' <<<"$explain" | sort -u | wc -l)

fi
# ------------------------------------------------------------------ (b) cold vs warm
if want b; then
step "cold vs warm: $small_n-file run, wait => true, workers => $small_workers, $rounds rounds of 1 cold + $warm_per_round warm"
timed_import() {  # cold|warm -> milliseconds of the midipipe_import statement (call to return)
  local kind=$1 out
  Q -c "DELETE FROM midipipe_files WHERE path LIKE '$small/%'" >/dev/null
  if [[ $kind == cold ]]; then
    Q -c "SELECT midipipe_pool_stop()" >/dev/null
    local left
    left=$(Q -c "SELECT count(*) FROM midipipe_stats WHERE database = current_database()")
    [[ $left -eq 0 ]] || die "midipipe_pool_stop() left $left workers"
  else
    Q -c "SELECT midipipe_pool_start($small_workers)" >/dev/null
  fi
  out=$("${PSQL[@]}" -d bench -At -c '\timing on' \
    -c "SELECT midipipe_import('$small', workers => $small_workers, wait => true)" 2>&1) || {
    echo "$out" >&2
    die "the $kind run failed"
  }
  local ok
  ok=$(Q -c "SELECT files_ok FROM midipipe_runs ORDER BY run_id DESC LIMIT 1")
  [[ $ok -eq $small_n ]] || die "the $kind run imported $ok files, not $small_n"
  sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$out" | tail -n 1
}
cold_ms=()
warm_ms=()
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
Q -c "SELECT midipipe_pool_start($small_workers)" >/dev/null
timed_import warm >/dev/null # a first run to settle the small tree's catalog and plans
for ((i = 1; i <= rounds; i++)); do
  c=$(timed_import cold)
  cold_ms+=("$c")
  ws=()
  for ((k = 1; k <= warm_per_round; k++)); do
    w=$(timed_import warm)
    warm_ms+=("$w")
    ws+=("$w")
  done
  echo "round $i: cold $c ms, warm ${ws[*]} ms (load average $(cut -d' ' -f1 /proc/loadavg))"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
cold_med=$(median "${cold_ms[@]}")
warm_med=$(median "${warm_ms[@]}")
cw_ratio=$(awk -v c="$cold_med" -v w="$warm_med" 'BEGIN {printf "%.2f", c / w}')
fi

verdict() { awk -v v="$1" -v t="$2" 'BEGIN {print (v >= t) ? "PASS" : "MISS"}'; }

bash scripts/check-server-log.sh "$cluster/server.log" >/dev/null 2>&1 ||
  die "the server log shows a crashed process: $cluster/server.log"

echo
echo "======== midipipe import benchmark: N=$N distinct files, workers=$workers, $(nproc) cores, $(date '+%F %T'), parts $parts"
if want a; then
  v_ratio=$(verdict "$ratio" 0.75)
  cat <<EOF
engine alone, depth on ($workers procs) $engine_fps files/s  (best of $engine_fps1 before and $engine_fps2 after the import)
import, defaults (wall clock)     $imp_fps_wall files/s  ($N files in $wall_secs s)
import (midipipe_runs times)      $imp_fps_run files/s  ($run_secs s)
import / engine (wall)            $ratio
CPU per file: engine / import     $eng_us / $imp_us us = $cpu_ratio  (whole server; hardly moved by other load)
CPU per file, database half       $db_us us = $db_share x the engine's  (import - engine; <= 0.333 for 0.75)
worker RssAnon growth (worst)     $mem_growth kB over the run
(a)  import >= 0.75 of the engine alone     $v_ratio
(c)  worker memory flat across the run      $mem_verdict
EOF
fi
if want b; then
  v_warm=$(awk -v w="$warm_med" 'BEGIN {print (w <= 10) ? "PASS" : "MISS"}')
  v_cw=$(verdict "$cw_ratio" 10)
  cat <<EOF
cold $small_n-file run (median)         $cold_med ms   [${cold_ms[*]}]
warm $small_n-file run (median)         $warm_med ms   [${warm_ms[*]}]
cold / warm                       $cw_ratio
load average (1, 5, 15 min)       $load_before before (b), $load_after after, on $(nproc) cores
(b1) warm 1-file run <= 10 ms               $v_warm  (the target is for an idle machine: see the load average)
(b2) cold / warm 1-file run >= 10           $v_cw
EOF
fi
if want d; then
  v_depth=$(verdict "$(awk -v a="$depth_ratio" -v b="$round_ratio" 'BEGIN {print (a < b) ? a : b}')" 1.0)
  if [[ -n $baseline ]]; then
    base_ratio=$(quotient "$depth_on_fps" "$base_fps")
    base_round_ratio=$(median "${base_ratio_list[@]}")
    v_base=$(verdict "$(awk -v a="$base_ratio" -v b="$base_round_ratio" 'BEGIN {print (a < b) ? a : b}')" 1.0)
    base_line="default / $baseline depth off   $base_ratio  (medians $depth_on_fps / $base_fps files/s; rounds' own ratios: median $base_round_ratio [${base_ratio_list[*]}]; server CPU per file $cpu_on / $cpu_base us)
(d') default import >= $baseline's depth-off import  $v_base"
  else
    base_line="(d') no baseline library (MIDIPIPE_BENCH_BASELINE=REV, e.g. 029c34b)"
  fi
  cat <<EOF
import, depth off / on (medians)  $depth_off_fps / $depth_on_fps files/s  [off ${depth_off_list[*]}] [on ${depth_on_list[*]}]
with depth / without              $depth_ratio  (median of the rounds' own ratios: $round_ratio  [${round_ratio_list[*]}])
server CPU per file, off / on     $cpu_off / $cpu_on us = $cpu_ratio_d  [off ${cpu_off_list[*]}] [on ${cpu_on_list[*]}]
depth's extra CPU, engine alone   $eng_extra us per file  [${eng_extra_list[*]}]
ceiling (depth rows written free) $ceiling  (off / (off + the engine's extra), CPU per file)
depth and split_tracks (median)   $depth_split_fps files/s  [${depth_split_list[*]}]: / without = $split_ratio  (reported)
(d)  default import >= depth-off import     $v_depth  (both medians; the depth-off import of this build)
$base_line
EOF
fi
if want e; then
  v_content=$(verdict "$(awk -v a="$content_ratio" -v b="$content_round_ratio" 'BEGIN {print (a < b) ? a : b}')" 0.90)
  cat <<EOF
import, content off / on (medians) $content_off_fps / $content_on_fps files/s  [off ${content_off_list[*]}] [on ${content_on_list[*]}]
with content / without            $content_ratio  (median of the rounds' own ratios: $content_round_ratio  [${content_round_list[*]}])
server CPU per file, off / on     $ccpu_off / $ccpu_on us = $ccpu_ratio  [off ${ccpu_off_list[*]}] [on ${ccpu_on_list[*]}]
content's extra CPU, engine alone $ceng_extra us per file  [${ceng_extra_list[*]}]
ceiling (content rows written free) $cceiling  (off / (off + the engine's extra), CPU per file)
content rows, INSERT ... SELECT   +$wf_extra us per file  (without $wf_plain, with $wf_content: the writing's own floor)
floor (engine + rows written alone) $cfloor  (off / (off + the engine's extra + that), CPU per file)
search latency, median / p95 (ms) melody $(lat melody 3) / $(lat melody 4), progression $(lat progression 3) / $(lat progression 4), similar $(lat similar 3) / $(lat similar 4)  ($N files; queries: melody $(lat melody 2), progression $(lat progression 2), similar $(lat similar 2))
EXPLAIN names the GIN indexes     $explain_idx of 3
(e)  content costs <= 10% of files/s (issue 18) $v_content  (both medians)
EOF
fi
