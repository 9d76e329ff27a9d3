-- Issue 17: the searches a large library needs are served by an index, and
-- the batches' counts reach the run row through midipipe_run_counts.
-- (Tiny tables: sequential scans are turned off to show that an index can
-- serve each query form; scripts/bench-scale.sh measures them on large ones.)
SELECT indexrelid::regclass AS index, pg_get_indexdef(indexrelid) AS definition
  FROM pg_index
 WHERE indexrelid::regclass::text IN ('midipipe_files_path_key', 'midipipe_files_errors',
         'midipipe_analysis_key', 'midipipe_analysis_tempo', 'midipipe_analysis_duration')
 ORDER BY 1::text;

SET enable_seqscan = off;
SET enable_bitmapscan = off;
-- path: equality, a list of paths, a prefix (LIKE, starts_with), whatever the collation
EXPLAIN (COSTS OFF) SELECT file_id FROM midipipe_files WHERE path = '/data/midi/a.mid';
EXPLAIN (COSTS OFF) SELECT file_id FROM midipipe_files WHERE path = ANY ('{/a.mid,/b.mid}');
EXPLAIN (COSTS OFF) SELECT count(*) FROM midipipe_files WHERE path LIKE '/data/midi/folder/%';
EXPLAIN (COSTS OFF) SELECT count(*) FROM midipipe_files WHERE starts_with(path, '/data/midi/folder/');
-- error rows
EXPLAIN (COSTS OFF) SELECT path, error_code FROM midipipe_files WHERE status = 'error';
-- key, tempo, duration
EXPLAIN (COSTS OFF) SELECT count(*) FROM midipipe_analysis WHERE key = 'D minor';
EXPLAIN (COSTS OFF) SELECT count(*) FROM midipipe_analysis WHERE tempo_bpm BETWEEN 90 AND 100;
EXPLAIN (COSTS OFF) SELECT count(*) FROM midipipe_analysis WHERE duration_seconds > 600;
-- every file with the content of one file, and every duplicate with its original
EXPLAIN (COSTS OFF) SELECT d.path FROM midipipe_files o
  JOIN midipipe_files d ON d.file_id = o.file_id OR d.duplicate_of = o.file_id
 WHERE o.status = 'ok' AND o.sha256 = '\x00'::bytea;
EXPLAIN (COSTS OFF) SELECT d.path, o.path FROM midipipe_files d
  JOIN midipipe_files o ON o.file_id = d.duplicate_of WHERE d.duplicate_of IS NOT NULL;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- the upsert of a batch still finds its arbiter (ON CONFLICT (path))
BEGIN;
INSERT INTO midipipe_files (path, status) VALUES ('/scale/x.mid', 'error')
  ON CONFLICT (path) DO UPDATE SET status = excluded.status;
INSERT INTO midipipe_files (path, status) VALUES ('/scale/x.mid', 'ok')
  ON CONFLICT (path) DO UPDATE SET status = excluded.status;
SELECT path, status FROM midipipe_files WHERE path LIKE '/scale/%';
ROLLBACK;

-- the counts table is the extension's own: importers may read it, not write it
SELECT has_table_privilege('pg_read_server_files', 'midipipe_run_counts', 'SELECT') AS importer_select,
       has_table_privilege('pg_read_server_files', 'midipipe_run_counts', 'INSERT') AS importer_insert,
       has_table_privilege('public', 'midipipe_run_counts', 'SELECT') AS public_select;

-- the manifest has no foreign key to midipipe_runs (its check, once per
-- queued row, walked every version of the run's row); deleting run rows
-- still deletes their manifest rows, and only theirs (one statement, two runs)
SELECT count(*) AS queue_foreign_keys FROM pg_constraint
 WHERE conrelid = 'midipipe_queue'::regclass AND contype = 'f';
BEGIN;
INSERT INTO midipipe_runs (run_id, root, state) VALUES (-1, '/scale/a', 'completed'),
  (-2, '/scale/b', 'completed'), (-3, '/scale/c', 'completed');
INSERT INTO midipipe_queue (run_id, path)
  SELECT r, '/scale/' || r || '/' || i || '.mid' FROM generate_series(-3, -1) r, generate_series(1, 3) i;
DELETE FROM midipipe_runs WHERE run_id IN (-1, -2);
SELECT run_id, count(*) FROM midipipe_queue WHERE run_id < 0 GROUP BY 1 ORDER BY 1;
ROLLBACK;
