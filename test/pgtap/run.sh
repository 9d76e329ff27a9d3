#!/bin/bash
# midipipe pgTAP suites: import behaviour on a copy of the test corpus (test/corpus, or
# MIDIPIPE_CORPUS).
#
#   test/pgtap/run.sh            (PGHOST, PGPORT, PGUSER as for psql; default /tmp, 5432, postgres)
#
# Needs a running server with shared_preload_libraries = 'midipipe', the
# extension installed (make install), pgTAP, and the CLI (built here with CMake
# into $MIDIPIPE_BUILD, default build/, when missing). Prepares
#   /tmp/midipipe-tap/corpus   a copy of the corpus (the tests change files in it)
#   /tmp/midipipe-tap/big      six more copies (runs long enough to cancel, recycle)
#   /tmp/midipipe-tap/cli.jsonl  the CLI's analysis of every file of the copy
# loads them into schema tap of database midipipe_tap, runs pg_prove, and
# fails when the server log gained a "terminated by signal" line.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export PGHOST=${PGHOST:-/tmp} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=${MIDIPIPE_TAP_DB:-midipipe_tap}
CORPUS=${MIDIPIPE_CORPUS:-$ROOT/test/corpus}
BUILD=${MIDIPIPE_BUILD:-${MIDIPIPE_BUILD_DIR:-$ROOT/build}}
WORK=${MIDIPIPE_TAP_DIR:-/tmp/midipipe-tap}
PSQL=(psql -X -q -v ON_ERROR_STOP=1)

CLI=${MIDIPIPE_CLI:-$BUILD/midipipe-analyze}
if [ ! -x "$CLI" ]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" -j2 --target midipipe-analyze >/dev/null
fi

[ -d "$CORPUS/edge" ] || { echo "pgtap: corpus not found at $CORPUS" >&2; exit 1; }
rm -rf "$WORK" && mkdir -p "$WORK/big"
cp -r "$CORPUS" "$WORK/corpus"
for i in 1 2 3 4 5 6; do cp -r "$CORPUS" "$WORK/big/c$i"; done
chmod -R a+rwX "$WORK"
# the files a scan must find (regular files and the names the SPEC lists)
(cd "$WORK/corpus" && find "$WORK/corpus" -type f -regextype posix-extended \
   -iregex '.*\.(mid|midi|kar|rmi|smf)$' | LC_ALL=C sort) > "$WORK/files.txt"
"$CLI" "$WORK/corpus" > "$WORK/cli.jsonl"
# content search (06_content.sql): variants of corpus files, melody excerpts, hand-made progressions
/usr/bin/python3 "$ROOT/test/content/content_files.py" variants "$CORPUS" "$WORK/content/variants"
/usr/bin/python3 "$ROOT/test/content/content_files.py" excerpts "$WORK/content/variants" 100
/usr/bin/python3 "$ROOT/test/content/content_files.py" progressions "$WORK/content/hand"
chmod -R a+rwX "$WORK/content"
# 05_queue.sql: 200 copies of one content no other test imports (two workers store it at once)
mkdir -p "$WORK/same"
/usr/bin/python3 - "$WORK/same" <<'PY'
import struct, sys
notes = bytes([0x00, 0x90, 61, 90, 0x60, 0x80, 61, 0, 0x00, 0x90, 66, 90, 0x83, 0x00, 0x80, 66, 0])
trk = notes + bytes([0x00, 0xFF, 0x2F, 0x00])
data = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 96) + b"MTrk" + struct.pack(">I", len(trk)) + trk
for i in range(200):
    open(f"{sys.argv[1]}/copy{i:03d}.mid", "wb").write(data)
PY
chmod -R a+rwX "$WORK/same"
echo "pgtap: corpus $CORPUS: $(wc -l < "$WORK/files.txt") MIDI files to import (CLI: $(wc -l < "$WORK/cli.jsonl") analyses), $WORK/big: 6 more copies"

"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
"${PSQL[@]}" -d "$DB" <<SQL
CREATE EXTENSION pgtap;
CREATE EXTENSION midipipe;
-- the CLI computes the depth fields: so do this database's imports (the default)
CREATE SCHEMA tap;
CREATE TABLE tap.expected_files (path text PRIMARY KEY);
COPY tap.expected_files FROM '$WORK/files.txt';
CREATE TABLE tap.cli (j jsonb);
COPY tap.cli FROM '$WORK/cli.jsonl' WITH (FORMAT csv, QUOTE e'\x01', DELIMITER e'\x02');
CREATE TABLE tap.ctx (key text PRIMARY KEY, value text);
-- waits (at most \$2 seconds) until the SQL condition \$1 is true; returns whether it became true
CREATE FUNCTION tap.wait_for(cond text, seconds int DEFAULT 10) RETURNS boolean LANGUAGE plpgsql AS \$\$
DECLARE ok boolean;
BEGIN
  FOR i IN 1 .. seconds * 20 LOOP
    EXECUTE 'SELECT ' || cond INTO ok;
    IF ok THEN RETURN true; END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RETURN false;
END \$\$;
INSERT INTO tap.ctx VALUES ('work', '$WORK');
SQL

LOG=$("${PSQL[@]}" -d "$DB" -Atc "SELECT CASE WHEN pg_current_logfile() IS NULL THEN '' ELSE current_setting('data_directory') || '/' || pg_current_logfile() END")
LOG=${MIDIPIPE_SERVER_LOG:-$LOG}
before=0
if [ -n "$LOG" ] && [ -r "$LOG" ]; then before=$(grep -c "terminated by signal" "$LOG" || true); fi

status=0
pg_prove -d "$DB" "$ROOT"/test/pgtap/[0-9]*.sql || status=$?

"${PSQL[@]}" -d "$DB" -c "SELECT midipipe_pool_stop()" >/dev/null || true
if [ -n "$LOG" ] && [ -r "$LOG" ]; then
  after=$(grep -c "terminated by signal" "$LOG" || true)
  if [ "$after" != "$before" ]; then
    echo "server log $LOG: $((after - before)) new 'terminated by signal' line(s)"; status=1
  else
    echo "server log $LOG: no process terminated by a signal"
  fi
else
  echo "server log not found: set MIDIPIPE_SERVER_LOG (the signal check is part of the suite)" >&2
  status=1
fi
exit $status
