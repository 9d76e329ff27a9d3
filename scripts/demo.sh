#!/usr/bin/env bash
# The demo: build and install midipipe, start a throwaway cluster, import a MIDI folder on the
# worker pool while showing live progress, then answer a few questions about the music.
#
#   bash scripts/demo.sh [MIDI_DIR]
#
# MIDI_DIR defaults to the bundled samples/ folder (51 files, some deliberately malformed).
# The cluster is left running; the script prints how to connect and how to stop it.
# Knobs (environment): MIDIPIPE_PORT (5499), MIDIPIPE_DEMO_WORKERS (2),
# MIDIPIPE_CLUSTER_DIR (<checkout>/.cluster, or /tmp/midipipe-demo-UID/cluster when the
# postgres user cannot reach the checkout), MIDIPIPE_DEMO_TIMEOUT (seconds, 1800).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

src=${1:-$root/samples}
[[ -d $src ]] || {
  echo "demo: '$src' is not a directory" >&2
  exit 2
}
src=$(cd "$src" && pwd)
workers=${MIDIPIPE_DEMO_WORKERS:-2}
port=${MIDIPIPE_PORT:-5499}
timeout=${MIDIPIPE_DEMO_TIMEOUT:-1800}
db=midipipe_demo
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
[[ -x $PG_CONFIG ]] || PG_CONFIG=$(command -v pg_config || echo pg_config)

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }

SUDO=()
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi
# Can the server's user (postgres when we are root, else ourselves) read PATH?
server_can_read() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- test -r "$1" -a -x "$1"
  else
    test -r "$1" -a -x "$1"
  fi
}

bold "1/5 packages (scripts/install-deps.sh --build-only)"
bash "$root/scripts/install-deps.sh" --build-only

bold "2/5 build and install the extension (make && make install)"
make -C "$root" -s -j2 PG_CONFIG="$PG_CONFIG"
"${SUDO[@]}" make -C "$root" -s install PG_CONFIG="$PG_CONFIG"
echo "installed $("$PG_CONFIG" --pkglibdir)/midipipe.so"

bold "3/5 throwaway cluster (scripts/cluster.sh)"
scratch=/tmp/midipipe-demo-$(id -u)
cluster=${MIDIPIPE_CLUSTER_DIR:-}
if [[ -z $cluster ]]; then
  cluster=$root/.cluster
  if [[ ! -d $cluster ]] && ! server_can_read "$root"; then
    cluster=$scratch/cluster
    echo "the postgres user cannot reach $root: using $cluster for the cluster"
  fi
fi
bash "$root/scripts/cluster.sh" start "$cluster" "$port"
set -a
# shellcheck disable=SC1091
. "$cluster/cluster.env"
set +a
export PGDATABASE=$db

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_one() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

if [[ $(psql_one -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = '$db'") == 0 ]]; then
  psql_q -d postgres -c "CREATE DATABASE $db"
fi
psql_q -c "CREATE EXTENSION IF NOT EXISTS midipipe"

# The MIDI folder must be readable by the server process.
if server_can_read "$src"; then
  dir=$src
else
  dir=$scratch/midi
  rm -rf "$dir"
  mkdir -p "$scratch"
  chmod 0755 "$scratch"
  cp -R "$src" "$dir"
  chmod -R u+w,a+rX "$dir"
  echo "copied $src to $dir (the server cannot read the original)"
fi
nfiles=$(find "$dir" -type f \( -iname '*.mid' -o -iname '*.midi' -o -iname '*.kar' -o -iname '*.rmi' -o -iname '*.smf' \) | wc -l)

bold "4/5 import $dir ($nfiles MIDI files) with $workers worker(s)"
echo "-- the whole analysis by default: chords, drums, performance, structure included"
echo "SELECT midipipe_import('$dir', workers => $workers, wait => false);"
run=$(psql_one -v dir="$dir" -v workers="$workers" <<'SQL'
SELECT midipipe_import(:'dir', workers => :workers, wait => false);
SQL
)
[[ $run =~ ^[0-9]+$ ]] || {
  echo "demo: midipipe_import returned '$run'" >&2
  exit 1
}
echo "run_id = $run"
trap 'echo; echo "cancelling run $run"; psql_one -c "SELECT midipipe_cancel($run)" >/dev/null; exit 130' INT TERM

progress_sql="SELECT format('run %s %-9s %s/%s files  %s failed  %s MB  %s files/s  elapsed %s  ETA %s  | workers: %s',
    p.run_id, p.state, p.files_done, p.files_found, p.files_failed,
    round(p.bytes_read / 1e6, 1), coalesce(round(p.files_per_sec::numeric, 0)::text, '-'),
    coalesce(to_char(p.elapsed, 'HH24:MI:SS'), '-'), coalesce(to_char(p.eta, 'HH24:MI:SS'), '-'),
    coalesce((SELECT string_agg(n || ' ' || state, ', ' ORDER BY state)
                FROM (SELECT state, count(*) AS n FROM midipipe_stats WHERE run_id = p.run_id
                      GROUP BY state) s), 'none assigned'))
  FROM midipipe_progress p WHERE p.run_id = $run"
stats_sql="SELECT worker_id, pid, state, run_id, files_done, bytes_read, errors, checkouts,
                  checks_failed, date_trunc('second', now() - started_at) AS up
             FROM midipipe_stats ORDER BY worker_id"

t0=$SECONDS
shown_stats=no
state=queued
while :; do
  line=$(psql_one -c "$progress_sql" 2>/dev/null || true)
  printf '\r\033[K%s' "${line:-run $run: $state}"
  case "$state" in
    completed | cancelled | failed) break ;;
  esac
  if [[ $shown_stats == no && $state == running ]]; then
    # One snapshot of the pool while it works (the progress line keeps updating below).
    echo
    psql_q -c "$stats_sql"
    shown_stats=yes
  fi
  if ((SECONDS - t0 > timeout)); then
    echo
    echo "demo: run $run still '$state' after ${timeout}s; cancelling" >&2
    psql_one -c "SELECT midipipe_cancel($run)" >/dev/null || true
    exit 1
  fi
  # midipipe_wait returns the run's final state at once, or its current one after 0.5 s.
  if ! state=$(psql_one -c "SELECT midipipe_wait($run, interval '0.5 s')" 2>&1); then
    echo "demo: midipipe_wait failed: $state" >&2
    state=$(psql_one -c "SELECT state FROM midipipe_runs WHERE run_id = $run" || true)
    sleep 0.5
  fi
done
echo
trap - INT TERM

bold "pool after the run (midipipe_stats): the workers stay warm"
psql_q -c "$stats_sql"

bold "5/5 results"
echo "-- the run (midipipe_runs)"
psql_q -x -c "SELECT run_id, state, root, workers_requested, workers_granted, files_found, files_ok,
                     files_duplicate, files_unchanged, files_failed, bytes_read,
                     finished_at - started_at AS took,
                     round(files_found / greatest(extract(epoch FROM finished_at - started_at), 0.001), 1)
                       AS files_per_sec,
                     error
                FROM midipipe_runs WHERE run_id = $run"

dir_sql=${dir//\'/\'\'}
# This folder's files; a duplicate's analysis is its original's.
q_common="WITH mine AS (
  SELECT f.*, substr(f.path, length('$dir_sql') + 2) AS rel,
         coalesce(f.duplicate_of, f.file_id) AS content_id FROM midipipe_files f
   WHERE starts_with(f.path, '$dir_sql/'))"

echo "-- key distribution (detected from the notes; drums excluded)"
psql_q -c "$q_common
SELECT coalesce(a.key, '(none: no pitched notes)') AS key, count(*) AS files,
       round(avg(a.key_confidence)::numeric, 2) AS mean_confidence
  FROM mine JOIN midipipe_analysis a ON a.file_id = mine.content_id
 GROUP BY 1 ORDER BY files DESC, key LIMIT 15"

echo "-- tempo ranges (tempo in force at tick 0)"
psql_q -c "$q_common
SELECT CASE WHEN tempo_bpm < 76 THEN '1: < 76 (slow)'
            WHEN tempo_bpm < 108 THEN '2: 76-107'
            WHEN tempo_bpm < 156 THEN '3: 108-155'
            ELSE '4: >= 156 (fast)' END AS tempo_bpm,
       count(*) AS files, round(min(tempo_bpm)::numeric, 1) AS min,
       round(max(tempo_bpm)::numeric, 1) AS max,
       sum((tempo_changes > 0)::int) AS with_tempo_changes
  FROM mine JOIN midipipe_analysis a ON a.file_id = mine.content_id
 GROUP BY 1 ORDER BY 1"

echo "-- the 5 longest pieces"
psql_q -c "$q_common
SELECT rel AS file, to_char(make_interval(secs => a.duration_seconds), 'HH24:MI:SS') AS duration,
       a.note_count AS notes, round(a.tempo_bpm::numeric, 1) AS bpm, a.key, a.ntracks AS tracks
  FROM mine JOIN midipipe_analysis a ON a.file_id = mine.content_id
 ORDER BY a.duration_seconds DESC NULLS LAST LIMIT 5"

echo "-- the most common chords (one per span of a root, drums excluded)"
psql_q -c "$q_common
SELECT e.name AS chord, count(*) AS occurrences, count(DISTINCT e.file_id) AS files
  FROM (SELECT DISTINCT content_id FROM mine) m
  JOIN midipipe_chord_events e ON e.file_id = m.content_id
 WHERE e.name <> 'N' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10"

echo "-- drum parts (channel 10 only): feel, loop length, ghost notes"
psql_q -c "$q_common
SELECT rel AS file, a.drum_feel AS feel, round(a.swing_ratio::numeric, 2) AS swing,
       a.drum_pattern_bars AS pattern_bars, a.drum_loops AS loops, a.ghost_notes,
       (a.drum_counts->>'kick')::int AS kicks, (a.drum_counts->>'snare')::int AS snares
  FROM mine JOIN midipipe_analysis a ON a.file_id = mine.content_id
 WHERE a.has_drums ORDER BY a.drum_note_count DESC LIMIT 8"

echo "-- bad files, and why (first 25)"
psql_q -c "$q_common
SELECT rel AS file, error_code, error_offset, left(error_message, 70) AS error_message
  FROM mine WHERE status = 'error' ORDER BY rel LIMIT 25"

echo "-- duplicates (same bytes under another name; first 10)"
psql_q -c "$q_common
SELECT mine.rel AS file, o.path AS duplicate_of, count(*) OVER () AS duplicates_in_total
  FROM mine JOIN midipipe_files o ON o.file_id = mine.duplicate_of
 WHERE mine.status = 'duplicate' ORDER BY 1 LIMIT 10"

bold "the cluster is still running"
echo "connect:  psql -h $PGHOST -p $PGPORT -U $PGUSER -d $db"
echo "    or:   bash scripts/cluster.sh psql $cluster -- -d $db"
if [[ $cluster == "$root/.cluster" ]]; then
  echo "stop it:  bash scripts/cluster.sh stop"
else
  echo "stop it:  bash scripts/cluster.sh stop $cluster"
fi
echo "server log: $cluster/server.log"
