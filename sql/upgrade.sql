-- Version 0.4 reached two ways: a fresh CREATE EXTENSION (the 0.1 script plus
-- the 0.1--0.2, 0.2--0.3 and 0.3--0.4 updates) and an ALTER EXTENSION ... UPDATE of a
-- 0.1 install. A 0.1 schema is refused by the library with a clear error,
-- never written wrongly; so is a 0.2 schema (0.4 added the content search
-- columns), which is written once ALTER EXTENSION ... UPDATE ran. Then split_tracks and midipipe_split() on a
-- two-track file made here.
SET client_min_messages = warning;
SET midipipe.analysis_depth = on;
SELECT extversion FROM pg_extension WHERE extname = 'midipipe';
CREATE TEMP TABLE fresh AS
  SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
   WHERE c.relname LIKE 'midipipe%' AND c.relkind IN ('r', 'v') AND a.attnum > 0
     AND NOT a.attisdropped;
CREATE TEMP TABLE fresh_options AS
  SELECT c.relname, c.reloptions FROM pg_class c
   WHERE c.relname LIKE 'midipipe%' AND c.relkind = 'r';
SELECT relname, reloptions FROM fresh_options WHERE reloptions IS NOT NULL ORDER BY 1;

DROP EXTENSION midipipe;
CREATE EXTENSION midipipe VERSION '0.1';
SELECT extversion FROM pg_extension WHERE extname = 'midipipe';
-- a 0.1 schema: the run fails with the version error (the caller sees it)
COPY (SELECT 1) TO PROGRAM 'cat >/dev/null; rm -rf /tmp/midipipe_upgrade && mkdir -p /tmp/midipipe_upgrade';
CREATE TEMP TABLE bytes (name text PRIMARY KEY, data bytea);
INSERT INTO bytes VALUES
  -- format 1, PPQ 96: a conductor track (120 bpm, 60 bpm from tick 96) and two
  -- tracks with notes (one note of 192 ticks; two notes ending at tick 256)
  ('two', decode('4d546864000000060001000300604d54726b0000001200ff510307a12060ff51030f424000ff2f00'
                 || '4d54726b0000000d00903c648140803c0000ff2f00'
                 || '4d54726b000000146091406460814000009143644081430000ff2f00', 'hex'));
SELECT (midipipe_analyze(data)->>'note_count')::int AS notes, midipipe_analyze(data)->>'error_code' AS err
  FROM bytes;
CREATE FUNCTION pg_temp.put(name text, path text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  o oid := lo_from_bytea(0, (SELECT data FROM bytes b WHERE b.name = put.name));
BEGIN
  PERFORM lo_export(o, '/tmp/midipipe_upgrade/' || put.path);
  PERFORM lo_unlink(o);
END $$;
SELECT pg_temp.put('two', 'two.mid');
DO $$
BEGIN
  PERFORM midipipe_import('/tmp/midipipe_upgrade', workers => 1);
  RAISE EXCEPTION 'the import of a 0.1 schema did not fail';
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'import into a 0.1 schema: %', regexp_replace(SQLERRM, 'run [0-9]+', 'run N');
END $$;

ALTER EXTENSION midipipe UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'midipipe';
-- the updated schema is the fresh one, column for column
SELECT 'only fresh' AS side, * FROM (TABLE fresh EXCEPT
  SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
   WHERE c.relname LIKE 'midipipe%' AND c.relkind IN ('r', 'v') AND a.attnum > 0
     AND NOT a.attisdropped) s
UNION ALL
SELECT 'only updated', * FROM (
  SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
   WHERE c.relname LIKE 'midipipe%' AND c.relkind IN ('r', 'v') AND a.attnum > 0
     AND NOT a.attisdropped
  EXCEPT TABLE fresh) s;
-- and the same storage parameters
SELECT f.relname, f.reloptions AS fresh, c.reloptions AS updated
  FROM fresh_options f JOIN pg_class c ON c.relname = f.relname AND c.relkind = 'r'
 WHERE f.reloptions IS DISTINCT FROM c.reloptions;

-- split_tracks: one format-0 file per track with notes, carrying the tempo map
SELECT midipipe_import('/tmp/midipipe_upgrade', workers => 1, split_tracks => true) IS NOT NULL AS imported;
SELECT f.status, a.ntracks, a.note_count FROM midipipe_files f JOIN midipipe_analysis a USING (file_id);
SELECT t.track_no, t.note_count, t.smf IS NOT NULL AS has_smf, sha256(t.smf) = t.smf_sha256 AS sha_ok,
       (midipipe_analyze(t.smf)->>'format')::int AS split_format,
       (midipipe_analyze(t.smf)->>'note_count')::int AS split_notes,
       (midipipe_analyze(t.smf)->>'duration_seconds')::float8 AS split_seconds,
       (midipipe_analyze(t.smf)->>'tempo_changes')::int AS split_tempo_changes
  FROM midipipe_tracks t ORDER BY t.track_no;
-- midipipe_split() recomputes the same files
CREATE TEMP TABLE before AS SELECT track_no, smf_sha256 FROM midipipe_tracks;
UPDATE midipipe_tracks SET smf = NULL, smf_sha256 = NULL;
SELECT midipipe_split(file_id) AS split FROM midipipe_files;
SELECT count(*) AS same_split FROM midipipe_tracks t JOIN before b USING (track_no)
 WHERE t.smf_sha256 IS NOT DISTINCT FROM b.smf_sha256;
-- midipipe.analysis_depth = off: the run records it and leaves the depth columns NULL
SELECT a.distinct_chords IS NOT NULL AS depth_before, c.file_id IS NOT NULL AS chords_before
  FROM midipipe_analysis a LEFT JOIN midipipe_chords c USING (file_id);
SET midipipe.analysis_depth = off;
UPDATE midipipe_files SET mtime = NULL;  -- read again
SELECT midipipe_import('/tmp/midipipe_upgrade', workers => 1) AS nodepth \gset
SET midipipe.analysis_depth = on;
SELECT options->>'analysis_depth' AS recorded FROM midipipe_runs WHERE run_id = :nodepth;
SELECT a.note_count, a.distinct_chords IS NULL AS no_chords, a.drum_counts IS NULL AS no_drums,
       a.bar_count IS NULL AS no_bars, c.file_id IS NULL AS no_chord_row
  FROM midipipe_analysis a LEFT JOIN midipipe_chords c USING (file_id);
-- privileges: a role without pg_read_server_files cannot split
CREATE ROLE midipipe_upgrade_nobody;
GRANT SELECT ON midipipe_files TO midipipe_upgrade_nobody;
SET ROLE midipipe_upgrade_nobody;
DO $$
BEGIN
  PERFORM midipipe_split(file_id) FROM midipipe_files;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE WARNING 'midipipe_split without pg_read_server_files: %', SQLSTATE;
END $$;
RESET ROLE;
DROP OWNED BY midipipe_upgrade_nobody;
DROP ROLE midipipe_upgrade_nobody;
-- a 0.2 schema: refused (its tables lack the 0.4 content columns), then
-- updated and imported into (a C major triad held for a bar: a chord row)
DROP EXTENSION midipipe;
CREATE EXTENSION midipipe VERSION '0.2';
INSERT INTO bytes VALUES
  ('triad', decode('4d546864000000060000000100604d54726b0000001d00903c640090406400904364'
                   || '8300803c0000804000008043000000ff2f00', 'hex'));
SELECT pg_temp.put('triad', 'triad.mid');
SELECT midipipe_import('/tmp/midipipe_upgrade', workers => 1) IS NOT NULL AS imported;
SELECT state, files_ok FROM midipipe_runs ORDER BY run_id DESC LIMIT 1;
SELECT f.path, c.names, c.qualities FROM midipipe_chords c JOIN midipipe_files f USING (file_id)
 ORDER BY 1;
ALTER EXTENSION midipipe UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'midipipe';
SELECT reloptions FROM pg_class WHERE relname = 'midipipe_chords';
SELECT midipipe_import('/tmp/midipipe_upgrade', workers => 1) IS NOT NULL AS imported;
SELECT f.path, c.names, c.qualities, a.progression FROM midipipe_chords c
  JOIN midipipe_files f USING (file_id) JOIN midipipe_analysis a USING (file_id) ORDER BY 1;
-- a 0.3 schema: its 13-column midipipe_stats is served by this library (with a
-- worker in it), and the update to 0.4 adds last_progress and stalled_since
DROP EXTENSION midipipe;
CREATE EXTENSION midipipe VERSION '0.3';
SELECT midipipe_pool_start(1) AS started;
SELECT count(*) AS workers_0_3 FROM midipipe_stats WHERE database = current_database();
ALTER EXTENSION midipipe UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'midipipe';
SELECT count(*) AS workers_0_4, bool_and(last_progress IS NOT NULL) AS has_progress,
       bool_and(stalled_since IS NULL AND state <> 'stalled') AS none_stalled
  FROM midipipe_stats WHERE database = current_database();
-- leave the database as pg_regress made it, with no worker connected to it
SELECT midipipe_pool_stop() >= 0 AS stopped;
DROP EXTENSION midipipe;
CREATE EXTENSION midipipe;
COPY (SELECT 1) TO PROGRAM 'cat >/dev/null; rm -rf /tmp/midipipe_upgrade';
