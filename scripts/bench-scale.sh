#!/usr/bin/env bash
# The scale benchmark (issue 17): does a large tree cost the same per file as a small one?
#
#   bash scripts/bench-scale.sh [N]     N distinct files (default 50000, a few minutes here;
#                                       the issue's figures are for N=1000000: about 9 GB of
#                                       files and 1.5 GB of database, an hour or more on 2 cores)
#
# Steps: make install (unless MIDIPIPE_BENCH_SKIP_BUILD=1), a tree of N distinct files in folders
# of 1,000 (test/bench_import/make_tree.py, as scripts/bench-import.sh builds its trees; kept
# between runs), a throwaway cluster ($MIDIPIPE_BENCH_DIR/scale-cluster, port
# $MIDIPIPE_BENCH_PORT, recreated each time), page cache warmed, a warm pool of 2 workers, then
# four runs over the same tree with workers => 2:
#   fresh      the first import (every file read and analysed), wait => true
#   unchanged  the same tree again, nothing changed, wait => true
#   nowait     the same, wait => false and midipipe_wait() (the caller holds no snapshot meanwhile)
#   touched    1% of the files touched (mtime), wait => true
# During each run a single psql session samples every 0.1 s (\watch): the run's files done
# (midipipe_progress), the CPU ticks of every pool worker and every scanner (utime + stime of
# /proc/PID/stat, read by the server) and which of them wait for a lock (pg_locks, not granted).
# Per run it prints files/s per 10% slice of the files, worker and scanner CPU per file per
# slice (us), the scanner's CPU per file found per 10% of the files found (its walk, which runs
# ahead of the workers; the verdict compares its last slice with its second), and the lock waits (worker samples waiting / worker samples); after each run the
# manifest's size (midipipe_queue heap + indexes). At the end: table and index sizes per file,
# and the issue's queries (median of 20 EXPLAIN ANALYZE execution times, after VACUUM ANALYZE) with
# their plans. The verdicts compare figures of this one run (the issue's targets, scaled to N).
# It is a benchmark, not a test: it exits 0 unless something broke.
# Knobs: MIDIPIPE_CORPUS (test/corpus), MIDIPIPE_BENCH_DIR (/tmp/midipipe-bench),
# MIDIPIPE_BENCH_PORT (5497), MIDIPIPE_BENCH_SKIP_BUILD=1, MIDIPIPE_BENCH_KEEP=1 (leave the
# cluster running), MIDIPIPE_BENCH_SAMPLE (0.1 s), MIDIPIPE_BENCH_INDEX_ROUNDS (3; 0 skips the
# last step: the search indexes' cost to an import, with and without them, alternating).
set -euo pipefail

me=bench-scale min_n=1000
# shellcheck source=scripts/bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
every=${MIDIPIPE_BENCH_SAMPLE:-0.1}
workers=2
cluster=$bdir/scale-cluster
tree=$bdir/scale-$N

bench_dirs

if [[ ${MIDIPIPE_BENCH_SKIP_BUILD:-0} != 1 ]]; then
  step "build"
  bench_install_extension
fi

step "tree: $N files in folders of 1000"
if [[ -f $tree/.complete && $(cat "$tree/.complete") == "$N $corpus" ]]; then
  echo "$tree (kept from an earlier run)"
else
  rm -rf "$tree"
  mkdir -p "$tree"
  "$PY" test/bench_import/make_tree.py "$corpus" "$tree" "$N" 0 1000 || die "make_tree failed"
  chmod -R a+rX "$tree"
  echo "$N $corpus" >"$tree/.complete"
fi
# make_tree.py leaves every file's mtime as written: a re-run of this script starts from the
# same state, the touched files are touched again with a new time.

step "cluster"
bash scripts/cluster.sh destroy "$cluster" >/dev/null 2>&1 || true
MIDIPIPE_CLUSTER_CONF="max_wal_size = 4GB
shared_buffers = 512MB" bash scripts/cluster.sh start "$cluster" "$port" >/dev/null || die "cluster did not start"
watch_pid=
cleanup() {
  if [[ -n $watch_pid ]]; then kill -INT "$watch_pid" 2>/dev/null || true; fi
  if [[ ${MIDIPIPE_BENCH_KEEP:-0} != 1 ]]; then
    bash scripts/cluster.sh stop "$cluster" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
bench_database
# CPU ticks (utime + stime) of a process, read by the server (it owns the processes)
Q -c "CREATE SCHEMA bench;
CREATE FUNCTION bench.ticks(p int) RETURNS bigint LANGUAGE sql AS \$\$
  SELECT split_part(t, ' ', 12)::bigint + split_part(t, ' ', 13)::bigint
    FROM (SELECT substr(s, strpos(s, ') ') + 2) AS t
            FROM pg_read_file('/proc/' || p || '/stat', 0, 2000, true) AS s) x \$\$;" ||
  die "could not create the sampling function"

step "page cache"
find "$tree" -type f -print0 | xargs -0 cat >/dev/null
got=$(Q -c "SELECT midipipe_pool_start($workers)")
[[ $got -ge $workers ]] || die "midipipe_pool_start($workers) returned $got"
hz=$(getconf CLK_TCK)

# ---------------------------------------------------------------- sampling
# One line per sample: epoch|files_done|run_id|worker pid:ticks,...|scanner pid:ticks,...|workers|waiting|what|files_found
sample_sql="SELECT extract(epoch FROM clock_timestamp()),
  coalesce((SELECT files_done FROM midipipe_progress ORDER BY run_id DESC LIMIT 1), 0),
  (SELECT max(run_id) FROM midipipe_progress),
  (SELECT string_agg(pid || ':' || coalesce(bench.ticks(pid), -1), ',') FROM midipipe_stats),
  (SELECT string_agg(pid || ':' || coalesce(bench.ticks(pid), -1), ',') FROM pg_stat_activity
    WHERE application_name = 'midipipe scanner'),
  (SELECT count(*) FROM midipipe_stats),
  (SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN midipipe_stats w ON w.pid = l.pid WHERE NOT l.granted),
  (SELECT string_agg(DISTINCT l.locktype || coalesce(':' || l.relation::regclass::text, ''), ' ')
     FROM pg_locks l JOIN midipipe_stats w ON w.pid = l.pid WHERE NOT l.granted),
  coalesce((SELECT files_found FROM midipipe_progress ORDER BY run_id DESC LIMIT 1), 0)"
start_sampler() {  # FILE
  printf '%s\n\\watch %s\n' "$sample_sql" "$every" |
    "${PSQL[@]}" -d bench -At -F '|' >"$1" 2>/dev/null &
  watch_pid=$!
  sleep 0.3
}
stop_sampler() {
  sleep 0.3
  kill -INT "$watch_pid" 2>/dev/null || true
  wait "$watch_pid" 2>/dev/null || true
  watch_pid=
}

# Slices of 10% of the files from the samples: files/s, worker and scanner CPU per file
# (us), lock waits. A process's ticks are its last known ones (a scanner exits at the end).
report_slices() {  # NAME FILE TOTAL
  awk -F'|' -v total="$3" -v hz="$hz" -v name="$1" '
    function cpu(field, kind,    n, i, a, kv, k, kk, tot) {
      n = split(field, a, ",")
      for (i = 1; i <= n; i++) {
        split(a[i], kv, ":")
        if (kv[2] >= 0) last[kind, kv[1]] = kv[2]
        if (!((kind, kv[1]) in first)) { first[kind, kv[1]] = kv[2]; pids[kind, kv[1]] = 1 }
      }
      tot = 0
      for (k in pids) { split(k, kk, SUBSEP); if (kk[1] == kind) tot += last[k] - first[k] }
      return tot
    }
    FNR == NR { if ($3 != "") run = $3; next }   # first pass: the run is the last run seen
    NF >= 7 && $1 != "" && $3 == run {
      m++; t[m] = $1; d[m] = $2; w[m] = cpu($4, "w"); sc[m] = cpu($5, "s")
      nw[m] = $6; lw[m] = $7; what[m] = $8; fd[m] = (NF >= 9) ? $9 + 0 : -1
      if (started == 0 && d[m] > 0) started = m > 1 ? m - 1 : m
    }
    END {
      if (m < 2 || started == 0) { printf "%s: too few samples (%d)\n", name, m; exit }
      printf "%s: %d samples; per 10%% slice of %d files: files/s, worker and scanner CPU per file (us)\n", name, m, total
      prev = started; slices = 0
      for (k = 1; k <= 10; k++) {
        th = total * k / 10; j = prev
        while (j < m && d[j] < th) j++
        if (d[j] < th || j == prev) { printf "  slice %2d: n/a (too few samples)\n", k; continue }
        files = d[j] - d[prev]; secs = t[j] - t[prev]
        fps[k] = files / secs
        wus[k] = (w[j] - w[prev]) / hz * 1e6 / files
        sus[k] = (sc[j] - sc[prev]) / hz * 1e6 / files
        printf "  slice %2d: %9.0f files/s  worker %7.1f us  scanner %6.1f us  (%d files in %.2f s)\n", k, fps[k], wus[k], sus[k], files, secs
        prev = j
      }
      for (i = started; i <= m; i++) if (d[i] < total || i == started) { ws += nw[i]; wt += lw[i]; if (what[i] != "") wl[what[i]]++ }
      printf "  lock waits: %d of %d worker samples (%.1f%%)", wt, ws, (ws > 0 ? 100 * wt / ws : 0)
      for (x in wl) printf "; %s x%d", x, wl[x]
      printf "\n"
      f2 = (fps[2] > 0) ? fps[2] : fps[1]; s2 = (sus[2] > 0) ? sus[2] : sus[1]
      # The scanner walks ahead of the workers: its walk can end before the last slice, whose
      # scanner CPU is then only the waiting. Its growth is the highest slice after the second.
      smax = 0; for (k = 3; k <= 10; k++) if (sus[k] > smax) smax = sus[k]
      walk = 0
      # The walk itself: the scanner CPU per file found, per 10% of the files found (samples
      # that carry files_found); its last slice against its second is then the verdict.
      if (fd[m] > 0) {
        printf "  the walk, scanner CPU per file found, per 10%% of the files found (us):"
        p0 = 1
        for (k = 1; k <= 10; k++) {
          th = total * k / 10; j = p0
          while (j < m && fd[j] < th) j++
          if (fd[j] < th || j == p0 || fd[j] == fd[p0]) { printf " n/a"; continue }
          wk[k] = (sc[j] - sc[p0]) / hz * 1e6 / (fd[j] - fd[p0]); printf " %.1f", wk[k]; p0 = j
        }
        printf "\n"
        w2 = (wk[2] > 0) ? wk[2] : wk[1]
        if (w2 > 0 && wk[10] > 0) { walk = wk[10] / w2; printf "  the walk, last / second slice: %.2f\n", walk }
      }
      if (fps[10] > 0 && f2 > 0) printf "  last / second slice: files/s %.2f, scanner CPU per file %.2f (highest slice / second %.2f), worker CPU per file %.2f\n", fps[10] / f2, (s2 > 0 ? sus[10] / s2 : 0), (s2 > 0 ? smax / s2 : 0), ((wus[2] > 0) ? wus[10] / wus[2] : 0)
      scan = walk > 0 ? walk : (s2 > 0 ? smax / s2 : 0)  # for the verdict: the walk when sampled
      printf "SLICES %s %.3f %.3f %.1f\n", name, (f2 > 0 && fps[10] > 0) ? fps[10] / f2 : 0, scan, (ws > 0 ? 100 * wt / ws : 0)
    }' "$2" "$2"
}

queue_size() {
  Q -c "SELECT pg_size_pretty(pg_total_relation_size('midipipe_queue')) || ' (' ||
               pg_total_relation_size('midipipe_queue') || ' bytes; heap ' ||
               pg_relation_size('midipipe_queue') || ', indexes ' || pg_indexes_size('midipipe_queue') ||
               '), ' || (SELECT count(*) FROM midipipe_queue) || ' rows'"
}

# run NAME WAIT -> prints the run's figures; sets run_secs
declare -A secs_of slices_of
one_run() {  # NAME WAIT(true|false)
  local name=$1 wait=$2 samples=$bdir/scale-samples-$1.txt out t0 t1 id
  Q -c "SELECT pg_stat_reset_single_table_counters(indexrelid) FROM pg_index
         WHERE indrelid IN ('midipipe_queue'::regclass, 'midipipe_files'::regclass)" >/dev/null
  start_sampler "$samples"
  t0=$(date +%s.%N)
  if [[ $wait == true ]]; then
    out=$(Q -c "SELECT midipipe_import('$tree', workers => $workers)" 2>&1) || {
      echo "$out"
      die "run $name failed"
    }
  else
    id=$(Q -c "SELECT midipipe_import('$tree', workers => $workers, wait => false)") || die "run $name failed"
    [[ $(Q -c "SELECT midipipe_wait($id)") == completed ]] || die "run $name did not complete"
  fi
  t1=$(date +%s.%N)
  stop_sampler
  local row
  row=$(Q -c "SELECT state, files_found, files_ok, files_duplicate, files_unchanged, files_failed,
                     round(extract(epoch FROM finished_at - started_at)::numeric, 3)
                FROM midipipe_runs ORDER BY run_id DESC LIMIT 1")
  IFS='|' read -r st found ok dup unch failed rs <<<"$row"
  [[ $st == completed && $found -eq $N && $((ok + dup + unch + failed)) -eq $found ]] ||
    die "run $name: state=$st found=$found ok=$ok dup=$dup unchanged=$unch failed=$failed"
  secs_of[$name]=$rs
  printf '%s: %s files in %s s by midipipe_runs (%s s wall): %.0f files/s; ok %s, unchanged %s, failed %s\n' \
    "$name" "$found" "$rs" "$(awk -v a="$t1" -v b="$t0" 'BEGIN {printf "%.2f", a - b}')" \
    "$(awk -v n="$N" -v s="$rs" 'BEGIN {print n / s}')" "$ok" "$unch" "$failed"
  local rep
  rep=$(report_slices "$name" "$samples" "$N")
  grep -v '^SLICES' <<<"$rep"
  slices_of[$name]=$(sed -n "s/^SLICES $name //p" <<<"$rep")
  echo "manifest after $name: $(queue_size)"
  sleep 1.2  # the workers send their statistics at most once a second
  echo "index entries read per file: $(Q -c "SELECT string_agg(indexrelname || ' ' ||
          round(idx_tup_read::numeric / $N, 1), ', ' ORDER BY indexrelname)
          FROM pg_stat_user_indexes WHERE relname IN ('midipipe_queue', 'midipipe_files') AND idx_tup_read > 0")"
}

step "fresh import: $N files"
one_run fresh true
# settle what the fresh import left to the background (autovacuum of the new rows, dirty
# buffers), so that it does not fall on the first re-import only
Q -c "VACUUM ANALYZE" && Q -c "CHECKPOINT"
step "unchanged re-import, wait => true"
one_run unchanged true
step "unchanged re-import, wait => false"
one_run nowait false
step "1% touched"
touched=$((N / 100))
find "$tree" -name '*.mid' | sort | awk 'NR % 100 == 0' | xargs touch -m -d "@$(date +%s)"
one_run touched true

# ---------------------------------------------------------------- sizes
step "sizes after the runs"
# as autovacuum leaves them after a while (an insert-only table is vacuumed too): statistics,
# and visibility maps for index-only scans
Q -c "VACUUM ANALYZE"
Q -F ' ' -c "SELECT rpad(c.relname, 22), lpad(round(pg_relation_size(c.oid)::numeric / $N)::text, 6) AS heap,
                    lpad(round(pg_indexes_size(c.oid)::numeric / $N)::text, 6) AS idx,
                    lpad(round((pg_total_relation_size(c.oid) - pg_relation_size(c.oid) - pg_indexes_size(c.oid))::numeric / $N)::text, 6) AS toast
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1" |
  sed '1i table                  heap/file idx/file toast+fsm/file (bytes)'
Q -F ' ' -c "SELECT rpad(i.indexrelid::regclass::text, 36), lpad(round(pg_relation_size(i.indexrelid)::numeric / $N)::text, 6)
               FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'public' ORDER BY 1" | sed '1i index                                bytes/file'
total_pf=$(Q -c "SELECT round(sum(pg_total_relation_size(c.oid))::numeric / $N) FROM pg_class c
                   JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'")
echo "database (extension tables) per file: $total_pf bytes"
queue_bytes=$(Q -c "SELECT pg_total_relation_size('midipipe_queue')")

# ---------------------------------------------------------------- queries
step "queries (median of 20 execution times, EXPLAIN ANALYZE)"
mid=$(printf 'd%04d' $((N / 2000)))
one_path=$(Q -c "SELECT path FROM midipipe_files WHERE path LIKE '$tree/$mid/%' ORDER BY path LIMIT 1")
one_id=$(Q -c "SELECT file_id FROM midipipe_files WHERE path = '$one_path'")
queries=(
  "exact path|SELECT * FROM midipipe_files WHERE path = '$one_path'"
  "duplicate_of|SELECT path FROM midipipe_files WHERE duplicate_of = $one_id"
  "key|SELECT count(*) FROM midipipe_analysis WHERE key = 'D minor'"
  "key, 50 paths|SELECT f.path FROM midipipe_analysis a JOIN midipipe_files f USING (file_id) WHERE a.key = 'D minor' LIMIT 50"
  "tempo range|SELECT count(*) FROM midipipe_analysis WHERE tempo_bpm BETWEEN 90 AND 100"
  "duration|SELECT count(*) FROM midipipe_analysis WHERE duration_seconds > 600"
  "status error|SELECT path, error_code FROM midipipe_files WHERE status = 'error'"
  "path prefix|SELECT count(*) FROM midipipe_files WHERE path LIKE '$tree/$mid/%'"
  "same content|SELECT d.path FROM midipipe_files o JOIN midipipe_files d ON d.file_id = o.file_id OR d.duplicate_of = o.file_id WHERE o.status = 'ok' AND o.sha256 = (SELECT sha256 FROM midipipe_files WHERE path = '$one_path')"
  "duplicates|SELECT d.path, o.path FROM midipipe_files d JOIN midipipe_files o ON o.file_id = d.duplicate_of WHERE d.duplicate_of IS NOT NULL"
)
declare -a qsum
for entry in "${queries[@]}"; do
  label=${entry%%|*} sql=${entry#*|}
  out=$(for ((i = 0; i < 20; i++)); do echo "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) $sql;"; done | Q 2>&1) ||
    die "query '$label' failed: $out"
  mapfile -t times < <(sed -n 's/^Execution Time: \([0-9.]*\) ms$/\1/p' <<<"$out")
  med=$(median "${times[@]}")
  echo "-- $label: median $med ms   $sql"
  awk '/^Planning Time/ {exit} {print "     " $0}' <<<"$out"
  qsum+=("$(printf '%-16s %10s ms' "$label" "$med")")
done

# ---------------------------------------------------------------- what the indexes cost
# The search indexes of issue 17 (key, tempo, duration of midipipe_analysis; error rows of
# midipipe_files) against an import without them: a tree of N/5 other files (at most 20,000)
# imported fresh into emptied tables, with and without them, alternating
# (MIDIPIPE_BENCH_INDEX_ROUNDS rounds, default 3); server CPU per file (every process of the
# cluster) and files/s, medians. The path index is not among them: 0.4 replaced the unique
# index on path by one that also serves prefixes, no index more.
idx_rounds=${MIDIPIPE_BENCH_INDEX_ROUNDS:-3}
if ((idx_rounds > 0)); then
  step "index write cost: $idx_rounds rounds"
  cn=$((N / 5 > 20000 ? 20000 : N / 5))
  ctree=$bdir/scale-cost-$cn
  if [[ ! -f $ctree/.complete || $(cat "$ctree/.complete") != "$cn $corpus" ]]; then
    rm -rf "$ctree" && mkdir -p "$ctree"
    "$PY" test/bench_import/make_tree.py "$corpus" "$ctree" "$cn" 50000000 1000 >/dev/null || die "make_tree failed"
    chmod -R a+rX "$ctree"
    echo "$cn $corpus" >"$ctree/.complete"
  fi
  find "$ctree" -type f -print0 | xargs -0 cat >/dev/null
  idx_defs=$(Q -c "SELECT string_agg(pg_get_indexdef(indexrelid), ';') FROM pg_index
                    WHERE indexrelid::regclass::text IN ('midipipe_analysis_key', 'midipipe_analysis_tempo',
                                                        'midipipe_analysis_duration', 'midipipe_files_errors')")
  cost_import() {  # with|without -> "files/s us_per_file"
    Q -c "DELETE FROM midipipe_files" >/dev/null
    Q -c "VACUUM midipipe_files, midipipe_analysis, midipipe_tracks, midipipe_queue" >/dev/null 2>&1 || true
    if [[ $1 == without ]]; then
      Q -c "DROP INDEX IF EXISTS midipipe_analysis_key, midipipe_analysis_tempo, midipipe_analysis_duration, midipipe_files_errors" >/dev/null
    elif [[ -n $idx_defs ]]; then
      Q -c "DROP INDEX IF EXISTS midipipe_analysis_key, midipipe_analysis_tempo, midipipe_analysis_duration, midipipe_files_errors; $idx_defs" >/dev/null
    fi
    Q -c "CHECKPOINT" >/dev/null
    local k0 k1 t0 t1
    k0=$(cluster_ticks)
    t0=$(date +%s.%N)
    Q -c "SELECT midipipe_import('$ctree', workers => $workers)" >/dev/null 2>&1 || die "index cost import failed"
    t1=$(date +%s.%N)
    k1=$(cluster_ticks)
    awk -v n="$cn" -v a="$t1" -v b="$t0" -v k="$((k1 - k0))" -v hz="$hz" 'BEGIN {printf "%.1f %.1f\n", n / (a - b), k / hz * 1e6 / n}'
  }
  w_fps=() w_us=() o_fps=() o_us=() d_us=() r_fps=()
  for ((r = 1; r <= idx_rounds; r++)); do
    if ((r % 2)); then
      read -r f1 u1 < <(cost_import with)
      read -r f2 u2 < <(cost_import without)
    else
      read -r f2 u2 < <(cost_import without)
      read -r f1 u1 < <(cost_import with)
    fi
    echo "round $r: with the search indexes $f1 files/s, $u1 us CPU per file; without $f2 files/s, $u2 us"
    w_fps+=("$f1") w_us+=("$u1") o_fps+=("$f2") o_us+=("$u2")
    d_us+=("$(awk -v a="$u1" -v b="$u2" 'BEGIN {printf "%.1f", a - b}')")
    r_fps+=("$(awk -v a="$f1" -v b="$f2" 'BEGIN {printf "%.3f", a / b}')")
  done
  idx_cost="with / without: files/s $(median "${w_fps[@]}") / $(median "${o_fps[@]}"), server CPU per file $(median "${w_us[@]}") / $(median "${o_us[@]}") us (medians of $idx_rounds, $cn files); per round: +$(median "${d_us[@]}") us CPU per file [${d_us[*]}], files/s ratio $(median "${r_fps[@]}") [${r_fps[*]}] (medians)"
  echo "$idx_cost"
  Q -c "DROP INDEX IF EXISTS midipipe_analysis_key, midipipe_analysis_tempo, midipipe_analysis_duration, midipipe_files_errors; $idx_defs" >/dev/null
fi

bash scripts/check-server-log.sh "$cluster/server.log" >/dev/null 2>&1 ||
  die "the server log shows a crashed process: $cluster/server.log"

# ---------------------------------------------------------------- summary
fresh=${secs_of[fresh]} unch=${secs_of[unchanged]} nowait=${secs_of[nowait]} tch=${secs_of[touched]}
read -r f_ratio f_scan f_wait <<<"${slices_of[fresh]}"
read -r _ _ u_wait <<<"${slices_of[unchanged]}"
read -r _ _ n_wait <<<"${slices_of[nowait]}"
read -r _ _ t_wait <<<"${slices_of[touched]}"
fresh_fps=$(awk -v n="$N" -v s="$fresh" 'BEGIN {printf "%.0f", n / s}')
unch_fps=$(awk -v n="$N" -v s="$unch" 'BEGIN {printf "%.0f", n / s}')
nowait_fps=$(awk -v n="$N" -v s="$nowait" 'BEGIN {printf "%.0f", n / s}')
touch_budget=$(awk -v u="$unch" -v n="$touched" -v f="$fresh_fps" 'BEGIN {printf "%.2f", u + n / f}')
verdict() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {if (v == "") {print "n/a"; exit} ok = (op == ">=") ? v >= t : v <= t; print ok ? "MET" : "MISSED"}'; }
cat <<EOF

======== midipipe scale benchmark: N=$N files (folders of 1000), workers=$workers, $(nproc) cores, $(date '+%F %T')
fresh import          $fresh s   $fresh_fps files/s
unchanged, wait       $unch s   $unch_fps files/s
unchanged, no wait    $nowait s   $nowait_fps files/s
1% touched            $tch s   (budget: unchanged + $touched files at the fresh rate = $touch_budget s)
fresh: last / second 10% slice, files/s       $f_ratio   (target >= 0.9)   $(verdict "$f_ratio" ">=" 0.9)
fresh: scanner CPU/file, walk last / 2nd      $f_scan   (target <= 1.2)   $(verdict "$f_scan" "<=" 1.2)
unchanged >= 50,000 files/s (wait / no wait)  $unch_fps / $nowait_fps   $(verdict "$unch_fps" ">=" 50000) / $(verdict "$nowait_fps" ">=" 50000)
1% touched within its budget                  $tch <= $touch_budget   $(verdict "$tch" "<=" "$touch_budget")
workers waiting for a lock (% of samples)     fresh $f_wait, unchanged $u_wait, no wait $n_wait, touched $t_wait   (target <= 5)   $(verdict "$(printf '%s\n' "$f_wait" "$u_wait" "$n_wait" "$t_wait" | sort -g | tail -n 1)" "<=" 5) (worst)
manifest after the runs                       $queue_bytes bytes   (target < 10 MB)   $(verdict "$queue_bytes" "<=" 10485760)
database per file                             $total_pf bytes
queries (median of 20; target < 50 ms each, through an index):
$(printf '  %s\n' "${qsum[@]}")
search indexes' write cost             ${idx_cost:-not measured (MIDIPIPE_BENCH_INDEX_ROUNDS=0)}
EOF
