-- The pool: warm between runs, counters, cancel.
SET client_min_messages = warning;
SELECT plan(9);
SELECT value || '/big' AS big, value || '/corpus' AS root FROM tap.ctx WHERE key = 'work' \gset

SELECT lives_ok($$SELECT midipipe_pool_start(2)$$, 'pool_start');
SELECT ok((SELECT count(*) FROM midipipe_stats WHERE database = current_database()) >= 2, 'two warm workers');
CREATE TEMP TABLE before AS
  SELECT worker_id, pid, checkouts FROM midipipe_stats WHERE database = current_database();
SELECT lives_ok($$SELECT midipipe_import('$$ || :'root' || $$', workers => 2)$$, 'a run on the warm pool');
SELECT is_empty($$SELECT pid FROM before EXCEPT SELECT pid FROM midipipe_stats$$,
                'the same processes are still there after the run (warm)');
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
SELECT * FROM finish();
