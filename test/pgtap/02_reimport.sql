-- Re-import reads only changed files; duplicates are detected.
SET client_min_messages = warning;
BEGIN;
SELECT plan(12);
SELECT value || '/corpus' AS root FROM tap.ctx WHERE key = 'work' \gset
-- three ok files of distinct content: one touched, one rewritten, one copied
CREATE TEMP TABLE pick AS
SELECT path, row_number() OVER (ORDER BY path) AS n, sha256 FROM (
  SELECT DISTINCT ON (sha256) path, sha256 FROM midipipe_files
   WHERE status = 'ok' AND path LIKE :'root' || '/piano-midi-de/%' ORDER BY sha256, path) s
 ORDER BY path LIMIT 3;
SELECT is((SELECT count(*) FROM pick), 3::bigint, 'three files to change');
SELECT (SELECT path FROM pick WHERE n = 1) AS touched, (SELECT path FROM pick WHERE n = 2) AS changed,
       (SELECT path FROM pick WHERE n = 3) AS copied \gset
SELECT count(*) AS unreadable FROM midipipe_files
 WHERE path LIKE :'root' || '/%' AND error_code IN ('io_error', 'not_regular_file', 'file_too_large') \gset

-- nothing changed: nothing read
SELECT lives_ok($$SELECT midipipe_import('$$ || :'root' || $$')$$, 're-import runs');
SELECT results_eq($$SELECT files_unchanged, bytes_read FROM midipipe_runs WHERE root = '$$ || :'root' || $$'
                    ORDER BY run_id DESC LIMIT 1$$,
                  $$VALUES ((SELECT count(*) FROM tap.expected_files) - $$ || :unreadable || $$, 0::bigint)$$,
                  'an unchanged tree is not read again');

-- touch (same bytes, new mtime), rewrite (other bytes), copy under a new name
-- (each command reads the row COPY writes first: one that exits before the
-- write makes COPY fail with "Broken pipe")
SELECT format('COPY (SELECT 1) TO PROGRAM %L', format('cat >/dev/null; touch %s', quote_literal(:'touched'))) \gexec
SELECT format('COPY (SELECT 1) TO PROGRAM %L', format('cat >/dev/null; printf MThd > %s', quote_literal(:'changed'))) \gexec
SELECT format('COPY (SELECT 1) TO PROGRAM %L', format('cat >/dev/null; cp %s %s', quote_literal(:'copied'), quote_literal(:'root' || '/copy of a file.mid'))) \gexec
SELECT lives_ok($$SELECT midipipe_import('$$ || :'root' || $$')$$, 're-import after changes runs');
CREATE TEMP TABLE r AS SELECT * FROM midipipe_runs WHERE root = :'root' ORDER BY run_id DESC LIMIT 1;
SELECT is((SELECT files_found FROM r), (SELECT count(*) + 1 FROM tap.expected_files), 'the new file is found');
SELECT is((SELECT files_ok FROM r), 1::bigint, 'the touched file is re-read (same content, still ok)');
SELECT is((SELECT files_duplicate FROM r), 1::bigint, 'the copy is a duplicate');
SELECT is((SELECT files_failed FROM r), 1 + :unreadable::bigint, 'the rewritten file is now an error');
SELECT is((SELECT files_unchanged FROM r), (SELECT count(*) - 2 - :unreadable FROM tap.expected_files),
          'everything else is unchanged');
SELECT is((SELECT d.path FROM midipipe_files f JOIN midipipe_files d ON d.file_id = f.duplicate_of
            WHERE f.path = :'root' || '/copy of a file.mid'), :'copied', 'duplicate_of names the original');
SELECT is((SELECT error_code FROM midipipe_files WHERE path = :'changed'), 'truncated_header',
          'the rewritten file has its new error');
SELECT is_empty($$SELECT a.file_id FROM midipipe_analysis a JOIN midipipe_files f USING (file_id)
                   WHERE f.status <> 'ok'$$, 'no analysis row left for a file that is no longer ok');
SELECT * FROM finish();
ROLLBACK;
