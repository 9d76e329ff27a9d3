#!/usr/bin/env bash
# Yielding to client sessions, measured: pgbench's throughput beside an import with the
# default midipipe.yield_share (0.25) and with yielding off (1), in the same script.
#
#   bash scripts/bench-yield.sh [ROUNDS]     (default 3; each round takes about a minute)
#
# Each round, for each setting: pgbench -c 2 -j 2 alone for S seconds (the baseline, measured
# right before), then again while midipipe_import(tree, workers => 2) runs; the ratio of the
# two TPS, and the files the import did meanwhile. The machine may be shared: the medians of
# the ratios are the figures. A throwaway cluster (port 5496 under /tmp/midipipe-bench), the
# installed extension (run `make install` first, or scripts/bench-import.sh), a 20,000-file
# tree built from the MIDI files of MIDIPIPE_CORPUS outside edge/ (default test/corpus, the
# corpus in this repository; any folder of MIDI files will do: the figures are ratios measured
# in the same run). Knobs: MIDIPIPE_CORPUS, MIDIPIPE_BENCH_DIR, MIDIPIPE_YIELD_SECS
# (10), MIDIPIPE_BENCH_KEEP=1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
rounds=${1:-3}
corpus=${MIDIPIPE_CORPUS:-$root/test/corpus}
bdir=${MIDIPIPE_BENCH_DIR:-/tmp/midipipe-bench}
secs=${MIDIPIPE_YIELD_SECS:-10}
port=5496
cluster=$bdir/yield-cluster
tree=$bdir/yield-tree-20000
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
bindir=$("$PG_CONFIG" --bindir)
die() {
  echo "bench-yield: $*" >&2
  exit 1
}
[[ -d $corpus ]] || die "no corpus at $corpus (set MIDIPIPE_CORPUS to a folder of MIDI files)"
corpus=$(cd "$corpus" && pwd)
echo "bench-yield: tree made from $corpus"
mkdir -p "$bdir"
chmod 0755 "$bdir"
if [[ ! -f $tree/.complete || $(cat "$tree/.complete") != "$corpus" ]]; then
  rm -rf "$tree"
  mkdir -p "$tree"
  /usr/bin/python3 test/bench_import/make_tree.py "$corpus" "$tree" 20000 0 >/dev/null ||
    die "make_tree failed"
  chmod -R a+rX "$tree"
  echo "$corpus" >"$tree/.complete"
fi
find "$tree" -type f -print0 | xargs -0 cat >/dev/null

bash scripts/cluster.sh destroy "$cluster" >/dev/null 2>&1 || true
bash scripts/cluster.sh start "$cluster" "$port" >/dev/null || die "cluster did not start"
cleanup() {
  [[ ${MIDIPIPE_BENCH_KEEP:-0} == 1 ]] || bash scripts/cluster.sh stop "$cluster" >/dev/null 2>&1 || true
}
trap cleanup EXIT
user=postgres
[[ $(id -u) -eq 0 ]] || user=$(id -un)
export PGHOST=$cluster PGPORT=$port PGUSER=$user
PSQL=("$bindir/psql" -X -v ON_ERROR_STOP=1 -q -At)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE yb" -c "CREATE DATABASE pgb" >/dev/null
"${PSQL[@]}" -d yb -c "CREATE EXTENSION midipipe" -c "SELECT midipipe_pool_start(2)" >/dev/null
"$bindir/pgbench" -q -i -s 5 pgb >/dev/null 2>&1 || die "pgbench -i failed"

tps() { "$bindir/pgbench" -n -c 2 -j 2 -T "$secs" pgb 2>&1 | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }
declare -A ratios files
for ((i = 1; i <= rounds; i++)); do
  for share in 0.25 1; do
    "${PSQL[@]}" -d postgres -c "ALTER SYSTEM SET midipipe.yield_share = $share" \
      -c "SELECT pg_reload_conf()" >/dev/null
    "${PSQL[@]}" -d yb -c "TRUNCATE midipipe_files CASCADE" 2>/dev/null
    sleep 1
    solo=$(tps)
    # the import runs during the whole of pgbench's second run: re-imported when it ends
    "$bindir/pgbench" -n -c 2 -j 2 -T "$secs" pgb >"$bdir/yield-pgbench.out" 2>&1 &
    pgb=$!
    done_files=0
    while kill -0 $pgb 2>/dev/null; do
      "${PSQL[@]}" -d yb -c "TRUNCATE midipipe_files CASCADE" 2>/dev/null
      run=$("${PSQL[@]}" -d yb -c "SELECT midipipe_import('$tree', workers => 2, wait => false)")
      while kill -0 $pgb 2>/dev/null; do
        st=$("${PSQL[@]}" -d yb -c "SELECT state FROM midipipe_runs WHERE run_id = $run")
        [[ $st == completed || $st == failed || $st == cancelled ]] && break
        sleep 0.2
      done
      n=$("${PSQL[@]}" -d yb -c "SELECT files_done FROM midipipe_progress WHERE run_id = $run")
      done_files=$((done_files + ${n:-0}))
      "${PSQL[@]}" -d yb -c "SELECT midipipe_cancel($run)" >/dev/null
    done
    wait $pgb || true
    both=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$bdir/yield-pgbench.out")
    r=$(awk -v a="$both" -v b="$solo" 'BEGIN {printf "%.2f", a / b}')
    ratios[$share]+="$r "
    files[$share]+="$done_files "
    echo "round $i, yield_share $share: pgbench solo $solo tps, beside the import $both tps (ratio $r); import did $done_files files in ${secs}s"
  done
done
echo
echo "== pgbench beside a 2-worker import ($rounds rounds of ${secs}s; medians)"
for share in 0.25 1; do
  # shellcheck disable=SC2086
  echo "yield_share $share: pgbench keeps $(median ${ratios[$share]}) of its solo TPS [${ratios[$share]% }]; import $(median ${files[$share]}) files in ${secs}s"
done
