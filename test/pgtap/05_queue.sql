-- The manifest (midipipe_queue) costs each batch the rows it claims, not the
-- rows of the whole run: an import's reads of the queue's indexes grow with
-- its file count, not with file count x batches. (Marking a batch done by run
-- and path once let the planner scan the run's whole primary key range and
-- filter by path in every batch, and every claim started again at the first
-- path of the run: a 50,000-file import read 50 M index entries.)
SET client_min_messages = warning;
SELECT plan(10);
SELECT value || '/big/c2' AS root FROM tap.ctx WHERE key = 'work' \gset
CREATE FUNCTION pg_temp.queue_index_reads() RETURNS bigint LANGUAGE sql AS $$
  SELECT sum(idx_tup_read)::bigint FROM pg_stat_user_indexes WHERE relname = 'midipipe_queue' $$;

-- small batches: many of them in one run
SELECT midipipe_pool_stop();
SELECT tap.wait_for($$NOT EXISTS (SELECT FROM midipipe_stats WHERE database = current_database())$$, 30);
ALTER SYSTEM SET midipipe.batch_size = 10;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT pg_stat_reset_single_table_counters(i.indexrelid)
  FROM pg_index i WHERE i.indrelid = 'midipipe_queue'::regclass;

SELECT midipipe_import(:'root', workers => 2);
SELECT run_id AS run, files_found AS found FROM midipipe_runs ORDER BY run_id DESC LIMIT 1 \gset
SELECT is((SELECT state FROM midipipe_runs WHERE run_id = :run), 'completed', 'the run completed');
SELECT cmp_ok(:found::bigint, '>', 1000::bigint, 'more than 1000 files: more than 100 batches of 10');

-- the workers send their statistics when they exit
SELECT midipipe_pool_stop();
SELECT ok(tap.wait_for($$NOT EXISTS (SELECT FROM midipipe_stats WHERE database = current_database())$$, 30),
          'the pool stopped');
SELECT pg_sleep(0.5);
SELECT pg_stat_clear_snapshot();
SELECT cmp_ok(pg_temp.queue_index_reads(), '<=', 16 * :found::bigint,
              'the queue''s index entries read: at most 16 per file (' || pg_temp.queue_index_reads() || ' for '
              || :found || ' files)');

-- 200 copies of one new content in batches of 10: both workers' first batches
-- store it as new, the later commit hits the unique index midipipe_files_content.
-- That batch is claimed again at once, where its files are duplicates: no
-- failed batch, no ERROR in the log, the run's counts exact.
SELECT value || '/same' AS same FROM tap.ctx WHERE key = 'work' \gset
SELECT batches_failed_total AS failed0 FROM midipipe_metrics WHERE datname = current_database() \gset
SELECT midipipe_import(:'same', workers => 2);
SELECT run_id AS run_same FROM midipipe_runs ORDER BY run_id DESC LIMIT 1 \gset
SELECT is((SELECT state || ' ' || files_ok || ' ok ' || files_duplicate || ' duplicates'
             FROM midipipe_runs WHERE run_id = :run_same),
          'completed 1 ok 199 duplicates', 'copies of one new content: one stored, the others its duplicates');
SELECT is((SELECT count(*) FILTER (WHERE status = 'ok') || '/' || count(*) FILTER (WHERE status = 'duplicate')
             FROM midipipe_files WHERE path LIKE :'same' || '/%'), '1/199', 'their rows');
SELECT is((SELECT batches_failed_total FROM midipipe_metrics WHERE datname = current_database()),
          :failed0::bigint, 'no batch failed (a batch that lost the race to store the content is claimed again)');

ALTER SYSTEM RESET midipipe.batch_size;
SELECT pg_reload_conf();

-- Issue 17: re-importing the unchanged tree queues nothing for the workers: the
-- scanner finds each file's size and mtime in midipipe_files and counts it
-- unchanged itself (no batch runs), and the manifest is left empty and small.
SELECT batches_total AS batches0 FROM midipipe_metrics WHERE datname = current_database() \gset
SELECT midipipe_import(:'root', workers => 2);
SELECT run_id AS run2 FROM midipipe_runs ORDER BY run_id DESC LIMIT 1 \gset
SELECT is((SELECT files_unchanged || '/' || files_found FROM midipipe_runs WHERE run_id = :run2),
          :found || '/' || :found, 'the unchanged re-import counts every file unchanged');
SELECT is((SELECT batches_total FROM midipipe_metrics WHERE datname = current_database()),
          :batches0::bigint, 'no batch ran: no file was queued for a worker');
-- (truncated when a run ends and nothing else holds the table, just after the
-- caller is told, so the check waits for it; under lock contention, e.g. an
-- autovacuum not cancelled within 2 s on a loaded machine, the next run's end
-- tries again: the bound is the issue's 10 MB)
SELECT tap.wait_for($$pg_total_relation_size('midipipe_queue') < 10 * 1024 * 1024$$, 30);
SELECT cmp_ok(pg_total_relation_size('midipipe_queue'), '<', 10 * 1024 * 1024::bigint,
              'the manifest is small after the runs (' || pg_total_relation_size('midipipe_queue') || ' bytes, '
              || (SELECT count(*) FROM midipipe_queue) || ' rows)');
SELECT * FROM finish();
