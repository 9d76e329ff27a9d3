#!/usr/bin/env bash
# midipipe fault suite (issue 4): hostile input, dying processes, a tree changing under a run,
# pool abuse, privileges, load beside OLTP, memory, resource bounds of crafted files.
#
#   bash test/faults/run.sh                       standalone: starts its own cluster
#                                                 (scripts/cluster.sh start /tmp/midipipe-faults/cluster 5495)
#   MIDIPIPE_FAULTS_SCALE=full bash test/faults/run.sh     the issue's counts (slow)
#   MIDIPIPE_FAULTS_ONLY='hostile|kill' bash test/faults/run.sh   only scenarios matching a regex
#
# Environment (as scripts/test.sh passes it to the suites; all optional here): PGHOST, PGPORT,
# PGUSER, PGDATA, MIDIPIPE_CLI, MIDIPIPE_CORPUS, MIDIPIPE_TEST_DIR, MIDIPIPE_CLUSTER_DIR,
# MIDIPIPE_SERVER_LOG, MIDIPIPE_CLUSTER_SH. When PGHOST is unset the suite starts its own cluster.
# Scratch files go to MIDIPIPE_FAULTS_DIR (default /tmp/midipipe-faults; the trees are kept and
# reused between runs when their size matches). Its cluster listens on MIDIPIPE_FAULTS_PORT
# (default 5495); a dedicated second cluster on MIDIPIPE_FAULTS_PORT2 (default 5494) is
# started for the max_worker_processes scenario and stopped again.
#
# Counts (stated here, printed at the start):
#                                   ci        full
#   hostile mutants (+ edge corpus) 2,000     5,000
#   big note-on file                8 MB      60 MB
#   tiny tracks in one file         300,000   2,000,000
#   kill / restart runs             20,000    20,000   (5,000 files take < 1 s here: too short
#                                                      to hit a run in flight reliably)
#   pgbench-beside-import tree      20,000    50,000   (re-imported until pgbench ends)
#   memory run (one worker)         20,000    100,000
#   pgbench duration                15 s      30 s;  the TPS ratio floor asserted: ci 0.3
#                                                    (lenient: 2 shared cores, noisy), full 0.5;
#                                                    solo = mean of a run before and one after
#
# Every scenario is one function; each prints TAP-style "ok"/"not ok" lines for its checks and
# then "ok"/"not ok" for itself. Every scenario also fails when the server log gained a
# "terminated by signal" line (or PANIC/TRAP) for a process the scenario did not signal itself.
# Ends with "faults: N passed, M failed" (N, M count scenarios); exit status 1 on any failure.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SCALE=${MIDIPIPE_FAULTS_SCALE:-ci}
WORK=${MIDIPIPE_FAULTS_DIR:-/tmp/midipipe-faults}
CORPUS=${MIDIPIPE_CORPUS:-$ROOT/test/corpus}
CLI=${MIDIPIPE_CLI:-$ROOT/build/midipipe-analyze}
CLUSTER_SH=${MIDIPIPE_CLUSTER_SH:-$ROOT/scripts/cluster.sh}
ONLY=${MIDIPIPE_FAULTS_ONLY:-}
PORT=${MIDIPIPE_FAULTS_PORT:-5495}
PORT2=${MIDIPIPE_FAULTS_PORT2:-5494}
# a cluster without shared_preload_libraries (packaging scenario)
PORT3=${MIDIPIPE_FAULTS_PORT3:-5493}
PY=/usr/bin/python3
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
[[ -x $PG_CONFIG ]] || PG_CONFIG=$(command -v pg_config || echo pg_config)
BINDIR=$("$PG_CONFIG" --bindir)
export PATH=$BINDIR:$PATH

case "$SCALE" in
  ci)
    N_MUT=2000 BIG_MB=8 TINY=300000 N_KILL=20000 N_LOAD=20000 N_MEM=20000
    PGB_SECS=15 RATIO_FLOOR=0.3 ;;
  full)
    N_MUT=5000 BIG_MB=60 TINY=2000000 N_KILL=20000 N_LOAD=50000 N_MEM=100000
    PGB_SECS=30 RATIO_FLOOR=0.5 ;;
  *) echo "MIDIPIPE_FAULTS_SCALE must be ci or full" >&2; exit 2 ;;
esac
N_SMALL=2000
MAXEV=2000000     # midipipe.max_events' default (issue 13): the hostile and bounds scenarios
MEM_LIMIT_KB=8192 # "a few MB": private (anonymous) memory growth allowed across the memory run
KEEP_FREED_KB=32768 # what a busy worker keeps of what its batches freed (kKeepFreed, src/pg/worker.cpp)

mkdir -p "$WORK" && chmod 0755 "$WORK"

# ---------------------------------------------------------------- the cluster
OWN_CLUSTER=0
if [[ -z ${PGHOST:-} ]]; then
  OWN_CLUSTER=1
  CLUSTER_DIR=$WORK/cluster
  bash "$CLUSTER_SH" start "$CLUSTER_DIR" "$PORT" || { echo "faults: could not start a cluster"; exit 1; }
  # shellcheck disable=SC1091
  set -a && . "$CLUSTER_DIR/cluster.env" && set +a
  SERVER_LOG=$CLUSTER_DIR/server.log
else
  CLUSTER_DIR=${MIDIPIPE_CLUSTER_DIR:-$(dirname "${PGDATA:?PGDATA must be set with PGHOST}")}
  SERVER_LOG=${MIDIPIPE_SERVER_LOG:-$CLUSTER_DIR/server.log}
fi
export PGHOST PGPORT PGUSER PGDATA
export PGDATABASE=postgres
[[ -r $SERVER_LOG ]] || { echo "faults: cannot read the server log $SERVER_LOG"; exit 1; }

if [[ $(id -u) -eq 0 ]]; then AS_PG=(runuser -u postgres --); else AS_PG=(); fi
pgctl() { "${AS_PG[@]}" "$BINDIR/pg_ctl" "$@"; }

# ---------------------------------------------------------------- output and checks
SC_FAIL=0 SC_CHECKS=0 N_PASS=0 N_FAIL=0
declare -a SUMMARY=() ALLOWED_PIDS=()
FIGURES=()

pass() { SC_CHECKS=$((SC_CHECKS + 1)); echo "    ok - $*"; }
fail() { SC_CHECKS=$((SC_CHECKS + 1)); SC_FAIL=$((SC_FAIL + 1)); echo "    not ok - $*"; }
note() { echo "    # $*"; }
figure() { FIGURES+=("$*"); echo "    # FIGURE: $*"; }
is() { # is GOT WANT DESCRIPTION
  if [[ "$1" == "$2" ]]; then pass "$3"; else fail "$3 (got '$1', want '$2')"; fi
}
check() { # check DESCRIPTION COMMAND...: passes when COMMAND succeeds
  local d=$1
  shift
  if "$@"; then pass "$d"; else fail "$d"; fi
}

# q DB SQL...: one psql call, unaligned tuples only; stderr shown. Bounded by `timeout`.
q() {
  local db=$1
  shift
  timeout 600 psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "$*"
}
# qs DB SQL: as q, silent on errors (used while the server may be restarting)
qs() { q "$@" 2>/dev/null; }
# qerr DB ROLE TIMEOUT_S SQL: runs SQL (SET ROLE when ROLE is not -), prints "OK" or the SQLSTATE
# and message of the error ("57014 ..." when statement_timeout fired).
qerr() {
  local db=$1 role=$2 secs=$3 sql=$4 out
  local pre="SET statement_timeout = '${secs}s';"
  [[ $role != - ]] && pre+=" SET ROLE $role;"
  out=$(timeout $((secs + 60)) psql -X -q -At -d "$db" -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
    -c "$pre" -c "$sql" 2>&1 >/dev/null)
  local rc=$?
  if ((rc == 0)); then
    echo OK
  else
    printf '%s\n' "$out" | sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\): \(.*\)$/\1 \2/p' | head -n 1 | grep . ||
      echo "rc=$rc $out" | head -n 3
  fi
}

fresh_db() { # fresh_db NAME: drop and recreate NAME with the extension
  local db=$1
  qs postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$db' AND pid <> pg_backend_pid()" >/dev/null
  q postgres "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null &&
    q postgres "CREATE DATABASE $db" >/dev/null &&
    q "$db" "CREATE EXTENSION midipipe" >/dev/null
}

wait_ready() { # wait_ready [SECONDS]: until the server accepts queries
  local until=$((SECONDS + ${1:-180}))
  while ((SECONDS < until)); do
    [[ $(qs postgres "SELECT 1") == 1 ]] && return 0
    sleep 0.5
  done
  return 1
}

# run_state DB RUN: the midipipe_runs state ('' when unknown / server down)
run_state() { qs "$1" "SELECT state FROM midipipe_runs WHERE run_id = $2"; }

# wait_run DB RUN [SECONDS]: prints the final state, or "timeout:<last state>"
wait_run() {
  local db=$1 run=$2 until=$((SECONDS + ${3:-300})) st=""
  while ((SECONDS < until)); do
    st=$(run_state "$db" "$run")
    case "$st" in completed | cancelled | failed) echo "$st"; return 0 ;; esac
    sleep 0.5
  done
  echo "timeout:$st"
  return 1
}

# import_nowait DB ROOT WORKERS: prints the run id
import_nowait() {
  q "$1" "SELECT midipipe_import('$2', workers => $3, wait => false)"
}

# wait_inflight DB RUN [MIN_DONE] [SECONDS]: until the run has committed/processed MIN_DONE files
# and a worker is busy; prints "done/found" then; returns 1 on timeout or when the run ended first.
wait_inflight() {
  local db=$1 run=$2 min=${3:-200} until=$((SECONDS + ${4:-120})) row
  while ((SECONDS < until)); do
    row=$(qs "$db" "SELECT p.files_done || '/' || p.files_found || ' ' || p.state || ' ' ||
      (SELECT count(*) FROM midipipe_stats s WHERE s.run_id = p.run_id AND s.state = 'busy')
      FROM midipipe_progress p WHERE p.run_id = $run")
    if [[ -n $row ]]; then
      local done=${row%%/*} st busy
      st=$(echo "$row" | cut -d' ' -f2)
      busy=$(echo "$row" | cut -d' ' -f3)
      case "$st" in completed | cancelled | failed) echo "$row"; return 1 ;; esac
      if ((done >= min && busy > 0)); then echo "$row"; return 0; fi
    fi
    sleep 0.05
  done
  echo "timeout ${row:-}"
  return 1
}

busy_worker_pid() { # busy_worker_pid DB RUN
  qs "$1" "SELECT pid FROM midipipe_stats WHERE run_id = $2 AND state = 'busy' ORDER BY worker_id LIMIT 1"
}

# counts_add_up DB RUN: "found ok dup unch failed rows" and success when they add up
run_counts() {
  qs "$1" "SELECT files_found || ' ' || files_ok || ' ' || files_duplicate || ' ' || files_unchanged
    || ' ' || files_failed || ' ' || (SELECT count(*) FROM midipipe_files f WHERE f.run_id = r.run_id)
    FROM midipipe_runs r WHERE run_id = $2"
}
check_counts() { # check_counts DB RUN [EXPECTED_FOUND]
  local c found ok dup unch failed rows
  c=$(run_counts "$1" "$2")
  read -r found ok dup unch failed rows <<<"$c"
  if [[ -n $c && $((ok + dup + unch + failed)) == "$found" ]]; then
    pass "run $2: counts add up (found $found = ok $ok + duplicate $dup + unchanged $unch + failed $failed)"
  else
    fail "run $2: counts do not add up ($c)"
  fi
  if [[ -n ${3:-} ]]; then is "$found" "$3" "run $2: files_found is $3"; fi
}

# digest DB ROOT: "rows md5" over every file row under ROOT with its analysis and tracks
# (file_id excluded: it differs between databases)
digest() {
  q "$1" "SELECT count(*) || ' ' || md5(coalesce(string_agg(f.path || '|' || f.status || '|' ||
      coalesce(f.error_code, '') || '|' || coalesce(f.size::text, '') || '|' ||
      coalesce(encode(f.sha256, 'hex'), '') || '|' ||
      coalesce((to_jsonb(a) - 'file_id')::text, '-') || '|' || coalesce(t.tr, '-'),
      E'\n' ORDER BY f.path), ''))
    FROM midipipe_files f LEFT JOIN midipipe_analysis a ON a.file_id = f.file_id
    LEFT JOIN LATERAL (SELECT string_agg((to_jsonb(t) - 'file_id')::text, ';' ORDER BY track_no) AS tr
                         FROM midipipe_tracks t WHERE t.file_id = f.file_id) t ON true
   WHERE f.path LIKE '$2/%'"
}

# cancel_all DB: cancel every active run of DB and wait (30 s) until none is left
cancel_all() {
  local db=$1 until=$((SECONDS + 30))
  while ((SECONDS < until)); do
    qs "$db" "SELECT midipipe_cancel(run_id) FROM midipipe_runs WHERE state IN ('queued', 'scanning', 'running')" >/dev/null
    [[ $(qs "$db" "SELECT count(*) FROM midipipe_runs WHERE state IN ('queued', 'scanning', 'running')") == 0 ]] && return 0
    sleep 1
  done
  note "runs of $db still active after cancel: $(qs "$db" "SELECT run_id, state FROM midipipe_runs WHERE state IN ('queued', 'scanning', 'running')")"
}

start_time() { qs postgres "SELECT pg_postmaster_start_time()"; }

log_size() { stat -c %s "$SERVER_LOG" 2>/dev/null || echo 0; }

# check_log MARK: no "terminated by signal" (nor PANIC / TRAP) since byte MARK, except for the
# PIDs in ALLOWED_PIDS (processes this scenario signalled itself).
check_log() {
  local mark=$1 line bad=() allowed p ok_line
  while IFS= read -r line; do
    ok_line=0
    for p in "${ALLOWED_PIDS[@]}"; do
      if [[ $line == *"(PID $p)"* ]]; then ok_line=1; fi
    done
    ((ok_line)) || bad+=("$line")
  done < <(tail -c +$((mark + 1)) "$SERVER_LOG" | grep -E 'terminated by signal|PANIC:|TRAP:' || true)
  allowed=${ALLOWED_PIDS[*]:-none}
  # a crash restart (all processes terminated; reinitializing) nobody asked for
  if ((${#ALLOWED_PIDS[@]} == 0)) && tail -c +$((mark + 1)) "$SERVER_LOG" | grep -q 'reinitializing'; then
    bad+=("$(tail -c +$((mark + 1)) "$SERVER_LOG" | grep -m1 'reinitializing')")
  fi
  if ((${#bad[@]} == 0)); then
    pass "server log: no process terminated by a signal this scenario did not send (signalled: $allowed)"
  else
    fail "server log: ${#bad[@]} unexpected line(s):"
    printf '      %s\n' "${bad[@]}" | head -n 10
  fi
}

scenario() { # scenario NAME FUNCTION
  local name=$1 fn=$2 t0=$SECONDS mark
  if [[ -n $ONLY && ! $name =~ $ONLY ]]; then return 0; fi
  echo "# --- $name ($(date +%H:%M:%S))"
  SC_FAIL=0 SC_CHECKS=0 ALLOWED_PIDS=()
  wait_ready 120 || echo "    # server not ready before $name"
  mark=$(log_size)
  "$fn"
  wait_ready 180 || fail "server is back up after $name"
  check_log "$mark"
  # hygiene: no scenario leaves workers behind for the next one (idle_timeout is -1)
  local d
  for d in $(qs postgres "SELECT datname FROM pg_database WHERE datname LIKE 'faults%'"); do
    qs "$d" "SELECT midipipe_pool_stop()" >/dev/null
  done
  local took=$((SECONDS - t0))
  if ((SC_FAIL == 0 && SC_CHECKS > 0)); then
    N_PASS=$((N_PASS + 1))
    echo "ok - $name (${SC_CHECKS} checks, ${took}s)"
    SUMMARY+=("passed  $name (${took}s)")
  else
    N_FAIL=$((N_FAIL + 1))
    echo "not ok - $name ($SC_FAIL of $SC_CHECKS checks failed, ${took}s)"
    SUMMARY+=("FAILED  $name ($SC_FAIL/$SC_CHECKS checks failed, ${took}s)")
  fi
}

# ---------------------------------------------------------------- trees
make_tree() { # make_tree DIR N FIRST: N distinct valid files (cached between runs)
  local dir=$1 n=$2 first=$3
  if [[ -f $dir/.stamp && $(cat "$dir/.stamp") == "$n $first $CORPUS" ]]; then return 0; fi
  rm -rf "$dir"
  "$PY" "$ROOT/test/bench_import/make_tree.py" "$CORPUS" "$dir" "$n" "$first" >/dev/null || return 1
  chmod -R a+rX "$dir"
  echo "$n $first $CORPUS" >"$dir/.stamp"
}

T_KILL=$WORK/t$N_KILL
T_SMALL=$WORK/t$N_SMALL
declare -A CLEAN=() # root -> digest of a clean import

# clean_digest ROOT: the digest of a clean import of ROOT into its own database (cached)
clean_digest() {
  local root=$1 db
  if [[ -z ${CLEAN[$root]:-} ]]; then
    db=faults_clean_$(basename "$root")
    fresh_db "$db" || return 1
    q "$db" "SELECT midipipe_import('$root', workers => 2)" >/dev/null 2>&1 || return 1
    CLEAN[$root]=$(digest "$db" "$root")
  fi
  echo "${CLEAN[$root]}"
}

# ================================================================ 1. hostile files
s_hostile() {
  local H=$WORK/hostile db=faults_hostile t0 run st
  rm -rf "$H"
  "$PY" "$HERE/mutate.py" "$CORPUS" "$H" "$N_MUT" "$BIG_MB" "$TINY" "$MAXEV" | sed 's/^/    # /'
  mkfifo "$H/special/fifo.mid"
  chmod -R a+rX "$H"
  # the engine's verdict on every regular file, from the CLI (same reader, separate process)
  find "$H" -type f -regextype posix-extended -iregex '.*\.(mid|midi|kar|rmi|smf)$' -print0 |
    xargs -0 "$CLI" >"$WORK/hostile-cli.jsonl" 2>"$WORK/hostile-cli.err"
  note "$(wc -l <"$WORK/hostile-cli.jsonl") files analysed by the CLI"
  fresh_db $db || { fail "create database $db"; return; }
  q $db "CREATE TABLE cli (j jsonb); CREATE TABLE manifest (path text, kind text, expect text)"
  q $db "\\copy cli FROM '$WORK/hostile-cli.jsonl' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')"
  q $db "\\copy manifest FROM '$H/manifest.tsv'"
  t0=$(start_time)
  run=$(q $db "SET statement_timeout = '600s'; SELECT midipipe_import('$H', workers => 2)" 2>&1 | tail -n 1)
  note "midipipe_import returned: $run"
  [[ $run =~ ^[0-9]+$ ]] || { fail "midipipe_import of the hostile tree returned a run id"; run=0; }
  is "$(start_time)" "$t0" "the server did not restart (pg_postmaster_start_time unchanged)"
  st=$(wait_run $db "$run" 60)
  is "$st" completed "run $run completed"
  local nfiles
  nfiles=$(q $db "SELECT count(*) FROM manifest")
  check_counts $db "$run" "$((nfiles + 1))" # + the fifo
  is "$(q $db "SELECT count(*) FROM manifest m WHERE NOT EXISTS (SELECT 1 FROM midipipe_files f WHERE f.path = m.path)")" 0 \
    "every regular file ($nfiles) has a midipipe_files row"
  is "$(q $db "SELECT count(*) FROM midipipe_files f WHERE f.path NOT IN (SELECT path FROM manifest) AND f.path <> '$H/special/fifo.mid'")" 0 \
    "no row for anything else (the directory named folder.mid has none)"
  is "$(q $db "SELECT coalesce(status || ':' || error_code, 'no row') FROM midipipe_files WHERE path = '$H/special/fifo.mid'")" \
    "error:not_regular_file" "the fifo named fifo.mid: an error row not_regular_file (never opened)"
  is "$(q $db "SELECT count(*) FROM midipipe_files WHERE status = 'error' AND (error_code IS NULL OR error_message IS NULL)")" 0 \
    "every error row has an error_code and an error_message"
  is "$(q $db "SELECT count(*) FROM midipipe_files WHERE status = 'error' AND error_code NOT IN ('io_error', 'not_regular_file', 'file_too_large', 'out_of_memory', 'bad_file_name', 'unreadable_directory', 'broken_symlink', 'not_found', 'path_too_long') AND (error_offset IS NULL OR error_offset < 0 OR error_offset > size)")" 0 \
    "every parse error row has an error_offset within the file"
  local bad
  bad=$(q $db "SELECT count(*) FROM manifest m JOIN midipipe_files f USING (path)
     WHERE (m.expect = 'ok' AND f.status = 'error')
        OR (m.expect LIKE 'error%' AND f.status <> 'error')
        OR (m.expect LIKE 'error:%' AND f.error_code IS DISTINCT FROM substr(m.expect, 7))")
  is "$bad" 0 "files with a known verdict (zero bytes, PPQ 0, headers cut or with lengths 0/0x7FFFFFFF/0xFFFFFFFF, garbage, RIFF garbage, 70 MB sparse file, big note-on file) got it"
  [[ $bad == 0 ]] || q $db "SELECT m.kind, m.expect, f.status, f.error_code, f.path FROM manifest m JOIN midipipe_files f USING (path)
     WHERE (m.expect = 'ok' AND f.status = 'error') OR (m.expect LIKE 'error%' AND f.status <> 'error')
        OR (m.expect LIKE 'error:%' AND f.error_code IS DISTINCT FROM substr(m.expect, 7)) LIMIT 10" | sed 's/^/      /'
  local diff
  diff=$(q $db "SELECT count(*) FROM midipipe_files f JOIN cli c ON c.j->>'path' = f.path
     WHERE (f.status = 'error') <> (c.j ? 'error_code')
        OR f.error_code IS DISTINCT FROM c.j->>'error_code'
        OR (f.error_code NOT IN ('io_error', 'file_too_large') AND f.error_offset IS DISTINCT FROM (c.j->>'error_offset')::bigint)")
  is "$diff" 0 "every row agrees with the CLI (error or not, error_code, error_offset)"
  [[ $diff == 0 ]] || q $db "SELECT f.path, f.status, f.error_code, f.error_offset, c.j->>'error_code', c.j->>'error_offset' FROM midipipe_files f JOIN cli c ON c.j->>'path' = f.path
     WHERE (f.status = 'error') <> (c.j ? 'error_code') OR f.error_code IS DISTINCT FROM c.j->>'error_code'
        OR (f.error_code NOT IN ('io_error', 'file_too_large') AND f.error_offset IS DISTINCT FROM (c.j->>'error_offset')::bigint) LIMIT 10" | sed 's/^/      /'
  note "$(q $db "SELECT string_agg(s, ', ') FROM (SELECT status || coalesce(':' || error_code, '') || ' ' || count(*) AS s FROM midipipe_files GROUP BY status, error_code ORDER BY count(*) DESC) x")"
  # ~350,000 notes a MB: above midipipe.max_events (issue 13) the file is refused, memory bounded
  if ((BIG_MB * 349525 + 2 > MAXEV)); then
    is "$(q $db "SELECT error_code FROM midipipe_files WHERE path = '$H/special/big_note_ons.mid'")" too_many_events \
      "the $BIG_MB MB note-on file (more than $MAXEV events) is refused: too_many_events"
  else
    is "$(q $db "SELECT count(*) FROM midipipe_files f JOIN midipipe_analysis a USING (file_id) WHERE f.path = '$H/special/big_note_ons.mid' AND a.note_count > 1000000")" 1 \
      "the $BIG_MB MB note-on file was analysed (note_count > 1,000,000)"
  fi
}

# ================================================================ 2. dying processes
# kill_scenario KIND: import T_KILL, inflict KIND while workers are busy, then the run must end
# by itself with the clean run's result.
kill_scenario() {
  local kind=$1 db=faults_kill_$1 clean run row pid st t_start
  make_tree "$T_KILL" "$N_KILL" 0 || { fail "make_tree $T_KILL"; return; }
  clean=$(clean_digest "$T_KILL") || { fail "clean import of $T_KILL"; return; }
  note "clean run: $clean"
  fresh_db "$db" || { fail "create database $db"; return; }
  run=$(import_nowait $db "$T_KILL" 2)
  [[ $run =~ ^[0-9]+$ ]] || { fail "midipipe_import returned a run id ($run)"; return; }
  row=$(wait_inflight $db "$run" 300 120)
  check "run $run in flight before the fault ($row files, state, busy workers)" test $? -eq 0
  t_start=$(start_time)
  KILL_MARK=$(log_size)
  case "$kind" in
    sigkill | sigterm)
      pid=$(busy_worker_pid $db "$run")
      if [[ -z $pid ]]; then fail "a busy worker to signal"; return; fi
      if [[ $kind == sigkill ]]; then
        ALLOWED_PIDS+=("$pid")
        kill -KILL "$pid"
      else
        kill -TERM "$pid"
      fi
      pass "sent ${kind^^} to busy analysis worker $pid"
      ;;
    restart_fast | restart_immediate)
      if pgctl -D "$PGDATA" -l "$SERVER_LOG" -w -t 180 restart -m "${kind#restart_}" >/dev/null; then
        pass "pg_ctl restart -m ${kind#restart_}"
      else
        fail "pg_ctl restart -m ${kind#restart_}"
      fi
      ;;
  esac
  wait_ready 180 || { fail "server accepts connections again"; return; }
  if [[ $kind == sigterm ]]; then
    is "$(start_time)" "$t_start" "SIGTERM to a worker does not restart the server"
  else
    if [[ $kind == sigkill ]]; then
      check "the postmaster reinitialized after the SIGKILL (PostgreSQL's rule)" \
        bash -c "tail -c +\$((\$1 + 1)) \"\$2\" | grep -q 'reinitializing'" _ "$KILL_MARK" "$SERVER_LOG"
    else
      check "the server restarted (pg_postmaster_start_time changed)" test "$(start_time)" != "$t_start"
    fi
  fi
  st=$(wait_run $db "$run" 300)
  is "$st" completed "run $run finished by itself"
  check_counts $db "$run" "$N_KILL"
  is "$(q $db "SELECT count(*) FROM midipipe_queue")" 0 "the run's manifest was emptied"
  is "$(digest $db "$T_KILL")" "$clean" "result equals the clean run's (same paths once each, same analysis and track rows)"
}
s_kill_sigkill() { kill_scenario sigkill; }
s_kill_sigterm() { kill_scenario sigterm; }
s_restart_fast() { kill_scenario restart_fast; }
s_restart_immediate() { kill_scenario restart_immediate; }

# ================================================================ 3. the tree changing under a run
s_tree_changes() {
  local T=$WORK/t_change db=faults_change run st n=10000
  rm -rf "$T"
  "$PY" "$ROOT/test/bench_import/make_tree.py" "$CORPUS" "$T" $n 700000 >/dev/null
  chmod -R a+rX "$T"
  fresh_db $db || { fail "create database $db"; return; }
  # the victims: spread over the tree so that some are hit before, some after the workers
  find "$T" -name '*.mid' | LC_ALL=C sort | awk 'NR % 25 == 1' >"$WORK/victims"
  run=$(import_nowait $db "$T" 2)
  [[ $run =~ ^[0-9]+$ ]] || { fail "midipipe_import returned a run id ($run)"; return; }
  # change the tree while the scan and the workers run: delete, truncate, replace, add
  local i=0 f
  while IFS= read -r f; do
    case $((i % 4)) in
      0) rm -f "$f" ;;
      1) truncate -s $((i % 3 * 7)) "$f" ;;
      2) cp "$T/d0000/f0000000.mid" "$f.tmp" && mv "$f.tmp" "$f" ;;
      3) mkdir -p "$T/added" && cp "$f" "$T/added/a$i.mid" && chmod a+r "$T/added/a$i.mid" ;;
    esac
    i=$((i + 1))
  done <"$WORK/victims"
  note "changed $i files while run $run was $(run_state $db "$run")"
  st=$(wait_run $db "$run" 300)
  is "$st" completed "run $run completed"
  check_counts $db "$run"
  # every row is for a path under the tree; a deleted file is not seen or has an error row, or
  # was read before it went (ok); rows reflect one of the versions the file had
  q $db "CREATE TABLE victims (path text, kind int)" >/dev/null
  awk '{ print $0 "\t" (NR - 1) % 4 }' "$WORK/victims" >"$WORK/victims.tsv"
  q $db "\\copy victims FROM '$WORK/victims.tsv'"
  is "$(q $db "SELECT count(*) FROM midipipe_files f JOIN victims v USING (path) WHERE v.kind = 0 AND f.status = 'error' AND f.error_code <> 'io_error'")" 0 \
    "deleted files: no row, an ok row (read before), or io_error"
  is "$(q $db "SELECT count(*) FROM midipipe_files f JOIN victims v USING (path) WHERE v.kind = 1 AND f.status = 'error' AND (f.error_code IS NULL OR f.error_message IS NULL)")" 0 \
    "truncated files: error rows carry a code and a message"
  is "$(q $db "SELECT count(*) FROM midipipe_files WHERE path NOT LIKE '$T/%'")" 0 "no row outside the tree"
  # settle: a re-import must make every file on disk exactly one up-to-date row
  local run2
  run2=$(q $db "SELECT midipipe_import('$T', workers => 2)" 2>/dev/null)
  is "$(run_state $db "${run2:-0}")" completed "re-import of the changed tree completed"
  find "$T" -name '*.mid' -printf '%p\t%s\n' >"$WORK/disk.tsv"
  q $db "CREATE TABLE disk (path text, size bigint)" >/dev/null
  q $db "\\copy disk FROM '$WORK/disk.tsv'"
  is "$(q $db "SELECT count(*) FROM disk d LEFT JOIN midipipe_files f USING (path) WHERE f.path IS NULL OR f.size IS DISTINCT FROM d.size")" 0 \
    "after the re-import every file on disk has one row with its current size"
  is "$(q $db "SELECT count(*) FROM disk d JOIN midipipe_files f USING (path) WHERE d.size < 14 AND f.status <> 'error'")" 0 \
    "files truncated below a header are error rows after the re-import"
}

s_unreadable_dir() {
  local T=$WORK/t_locked db=faults_locked run st
  rm -rf "$T"
  "$PY" "$ROOT/test/bench_import/make_tree.py" "$CORPUS" "$T" 1000 710000 >/dev/null
  chmod -R a+rX "$T"
  chmod 000 "$T/d0001"
  fresh_db $db || { fail "create database $db"; return; }
  run=$(q $db "SET statement_timeout = '300s'; SELECT midipipe_import('$T', workers => 2)" 2>&1 | tail -n 1)
  [[ $run =~ ^[0-9]+$ ]] || { fail "midipipe_import returned a run id ($run)"; chmod 755 "$T/d0001"; return; }
  is "$(run_state $db "$run")" completed "run over a tree with a chmod 000 directory completed"
  is "$(q $db "SELECT count(*) FROM midipipe_files WHERE path LIKE '$T/d0000/%' AND status = 'ok'")" 500 \
    "the readable directory's 500 files are ok"
  is "$(q $db "SELECT status || ':' || error_code FROM midipipe_files WHERE path = '$T/d0001'")" "error:unreadable_directory" \
    "the unreadable directory has an error row that says so"
  check_counts $db "$run"
  chmod 755 "$T/d0001"
}

s_symlink_loop() {
  local T=$WORK/t_links db=faults_links run st
  rm -rf "$T"
  "$PY" "$ROOT/test/bench_import/make_tree.py" "$CORPUS" "$T" 600 720000 >/dev/null
  ln -s .. "$T/d0000/up"            # a directory loop
  ln -s "$T" "$T/d0001/root"        # another, absolute
  ln -s a.mid "$T/b.mid"            # a loop of file links named *.mid
  ln -s b.mid "$T/a.mid"
  ln -s missing.mid "$T/dangling.mid"
  ln -s d0000/f0000000.mid "$T/good_link.mid"
  chmod -R a+rX "$T"
  fresh_db $db || { fail "create database $db"; return; }
  run=$(q $db "SET statement_timeout = '300s'; SELECT midipipe_import('$T', workers => 2, follow_symlinks => true)" 2>&1 | tail -n 1)
  [[ $run =~ ^[0-9]+$ ]] || { fail "midipipe_import(follow_symlinks => true) returned a run id ($run)"; return; }
  is "$(run_state $db "$run")" completed "run with symlink loops (follow_symlinks => true) completed"
  check_counts $db "$run"
  is "$(q $db "SELECT count(*) FROM midipipe_files WHERE path LIKE '$T/d000_/f%' AND path NOT LIKE '%/up/%' AND path NOT LIKE '%/root/%'")" 600 \
    "the 600 real files have rows"
  local n
  n=$(q $db "SELECT count(*) FROM midipipe_files")
  check "the loops were not followed forever (rows: $n, at most 600 + the link names + one pass through each loop)" test "$n" -le 1300
  is "$(q $db "SELECT status || ':' || coalesce(error_code, '') FROM midipipe_files WHERE path = '$T/a.mid'")" "error:broken_symlink" \
    "a loop of file links named *.mid: an error row (broken_symlink)"
  is "$(q $db "SELECT status FROM midipipe_files WHERE path = '$T/dangling.mid'")" "error" "a dangling link: an error row"
  is "$(q $db "SELECT string_agg(status, ',' ORDER BY status) FROM midipipe_files WHERE path IN ('$T/good_link.mid', '$T/d0000/f0000000.mid')")" "duplicate,ok" \
    "a link to a file in the tree and its target: one ok row and one duplicate"
}

s_deep_path() {
  local T=$WORK/t_deep db=faults_deep run
  rm -rf "$T"
  mkdir -p "$T"
  # A chain deeper than PATH_MAX (4096) built with relative mkdir/chdir, with a valid file at
  # several depths; and a second chain whose directory path is exactly 2046 bytes long (the
  # scanner joins names into a MAXPGPATH * 2 = 2048 byte buffer).
  "$PY" - "$T" "$CORPUS" <<'PY'
import os, sys
root, corpus = sys.argv[1], sys.argv[2]
src = None
for dp, dn, fn in os.walk(corpus):
    for n in fn:
        if n.endswith(".mid") and "/edge" not in dp:
            d = open(os.path.join(dp, n), "rb").read()
            if d[:4] == b"MThd":
                src = d
                break
    if src:
        break
os.chdir(root)
os.mkdir("long"); os.chdir("long")
depth = len(root) + 5
level = 0
while depth < 4600:
    name = "x" * 99
    os.mkdir(name); os.chdir(name)
    depth += 100
    level += 1
    if level % 8 == 0:
        open("at%d.mid" % depth, "wb").write(src)
open("bottom.mid", "wb").write(src)
os.chdir(root)
os.mkdir("exact"); os.chdir("exact")
depth = len(root) + 6
while depth + 100 < 2046:
    os.mkdir("y" * 99); os.chdir("y" * 99); depth += 100
last = "z" * (2046 - depth - 1)
os.mkdir(last); os.chdir(last)
open("in_exact.mid", "wb").write(src)
os.mkdir("sub"); open(os.path.join("sub", "deeper.mid"), "wb").write(src)
PY
  chmod -R a+rX "$T"
  fresh_db $db || { fail "create database $db"; return; }
  # A short limit on purpose: this tree scans in well under a second, and a scanner that loops
  # here grows by ~250 MB/s (see FINDINGS.md), so it must be stopped early on a shared machine.
  run=$(q $db "SET statement_timeout = '10s'; SELECT midipipe_import('$T', workers => 2)" 2>&1 | tail -n 1)
  if [[ ! $run =~ ^[0-9]+$ ]]; then
    fail "midipipe_import of a tree deeper than PATH_MAX returned within 10 s ($run)"
    note "scanner: $(ps -o rss=,cmd= -u postgres | grep -m1 'midipipe scanner' || echo gone) (RSS kB)"
    cancel_all $db
    return
  fi
  is "$(run_state $db "$run")" completed "run over a tree deeper than PATH_MAX completed"
  check_counts $db "$run"
  is "$(q $db "SELECT count(*) FROM midipipe_files WHERE status = 'ok' AND length(path) < 1024")" \
    "$(q $db "SELECT count(*) FROM midipipe_files WHERE length(path) < 1024")" "files with short enough paths are ok"
  is "$(q $db "SELECT count(*) FROM midipipe_files WHERE status = 'error' AND error_code IS NULL")" 0 \
    "rows for the too-long paths (if any) say what happened"
  note "rows: $(q $db "SELECT string_agg(status || coalesce(':' || error_code, '') || ' len ' || length(path), ', ' ORDER BY length(path)) FROM midipipe_files")"
}

s_non_utf8() {
  local T=$WORK/t_names db=faults_names run
  rm -rf "$T"
  "$PY" "$ROOT/test/bench_import/make_tree.py" "$CORPUS" "$T" 10 730000 >/dev/null
  cp "$T/d0000/f0000001.mid" "$T/$(printf 'bad\xff\xfename.mid')"
  cp "$T/d0000/f0000002.mid" "$T/$(printf 'latin1-caf\xe9.mid')"
  mkdir -p "$T/$(printf 'dir\xc3\x28')" && cp "$T/d0000/f0000003.mid" "$T/$(printf 'dir\xc3\x28')/inside.mid"
  cp "$T/d0000/f0000004.mid" "$T/$(printf 'good-\xc3\xa9t\xc3\xa9.mid')"
  chmod -R a+rX "$T"
  fresh_db $db || { fail "create database $db"; return; }
  run=$(q $db "SET statement_timeout = '120s'; SELECT midipipe_import('$T', workers => 2)" 2>&1 | tail -n 1)
  [[ $run =~ ^[0-9]+$ ]] || { fail "midipipe_import returned a run id ($run)"; return; }
  is "$(run_state $db "$run")" completed "run with file names that are not valid UTF-8 completed"
  check_counts $db "$run" 14
  is "$(q $db "SELECT count(*) FROM midipipe_files WHERE status = 'error' AND error_code = 'bad_file_name'")" 3 \
    "the three files with invalid names have bad_file_name error rows"
  is "$(q $db "SELECT count(*) FROM midipipe_files WHERE path LIKE '%\\\\xFF\\\\xFEname.mid'")" 1 \
    "the invalid bytes are shown escaped (\\xFF\\xFE) in the path"
  is "$(q $db "SELECT status IN ('ok', 'duplicate') FROM midipipe_files WHERE path = '$T/good-été.mid'")" t \
    "a valid UTF-8 name is imported (ok, or duplicate of the file it copies)"
}

# ================================================================ 4. pool abuse
s_drop_create() {
  local db=faults_dropcreate run st n
  make_tree "$T_SMALL" "$N_SMALL" 500000 || { fail "make_tree"; return; }
  make_tree "$T_KILL" "$N_KILL" 0 || { fail "make_tree"; return; }
  # another database's finished run leaves up to midipipe.max_workers idle (not warm-pool)
  # workers behind (idle_timeout -1); pool_start here must still get its workers, as an import
  # would (the supervisor stops idle workers of other databases to make room for a run)
  fresh_db ${db}_other || { fail "create database ${db}_other"; return; }
  q ${db}_other "SELECT midipipe_import('$T_SMALL', workers => $(q postgres "SHOW midipipe.max_workers"))" >/dev/null 2>&1
  fresh_db $db || { fail "create database $db"; return; }
  is "$(q $db "SELECT midipipe_pool_start(2)" 2>/dev/null)" 2 "pool_start(2) gets 2 workers while idle workers of another database fill midipipe.max_workers"
  q ${db}_other "SELECT midipipe_pool_stop()" >/dev/null 2>&1
  q $db "SELECT midipipe_pool_start(2)" >/dev/null 2>&1
  run=$(q $db "SELECT midipipe_import('$T_SMALL', workers => 2)")
  is "$(run_state $db "$run")" completed "first import completed"
  # while warm
  is "$(qerr $db - 60 "DROP EXTENSION midipipe")" OK "DROP EXTENSION while the pool is warm"
  is "$(qerr $db - 60 "CREATE EXTENSION midipipe")" OK "CREATE EXTENSION again"
  run=$(q $db "SET statement_timeout = '120s'; SELECT midipipe_import('$T_SMALL', workers => 2)" 2>&1 | tail -n 1)
  is "$(run_state $db "${run//[^0-9]/}")" completed "import after DROP/CREATE while warm completed ($run)"
  is "$(qs $db "SELECT count(*) FROM midipipe_files WHERE status = 'ok'")" "$N_SMALL" "all $N_SMALL files imported into the new tables"
  # while a run is active
  run=$(import_nowait $db "$T_KILL" 2)
  local row
  row=$(wait_inflight $db "$run" 300 120)
  check "run $run in flight ($row)" test $? -eq 0
  local r
  r=$(qerr $db - 120 "DROP EXTENSION midipipe")
  is "$r" OK "DROP EXTENSION during an active run returns within 120 s"
  is "$(qerr $db - 60 "CREATE EXTENSION midipipe")" OK "CREATE EXTENSION again"
  run=$(q $db "SET statement_timeout = '180s'; SELECT midipipe_import('$T_SMALL', workers => 2)" 2>&1 | tail -n 1)
  is "$(run_state $db "${run//[^0-9]/}")" completed "import after DROP during a run completed ($run)"
  is "$(qs $db "SELECT count(*) FROM midipipe_files WHERE status = 'ok'")" "$N_SMALL" "all $N_SMALL files imported"
  n=$(qs $db "SELECT count(*) FROM midipipe_stats WHERE state IN ('busy', 'checkout') AND run_id IS DISTINCT FROM ${run//[^0-9]/}")
  is "$n" 0 "no worker is left busy with the dropped run"
  q $db "SELECT midipipe_pool_stop()" >/dev/null 2>&1
}

s_overlap() {
  local db=faults_overlap r1 r2 s1 s2 clean
  make_tree "$T_SMALL" "$N_SMALL" 500000 || { fail "make_tree"; return; }
  clean=$(clean_digest "$T_SMALL") || { fail "clean import"; return; }
  fresh_db $db || { fail "create database $db"; return; }
  r1=$(import_nowait $db "$T_SMALL" 2)
  r2=$(import_nowait $db "$T_SMALL/d0001" 2)
  s1=$(wait_run $db "$r1" 300)
  s2=$(wait_run $db "$r2" 300)
  is "$s1 $s2" "completed completed" "two runs on overlapping trees both completed"
  check_counts $db "$r1" "$N_SMALL"
  check_counts $db "$r2" 500
  is "$(digest $db "$T_SMALL")" "$clean" "result equals a clean single run's (each path once, same analysis)"
}

s_workers_1000() {
  local db=faults_w1000 out run
  make_tree "$T_SMALL" "$N_SMALL" 500000 || { fail "make_tree"; return; }
  fresh_db $db || { fail "create database $db"; return; }
  out=$(q $db "SET statement_timeout = '180s'; SET client_min_messages = notice; SELECT midipipe_import('$T_SMALL', workers => 1000)" 2>&1)
  run=$(echo "$out" | tail -n 1)
  note "$(echo "$out" | grep -m1 -i 'got\|worker' || true)"
  if [[ $run =~ ^[0-9]+$ ]]; then
    is "$(run_state $db "$run")" completed "workers => 1000: the run completed"
    check_counts $db "$run" "$N_SMALL"
    local g
    g=$(q $db "SELECT workers_granted FROM midipipe_runs WHERE run_id = $run")
    check "workers_granted ($g) is within midipipe.max_workers ($(q $db "SHOW midipipe.max_workers"))" \
      test "${g:-0}" -le "$(q $db "SHOW midipipe.max_workers")"
  else
    check "workers => 1000: a clean error, not a timeout ($run)" bash -c "! grep -q 'statement timeout' <<<\"\$1\"" _ "$out"
  fi
}

s_max_worker_processes() {
  # A dedicated cluster: max_worker_processes = 6 (1 taken by the logical replication launcher,
  # 1 by the supervisor), midipipe.max_workers = 16, acquire_timeout 10 s.
  local C=$WORK/cluster-small out run r2 t0 rc
  make_tree "$T_SMALL" "$N_SMALL" 500000 || { fail "make_tree"; return; }
  bash "$CLUSTER_SH" destroy "$C" >/dev/null 2>&1
  MIDIPIPE_CLUSTER_CONF=$'max_worker_processes = 6\nmidipipe.max_workers = 16\nmidipipe.acquire_timeout = \'10s\'' \
    bash "$CLUSTER_SH" start "$C" "$PORT2" >/dev/null 2>&1
  check "a server with midipipe.max_workers (16) > max_worker_processes (6) starts" test $? -eq 0 || return
  local mark2=0 P=(env PGHOST="$C" PGPORT="$PORT2")
  check "the server log says that 16 + 2 do not fit in max_worker_processes" \
    grep -q 'do not fit in max_worker_processes' "$C/server.log"
  "${P[@]}" psql -X -q -d postgres -c "CREATE DATABASE a" -c "CREATE DATABASE b" >/dev/null
  "${P[@]}" psql -X -q -d a -c "CREATE EXTENSION midipipe" >/dev/null
  "${P[@]}" psql -X -q -d b -c "CREATE EXTENSION midipipe" >/dev/null
  out=$("${P[@]}" timeout 200 psql -X -At -d a -c "SET statement_timeout = '120s'" -c "SELECT midipipe_import('$T_SMALL', workers => 16)" 2>&1)
  note "$(echo "$out" | grep -m1 'got' || echo "$out" | tail -n 2)"
  run=$(echo "$out" | tail -n 1)
  check "import asking 16 workers with only ~3 free slots completed ($run)" \
    test "$("${P[@]}" psql -X -At -d a -c "SELECT state FROM midipipe_runs WHERE run_id = ${run//[^0-9]/0}" 2>/dev/null)" = completed
  # now exhaust the slots with a warm pool in database b, and import in a again
  note "pool in b: $("${P[@]}" psql -X -At -d b -c "SELECT midipipe_pool_start(16)" 2>&1 | tail -n 1)"
  sleep 2
  note "background workers: $("${P[@]}" psql -X -At -d a -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type <> 'client backend'" 2>&1)"
  t0=$SECONDS
  out=$("${P[@]}" timeout 200 psql -X -At -d a -v VERBOSITY=verbose -c "SET statement_timeout = '120s'" \
    -c "TRUNCATE midipipe_files CASCADE" -c "SELECT midipipe_import('$T_SMALL', workers => 4)" 2>&1)
  rc=$?
  note "with slots exhausted (rc $rc, $((SECONDS - t0)) s): $(echo "$out" | grep -m2 -E 'ERROR|NOTICE|^[0-9]+$' | tr '\n' ' ')"
  if ((rc == 0)); then
    pass "import with slots exhausted finished"
  else
    check "import with slots exhausted fails with a clear error, not a timeout" \
      bash -c "grep -q 'acquire_timeout\|no worker' <<<\"\$1\" && ! grep -q 'statement timeout' <<<\"\$1\"" _ "$out"
  fi
  "${P[@]}" psql -X -q -d b -c "SELECT midipipe_pool_stop()" >/dev/null 2>&1
  check "the small cluster's log shows no crash" \
    bash -c "! grep -E 'terminated by signal|PANIC:|TRAP:' \"\$1\"" _ "$C/server.log"
  bash "$CLUSTER_SH" destroy "$C" >/dev/null 2>&1
}

s_pool_stop() {
  local db=faults_poolstop run row st clean
  make_tree "$T_KILL" "$N_KILL" 0 || { fail "make_tree"; return; }
  clean=$(clean_digest "$T_KILL") || { fail "clean import"; return; }
  fresh_db $db || { fail "create database $db"; return; }
  run=$(import_nowait $db "$T_KILL" 2)
  row=$(wait_inflight $db "$run" 300 120)
  check "run $run in flight ($row)" test $? -eq 0
  note "midipipe_pool_stop() = $(q $db "SELECT midipipe_pool_stop()" 2>&1)"
  st=$(wait_run $db "$run" 300)
  note "run $run ended $st"
  case "$st" in
    completed)
      pass "run $run completed after midipipe_pool_stop()"
      is "$(digest $db "$T_KILL")" "$clean" "result equals the clean run's"
      ;;
    cancelled | failed)
      pass "run $run ended ($st) after midipipe_pool_stop()"
      local run2
      run2=$(q $db "SET statement_timeout = '300s'; SELECT midipipe_import('$T_KILL', workers => 2)" 2>&1 | tail -n 1)
      is "$(run_state $db "${run2//[^0-9]/0}")" completed "a new import of the same tree completed"
      is "$(digest $db "$T_KILL")" "$clean" "result equals the clean run's"
      ;;
    *) fail "run $run ended after midipipe_pool_stop() ($st)" ;;
  esac
  check_counts $db "$run"
}

s_sighup() {
  local db=faults_sighup run row st clean
  make_tree "$T_KILL" "$N_KILL" 0 || { fail "make_tree"; return; }
  clean=$(clean_digest "$T_KILL") || { fail "clean import"; return; }
  fresh_db $db || { fail "create database $db"; return; }
  run=$(import_nowait $db "$T_KILL" 2)
  row=$(wait_inflight $db "$run" 300 120)
  check "run $run in flight ($row)" test $? -eq 0
  local g
  for g in "midipipe.max_workers = 3" "midipipe.min_workers = 1" "midipipe.acquire_timeout = '7s'" \
    "midipipe.idle_timeout = '1s'" "midipipe.max_lifetime = '1s'" "midipipe.test_on_checkout = off" \
    "midipipe.batch_size = 37" "midipipe.max_file_size = '1MB'" "midipipe.database = '$db'" \
    "midipipe.worker_nice = 5" "midipipe.yield_share = 0.5" "midipipe.yield_tps = 1"; do
    qerr postgres - 30 "ALTER SYSTEM SET $g" | grep -v '^OK$' | sed "s/^/    # ALTER SYSTEM SET $g: /"
  done
  is "$(q postgres "SELECT pg_reload_conf()")" t "pg_reload_conf() with every pool GUC changed mid-run"
  st=$(wait_run $db "$run" 300)
  is "$st" completed "run $run completed after the reload"
  check_counts $db "$run" "$N_KILL"
  # max_file_size went down to 1 MB mid-run: files read after the reload that are larger fail
  note "after the reload: $(q $db "SELECT count(*) FILTER (WHERE error_code = 'file_too_large') || ' file_too_large rows, ' || count(*) FILTER (WHERE status = 'ok') || ' ok' FROM midipipe_files")"
  is "$(q $db "SELECT count(*) FROM midipipe_files WHERE status = 'error' AND error_code <> 'file_too_large'")" 0 \
    "no error other than file_too_large (the lowered limit)"
  q postgres "ALTER SYSTEM RESET ALL" >/dev/null
  q postgres "SELECT pg_reload_conf()" >/dev/null
  sleep 2
  # with the defaults back, the over-limit files are re-read (error rows for size are re-read)
  local run2
  run2=$(q $db "SET statement_timeout = '300s'; SELECT midipipe_import('$T_KILL', workers => 2)" 2>&1 | tail -n 1)
  is "$(run_state $db "${run2//[^0-9]/0}")" completed "a re-import with the defaults back completed"
  is "$(digest $db "$T_KILL")" "$clean" "after the re-import the result equals the clean run's"
  q $db "SELECT midipipe_pool_stop()" >/dev/null 2>&1
}

s_lock_wait() {
  local db=faults_lock r f
  make_tree "$T_SMALL" "$N_SMALL" 500000 || { fail "make_tree"; return; }
  fresh_db $db || { fail "create database $db"; return; }
  r=$(qerr $db - 60 "BEGIN; TRUNCATE midipipe_files CASCADE; SELECT midipipe_import('$T_SMALL', wait => true); COMMIT;")
  note "TRUNCATE then import(wait): $r"
  check "after TRUNCATE midipipe_files in the same transaction, import(wait => true) errors out (not by statement_timeout)" \
    bash -c "[[ \$1 != OK && \$1 != 57014* ]]" _ "$r"
  r=$(qerr $db - 60 "BEGIN; LOCK midipipe_queue IN SHARE MODE; SELECT midipipe_import('$T_SMALL', wait => true); COMMIT;")
  check "holding SHARE on midipipe_queue: errors out (not by statement_timeout): $r" \
    bash -c "[[ \$1 != OK && \$1 != 57014* ]]" _ "$r"
  # a row lock on a file row that the run must rewrite
  q $db "SELECT midipipe_import('$T_SMALL', workers => 2)" >/dev/null
  f=$T_SMALL/d0001/f0000600.mid
  touch -d '2001-01-01' "$f"
  r=$(qerr $db - 30 "BEGIN; UPDATE midipipe_files SET error_message = 'held' WHERE path = '$f'; SELECT midipipe_import('$T_SMALL', workers => 2, wait => true); COMMIT;")
  note "row lock on a file row, then import(wait): $r"
  check "holding a row lock on a file row the run rewrites: import(wait => true) errors out or finishes, not by statement_timeout" \
    bash -c "[[ \$1 != 57014* ]]" _ "$r"
  is "$(wait_run $db "$(qs $db "SELECT max(run_id) FROM midipipe_runs")" 60)" "cancelled" \
    "the cancelled wait cancelled its run"
  touch "$f"
}

# ================================================================ 5. privileges
s_privileges() {
  local db=faults_priv r1 r2 run st
  make_tree "$T_SMALL" "$N_SMALL" 500000 || { fail "make_tree"; return; }
  make_tree "$T_KILL" "$N_KILL" 0 || { fail "make_tree"; return; }
  fresh_db $db || { fail "create database $db"; return; }
  q postgres "DROP ROLE IF EXISTS faults_nopriv; DROP ROLE IF EXISTS faults_importer; DROP ROLE IF EXISTS faults_stats" 2>/dev/null
  q postgres "CREATE ROLE faults_nopriv LOGIN; CREATE ROLE faults_importer LOGIN IN ROLE pg_read_server_files; CREATE ROLE faults_stats LOGIN IN ROLE pg_read_all_stats" >/dev/null
  q $db "GRANT CREATE ON SCHEMA public TO faults_importer" >/dev/null
  r1=$(qerr $db faults_nopriv 30 "SELECT midipipe_import('$T_SMALL')")
  r2=$(qerr $db faults_nopriv 30 "SELECT midipipe_import('/no/such/directory')")
  is "${r1:0:5}" 42501 "a role without pg_read_server_files gets 42501 from midipipe_import"
  is "$r2" "$r1" "... with the same error for a missing path (existence not revealed)"
  is "$(qerr $db faults_nopriv 30 "SELECT midipipe_import('$T_SMALL/d0000/f0000000.mid')")" "$r1" "... and for an existing file"
  is "$(qerr $db faults_nopriv 30 "SELECT midipipe_import('relative/path')")" "$r1" "... and for a relative path"
  local fn
  for fn in "midipipe_pool_start(1)" "midipipe_pool_resize(1)" "midipipe_pool_stop()" \
    "midipipe__process_batch(1)"; do
    is "$(qerr $db faults_nopriv 30 "SELECT $fn" | cut -c1-5)" 42501 "faults_nopriv: $fn is refused (42501)"
    is "$(qerr $db faults_importer 30 "SELECT $fn" | cut -c1-5)" 42501 "faults_importer: $fn is refused (42501)"
  done
  is "$(qerr $db faults_nopriv 30 "SELECT midipipe_analyze(pg_read_binary_file('$T_SMALL/d0000/f0000000.mid'))" | cut -c1-5)" 42501 \
    "midipipe_analyze cannot be fed a server file without the file privilege"
  is "$(qerr $db faults_nopriv 30 "SELECT count(*) FROM midipipe_files" | cut -c1-5)" 42501 \
    "faults_nopriv cannot read midipipe_files"
  # the importer writes rows as itself: an audit trigger records current_user, and a row-level
  # security policy forbids it the paths under d0001 (the workers run with search_path =
  # pg_catalog, pg_temp: a trigger names its tables with their schema, README "Threat model")
  q $db "CREATE TABLE audit (who name, path text); GRANT INSERT ON audit TO PUBLIC;
    CREATE FUNCTION audit_fn() RETURNS trigger LANGUAGE plpgsql AS \$\$BEGIN INSERT INTO public.audit VALUES (current_user, NEW.path); RETURN NEW; END\$\$;
    CREATE TRIGGER audit_t AFTER INSERT ON midipipe_files FOR EACH ROW EXECUTE FUNCTION audit_fn();
    ALTER TABLE midipipe_files ENABLE ROW LEVEL SECURITY;
    CREATE POLICY importer_rw ON midipipe_files TO faults_importer USING (true) WITH CHECK (path NOT LIKE '%/d0001/%');" >/dev/null
  r1=$(qerr $db faults_importer 180 "SELECT midipipe_import('$T_SMALL', workers => 2)")
  note "import by faults_importer under RLS: $r1"
  run=$(qs $db "SELECT max(run_id) FROM midipipe_runs")
  st=$(wait_run $db "$run" 120)
  check "the import under a restrictive RLS policy ended within its time limit ($st)" \
    bash -c "[[ \$1 == completed || \$1 == failed ]]" _ "$st"
  is "$(q $db "SELECT requested_by FROM midipipe_runs WHERE run_id = $run")" faults_importer "midipipe_runs.requested_by is the importer"
  is "$(q $db "SELECT count(*) FROM midipipe_files WHERE path LIKE '%/d0001/%'")" 0 "RLS honoured: no row for a forbidden path"
  is "$(q $db "SELECT count(*) FROM audit WHERE who <> 'faults_importer'")" 0 "every row was inserted as faults_importer (audit trigger)"
  note "rows written: $(q $db "SELECT count(*) FROM midipipe_files"); run: $(run_counts $db "$run"); error: $(q $db "SELECT error FROM midipipe_runs WHERE run_id = $run")"
  # The behaviour chosen as right (see FINDINGS.md): like COPY, a row the policy forbids fails
  # the run with the policy's error; rows committed before stay; nothing forbidden is written.
  is "$st" failed "the run failed (like COPY on a policy violation)"
  check "... with an error that names row-level security" \
    bash -c "grep -q 'row-level security' <<<\"\$1\"" _ "$(q $db "SELECT error FROM midipipe_runs WHERE run_id = $run")"
  check "... and the caller got that error (${r1:0:5})" bash -c "grep -q 'row-level security' <<<\"\$1\"" _ "$r1"
  q $db "ALTER TABLE midipipe_files DISABLE ROW LEVEL SECURITY; DROP TRIGGER audit_t ON midipipe_files" >/dev/null
  # midipipe_stats hides current_path from roles without pg_read_all_stats
  run=$(import_nowait $db "$T_KILL" 2)
  local seen_su=0 seen_stats=0 seen_nopriv=0 i
  for i in $(seq 1 200); do
    ((seen_su += $(qs $db "SELECT count(*) FROM midipipe_stats WHERE current_path IS NOT NULL" || echo 0)))
    ((seen_stats += $(timeout 30 psql -X -At -U faults_stats -d $db -c "SELECT count(*) FROM midipipe_stats WHERE current_path IS NOT NULL" 2>/dev/null || echo 0)))
    ((seen_nopriv += $(timeout 30 psql -X -At -U faults_nopriv -d $db -c "SELECT count(*) FROM midipipe_stats WHERE current_path IS NOT NULL" 2>/dev/null || echo 0)))
    case "$(run_state $db "$run")" in completed | failed | cancelled) break ;; esac
  done
  check "a superuser sees current_path during a run ($seen_su samples)" test "$seen_su" -gt 0
  check "a member of pg_read_all_stats sees current_path ($seen_stats samples)" test "$seen_stats" -gt 0
  is "$seen_nopriv" 0 "a role without pg_read_all_stats never sees current_path"
  is "$(timeout 30 psql -X -At -U faults_nopriv -d $db -c "SELECT count(*) FROM midipipe_progress WHERE root IS NOT NULL" 2>&1)" 0 \
    "midipipe_progress hides other roles' roots from faults_nopriv"
  is "$(qerr $db faults_nopriv 30 "SELECT midipipe_cancel($run)" | cut -c1-5)" "$(
    [[ $(run_state $db "$run") == completed ]] && echo OK || echo 42501)" "faults_nopriv cannot cancel another role's run"
  wait_run $db "$run" 300 >/dev/null
  # Forged runs (issue 13, finding 2): the resume path trusts midipipe_runs, so an importer may
  # neither insert a run nor rewrite one, nor add a path to a manifest; and a run whose role has
  # lost pg_read_server_files is not resumed after a restart.
  is "$(qerr $db faults_importer 30 "INSERT INTO midipipe_runs (root, state, requested_by) VALUES ('$T_SMALL', 'queued', 'postgres')" | cut -c1-5)" 42501 \
    "faults_importer cannot insert a run (a forged requested_by)"
  is "$(qerr $db faults_importer 30 "UPDATE midipipe_runs SET state = 'queued', root = '/'" | cut -c1-5)" 42501 \
    "faults_importer cannot rewrite a run's state or root"
  is "$(qerr $db faults_importer 30 "INSERT INTO midipipe_queue SELECT run_id, '/etc/passwd' FROM midipipe_runs LIMIT 1" | cut -c1-5)" 42501 \
    "faults_importer cannot add a path to a run's manifest"
  q $db "INSERT INTO midipipe_runs (run_id, root, state, requested_by) VALUES
    (990001, '$T_SMALL', 'queued', 'faults_nopriv'), (990002, '$T_SMALL', 'queued', 'faults_importer')" >/dev/null
  # a restart resumes the databases that had a run in flight: an import of the superuser's
  # (of files not imported yet: a re-import of unchanged files is over in a second or two,
  # the scanner counts them without queueing them, issue 17)
  q $db "DELETE FROM midipipe_files WHERE path LIKE '$T_KILL/%'" >/dev/null
  run=$(import_nowait $db "$T_KILL" 2)
  wait_inflight $db "$run" 1 120 >/dev/null || note "run $run ended before the restart"
  local mark
  mark=$(log_size)
  if pgctl -D "$PGDATA" -l "$SERVER_LOG" -w -t 180 restart -m fast >/dev/null; then
    pass "pg_ctl restart -m fast (resume of queued runs)"
  else
    fail "pg_ctl restart -m fast (resume of queued runs)"
  fi
  is "$(wait_run $db 990002 300)" completed "a queued run of a role that may read server files is resumed"
  is "$(run_state $db 990001)" queued "a queued run of a role without pg_read_server_files is not resumed"
  is "$(q $db "SELECT count(*) FROM midipipe_files WHERE run_id = 990001")" 0 "... and no row was written for it"
  check "... and the log says why" bash -c "tail -c +\$((\$1 + 1)) \"\$2\" | grep -q 'cannot resume run 990001: role \"faults_nopriv\" may no longer read server files'" _ "$mark" "$SERVER_LOG"
  is "$(q $db "SELECT midipipe_cancel(990001)")" t "a superuser cancels the run left queued"
  qs $db "SELECT midipipe_cancel($run)" >/dev/null
  wait_run $db "$run" 120 >/dev/null
}

# ================================================================ 6. load beside OLTP
s_pgbench() {
  local db=faults_load T=$WORK/t$N_LOAD solo both files=0 runs=0 run ratio
  make_tree "$T" "$N_LOAD" 0 || { fail "make_tree"; return; }
  fresh_db $db || { fail "create database $db"; return; }
  q postgres "DROP DATABASE IF EXISTS faults_bench" >/dev/null && q postgres "CREATE DATABASE faults_bench" >/dev/null
  pgbench -q -i -s 5 faults_bench >/dev/null 2>&1 || { fail "pgbench -i"; return; }
  q $db "SELECT midipipe_pool_start(2)" >/dev/null
  # Without client traffic the workers never yield, even when a session polls
  # midipipe_stats: here a new connection every 0.3 s (each costs a few transactions
  # of its own: far below midipipe.yield_tps = 50 a second).
  run=$(q $db "SELECT midipipe_import('$T', workers => 2, wait => false)")
  local polls=0 yielding=0 st y
  while :; do
    IFS='|' read -r st y < <(q $db "SELECT (SELECT state FROM midipipe_runs WHERE run_id = $run),
      (SELECT count(*) FROM midipipe_stats WHERE state = 'yielding')")
    case "$st" in completed | cancelled | failed) break ;; esac
    yielding=$((yielding + y))
    polls=$((polls + 1))
    sleep 0.3
  done
  is "$st" completed "an import with no client traffic completes"
  is "$yielding" 0 "no worker yields without client traffic ($polls polls of midipipe_stats)"
  q $db "TRUNCATE midipipe_files CASCADE" >/dev/null 2>&1
  solo=$(pgbench -n -c 2 -j 2 -T "$PGB_SECS" faults_bench 2>&1 | sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -n 1)
  note "pgbench solo (before): $solo tps"
  pgbench -n -c 2 -j 2 -T "$PGB_SECS" faults_bench >"$WORK/pgbench-load.out" 2>&1 &
  local pgb=$! ok_runs=0
  # midipipe_stats, sampled while pgbench runs: the workers rest ('yielding')
  (
    y=0
    while kill -0 $pgb 2>/dev/null; do
      y=$((y + $(qs $db "SELECT count(*) FROM midipipe_stats WHERE state = 'yielding'" || echo 0)))
      sleep 0.2
    done
    echo "$y" >"$WORK/yield-samples"
  ) &
  local sampler=$!
  while kill -0 $pgb 2>/dev/null; do
    q $db "TRUNCATE midipipe_files CASCADE" >/dev/null 2>&1
    run=$(q $db "SELECT midipipe_import('$T', workers => 2, wait => false)")
    st=$(wait_run $db "$run" 600)
    [[ $st == completed ]] && ok_runs=$((ok_runs + 1))
    runs=$((runs + 1))
    files=$((files + $(q $db "SELECT files_ok + files_duplicate + files_failed FROM midipipe_runs WHERE run_id = $run")))
  done
  wait $pgb
  wait $sampler
  yielding=$(cat "$WORK/yield-samples" 2>/dev/null || echo 0)
  check "workers yield to pgbench (midipipe_stats showed 'yielding' $yielding times)" test "$yielding" -gt 0
  both=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$WORK/pgbench-load.out" | head -n 1)
  # the baseline again, now that the imports are over: the machine may be shared, so the
  # solo figure is the mean of the runs before and after the loaded one
  local solo_after
  solo_after=$(pgbench -n -c 2 -j 2 -T "$PGB_SECS" faults_bench 2>&1 | sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -n 1)
  note "pgbench solo (after): $solo_after tps"
  solo=$(awk -v a="${solo:-0}" -v b="${solo_after:-0}" 'BEGIN { printf "%.1f", (a + b) / 2 }')
  is "$ok_runs" "$runs" "every import beside pgbench completed ($runs runs, $files files while pgbench ran)"
  ratio=$(awk -v a="${both:-0}" -v b="${solo:-0}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  figure "pgbench TPS solo $solo (mean of $(printf '%.0f' "${solo_after:-0}") after and the run before), beside a $N_LOAD-file import (re-imported $runs times, $files files) $both, ratio $ratio (issue's target 0.5; asserted floor here $RATIO_FLOOR)"
  check "pgbench keeps >= $RATIO_FLOOR of its solo throughput during the import (ratio $ratio)" \
    awk -v r="$ratio" -v f="$RATIO_FLOOR" 'BEGIN { exit !(r >= f) }'
  q $db "SELECT midipipe_pool_stop()" >/dev/null 2>&1
}

# ================================================================ 7. memory
rss() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }
# idle_rss DB PID: "RssAnon RssFile" of pool worker PID once it is idle (it gives back the
# memory its batches kept when it goes idle), or nothing after 30 s
idle_rss() {
  local until=$((SECONDS + 30))
  while ((SECONDS < until)); do
    if [[ $(qs "$1" "SELECT state FROM midipipe_stats WHERE pid = $2") == idle ]]; then
      sleep 0.5
      echo "$(rss "$2" RssAnon) $(rss "$2" RssFile)"
      return 0
    fi
    sleep 0.2
  done
}
s_memory() {
  # A pool of one worker does a 1,000-file run, then the N_MEM-file run. The worker's private
  # memory is compared where the worker is idle, after each run: a worker keeps up to
  # KEEP_FREED_KB of what its batches freed for the next batch (src/pg/worker.cpp) and gives
  # it back when it goes idle, so idle against idle is where a leak shows and nothing else.
  # During the run the RSS is sampled once the worker has done 1,000 files, then every
  # second: each end of the run is the smallest of its first / last three samples (a sample
  # inside a batch also holds that batch's files), and may differ by at most what the worker
  # keeps plus the leak allowance.
  local db=faults_mem T=$WORK/t$N_MEM W=$WORK/t_memwarm pid run st r0 a0 f0 r1 a1 f1 rmax=0 v
  local d0 d1 row i0 f_i0 i1 f_i1 idle
  local -a as=() fs=()
  make_tree "$T" "$N_MEM" 0 || { fail "make_tree"; return; }
  make_tree "$W" 1000 "$N_MEM" || { fail "make_tree (warm-up)"; return; }
  fresh_db $db || { fail "create database $db"; return; }
  q $db "SELECT midipipe_pool_start(1)" >/dev/null 2>&1
  run=$(qs $db "SELECT midipipe_import('$W', workers => 1)")
  is "$(run_state $db "${run:-0}")" completed "the 1,000-file warm-up run completed"
  pid=$(qs $db "SELECT pid FROM midipipe_stats WHERE database = current_database() AND pid IS NOT NULL ORDER BY worker_id LIMIT 1")
  [[ -n $pid ]] || { fail "the pool's worker"; return; }
  idle=$(idle_rss $db "$pid")
  [[ -n $idle ]] || { fail "worker $pid idle after the warm-up run"; return; }
  read -r i0 f_i0 <<<"$idle"
  note "worker $pid idle after the warm-up run: RssAnon $i0 kB, RssFile $f_i0 kB"
  run=$(import_nowait $db "$T" 1)
  row=$(wait_inflight $db "$run" 1000 120)
  check "run $run in flight ($row)" test $? -eq 0
  v=$(busy_worker_pid $db "$run")
  is "$v" "$pid" "the pool's one worker runs the $N_MEM-file run"
  d0=$(q $db "SELECT files_done FROM midipipe_stats WHERE pid = $pid")
  r0=$(rss "$pid" VmRSS) a0=$(rss "$pid" RssAnon) f0=$(rss "$pid" RssFile)
  r1=$r0 a1=$a0 f1=$f0 d1=$d0
  as=("$a0") fs=("$f0")
  while [[ $(qs $db "SELECT state FROM midipipe_stats WHERE pid = $pid") == busy ]]; do
    v=$(rss "$pid" VmRSS) && [[ -n $v ]] || break
    r1=$v a1=$(rss "$pid" RssAnon) f1=$(rss "$pid" RssFile)
    [[ -n $a1 && -n $f1 ]] || break
    as+=("$a1") fs+=("$f1")
    ((r1 > rmax)) && rmax=$r1
    d1=$(qs $db "SELECT files_done FROM midipipe_stats WHERE pid = $pid")
    sleep 1
  done
  # the smallest RssAnon (and RssFile beside it) of the first and of the last three samples
  local i lo=0 hi=$((${#as[@]} - 1)) k
  for ((k = 1, i = 1; k < 3 && i <= hi; k++, i++)); do ((as[i] < as[lo])) && lo=$i; done
  for ((k = 1, i = hi - 1; k < 3 && i >= 0; k++, i--)); do ((as[i] < as[hi])) && hi=$i; done
  a0=${as[lo]} f0=${fs[lo]} a1=${as[hi]} f1=${fs[hi]}
  st=$(wait_run $db "$run" 900)
  is "$st" completed "the $N_MEM-file run completed"
  # files_done counts on after the last RSS sample (up to a second of work): read it again
  v=$(qs $db "SELECT files_done FROM midipipe_stats WHERE pid = $pid")
  [[ $v =~ ^[0-9]+$ ]] && d1=$v
  check "worker $pid did the rest of the run's files (files_done $d0 -> $d1 of $N_MEM)" \
    test $((d1 - d0)) -ge $(((N_MEM - d0) * 9 / 10))
  idle=$(idle_rss $db "$pid")
  [[ -n $idle ]] || { fail "worker $pid idle after the run"; return; }
  read -r i1 f_i1 <<<"$idle"
  figure "worker RSS across $((d1 - d0)) files of a $N_MEM-file run: idle before -> after RssAnon $i0 -> $i1 kB (growth $((i1 - i0)) kB), RssFile $f_i0 -> $f_i1 kB; in the run VmRSS $r0 -> $r1 kB (peak $rmax; includes shared buffers touched), RssAnon $a0 -> $a1 kB (${#as[@]} samples: ${as[*]})"
  check "idle worker's private memory (RssAnon) grew by at most $((MEM_LIMIT_KB / 1024)) MB over the run ($((i1 - i0)) kB)" \
    test $((i1 - i0)) -le $MEM_LIMIT_KB
  # VmRSS also counts the shared_buffers pages a worker touches (RssShmem), which grow towards
  # shared_buffers whatever the worker does: it is printed, not asserted. File-backed pages
  # (RssFile: the binary, libraries, the files read) are private-ish and asserted with RssAnon.
  check "idle worker's private + file-backed memory (RssAnon + RssFile) grew by at most $((MEM_LIMIT_KB / 1024)) MB ($((i1 + f_i1 - i0 - f_i0)) kB)" \
    test $((i1 + f_i1 - i0 - f_i0)) -le $MEM_LIMIT_KB
  check "in the run, private memory (RssAnon) grew by at most what a worker keeps ($((KEEP_FREED_KB / 1024)) MB) plus $((MEM_LIMIT_KB / 1024)) MB ($((a1 - a0)) kB)" \
    test $((a1 - a0)) -le $((KEEP_FREED_KB + MEM_LIMIT_KB))
}

# ================================================================ 8. packaging
# What a DBA does to an extension besides using it: pg_dump and restore it, run it in a
# database that is not UTF-8, and forget shared_preload_libraries.
s_packaging() {
  local db=faults_dump db2=faults_restore db3=faults_latin1 T=$WORK/t_pack dump=$WORK/pack.dump
  local C=$WORK/cluster-nopreload out run a b
  rm -rf "$T" && mkdir -p "$T"
  "$PY" - "$T" "$CORPUS" <<'PY'
import os, shutil, sys
root, corpus = sys.argv[1], sys.argv[2]
files = []
for dp, dn, fn in sorted(os.walk(corpus)):
    for n in sorted(fn):
        if n.lower().endswith(".mid") and "/edge" not in dp:
            files.append(os.path.join(dp, n))
for i, f in enumerate(files[:40]):
    shutil.copy(f, os.path.join(root, "f%02d.mid" % i))
shutil.copy(files[0], os.path.join(root, "dup.mid"))
open(os.path.join(root, "bad.mid"), "wb").write(b"MThd\x00\x00")
# a name that LATIN1 cannot hold (and a Latin-1 one that it can)
shutil.copy(files[1], os.path.join(root, "\u65e5\u672c.mid".encode("utf-8").decode("utf-8")))
shutil.copy(files[2], os.path.join(root, "caf\u00e9.mid"))
PY
  chmod -R a+rX "$T"
  local n
  n=$(find "$T" -type f | wc -l)

  # pg_dump / pg_restore: the rows, the sequences and the extension come back as they were
  fresh_db $db || { fail "create database $db"; return; }
  run=$(q $db "SET midipipe.analysis_depth = on; SELECT midipipe_import('$T', workers => 2, split_tracks => true)" | tail -n 1)
  is "$(run_state $db "$run")" completed "import into $db completed"
  pg_dump -Fc -f "$dump" $db 2>"$WORK/pg_dump.err"
  check "pg_dump of a database using midipipe succeeds" test -s "$dump"
  qs postgres "DROP DATABASE IF EXISTS $db2 WITH (FORCE)" >/dev/null
  q postgres "CREATE DATABASE $db2" >/dev/null
  pg_restore -d $db2 "$dump" 2>"$WORK/pg_restore.err"
  check "pg_restore into a new database reports no error ($(head -c 300 "$WORK/pg_restore.err"))" \
    bash -c '! grep -q . "$1"' _ "$WORK/pg_restore.err"
  a=$(digest $db "$T") b=$(digest $db2 "$T")
  is "$b" "$a" "the restored rows equal the original (files, analysis, tracks)"
  is "$(q $db2 "SELECT count(*) FROM midipipe_chords") $(q $db2 "SELECT count(smf_sha256) FROM midipipe_tracks") $(q $db2 "SELECT count(*) FROM midipipe_runs")" \
    "$(q $db "SELECT count(*) FROM midipipe_chords") $(q $db "SELECT count(smf_sha256) FROM midipipe_tracks") $(q $db "SELECT count(*) FROM midipipe_runs")" \
    "chords, split tracks and runs restored"
  # the sequences came back too: a new run and new files get fresh ids, nothing collides
  touch "$T"/f0*.mid
  run=$(q $db2 "SELECT midipipe_import('$T', workers => 2)" 2>&1 | tail -n 1)
  is "$(run_state $db2 "$run")" completed "an import into the restored database completes (run $run)"
  check "the restored database's new run id follows the old ones" \
    test "$(q $db2 "SELECT count(DISTINCT run_id) = count(*) FROM midipipe_runs")" = t
  check_counts $db2 "$run" "$n"

  # a LATIN1 database: every byte string is valid LATIN1, so file names are kept byte for byte
  # (as pg_ls_dir shows them there) and every file is read; text from inside the files is
  # converted from UTF-8 (or Latin-1) into the database encoding
  qs postgres "DROP DATABASE IF EXISTS $db3 WITH (FORCE)" >/dev/null
  q postgres "CREATE DATABASE $db3 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" >/dev/null &&
    q $db3 "CREATE EXTENSION midipipe" >/dev/null
  run=$(q $db3 "SELECT midipipe_import('$T', workers => 2)" 2>&1 | tail -n 1)
  is "$(run_state $db3 "$run")" completed "import into a LATIN1 database completed ($run)"
  check_counts $db3 "$run" "$n"
  is "$(q $db3 "SELECT status <> 'error' FROM midipipe_files
               WHERE convert_to(path, 'LATIN1') = convert_to('$T/', 'LATIN1') || '\\xe697a5e69cac2e6d6964'::bytea")" t \
    "a UTF-8 name is kept byte for byte and the file is read"
  is "$(q $db3 "SELECT count(*) FROM midipipe_files f, pg_ls_dir('$T') d
               WHERE f.path = '$T/' || d")" "$n" "every stored path is what pg_ls_dir shows in that database"
  check "LATIN1: text from the files (titles, track names) is stored" \
    test "$(q $db3 "SELECT count(*) FROM midipipe_analysis WHERE track_names IS NOT NULL")" -gt 0

  # without shared_preload_libraries: clear errors, never a crash
  bash "$CLUSTER_SH" destroy "$C" >/dev/null 2>&1
  MIDIPIPE_CLUSTER_CONF="shared_preload_libraries = ''" bash "$CLUSTER_SH" start "$C" "$PORT3" >/dev/null 2>&1
  check "a server without midipipe preloaded starts" test $? -eq 0 || return
  out=$(env PGHOST="$C" PGPORT=$PORT3 psql -X -At -v VERBOSITY=verbose -d postgres -c "CREATE EXTENSION midipipe" 2>&1)
  check "CREATE EXTENSION without preload fails with the message and hint ($(echo "$out" | head -n 1))" \
    bash -c 'grep -q "must be loaded via shared_preload_libraries" <<<"$1" && grep -q "HINT" <<<"$1"' _ "$out"
  out=$(env PGHOST="$C" PGPORT=$PORT3 psql -X -At -d postgres \
    -c "CREATE FUNCTION pg_temp.imp(text) RETURNS bigint AS '\$libdir/midipipe', 'midipipe_import' LANGUAGE C" \
    -c "SELECT pg_temp.imp('$T')" 2>&1)
  check "calling a midipipe function without preload is an ERROR, not a crash ($(echo "$out" | grep -m1 ERROR))" \
    bash -c 'grep -q "must be loaded via shared_preload_libraries" <<<"$1"' _ "$out"
  check "the no-preload cluster's log shows no crash" \
    bash -c '! grep -E "terminated by signal|PANIC:|TRAP:" "$1"' _ "$C/server.log"
  bash "$CLUSTER_SH" destroy "$C" >/dev/null 2>&1
}


# ================================================================ 9. resource bounds (issue 13)
# Findings 3 and 4: a crafted file (running-status note-ons, 3 bytes a note: test/faults/crafted.py,
# written here) must cost memory bounded by midipipe.max_events, and cancel, statement_timeout,
# pg_terminate_backend and midipipe_cancel must stop its analysis within a second (latencies are
# printed; the bound asserted is loose, the machine is shared). MAXEV: the default limit.
LAT_MS=1000
# elapsed_ms T0_NS: milliseconds since T0_NS (date +%s%N)
elapsed_ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
limit_offset() { echo $((22 + 4 + 3 * (MAXEV - 1))); } # the first event past the limit (crafted.py)

s_bounds_analyze() {
  local db=faults_bounds f_ok=$WORK/rs_limit.mid f_over=$WORK/rs_over.mid out t0 ms full pid hwm i
  "$PY" "$HERE/crafted.py" "$f_ok" $((MAXEV - 10)) && "$PY" "$HERE/crafted.py" "$f_over" $((MAXEV + 10)) ||
    { fail "write the crafted files"; return; }
  chmod a+r "$f_ok" "$f_over"
  fresh_db $db || { fail "create database $db"; return; }
  q postgres "DROP ROLE IF EXISTS faults_plain; CREATE ROLE faults_plain LOGIN" >/dev/null 2>&1
  # the bytes come from a table the plain role may read: it needs no file privilege
  q $db "CREATE TABLE crafted (name text, data bytea);
    INSERT INTO crafted VALUES ('ok', pg_read_binary_file('$f_ok')), ('over', pg_read_binary_file('$f_over'));
    GRANT SELECT ON crafted TO faults_plain" >/dev/null
  is "$(q $db "SHOW midipipe.max_events")" $MAXEV "midipipe.max_events is $MAXEV by default"
  local plain=(timeout 120 psql -X -At -U faults_plain -d $db -v VERBOSITY=verbose)
  # over the limit: an error naming the limit and the offset, not gigabytes
  out=$("${plain[@]}" -c "SELECT midipipe_analyze(data) FROM crafted WHERE name = 'over'" 2>&1)
  check "midipipe_analyze of $((MAXEV + 10)) notes: ERROR 54000 ($(echo "$out" | grep -m1 ERROR))" \
    bash -c 'grep -q "ERROR: *54000: midipipe: the file has more than $2 events" <<<"$1"' _ "$out" "$MAXEV"
  check "... whose detail names too_many_events at byte $(limit_offset)" \
    bash -c 'grep -q "too_many_events at byte offset $2\." <<<"$1"' _ "$out" "$(limit_offset)"
  # at the limit: the whole analysis, its time and the backend's peak memory (VmHWM)
  t0=$(date +%s%N)
  out=$(timeout 300 psql -X -At -d $db -c "SELECT (midipipe_analyze(data)->>'note_count') || ' ' ||
      (SELECT substring(l from '[0-9]+') FROM regexp_split_to_table(pg_read_file('/proc/' || pg_backend_pid() || '/status'), E'\n') l
        WHERE l LIKE 'VmHWM:%') FROM crafted WHERE name = 'ok'" 2>&1)
  full=$(elapsed_ms "$t0")
  read -r i hwm <<<"$out"
  is "$i" $((MAXEV - 10)) "midipipe_analyze of $((MAXEV - 10)) notes (just under the limit) succeeds"
  figure "midipipe_analyze of a $((3 * MAXEV / 1000000)) MB crafted file ($((MAXEV - 10)) notes, the default limit): ${full} ms, backend VmHWM ${hwm:-?} kB"
  check "... with the backend's peak memory under 600 MB (VmHWM ${hwm:-?} kB)" test "${hwm:-999999999}" -lt 614400
  # statement_timeout acts within LAT_MS
  t0=$(date +%s%N)
  out=$("${plain[@]}" -c "SET statement_timeout = '300ms'" -c "SELECT midipipe_analyze(data) FROM crafted WHERE name = 'ok'" 2>&1)
  ms=$(($(elapsed_ms "$t0") - 300))
  check "statement_timeout = 300ms cancels midipipe_analyze (57014)" bash -c 'grep -q "57014: canceling statement due to statement timeout" <<<"$1"' _ "$out"
  figure "midipipe_analyze: statement_timeout acted ${ms} ms after it expired (psql start included; the whole analysis takes ${full} ms)"
  check "... within ${LAT_MS} ms (${ms} ms)" test "$ms" -lt $LAT_MS
  # pg_cancel_backend and pg_terminate_backend by the same plain role, from another session
  local how want
  for how in cancel terminate; do
    [[ $how == cancel ]] && want="57014: canceling statement due to user request" || want="57P01: terminating connection due to administrator command"
    "${plain[@]}" -c "SELECT midipipe_analyze(data) FROM crafted WHERE name = 'ok'" >"$WORK/bounds_$how.out" 2>&1 &
    local bg=$!
    pid=""
    for i in $(seq 1 200); do
      pid=$("${plain[@]}" -c "SELECT pid FROM pg_stat_activity WHERE usename = 'faults_plain' AND state = 'active'
        AND query LIKE 'SELECT midipipe_analyze%' AND now() - query_start > interval '400 ms'" 2>/dev/null)
      [[ -n $pid ]] && break
      sleep 0.05
    done
    check "the plain role's analysis is running (pid ${pid:-none})" test -n "$pid" || { wait $bg; continue; }
    t0=$(date +%s%N)
    "${plain[@]}" -c "SELECT pg_${how}_backend($pid)" >/dev/null
    wait $bg
    ms=$(elapsed_ms "$t0")
    check "pg_${how}_backend by the plain role stops midipipe_analyze ($(grep -m1 ERROR "$WORK/bounds_$how.out" || head -n 1 "$WORK/bounds_$how.out"))" \
      grep -q "$want" "$WORK/bounds_$how.out"
    figure "midipipe_analyze: pg_${how}_backend acted in ${ms} ms (two psql starts included)"
    check "... within ${LAT_MS} ms (${ms} ms)" test "$ms" -lt $LAT_MS
  done
}

# worker_hwm PID: VmHWM (kB) of a process
worker_hwm() { rss "$1" VmHWM; }

# stop_latency DB RUN HOW: stops the busy worker of RUN by HOW (midipipe_cancel, pg_cancel_backend,
# pg_terminate_backend) once it has spent 400 ms on one file; prints the milliseconds until the
# worker left that file (its activity changed, or it exited), measured by the server.
stop_latency() {
  local db=$1 run=$2 how=$3 pid="" i call
  for i in $(seq 1 400); do
    pid=$(qs $db "SELECT s.pid FROM midipipe_stats s JOIN pg_stat_activity a ON a.pid = s.pid
      WHERE s.run_id = $run AND s.state = 'busy' AND s.current_path LIKE '%slow%'
        AND a.state = 'active' AND clock_timestamp() - a.state_change > interval '400 ms' LIMIT 1")
    [[ -n $pid ]] && break
    sleep 0.05
  done
  [[ -n $pid ]] || { echo "no-busy-worker"; return 1; }
  case $how in
    midipipe_cancel) call="(SELECT midipipe_cancel($run))" ;;
    *) call="(SELECT $how($pid))" ;;
  esac
  # as the run's role for midipipe_cancel; the workers are the server's own processes, which
  # only a superuser (or pg_signal_backend) may signal
  local who=(-U "$PGUSER")
  [[ $how == midipipe_cancel ]] && who=(-U faults_reader)
  timeout 60 psql -X -At "${who[@]}" -d $db -c "
    CREATE TEMP TABLE t AS SELECT clock_timestamp() AS t0,
      (SELECT state_change FROM pg_stat_activity WHERE pid = $pid) AS since;
    SELECT $call;
    DO \$\$ DECLARE until timestamptz := clock_timestamp() + interval '30 s'; BEGIN
      LOOP
        PERFORM pg_stat_clear_snapshot();
        EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity a, t WHERE a.pid = $pid AND a.state_change = t.since)
          OR clock_timestamp() > until;
        PERFORM pg_sleep(0.002);
      END LOOP; END \$\$;
    SELECT round(extract(epoch FROM clock_timestamp() - t0) * 1000) FROM t" 2>&1 | tail -n 1
}

s_bounds_worker() {
  local db=faults_bworker T=$WORK/t_bounds S=$WORK/t_slow run st ms how pid hwm n=6 i
  rm -rf "$T" "$S" && mkdir -p "$T" "$S"
  # finding 4: 21 M notes in 63 MB (under the default max_file_size of 64 MB), beside real files
  "$PY" "$HERE/crafted.py" "$T/crafted_big.mid" 21000000 || { fail "write the crafted file"; return; }
  find "$CORPUS/giantmidi-piano" -type f -name "*.mid" | head -n 20 | while read -r f; do cp "$f" "$T/"; done
  for i in $(seq 1 $n); do "$PY" "$HERE/crafted.py" "$S/slow$i.mid" $((MAXEV - 10)) "$i" || { fail "crafted"; return; }; done
  chmod -R a+rX "$T" "$S"
  fresh_db $db || { fail "create database $db"; return; }
  q postgres "DROP ROLE IF EXISTS faults_reader; CREATE ROLE faults_reader LOGIN IN ROLE pg_read_server_files" >/dev/null 2>&1
  local reader=(timeout 600 psql -X -At -U faults_reader -d $db)
  run=$("${reader[@]}" -c "SELECT midipipe_import('$T', workers => 1)" 2>&1 | tail -n 1)
  is "$(run_state $db "$run")" completed "import of the crafted 63 MB file by a pg_read_server_files member completed (run $run)"
  is "$(q $db "SELECT error_code || ' ' || error_offset FROM midipipe_files WHERE path LIKE '%/crafted_big.mid'")" \
    "too_many_events $(limit_offset)" "the crafted file is an error row: too_many_events at its first event past the limit"
  check_counts $db "$run"
  pid=$(q $db "SELECT pid FROM midipipe_stats ORDER BY worker_id LIMIT 1")
  hwm=$(worker_hwm "$pid")
  figure "pool worker after a 63 MB crafted file (refused at $MAXEV events) and $(ls "$T" | wc -l) files: VmHWM ${hwm:-?} kB"
  check "the worker's peak memory stayed under 600 MB (VmHWM ${hwm:-?} kB)" test "${hwm:-999999999}" -lt 614400
  # the same worker analyses a whole file at the limit (depth on, as midipipe_analyze does)
  mkdir -p "$S/one" && cp "$S/slow1.mid" "$S/one/limit.mid" && chmod -R a+rX "$S/one"
  run=$("${reader[@]}" -c "SET midipipe.analysis_depth = on" -c "SELECT midipipe_import('$S/one', workers => 1)" 2>&1 | tail -n 1)
  is "$(q $db "SELECT status || ' ' || coalesce(error_code, '') FROM midipipe_files WHERE path LIKE '%/one/limit.mid'")" "ok " \
    "a file of $((MAXEV - 10)) notes (just under the limit) is analysed by the worker (run $run)"
  pid=$(q $db "SELECT pid FROM midipipe_stats ORDER BY worker_id LIMIT 1")
  hwm=$(worker_hwm "$pid")
  figure "pool worker after a whole analysis (depth on) of a crafted file at the limit: VmHWM ${hwm:-?} kB"
  check "... with its peak memory under 600 MB (VmHWM ${hwm:-?} kB)" test "${hwm:-999999999}" -lt 614400
  rm -rf "$S/one"
  # a file at the limit in each of $n slow files: stopped by each means within LAT_MS
  for how in midipipe_cancel pg_cancel_backend pg_terminate_backend; do
    run=$("${reader[@]}" -c "SELECT midipipe_import('$S', workers => 1, wait => false)")
    ms=$(stop_latency $db "$run" $how)
    figure "pool worker busy on a crafted file at the limit: $how acted in ${ms} ms (measured by the server)"
    check "$how stops the worker's analysis within ${LAT_MS} ms (${ms} ms)" \
      bash -c '[[ $1 =~ ^[0-9]+$ ]] && (($1 < $2))' _ "$ms" $LAT_MS
    [[ $how == midipipe_cancel ]] && is "$(wait_run $db "$run" 60)" cancelled "... and the run ends cancelled"
    cancel_all $db
    wait_run $db "$run" 120 >/dev/null
  done
  pid=$(q $db "SELECT pid FROM midipipe_stats ORDER BY worker_id LIMIT 1")
  [[ -n $pid ]] && figure "pool worker after the slow files: VmHWM $(worker_hwm "$pid") kB"
}

# ---------------------------------------------------------------- main
T_ALL=$SECONDS
echo "# midipipe fault suite: scale $SCALE, server $PGHOST:$PGPORT, log $SERVER_LOG, scratch $WORK"
echo "# counts: $N_MUT mutants + edge corpus ($BIG_MB MB note-on file, $TINY tiny tracks); kill runs $N_KILL files;"
echo "#         pgbench ${PGB_SECS}s beside a $N_LOAD-file import; memory run $N_MEM files (one worker)"
[[ -x $CLI ]] || { echo "faults: the CLI $CLI is missing (build it: cmake --build build --target midipipe-analyze)"; exit 1; }
[[ -d $CORPUS/edge ]] || { echo "faults: corpus not found at $CORPUS"; exit 1; }
echo "# corpus $CORPUS: $(find "$CORPUS" -type f -regextype posix-extended -iregex '.*\.(mid|midi|kar|rmi|smf)$' | wc -l) MIDI files, $(find "$CORPUS/edge" -type f | wc -l) files under edge/ (the trees below are made from its files outside edge/)"

# ================================================================ 10. issue 13: operations
log_since() { tail -c +$(($1 + 1)) "$SERVER_LOG"; }
log_has() { log_since "$1" | grep -qE -- "$2"; } # log_has MARK REGEX

# A database with the extension from which 10a watches midipipe_stats (every database's workers).
WATCH_DB=faults_watch
# pool_pids DB: the pids of DB's pool workers, sorted, space-separated
pool_pids() { qs $WATCH_DB "SELECT string_agg(pid::text, ' ' ORDER BY pid) FROM midipipe_stats WHERE database = '$1'"; }

# wait_pool_in DB N SECONDS: until DB has N idle workers; prints their count
wait_pool_in() {
  local until=$((SECONDS + $3)) n=0
  while ((SECONDS < until)); do
    n=$(qs $WATCH_DB "SELECT count(*) FROM midipipe_stats WHERE database = '$1' AND state = 'idle'")
    [[ $n == "$2" ]] && break
    sleep 0.5
  done
  echo "${n:-0}"
}

# 10a (issue 13, finding 5). DROP DATABASE works with a warm pool, as it does with autovacuum
# workers: the pool's processes in that database are stopped first (for its owner, not for
# anyone else), and nothing restarts for a database that is gone. The same for ALTER DATABASE
# ... RENAME; ALLOW_CONNECTIONS false makes the pool give up quietly until it is allowed again.
s_drop_database() {
  local db=faults_dropdb own=faults_dbowner mark run row pids
  qs postgres "DROP DATABASE IF EXISTS ${db}_renamed WITH (FORCE)" >/dev/null
  qs postgres "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  qs postgres "DROP ROLE IF EXISTS $own" >/dev/null
  qs postgres "DROP ROLE IF EXISTS faults_nopriv" >/dev/null
  q postgres "CREATE ROLE $own LOGIN CREATEDB; CREATE ROLE faults_nopriv LOGIN" >/dev/null
  make_tree "$T_KILL" "$N_KILL" 0 || { fail "make_tree"; return; }
  mkdb() { fresh_db $db && q postgres "ALTER DATABASE $db OWNER TO $own" >/dev/null; }
  fresh_db $WATCH_DB || { fail "create database $WATCH_DB"; return; }

  # a) plain DROP DATABASE by the owner (not a superuser) with a warm pool
  mkdb || { fail "create database $db"; return; }
  is "$(q $db "SELECT midipipe_pool_start(2)" 2>/dev/null)" 2 "a) pool_start(2) in $db"
  sleep 1 # the spare coordinator connects too
  pids=$(pool_pids $db)
  check "a) the pool's workers are in midipipe_stats ($pids)" test -n "$pids"
  is "$(qerr postgres faults_nopriv 30 "DROP DATABASE $db" | cut -c1-5)" 42501 "a) DROP DATABASE by a role that does not own it is refused"
  is "$(pool_pids $db)" "$pids" "a) ... and leaves the pool alone (same worker pids: $pids)"
  mark=$(log_size)
  is "$(qerr postgres $own 60 "DROP DATABASE $db")" OK "a) plain DROP DATABASE by its owner with a warm pool (2 workers and a spare)"
  sleep 5
  is "$(log_since "$mark" | grep -c 'does not exist')" 0 "a) no process tries to connect to the dropped database afterwards"
  is "$(qs $WATCH_DB "SELECT count(*) FROM midipipe_stats WHERE database IS NULL")" 0 "a) no worker slot is left for the dropped database"

  # b) DROP DATABASE WITH (FORCE) during a run
  mkdb || { fail "create database $db"; return; }
  q $db "SELECT midipipe_pool_start(2)" >/dev/null 2>&1
  run=$(import_nowait $db "$T_KILL" 2)
  row=$(wait_inflight $db "$run" 200 120)
  check "b) run $run in flight ($row)" test $? -eq 0
  mark=$(log_size)
  is "$(qerr postgres $own 60 "DROP DATABASE $db WITH (FORCE)")" OK "b) DROP DATABASE WITH (FORCE) by its owner during a run"
  sleep 6
  # (at most one: a process whose start was already under way when the database went; main
  # before the fix logged 172 in these 6 s, a restart loop)
  local gone
  gone=$(log_since "$mark" | grep -c 'does not exist')
  check "b) nothing restarts for the dropped database ($gone 'does not exist' in 6 s, at most 1)" \
    test "$gone" -le 1
  is "$(qs $WATCH_DB "SELECT count(*) FROM midipipe_stats WHERE database IS NULL OR state = 'starting'")" 0 \
    "b) no worker slot left in 'starting' or for the dropped database"

  # b2) the same while an autovacuum worker is in the database: PostgreSQL 15 alone refuses this
  # to an owner who is not a superuser (an autovacuum worker has no role to signal), and imports
  # leave tables that autovacuum visits. A slow vacuum of a table with dead rows keeps one there.
  mkdb || { fail "create database $db"; return; }
  q postgres "ALTER SYSTEM SET autovacuum_naptime = '1s'" >/dev/null
  q postgres "SELECT pg_reload_conf()" >/dev/null
  q $db "CREATE TABLE av (i int, pad text) WITH (autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1);
         INSERT INTO av SELECT g, repeat('x', 200) FROM generate_series(1, 200000) g;
         DELETE FROM av WHERE i % 2 = 0" >/dev/null
  local av=0 i
  for ((i = 0; i < 120 && av == 0; i++)); do
    av=$(qs postgres "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db' AND backend_type = 'autovacuum worker'")
    ((av > 0)) || sleep 0.5
  done
  check "b2) an autovacuum worker is in $db ($av)" test "$av" -gt 0
  is "$(qerr postgres $own 60 "DROP DATABASE $db WITH (FORCE)")" OK \
    "b2) DROP DATABASE WITH (FORCE) by its owner while autovacuum works in it"
  q postgres "ALTER SYSTEM RESET autovacuum_naptime" >/dev/null
  q postgres "SELECT pg_reload_conf()" >/dev/null

  # c) midipipe.database names the database that is dropped
  mkdb || { fail "create database $db"; return; }
  q postgres "ALTER SYSTEM SET midipipe.database = '$db'" >/dev/null
  q postgres "ALTER SYSTEM SET midipipe.min_workers = 1" >/dev/null
  q postgres "SELECT pg_reload_conf()" >/dev/null
  is "$(wait_pool_in $db 1 30)" 1 "c) midipipe.database = '$db' with min_workers 1 warms a worker"
  mark=$(log_size)
  is "$(qerr postgres $own 60 "DROP DATABASE $db")" OK "c) plain DROP DATABASE of midipipe.database"
  sleep 4
  q postgres "SELECT pg_reload_conf()" >/dev/null
  sleep 4
  is "$(log_since "$mark" | grep -c 'does not exist')" 1 \
    "c) after a reload the supervisor says once that midipipe.database does not exist, nothing else connects"
  note "$(log_since "$mark" | grep -m3 'does not exist')"
  q postgres "ALTER SYSTEM RESET midipipe.database" >/dev/null
  q postgres "ALTER SYSTEM RESET midipipe.min_workers" >/dev/null
  q postgres "SELECT pg_reload_conf()" >/dev/null

  # d) ALTER DATABASE ... RENAME with a warm pool: the pool follows
  mkdb || { fail "create database $db"; return; }
  q $db "SELECT midipipe_pool_start(1)" >/dev/null 2>&1
  is "$(qerr postgres $own 60 "ALTER DATABASE $db RENAME TO ${db}_renamed")" OK "d) ALTER DATABASE RENAME by its owner with a warm pool"
  is "$(wait_pool_in ${db}_renamed 1 30)" 1 "d) the pool is warm again in the renamed database"
  qs postgres "DROP DATABASE IF EXISTS ${db}_renamed" >/dev/null

  # e) ALLOW_CONNECTIONS false: a worker that leaves is not restarted in a loop
  mkdb || { fail "create database $db"; return; }
  is "$(q $db "SELECT midipipe_pool_start(1)" 2>/dev/null)" 1 "e) pool_start(1)"
  q postgres "ALTER DATABASE $db ALLOW_CONNECTIONS false" >/dev/null
  pids=$(pool_pids $db)
  mark=$(log_size)
  for p in $pids; do kill -TERM "$p"; done
  sleep 8
  local n
  n=$(log_since "$mark" | grep -c 'not currently accepting connections')
  check "e) a database that refuses connections gets a few attempts, not a loop ($n in 8 s)" test "$n" -le 3
  check "e) the supervisor says why it stopped trying" log_has "$mark" "midipipe: .*does not allow connections"
  q postgres "ALTER DATABASE $db ALLOW_CONNECTIONS true" >/dev/null
  is "$(wait_pool_in $db 1 40)" 1 "e) the pool comes back once connections are allowed again"
  qs postgres "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
}

# 10b (issue 13, finding 6). A name that is not valid UTF-8 beside a file literally named as its
# escaped form: two rows, neither lost; valid names (backslashes included) are stored as they are.
s_escaped_twin() {
  local T=$WORK/t_twin db=faults_twin run bad lit
  rm -rf "$T"
  "$PY" "$ROOT/test/bench_import/make_tree.py" "$CORPUS" "$T" 10 731000 >/dev/null
  bad=$(printf 'bad\xff\xfename.mid')
  lit='bad\xFF\xFEname.mid'
  cp "$T/d0000/f0000001.mid" "$T/$bad"
  cp "$T/d0000/f0000002.mid" "$T/$lit"
  mkdir -p "$T/$(printf 'dir\xff')" "$T/dir\\xFF"
  cp "$T/d0000/f0000003.mid" "$T/$(printf 'dir\xff')/in.mid"
  cp "$T/d0000/f0000004.mid" "$T/dir\\xFF/in.mid"
  chmod -R a+rX "$T"
  fresh_db $db || { fail "create database $db"; return; }
  qs postgres "DROP ROLE IF EXISTS faults_twin_importer" >/dev/null
  q postgres "CREATE ROLE faults_twin_importer LOGIN IN ROLE pg_read_server_files" >/dev/null
  q $db "GRANT SELECT ON midipipe_files, midipipe_runs TO faults_twin_importer" >/dev/null
  run=$(timeout 300 psql -X -q -At -U faults_twin_importer -d $db \
    -c "SET statement_timeout = '120s'" -c "SELECT midipipe_import('$T', workers => 2)" 2>&1 | tail -n 1)
  [[ $run =~ ^[0-9]+$ ]] || { fail "midipipe_import by a member of pg_read_server_files returned a run id ($run)"; return; }
  is "$(run_state $db "$run")" completed "the run completed"
  check_counts $db "$run" 14
  is "$(q $db "SELECT count(*) FROM midipipe_files")" 14 "14 entries, 14 rows: no row lost to an escaped name"
  is "$(q $db "SELECT status IN ('ok', 'duplicate') FROM midipipe_files WHERE path = '$T/$lit'")" t \
    "the file literally named $lit is imported under its own name"
  is "$(q $db "SELECT status IN ('ok', 'duplicate') FROM midipipe_files WHERE path = '$T/dir\\xFF/in.mid'")" t \
    "a valid directory name with a backslash is kept as it is"
  is "$(q $db "SELECT count(*) FROM midipipe_files WHERE error_code = 'bad_file_name' AND path LIKE '$T/%' AND path <> '$T/$lit' AND path <> '$T/dir\\xFF/in.mid'")" 2 \
    "the two invalid names have bad_file_name rows of their own under the root"
  note "$(q $db "SELECT string_agg(path || ' ' || status, ' | ' ORDER BY path) FROM midipipe_files WHERE path LIKE '%bad%' OR path LIKE '%dir%'")"
}

# 10c (issue 13, finding 7). A stopped worker (SIGSTOP) is seen: 'stalled' in midipipe_stats with
# stalled_since, a LOG line naming its pid and file; the run's other worker goes on, and
# midipipe_cancel ends the run while the worker is still stopped. After SIGCONT the worker
# leaves the cancelled run and nothing is lost.
# The worker is stopped while the engine analyses a slow file (crafted.py at the event limit,
# about a second of analysis), never at a random moment: a process stopped while it holds one of
# the server's own LWLocks (a WAL insertion lock, ProcArrayLock) stops every other process that
# needs it, whatever the extension does; the scenario hung that way in 2 of about 10 runs.
s_stalled_worker() {
  local db=faults_stall run row pid st d1 d2 i left T=$WORK/t_stall nslow=6 path p2
  make_tree "$T_KILL" "$N_KILL" 0 || { fail "make_tree"; return; }
  # (next to the first folder of the tree: reached early, with most of the run left to claim)
  rm -rf "$T" && cp -al "$T_KILL" "$T" && mkdir -p "$T/d0000-slow" || { fail "tree $T"; return; }
  for i in $(seq 1 $nslow); do
    "$PY" "$HERE/crafted.py" "$T/d0000-slow/slow_$i.mid" $((MAXEV - 10)) "$i" || { fail "crafted file"; return; }
  done
  chmod -R a+rX "$T"
  fresh_db $db || { fail "create database $db"; return; }
  qs postgres "DROP ROLE IF EXISTS faults_stall_importer" >/dev/null
  qs postgres "DROP ROLE IF EXISTS faults_nopriv" >/dev/null
  q postgres "CREATE ROLE faults_stall_importer LOGIN IN ROLE pg_read_server_files; CREATE ROLE faults_nopriv LOGIN" >/dev/null
  q $db "GRANT SELECT ON midipipe_files, midipipe_runs TO faults_stall_importer" >/dev/null
  qerr postgres - 30 "ALTER SYSTEM SET midipipe.stall_timeout = '3s'" | grep -v '^OK$' | sed 's/^/    # /'
  q postgres "SELECT pg_reload_conf()" >/dev/null
  run=$(timeout 60 psql -X -q -At -U faults_stall_importer -d $db \
    -c "SELECT midipipe_import('$T', workers => 2, wait => false)" 2>&1 | tail -n 1)
  [[ $run =~ ^[0-9]+$ ]] || { fail "import by a member of pg_read_server_files ($run)"; return; }
  row=$(wait_inflight $db "$run" 200 120)
  check "run $run in flight ($row)" test $? -eq 0
  for i in $(seq 1 60); do
    [[ $(qs $db "SELECT count(*) FROM midipipe_stats WHERE run_id = $run AND state IN ('busy', 'checkout', 'yielding')") == 2 ]] && break
    sleep 0.5
  done
  is "$(qs $db "SELECT count(*) FROM midipipe_stats WHERE run_id = $run")" 2 "the run has its 2 workers"
  # a worker inside the engine on a slow file: the same file seen twice 0.2 s apart
  pid=""
  for i in $(seq 1 600); do
    IFS='|' read -r pid path <<<"$(qs $db "SELECT pid, current_path FROM midipipe_stats WHERE run_id = $run
                                    AND state = 'busy' AND current_path LIKE '%-slow/slow_%' LIMIT 1")"
    if [[ -n $pid ]]; then
      sleep 0.2
      p2=$(qs $db "SELECT current_path FROM midipipe_stats WHERE pid = $pid")
      [[ $p2 == "$path" ]] && break
    fi
    pid=""
    sleep 0.1
  done
  [[ -n $pid ]] || { fail "a worker analysing a slow file"; return; }
  local mark
  mark=$(log_size)
  kill -STOP "$pid"
  ALLOWED_PIDS+=("$pid")
  note "SIGSTOP worker pid $pid (analysing $path)"
  st=""
  for i in $(seq 1 40); do
    st=$(timeout 30 psql -X -At -U faults_nopriv -d $db -c "SELECT state || ' ' || (stalled_since IS NOT NULL) FROM midipipe_stats WHERE pid = $pid" 2>&1)
    [[ $st == "stalled true" ]] && break
    sleep 0.5
  done
  is "$st" "stalled true" "the stopped worker shows as 'stalled' with stalled_since (seen by a role without privileges)"
  check "the supervisor logged the stall with the worker's pid and its file" \
    log_has "$mark" "midipipe: worker [0-9]+ \(pid $pid\) .*no progress.*file \"/"
  d1=$(qs $db "SELECT files_done FROM midipipe_progress WHERE run_id = $run")
  # (the files left to claim: the stopped worker's batch holds rows of the run, row-locked by its
  # open transaction, which the claim skips)
  left=$(qs $db "SELECT count(*) FROM (SELECT 1 FROM midipipe_queue WHERE run_id = $run AND NOT done
                                       FOR UPDATE SKIP LOCKED) s")
  sleep 5
  d2=$(qs $db "SELECT files_done FROM midipipe_progress WHERE run_id = $run")
  figure "10c other worker while one is stopped: $d1 -> $d2 files in 5 s, $left free to claim"
  if ((left > 0)); then
    check "the run's other worker goes on while one is stopped ($d1 -> $d2 files in 5 s)" test "${d2:-0}" -gt "${d1:-0}"
  fi
  is "$(qerr $db faults_stall_importer 30 "SELECT midipipe_cancel($run)")" OK "midipipe_cancel by the run's role"
  is "$(wait_run $db "$run" 20)" cancelled "the run ends as cancelled within 20 s although a worker is stopped"
  kill -CONT "$pid"
  note "SIGCONT worker pid $pid"
  for i in $(seq 1 60); do
    [[ $(qs $db "SELECT count(*) FROM midipipe_queue WHERE run_id = $run") == 0 &&
      $(qs $db "SELECT count(*) FROM midipipe_stats WHERE pid = $pid AND (state = 'stalled' OR run_id IS NOT NULL)") == 0 ]] && break
    sleep 0.5
  done
  # Reported, not asserted, for the same reason (a held-up batch's rows have stayed behind).
  note "after SIGCONT the cancelled run's manifest holds $(qs $db "SELECT count(*) FROM midipipe_queue WHERE run_id = $run") rows"
  is "$(qs $db "SELECT count(*) FROM midipipe_stats WHERE pid = $pid AND (state = 'stalled' OR run_id IS NOT NULL)")" 0 \
    "after SIGCONT the worker is no longer stalled and has left the run"
  for i in $(seq 1 20); do # the supervisor looks once a second
    log_has "$mark" "midipipe: worker [0-9]+ \(pid $pid\) .*progress again" && break
    sleep 0.5
  done
  check "the supervisor logged that the worker moves again" \
    log_has "$mark" "midipipe: worker [0-9]+ \(pid $pid\) .*progress again"
  local c found ok dup unch failed rows
  c=$(run_counts $db "$run")
  read -r found ok dup unch failed rows <<<"$c"
  check "the cancelled run's committed counts match its rows, none twice ($c)" \
    test -n "$c" -a "$((ok + dup + unch + failed))" = "$rows" -a "$rows" = "$(q $db "SELECT count(DISTINCT path) FROM midipipe_files")"
  local run2
  run2=$(q $db "SET statement_timeout = '300s'; SELECT midipipe_import('$T', workers => 2)" 2>&1 | tail -n 1)
  is "$(run_state $db "${run2//[^0-9]/0}")" completed "a new import of the tree completes"
  is "$(q $db "SELECT count(*) FROM midipipe_files")" "$((N_KILL + nslow))" "every file has one row"
  q postgres "ALTER SYSTEM RESET midipipe.stall_timeout" >/dev/null
  q postgres "SELECT pg_reload_conf()" >/dev/null
}

scenario "1 hostile files" s_hostile
scenario "2a kill: SIGKILL an analysis worker" s_kill_sigkill
scenario "2b kill: SIGTERM an analysis worker" s_kill_sigterm
scenario "2c kill: pg_ctl restart -m fast" s_restart_fast
scenario "2d kill: pg_ctl restart -m immediate" s_restart_immediate
scenario "3a tree: files deleted, truncated, replaced, added during a run" s_tree_changes
scenario "3b tree: an unreadable directory" s_unreadable_dir
scenario "3c tree: symlink loops (follow_symlinks)" s_symlink_loop
scenario "3d tree: paths longer than PATH_MAX" s_deep_path
scenario "3e tree: file names not valid UTF-8" s_non_utf8
scenario "4a pool: DROP/CREATE EXTENSION warm and during a run" s_drop_create
scenario "4b pool: two runs on overlapping trees" s_overlap
scenario "4c pool: workers => 1000" s_workers_1000
scenario "4d pool: max_worker_processes nearly exhausted" s_max_worker_processes
scenario "4e pool: midipipe_pool_stop during a run" s_pool_stop
scenario "4f pool: SIGHUP changing every pool GUC mid-run" s_sighup
scenario "4g pool: import(wait) holding locks the workers need" s_lock_wait
scenario "5 privileges" s_privileges
scenario "6 load beside OLTP (pgbench)" s_pgbench
scenario "7 memory of a worker" s_memory
scenario "8 packaging: pg_dump/restore, a LATIN1 database, no preload" s_packaging
scenario "9a bounds: midipipe_analyze of a crafted file (cancel, timeout, terminate, limit)" s_bounds_analyze
scenario "9b bounds: a crafted file in a pool worker (limit, midipipe_cancel, cancel, terminate)" s_bounds_worker
scenario "10a issue 13: DROP DATABASE / RENAME / ALLOW_CONNECTIONS with a warm pool" s_drop_database
scenario "10b issue 13: an invalid name beside a file named as its escaped form" s_escaped_twin
scenario "10c issue 13: a stopped worker is seen as stalled; cancel still ends the run" s_stalled_worker

# leave the server as found: no warm pools in the suite's databases, default settings
q postgres "ALTER SYSTEM RESET ALL" >/dev/null 2>&1
q postgres "SELECT pg_reload_conf()" >/dev/null 2>&1
if ((OWN_CLUSTER)) && [[ ${MIDIPIPE_KEEP_CLUSTER:-0} != 1 ]]; then
  bash "$CLUSTER_SH" stop "$CLUSTER_DIR" >/dev/null 2>&1
fi

echo "# ---- summary (scale $SCALE, $((SECONDS - T_ALL)) s)"
printf '#   %s\n' "${SUMMARY[@]}"
((${#FIGURES[@]})) && printf '# FIGURE %s\n' "${FIGURES[@]}"
echo "faults: $N_PASS passed, $N_FAIL failed"
((N_FAIL == 0 && N_PASS > 0))
