#!/usr/bin/env bash
# The DBA's tools around midipipe (issue 20), each on throwaway clusters of its own:
#
#   exporter   contrib/postgres_exporter.yaml: every query runs and returns exactly the
#              columns the file lists (numbers for counters and gauges); counters grow
#              after an import
#   cron       pg_cron (shared_preload_libraries = 'midipipe,pg_cron'): a scheduled import
#              runs (midipipe_runs, cron.job_run_details); an overlapping schedule is refused
#   fdw        two servers import their own folder; a third sees both through postgres_fdw
#              (files, analysis, chords, the same SHA-256 on both) and starts imports on
#              each through dblink, reading their progress
#
#   bash test/ops/run.sh          (scripts/test.sh runs it as the "ops" step)
#
# Environment: MIDIPIPE_OPS_DIR (/tmp/midipipe-ops-UID), MIDIPIPE_OPS_PORT (5491; it uses
# this port and the next two), MIDIPIPE_CLUSTER_SH, MIDIPIPE_OPS_ONLY (a scenario name).
# Ends with "ops: N passed, M failed"; exit status 0 only when nothing failed.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=${MIDIPIPE_OPS_DIR:-/tmp/midipipe-ops-$(id -u)}
PORT=${MIDIPIPE_OPS_PORT:-5491}
CLUSTER_SH=${MIDIPIPE_CLUSTER_SH:-$ROOT/scripts/cluster.sh}
ONLY=${MIDIPIPE_OPS_ONLY:-}
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
[[ -x $PG_CONFIG ]] || PG_CONFIG=$(command -v pg_config || echo pg_config)
BINDIR=$("$PG_CONFIG" --bindir)
export PATH=$BINDIR:$PATH
unset PGHOST PGPORT PGUSER PGDATA PGDATABASE

N_PASS=0 N_FAIL=0
pass() { N_PASS=$((N_PASS + 1)); echo "    ok - $*"; }
fail() { N_FAIL=$((N_FAIL + 1)); echo "    not ok - $*"; }
note() { echo "    # $*"; }
is() { if [[ "$1" == "$2" ]]; then pass "$3"; else fail "$3 (got '$1', want '$2')"; fi; }
check() {
  local d=$1
  shift
  if "$@"; then pass "$d"; else fail "$d"; fi
}

# q CLUSTER_DIR DB SQL...: psql on that cluster's socket, unaligned tuples, bounded by timeout
q() {
  local c=$1 db=$2
  shift 2
  # shellcheck disable=SC1091
  (set -a && . "$c/cluster.env" && timeout 300 psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "$*")
}

CLUSTERS=()
start_cluster() { # start_cluster DIR PORT PRELOAD [CONF]
  bash "$CLUSTER_SH" destroy "$1" >/dev/null 2>&1
  MIDIPIPE_PRELOAD=$3 MIDIPIPE_CLUSTER_CONF=${4:-} bash "$CLUSTER_SH" start "$1" "$2" >/dev/null 2>&1 ||
    { echo "ops: could not start a cluster in $1 (see $1/server.log)"; return 1; }
  CLUSTERS+=("$1")
}
stop_clusters() {
  local c
  for c in "${CLUSTERS[@]}"; do
    if grep -E "terminated by signal|PANIC:|TRAP:" "$c/server.log" >/dev/null 2>&1; then
      fail "server log of $c shows a crash: $(grep -m1 -E 'terminated by signal|PANIC:|TRAP:' "$c/server.log")"
    fi
    bash "$CLUSTER_SH" destroy "$c" >/dev/null 2>&1
  done
  CLUSTERS=()
}
trap stop_clusters EXIT

# write_midi DIR N FIRST: N distinct valid one-note files f<i>.mid (pitch and length vary with i)
write_midi() {
  mkdir -p "$1" && chmod 0755 "$1"
  /usr/bin/python3 - "$@" <<'PY'
import struct, sys
d, n, first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(first, first + n):
    pitch, length = 36 + i % 60, 1 + (i // 60) % 120
    trk = bytes([0, 0x90, pitch, 100, length, 0x80, pitch, 0]) + bytes([0, 0xFF, 0x2F, 0])
    data = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 96) + b"MTrk" + struct.pack(">I", len(trk)) + trk
    open(f"{d}/f{i:05d}.mid", "wb").write(data)
PY
  chmod -R a+rX "$1"
}

scenario() {
  [[ -n $ONLY && $ONLY != "$2" ]] && return 0
  echo "# $1"
  "$2"
  stop_clusters
}

# ---------------------------------------------------------------- exporter
s_exporter() {
  local C=$WORK/exporter out
  start_cluster "$C" "$PORT" midipipe || { fail "cluster"; return; }
  q "$C" postgres "CREATE EXTENSION midipipe" >/dev/null || { fail "CREATE EXTENSION"; return; }
  write_midi "$WORK/exp-files" 200 0
  # the queries once before any import (a fresh server: no run ended yet), after one, and
  # the counters grown by that import
  out=$(/usr/bin/python3 "$HERE/exporter_check.py" "$ROOT/contrib/postgres_exporter.yaml" \
    "$C" postgres "SELECT midipipe_import('$WORK/exp-files', workers => 2)" 2>&1)
  local rc=$?
  echo "$out" | sed 's/^/    # /'
  check "exporter queries return the documented columns and counters grow after an import" test $rc -eq 0
}

scenario "exporter: contrib/postgres_exporter.yaml" s_exporter
echo "ops: $N_PASS passed, $N_FAIL failed"
((N_FAIL == 0 && N_PASS > 0))
