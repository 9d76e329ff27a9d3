-- Import of the corpus copy: one row per file, counts add up, analysis = CLI.
SET client_min_messages = warning;
BEGIN;
SELECT plan(15);
SELECT value || '/corpus' AS root FROM tap.ctx WHERE key = 'work' \gset

SELECT lives_ok($$SELECT midipipe_import('$$ || :'root' || $$', workers => 2)$$, 'the import runs');
CREATE TEMP TABLE r AS SELECT * FROM midipipe_runs WHERE root = :'root' ORDER BY run_id DESC LIMIT 1;
SELECT is((SELECT state FROM r), 'completed', 'the run completed');
SELECT is((SELECT files_found FROM r), (SELECT count(*) FROM tap.expected_files), 'files_found = files on disk');
SELECT is((SELECT files_ok + files_duplicate + files_unchanged + files_failed FROM r),
          (SELECT files_found FROM r), 'ok + duplicate + unchanged + failed = files_found');
SELECT set_eq($$SELECT path FROM midipipe_files WHERE path LIKE '$$ || :'root' || $$/%'$$,
              'SELECT path FROM tap.expected_files', 'exactly one row per file, no other');
SELECT is((SELECT count(*) FROM midipipe_queue q JOIN r USING (run_id)), 0::bigint, 'the manifest is emptied');
SELECT is((SELECT count(*) FROM midipipe_files WHERE status = 'ok'), (SELECT count(*) FROM midipipe_analysis),
          'one analysis row per ok row');
SELECT is_empty($$SELECT f.path FROM midipipe_files f WHERE f.status = 'duplicate' AND NOT EXISTS
   (SELECT FROM midipipe_files o WHERE o.file_id = f.duplicate_of AND o.status = 'ok' AND o.sha256 = f.sha256)$$,
   'every duplicate names an ok row with the same sha256');
SELECT is_empty($$SELECT path FROM midipipe_files WHERE status = 'error'
                   AND (error_code IS NULL OR error_message IS NULL)$$, 'every error row has a code and a message');
SELECT ok((SELECT count(*) FROM midipipe_files WHERE status = 'error') > 0
          AND (SELECT count(*) FROM midipipe_files WHERE status = 'duplicate') >= 0, 'the edge files gave error rows');

-- the same analysis as the CLI, field for field, for every file
CREATE TEMP TABLE cli AS SELECT j->>'path' AS path, j FROM tap.cli;
SELECT is_empty($$
  SELECT f.path FROM midipipe_files f JOIN midipipe_analysis a USING (file_id) JOIN cli c USING (path)
   WHERE (to_jsonb(a) - 'file_id') <> (c.j - 'path' - 'tracks' - 'warnings' - 'chords')$$,
  'midipipe_analysis equals the CLI''s JSON for every ok file (depth and file-name fields included)');
SELECT is_empty($$
  SELECT f.path FROM midipipe_files f JOIN cli c USING (path)
   WHERE f.status = 'ok' AND c.j->'chords' IS DISTINCT FROM
     coalesce((SELECT jsonb_agg(jsonb_build_object('tick', e.tick, 'seconds', e.seconds, 'root', e.root,
                                                   'quality', e.quality, 'name', e.name) ORDER BY e.ord)
                 FROM midipipe_chord_events e WHERE e.file_id = f.file_id), '[]')$$,
  'midipipe_chords equals the CLI''s chord progression');
SELECT is_empty($$
  SELECT f.path FROM midipipe_files f JOIN cli c USING (path)
   WHERE f.status = 'ok' AND c.j->'tracks' IS DISTINCT FROM
     (SELECT jsonb_agg(to_jsonb(t) - 'file_id' - 'smf' - 'smf_sha256' ORDER BY track_no)
        FROM midipipe_tracks t WHERE t.file_id = f.file_id)$$,
  'midipipe_tracks equals the CLI''s tracks');
SELECT is_empty($$
  SELECT f.path FROM midipipe_files f JOIN cli c USING (path)
   WHERE (f.status = 'error') <> (c.j ? 'error_code')
      OR (f.status = 'error' AND (f.error_code, f.error_offset) IS DISTINCT FROM
                                 (c.j->>'error_code', (c.j->>'error_offset')::bigint))$$,
  'error rows, codes and offsets equal the CLI''s');
SELECT is((SELECT count(*) FROM cli), (SELECT count(*) FROM tap.expected_files), 'the CLI saw the same files');
SELECT * FROM finish();
ROLLBACK;
