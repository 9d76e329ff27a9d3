-- The pool: warm between runs, counters, cancel.
SET client_min_messages = warning;
SELECT plan(14);
SELECT value || '/big' AS big, value || '/corpus' AS root FROM tap.ctx WHERE key = 'work' \gset

SELECT lives_ok($$SELECT midipipe_pool_start(2)$$, 'pool_start');
SELECT ok((SELECT count(*) FROM midipipe_stats WHERE database = current_database()) >= 2, 'two warm workers');
-- scanner processes of this database (the pool's spare, and the scanners of runs)
CREATE FUNCTION pg_temp.scanners() RETURNS SETOF int LANGUAGE sql AS
  $$SELECT pid FROM pg_stat_activity WHERE backend_type = 'midipipe scanner'
       AND datname = current_database()$$;
SELECT ok(tap.wait_for('(SELECT count(*) FROM pg_temp.scanners()) = 1'),
          'a warm pool keeps one spare scanner connected');
CREATE TEMP TABLE spare_before AS SELECT * FROM pg_temp.scanners() AS pid;
CREATE TEMP TABLE before AS
  SELECT worker_id, pid, checkouts FROM midipipe_stats WHERE database = current_database();
-- forget(n): n of the tree's files (ok, no duplicate pointing at them) to import again
CREATE FUNCTION pg_temp.forget(root text, n int) RETURNS void LANGUAGE sql AS $$
  DELETE FROM midipipe_files WHERE file_id IN (
    SELECT file_id FROM midipipe_files f WHERE path LIKE root || '/%' AND status = 'ok'
       AND NOT EXISTS (SELECT FROM midipipe_files d WHERE d.duplicate_of = f.file_id)
     ORDER BY path LIMIT n) $$;
-- 20 of the tree's files to import again: a run whose files are all unchanged
-- is counted by its scanner alone, and its workers check nothing out
SELECT pg_temp.forget(:'root', 20);
SELECT lives_ok($$SELECT midipipe_import('$$ || :'root' || $$', workers => 2)$$, 'a run on the warm pool');
SELECT is_empty($$SELECT pid FROM before EXCEPT SELECT pid FROM midipipe_stats$$,
                'the same processes are still there after the run (warm)');
-- the spare was the run's scanner (its activity names the run), and it is the pool's spare
-- again after the run: still the only scanner, no other one was started
SELECT ok(EXISTS (SELECT FROM pg_stat_activity a JOIN spare_before s USING (pid)
                   WHERE a.query LIKE 'midipipe run ' || (SELECT max(run_id) FROM midipipe_runs) || ' %'),
          'the run used the spare scanner');
SELECT ok(tap.wait_for('(SELECT count(*) FROM pg_temp.scanners()) = 1
                        AND EXISTS (SELECT FROM pg_temp.scanners() AS s(pid) JOIN spare_before USING (pid))'),
          'the spare scanner is the pool''s spare again after the run, and the only one');
SELECT ok((SELECT sum(s.checkouts) FROM midipipe_stats s JOIN before b USING (pid)) > (SELECT sum(checkouts) FROM before),
          'checkouts were counted');
SELECT is((SELECT sum(checks_failed) FROM midipipe_stats)::bigint, 0::bigint, 'no failed health check');
SELECT is((SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'midipipe worker'
            AND datname = current_database())::int,
          (SELECT count(*) FROM midipipe_stats WHERE database = current_database())::int,
          'pg_stat_activity shows the workers as "midipipe worker"');

-- cancel a run in flight: it ends cancelled, committed rows stay, counts consistent
SELECT midipipe_import(:'big', workers => 1, wait => false) AS run \gset
SELECT pg_sleep(0.3);
SELECT ok(midipipe_cancel(:run), 'cancel accepted');
SELECT is(midipipe_wait(:run, '60 s'), 'cancelled', 'the run ends cancelled');

-- midipipe_pool_stop takes the spare scanner with the workers; pool_start brings both back
SELECT midipipe_pool_stop() >= 0 AS stopped \gset
SELECT ok(tap.wait_for('NOT EXISTS (SELECT FROM pg_temp.scanners())'),
          'no scanner is left after midipipe_pool_stop');
-- a run warms a stopped pool again, as the first run warms a new one: its workers stay, and a
-- spare scanner waits for the next run (a pool left stopped started a scanner for every run)
SELECT pg_temp.forget(:'root', 1);
SELECT midipipe_import(:'root', workers => 1) AS run \gset
SELECT ok(tap.wait_for('(SELECT count(*) FROM pg_temp.scanners()) = 1
                        AND EXISTS (SELECT FROM midipipe_stats WHERE database = current_database())'),
          'a run after midipipe_pool_stop warms the pool again: its worker stays, a spare scanner waits');
SELECT midipipe_pool_start(2) AS started \gset
SELECT * FROM finish();
