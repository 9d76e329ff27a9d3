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

# ---------------------------------------------------------------- pg_cron
# wait_for C DB SQL SECONDS: until SQL returns t
wait_for() {
  local i
  for ((i = 0; i < $4 * 5; i++)); do
    [[ $(q "$1" "$2" "$3" 2>/dev/null) == t ]] && return 0
    sleep 0.2
  done
  return 1
}

s_cron() {
  local C=$WORK/cron T=$WORK/cron-files job bad n st holder
  # pg_cron runs jobs in background workers: the server listens on a Unix socket only, so
  # pg_cron's default (a libpq connection to cron.host = localhost) would fail to connect.
  start_cluster "$C" "$((PORT + 1))" midipipe,pg_cron $'cron.database_name = \'postgres\'\ncron.use_background_workers = on\ncron.max_running_jobs = 4' ||
    { fail "cluster"; return; }
  write_midi "$T" 300 0
  q "$C" postgres "CREATE EXTENSION pg_cron" >/dev/null || { fail "CREATE EXTENSION pg_cron"; return; }
  q "$C" postgres "CREATE DATABASE library" >/dev/null && q "$C" library "CREATE EXTENSION midipipe" >/dev/null ||
    { fail "database library with midipipe"; return; }
  note "pg_cron $(q "$C" postgres "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'"), shared_preload_libraries = $(q "$C" postgres "SHOW shared_preload_libraries")"
  # pg_cron 1.4 schedules by the minute (seconds arrived in 1.5): one job every minute
  # serves both checks, so this scenario takes one to two minutes. The run its first
  # firing starts is held still (a session keeps a lock its coordinator needs) until the
  # second firing has come: that call is refused with a clear error, recorded as failed in
  # cron.job_run_details, and no second run of the root starts. Then the lock goes and
  # the held run completes.
  (
    # shellcheck disable=SC1091
    set -a && . "$C/cluster.env" && set +a
    PGAPPNAME=ops_lock_holder timeout 300 psql -X -q -d library -c "BEGIN" \
      -c "LOCK TABLE midipipe_runs IN SHARE MODE" -c "SELECT pg_sleep(240)" >/dev/null 2>&1
  ) &
  holder=$!
  wait_for "$C" library "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'ops_lock_holder' AND query LIKE '%pg_sleep%')" 30
  job=$(q "$C" postgres "SELECT cron.schedule_in_database('midipipe-reimport', '* * * * *',
    \$\$SELECT midipipe_import('$T', wait => false)\$\$, 'library')")
  bad=$(q "$C" postgres "SELECT cron.schedule_in_database('midipipe-missing', '* * * * *',
    \$\$SELECT midipipe_import('$WORK/no-such-dir')\$\$, 'library')")
  check "cron.schedule_in_database returned job ids ($job, $bad)" test -n "$job" -a -n "$bad"
  [[ -n $job && -n $bad ]] || { kill "$holder"; return; }
  check "the first firing started a run (cron.job_run_details: succeeded, midipipe_runs: a run of the root)" \
    wait_for "$C" postgres "SELECT EXISTS (SELECT FROM cron.job_run_details WHERE jobid = $job AND status = 'succeeded')" 75
  check "a failing scheduled import shows as failed with its error in cron.job_run_details" \
    wait_for "$C" postgres "SELECT EXISTS (SELECT FROM cron.job_run_details WHERE jobid = $bad AND status = 'failed'
                              AND return_message LIKE '%could not stat%')" 30
  check "the next firing, while that run still goes, is refused: failed in cron.job_run_details" \
    wait_for "$C" postgres "SELECT EXISTS (SELECT FROM cron.job_run_details WHERE jobid = $job AND status = 'failed'
                              AND return_message LIKE '%is already being imported by run%')" 75
  note "$(q "$C" postgres "SELECT status || ': ' || return_message FROM cron.job_run_details WHERE jobid IN ($job, $bad) ORDER BY runid")"
  q "$C" postgres "SELECT cron.unschedule('midipipe-reimport'), cron.unschedule('midipipe-missing')" >/dev/null
  q "$C" library "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ops_lock_holder'" >/dev/null
  wait "$holder"
  check "the held run completes once the lock is gone" \
    wait_for "$C" library "SELECT NOT EXISTS (SELECT FROM midipipe_runs WHERE state IN ('queued', 'scanning', 'running'))" 60
  n=$(q "$C" library "SELECT count(*) FROM midipipe_runs WHERE root = '$T'")
  st=$(q "$C" library "SELECT string_agg(state, ',') FROM midipipe_runs WHERE root = '$T'")
  is "$n $st" "1 completed" "exactly one run of the root, completed"
  is "$(q "$C" library "SELECT count(*) FROM midipipe_files WHERE status = 'ok'")" 300 "all 300 files imported"
  check "the refusal is counted (midipipe_metrics.runs_refused_total > 0)" \
    test "$(q "$C" library "SELECT runs_refused_total FROM midipipe_metrics WHERE datname = 'library'")" -gt 0
}

# ---------------------------------------------------------------- several servers
s_fdw() {
  local A=$WORK/server-a B=$WORK/server-b H=$WORK/hub FA=$WORK/files-a FB=$WORK/files-b ra rb
  local conf=$'midipipe.analysis_depth = on'
  rm -rf "$FA" "$FB" "$WORK/files-a2" "$WORK/files-b2"
  # a: files 0..99 and the piano samples (chords); b: files 50..149: 50 contents on both
  write_midi "$FA" 100 0
  cp -R "$ROOT/samples/giantmidi-piano" "$FA/piano" && chmod -R a+rX "$FA"
  write_midi "$FB" 100 50
  start_cluster "$A" "$PORT" midipipe "$conf" || { fail "cluster a"; return; }
  start_cluster "$B" "$((PORT + 1))" midipipe "$conf" || { fail "cluster b"; return; }
  start_cluster "$H" "$((PORT + 2))" "" || { fail "hub cluster"; return; }
  q "$A" postgres "CREATE EXTENSION midipipe" >/dev/null && q "$B" postgres "CREATE EXTENSION midipipe" >/dev/null ||
    { fail "CREATE EXTENSION midipipe on a and b"; return; }
  # each server imports its own folder
  ra=$(q "$A" postgres "SET client_min_messages = warning; SELECT midipipe_import('$FA')") && rb=$(q "$B" postgres "SET client_min_messages = warning; SELECT midipipe_import('$FB')") ||
    { fail "local imports"; return; }
  # the hub: no midipipe at all, only postgres_fdw and dblink (contrib)
  local ha hb
  # shellcheck disable=SC1091
  ha=$(. "$A/cluster.env" && echo "$PGHOST") hb=$(. "$B/cluster.env" && echo "$PGHOST")
  q "$H" postgres "
    CREATE EXTENSION postgres_fdw; CREATE EXTENSION dblink;
    CREATE SERVER lib_a FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '$ha', port '$PORT', dbname 'postgres');
    CREATE SERVER lib_b FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '$hb', port '$((PORT + 1))', dbname 'postgres');
    CREATE USER MAPPING FOR CURRENT_USER SERVER lib_a OPTIONS (user 'postgres');
    CREATE USER MAPPING FOR CURRENT_USER SERVER lib_b OPTIONS (user 'postgres');
    CREATE SCHEMA lib_a; CREATE SCHEMA lib_b;
    IMPORT FOREIGN SCHEMA public LIMIT TO (midipipe_files, midipipe_analysis, midipipe_chords, midipipe_runs,
      midipipe_progress, midipipe_metrics) FROM SERVER lib_a INTO lib_a;
    IMPORT FOREIGN SCHEMA public LIMIT TO (midipipe_files, midipipe_analysis, midipipe_chords, midipipe_runs,
      midipipe_progress, midipipe_metrics) FROM SERVER lib_b INTO lib_b;
    CREATE VIEW library_files AS
      SELECT 'lib_a'::text AS server, * FROM lib_a.midipipe_files
      UNION ALL SELECT 'lib_b', * FROM lib_b.midipipe_files;
    CREATE VIEW library_analysis AS
      SELECT 'lib_a'::text AS server, * FROM lib_a.midipipe_analysis
      UNION ALL SELECT 'lib_b', * FROM lib_b.midipipe_analysis;
    CREATE VIEW library_chords AS
      SELECT 'lib_a'::text AS server, * FROM lib_a.midipipe_chords
      UNION ALL SELECT 'lib_b', * FROM lib_b.midipipe_chords;
    CREATE VIEW library_progress AS
      SELECT 'lib_a'::text AS server, * FROM lib_a.midipipe_progress
      UNION ALL SELECT 'lib_b', * FROM lib_b.midipipe_progress;" >/dev/null ||
    { fail "hub: postgres_fdw servers, foreign schemas, views"; return; }
  local na nb
  na=$(q "$A" postgres "SELECT count(*) FROM midipipe_files")
  nb=$(q "$B" postgres "SELECT count(*) FROM midipipe_files")
  is "$(q "$H" postgres "SELECT count(*) FROM library_files")" "$((na + nb))" "the hub sees every file of both servers ($na + $nb)"
  is "$(q "$H" postgres "SELECT count(DISTINCT server) FROM library_files f JOIN library_analysis a USING (server, file_id) WHERE a.note_count > 0")" 2 \
    "files joined with their analysis on both servers (join on server and file_id)"
  check "chords of server a queryable at the hub" \
    test "$(q "$H" postgres "SELECT count(*) FROM library_chords c JOIN library_files f USING (server, file_id) WHERE f.path LIKE '%/piano/%'")" -gt 0
  is "$(q "$H" postgres "SELECT count(*) FROM (SELECT sha256 FROM library_files WHERE sha256 IS NOT NULL
        GROUP BY sha256 HAVING count(DISTINCT server) = 2) s")" 50 "the same SHA-256 on both servers: 50 contents"
  note "$(q "$H" postgres "SELECT encode(a.sha256, 'hex') || ' ' || a.path || ' = ' || b.path FROM lib_a.midipipe_files a
        JOIN lib_b.midipipe_files b USING (sha256) ORDER BY a.path LIMIT 1")"
  # imports started on each server from the hub (dblink), progress read there
  write_midi "$WORK/files-a2" 100 1000
  write_midi "$WORK/files-b2" 100 2000
  ra=$(q "$H" postgres "SELECT run_id FROM dblink('lib_a', \$\$SELECT midipipe_import('$WORK/files-a2', wait => false)\$\$) AS t(run_id bigint)")
  rb=$(q "$H" postgres "SELECT run_id FROM dblink('lib_b', \$\$SELECT midipipe_import('$WORK/files-b2', wait => false)\$\$) AS t(run_id bigint)")
  check "imports started on both servers from the hub (runs $ra, $rb)" test -n "$ra" -a -n "$rb"
  note "$(q "$H" postgres "SELECT server || ' run ' || run_id || ': ' || state || ' ' || files_done || '/' || files_found
        FROM library_progress WHERE (server, run_id) IN (('lib_a', ${ra:-0}), ('lib_b', ${rb:-0})) ORDER BY 1")"
  check "both runs complete, as the hub reads in library_progress" \
    wait_for "$H" postgres "SELECT count(*) = 2 FROM library_progress WHERE (server, run_id) IN (('lib_a', ${ra:-0}), ('lib_b', ${rb:-0}))
                            AND state = 'completed' AND files_done = 100" 120
  is "$(q "$H" postgres "SELECT count(*) FROM library_files WHERE path LIKE '%/files-_2/%' AND status = 'ok'")" 200 \
    "the 200 new files are visible at the hub"
  is "$(q "$H" postgres "SELECT count(*) FROM (SELECT * FROM lib_a.midipipe_metrics UNION ALL SELECT * FROM lib_b.midipipe_metrics) m
        WHERE runs_completed_total = 2")" 2 "each server's midipipe_metrics counts its two runs"
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
scenario "cron: scheduled imports with pg_cron" s_cron
scenario "fdw: two servers queried as one through postgres_fdw, imports through dblink" s_fdw
echo "ops: $N_PASS passed, $N_FAIL failed"
((N_FAIL == 0 && N_PASS > 0))
