-- GUC behaviours: idle_timeout shrinks the pool, max_lifetime recycles
-- workers between batches, acquire_timeout fails when no worker comes.
SET client_min_messages = warning;
SELECT plan(10);
SELECT value || '/big' AS big FROM tap.ctx WHERE key = 'work' \gset

-- idle_timeout: idle workers above min_workers (0) leave
SELECT midipipe_pool_stop();
SELECT tap.wait_for($$NOT EXISTS (SELECT FROM midipipe_stats WHERE database = current_database())$$, 30);
ALTER SYSTEM SET midipipe.idle_timeout = '1s';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT midipipe_import(:'big' || '/c1', workers => 2);
SELECT ok(tap.wait_for($$NOT EXISTS (SELECT FROM midipipe_stats WHERE database = current_database())$$, 20),
          'idle_timeout: the idle workers exit');
ALTER SYSTEM RESET midipipe.idle_timeout;
SELECT pg_reload_conf();

-- max_lifetime: a run longer than the lifetime sees its worker replaced
ALTER SYSTEM SET midipipe.max_lifetime = '1s';
ALTER SYSTEM SET midipipe.batch_size = 50;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
CREATE TEMP TABLE pids (pid int);
SELECT midipipe_import(:'big', workers => 1, wait => false) AS run \gset
CREATE FUNCTION pg_temp.sample_pids(run bigint, seconds int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1 .. seconds * 20 LOOP
    INSERT INTO pids SELECT s.pid FROM midipipe_stats s WHERE s.run_id = run AND s.pid IS NOT NULL;
    EXIT WHEN midipipe_wait(run, '0.05 s') NOT IN ('queued', 'scanning', 'running');
  END LOOP;
END $$;
SELECT pg_temp.sample_pids(:run, 120);
SELECT is(midipipe_wait(:run, '120 s'), 'completed', 'the run completes across recycled workers');
SELECT ok((SELECT count(DISTINCT pid) FROM pids) > 1, 'max_lifetime: the worker was recycled during the run');
SELECT is((SELECT files_ok + files_duplicate + files_unchanged + files_failed - files_found FROM midipipe_runs
            WHERE run_id = :run), 0::bigint, 'no file lost, none twice');
ALTER SYSTEM RESET midipipe.max_lifetime;
ALTER SYSTEM RESET midipipe.batch_size;

-- acquire_timeout: one worker allowed and busy elsewhere -> clear error
ALTER SYSTEM SET midipipe.max_workers = 1;
ALTER SYSTEM SET midipipe.acquire_timeout = '1s';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
UPDATE midipipe_files SET mtime = NULL WHERE path LIKE :'big' || '/%';  -- force re-reading
SELECT midipipe_import(:'big', workers => 1, wait => false) AS busy \gset
SELECT tap.wait_for($$EXISTS (SELECT FROM midipipe_stats WHERE state = 'busy' AND run_id = $$ || :busy || $$)$$, 30);
SELECT throws_like($$SELECT midipipe_import('$$ || :'big' || $$/c1', workers => 1)$$, '%worker%',
                   'acquire_timeout: ERROR when no worker is free in time');
SELECT ok(midipipe_cancel(:busy) IS NOT NULL, 'cancel the busy run');
SELECT ok(midipipe_wait(:busy, '60 s') IN ('cancelled', 'completed'), 'it ends');
ALTER SYSTEM RESET midipipe.max_workers;
ALTER SYSTEM RESET midipipe.acquire_timeout;
SELECT pg_reload_conf();

-- worker_nice: a worker runs at the server's niceness + midipipe.worker_nice
-- (field 19 of /proc/PID/stat; the postmaster's is the base), raised on reload.
CREATE FUNCTION pg_temp.nice_of(p int) RETURNS int LANGUAGE sql AS $$
  SELECT (string_to_array(split_part(pg_read_file('/proc/' || p || '/stat'), ') ', 2), ' '))[17]::int $$;
SELECT tap.wait_for($$NOT EXISTS (SELECT FROM midipipe_stats WHERE database = current_database() AND state <> 'idle')$$, 30);
SELECT midipipe_pool_stop();
SELECT tap.wait_for($$NOT EXISTS (SELECT FROM midipipe_stats WHERE database = current_database())$$, 30);
SELECT midipipe_pool_start(1);
SELECT tap.wait_for($$EXISTS (SELECT FROM midipipe_stats WHERE database = current_database() AND pid IS NOT NULL)$$, 30);
SELECT pg_temp.nice_of(pg_backend_pid()) AS base,
       (SELECT pid FROM midipipe_stats WHERE database = current_database() AND pid IS NOT NULL LIMIT 1) AS wpid \gset
SELECT ok(tap.wait_for($$pg_temp.nice_of($$ || :wpid || $$) = least($$ || :base || $$ + 10, 19)$$, 10),
          'worker_nice: a worker runs at niceness +10 by default');
ALTER SYSTEM SET midipipe.worker_nice = 15;
SELECT pg_reload_conf();
SELECT ok(tap.wait_for($$pg_temp.nice_of($$ || :wpid || $$) = least($$ || :base || $$ + 15, 19)$$, 10),
          'worker_nice: a reload raises a running worker''s niceness');
ALTER SYSTEM RESET midipipe.worker_nice;
SELECT pg_reload_conf();
SELECT is(pg_temp.nice_of(pg_backend_pid()), :base, 'the calling backend keeps its niceness');
SELECT * FROM finish();
