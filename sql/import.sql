-- midipipe_import end to end on files written here (lo_export), with
-- deterministic output only: no timings, pids or file_ids.
SET client_min_messages = warning;  -- the progress/summary NOTICEs carry timings
SET midipipe.analysis_depth = on;   -- compared with midipipe_analyze(), which computes depth
CREATE TEMP TABLE bytes (name text PRIMARY KEY, data bytea);
INSERT INTO bytes VALUES
  ('x', decode('4d54686400000006000000010060' || '4d54726b00000013'
               || '00ff510307a120' || '00903c64' || '60803c00' || '00ff2f00', 'hex')),
  -- two tracks, 3/4, a G and a B on channel 2, a drum hit
  ('y', decode('4d54686400000006000100020060'
               || '4d54726b00000013' || '00ff580403020818' || '00ff510307a120' || '00ff2f00'
               || '4d54726b00000021' || '00ff03024261' || '00c118' || '00914364' || '00914764'
               || '30994e50' || '30814300' || '00814700' || '00ff2f00', 'hex')),
  ('empty', ''::bytea),
  ('text', convert_to('hello, not a MIDI file', 'UTF8')),
  ('head', decode('4d54686400000006000000', 'hex'));

COPY (SELECT 1) TO PROGRAM 'cat >/dev/null; rm -rf /tmp/midipipe_regress && mkdir -p /tmp/midipipe_regress/sub && mkfifo /tmp/midipipe_regress/pipe.mid';
CREATE FUNCTION pg_temp.put(name text, path text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  o oid := lo_from_bytea(0, (SELECT data FROM bytes b WHERE b.name = put.name));
BEGIN
  PERFORM lo_export(o, '/tmp/midipipe_regress/' || put.path);
  PERFORM lo_unlink(o);
END $$;
SELECT pg_temp.put('x', 'a.mid'), pg_temp.put('x', 'b.mid'), pg_temp.put('y', 'sub/c.MIDI'),
       pg_temp.put('empty', 'empty.mid'), pg_temp.put('text', 'text.kar'),
       pg_temp.put('head', 'head.smf'), pg_temp.put('text', 'notes.txt');

SELECT midipipe_import('/tmp/midipipe_regress', workers => 2) AS run1 \gset

-- the run: every file found ends as one row, and the counts add up
SELECT state, files_found, files_ok, files_duplicate, files_unchanged, files_failed,
       files_ok + files_duplicate + files_unchanged + files_failed = files_found AS adds_up,
       bytes_read, scan_done, error, options->>'recursive' AS recursive
  FROM midipipe_runs WHERE run_id = :run1;
CREATE VIEW pg_temp.files AS
SELECT replace(f.path, '/tmp/midipipe_regress/', '') AS path, f.status, f.error_code,
       f.error_offset, replace(d.path, '/tmp/midipipe_regress/', '') AS duplicate_of,
       f.size, f.error_message IS NOT NULL AS has_message
  FROM midipipe_files f LEFT JOIN midipipe_files d ON d.file_id = f.duplicate_of
 WHERE f.path LIKE '/tmp/midipipe_regress/%';
SELECT * FROM pg_temp.files ORDER BY path;

-- the content hash is SHA-256, as PostgreSQL's sha256() computes it
SELECT replace(f.path, '/tmp/midipipe_regress/', '') AS path, f.sha256 = sha256(b.data) AS same_sha256
  FROM midipipe_files f
  JOIN (VALUES ('a.mid', 'x'), ('b.mid', 'x'), ('sub/c.MIDI', 'y'), ('text.kar', 'text')) v(p, n)
    ON f.path = '/tmp/midipipe_regress/' || v.p
  JOIN bytes b ON b.name = v.n
 ORDER BY 1;

-- the stored analysis is exactly midipipe_analyze() of the same bytes
-- (the filename_* columns come from the path, which midipipe_analyze(bytea) has
-- not; the chords are compared as midipipe_chord_events rows)
CREATE VIEW pg_temp.same_as_analyze AS
SELECT replace(f.path, '/tmp/midipipe_regress/', '') AS path,
       (to_jsonb(a) - 'file_id' - ARRAY['filename_bpm', 'filename_key', 'filename_key_tonic',
         'filename_key_mode', 'filename_genres', 'filename_bpm_agrees', 'filename_key_agrees'])
         = (midipipe_analyze(b.data) - 'tracks' - 'warnings' - 'chords') AS same_analysis,
       (SELECT jsonb_agg(to_jsonb(t) - 'file_id' - 'smf' - 'smf_sha256' ORDER BY t.track_no)
          FROM midipipe_tracks t
         WHERE t.file_id = f.file_id) = midipipe_analyze(b.data)->'tracks' AS same_tracks,
       coalesce((SELECT jsonb_agg(jsonb_build_object('tick', e.tick, 'seconds', e.seconds,
                  'root', e.root, 'quality', e.quality, 'name', e.name) ORDER BY e.ord)
                   FROM midipipe_chord_events e WHERE e.file_id = f.file_id), '[]')
         = midipipe_analyze(b.data)->'chords' AS same_chords
  FROM midipipe_files f
  JOIN midipipe_analysis a USING (file_id)
  JOIN bytes b ON sha256(b.data) = f.sha256
 WHERE f.path LIKE '/tmp/midipipe_regress/%';
SELECT * FROM pg_temp.same_as_analyze ORDER BY 1;
SELECT a.format, a.ntracks, a.time_signature, a.note_count, a.drum_note_count, a.has_drums,
       a.channels, a.programs, a.instrument_families, a.track_names, a.title
  FROM midipipe_analysis a JOIN midipipe_files f USING (file_id)
 WHERE f.path = '/tmp/midipipe_regress/sub/c.MIDI';

-- the invariants: duplicates point at an ok row with the same content; only
-- ok rows have analysis rows, and each has one
CREATE VIEW pg_temp.broken AS
SELECT 'duplicate without its ok row' AS what, count(*) FROM midipipe_files f
 WHERE f.status = 'duplicate' AND NOT EXISTS (SELECT FROM midipipe_files o WHERE o.file_id = f.duplicate_of
                                                 AND o.status = 'ok' AND o.sha256 = f.sha256)
UNION ALL
SELECT 'analysis of a row that is not ok', count(*) FROM midipipe_analysis a JOIN midipipe_files f USING (file_id)
 WHERE f.status <> 'ok'
UNION ALL
SELECT 'ok row without analysis', count(*) FROM midipipe_files f
 WHERE f.status = 'ok' AND NOT EXISTS (SELECT FROM midipipe_analysis a WHERE a.file_id = f.file_id)
UNION ALL
SELECT 'tracks of a row that is not ok', count(*) FROM midipipe_tracks t JOIN midipipe_files f USING (file_id)
 WHERE f.status <> 'ok'
UNION ALL
SELECT 'manifest rows left', count(*) FROM midipipe_queue q JOIN midipipe_runs r USING (run_id)
 WHERE r.state IN ('completed', 'cancelled', 'failed');
SELECT * FROM pg_temp.broken WHERE count > 0;

-- re-import: nothing changed, nothing is read (the FIFO is checked again)
SELECT midipipe_import('/tmp/midipipe_regress', workers => 2) AS run2 \gset
SELECT state, files_found, files_ok, files_duplicate, files_unchanged, files_failed, bytes_read
  FROM midipipe_runs WHERE run_id = :run2;

-- a.mid gets new content (b.mid, its duplicate, becomes the holder of the
-- old content), c.MIDI is touched (re-read, same content), d.mid repeats y
COPY (SELECT 1) TO PROGRAM 'cat >/dev/null; touch -d "2001-02-03 04:05:06" /tmp/midipipe_regress/sub/c.MIDI';
SELECT pg_temp.put('y', 'a.mid'), pg_temp.put('y', 'd.mid');
SELECT midipipe_import('/tmp/midipipe_regress', workers => 2) AS run3 \gset
SELECT state, files_found, files_ok, files_duplicate, files_unchanged, files_failed,
       files_ok + files_duplicate + files_unchanged + files_failed = files_found AS adds_up
  FROM midipipe_runs WHERE run_id = :run3;
SELECT * FROM pg_temp.files ORDER BY path;
SELECT mtime = '2001-02-03 04:05:06'::timestamp AT TIME ZONE current_setting('TimeZone') AS touched_mtime
  FROM midipipe_files WHERE path = '/tmp/midipipe_regress/sub/c.MIDI';
SELECT * FROM pg_temp.same_as_analyze ORDER BY 1;
SELECT * FROM pg_temp.broken WHERE count > 0;

-- not recursive: only the top directory
SELECT midipipe_import('/tmp/midipipe_regress', recursive => false) AS run4 \gset
SELECT state, files_found FROM midipipe_runs WHERE run_id = :run4;

-- a single file as root, and a run without waiting
SELECT midipipe_import('/tmp/midipipe_regress/a.mid', wait => false) AS run5 \gset
SELECT midipipe_wait(:run5, '60 s');
SELECT files_found, files_unchanged FROM midipipe_runs WHERE run_id = :run5;

-- bad roots are clear errors for a privileged caller
SELECT midipipe_import('relative/path');
SELECT midipipe_import('/tmp/midipipe_regress/no_such_dir');
SELECT midipipe_import(NULL);

-- midipipe_progress: the runs just made, done
SELECT run_id - :run1 AS run, state, files_found = files_done AS all_done, scan_done, eta
  FROM midipipe_progress WHERE run_id BETWEEN :run1 AND :run5 ORDER BY run_id;

-- the pool stays warm between runs; stop it so the database can be dropped
SELECT count(*) > 0 AS warm FROM midipipe_stats WHERE database = current_database();
SELECT midipipe_pool_stop() > 0 AS stopped;
\i sql/include/pool_gone.sql
SELECT count(*) AS workers_left FROM pg_stat_activity
 WHERE datname = current_database() AND backend_type LIKE 'midipipe%';
COPY (SELECT 1) TO PROGRAM 'cat >/dev/null; rm -rf /tmp/midipipe_regress';
