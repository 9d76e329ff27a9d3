-- midipipe_metrics: the documented columns, counters that grow with an
-- import (and never shrink), gauges, the last run's outcome, and
-- midipipe_metrics_reset() restricted like pg_stat_reset().
SET client_min_messages = warning;
-- the columns and their types, in order: the names monitoring relies on
SELECT a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_attribute a WHERE a.attrelid = 'midipipe_metrics'::regclass AND a.attnum > 0
 ORDER BY a.attnum;
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_attribute a WHERE a.attrelid = 'midipipe_metrics_last_run'::regclass AND a.attnum > 0
 ORDER BY a.attnum;

SELECT '/tmp/midipipe_metrics_' || current_setting('port') AS dir \gset
SELECT format('cat >/dev/null; rm -rf %s && mkdir -p %s', :'dir', :'dir') AS cmd \gset
COPY (SELECT 1) TO PROGRAM :'cmd';
CREATE FUNCTION pg_temp.put(data bytea, path text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  o oid := lo_from_bytea(0, data);
BEGIN
  PERFORM lo_export(o, path);
  PERFORM lo_unlink(o);
END $$;
SELECT pg_temp.put(decode('4d54686400000006000000010060' || '4d54726b00000013' || '00ff510307a120'
                          || '00903c64' || '60' || lpad(to_hex(n), 2, '0') || '3c00' || '00ff2f00', 'hex'),
                   :'dir' || '/f' || n || '.mid')
  FROM generate_series(1, 5) n;
SELECT pg_temp.put(convert_to('not midi', 'UTF8'), :'dir' || '/bad.mid');

CREATE TEMP TABLE before AS SELECT * FROM midipipe_metrics WHERE datname = current_database();
SELECT midipipe_import(:'dir', workers => 1) AS run \gset
CREATE TEMP TABLE after AS SELECT * FROM midipipe_metrics WHERE datname = current_database();
-- exactly one row for this database; the counters grew by this run's files
SELECT count(*) AS rows FROM after;
SELECT a.files_total - coalesce(b.files_total, 0) AS files,
       a.errors_total - coalesce(b.errors_total, 0) AS errors,
       a.bytes_total - coalesce(b.bytes_total, 0) = r.bytes_read AS bytes_match_run,
       a.batches_total > coalesce(b.batches_total, 0) AS batches_grew,
       a.checkouts_total > coalesce(b.checkouts_total, 0) AS checkouts_grew,
       a.runs_started_total - coalesce(b.runs_started_total, 0) AS runs_started,
       a.runs_completed_total - coalesce(b.runs_completed_total, 0) AS runs_completed,
       a.stats_reset IS NOT NULL AS has_reset_time
  FROM after a LEFT JOIN before b ON true, midipipe_runs r WHERE r.run_id = :run;
-- the gauges: no run active once it completed, worker counts are counts
SELECT runs_active, runs_queued, files_queued, workers_stalled,
       workers_starting + workers_idle + workers_busy + workers_yielding + workers_stopping >= 0 AS workers
  FROM after;
SELECT run_id = :run AS is_this_run, state, success, files_found, files_ok, files_failed,
       duration_seconds >= 0 AS duration, age_seconds >= 0 AS age
  FROM midipipe_metrics_last_run;

-- one run of a root at a time: a second import of a root still being imported is refused
-- (the first run is held still: its coordinator waits for this lock on midipipe_runs)
BEGIN;
LOCK TABLE midipipe_runs IN SHARE MODE;
SELECT midipipe_import(:'dir' || '/', workers => 1, wait => false) AS busy \gset
SELECT set_config('midipipe_regress.dir', :'dir', false) IS NOT NULL AS set;
DO $$
BEGIN
  PERFORM midipipe_import(current_setting('midipipe_regress.dir'), workers => 1, wait => false);
  RAISE EXCEPTION 'a second run of the same root was started';
EXCEPTION WHEN object_in_use THEN
  RAISE WARNING '%', regexp_replace(regexp_replace(SQLERRM, 'run [0-9]+', 'run N'), '_[0-9]+"', '_PORT"');
END $$;
ROLLBACK;
SELECT midipipe_wait(:busy, '60 s');
SELECT runs_refused_total - coalesce((SELECT runs_refused_total FROM after), 0) AS refused
  FROM midipipe_metrics WHERE datname = current_database();

-- reset: not for PUBLIC (like pg_stat_reset); a superuser zeroes this database's counters
CREATE ROLE regress_midipipe_metrics_reader;
SET ROLE regress_midipipe_metrics_reader;
SELECT count(*) AS readable FROM midipipe_metrics WHERE datname = current_database();
SELECT count(*) <= 1 AS last_run_readable FROM midipipe_metrics_last_run;  -- a run's counts: refused
SELECT midipipe_metrics_reset();
RESET ROLE;
GRANT pg_read_all_stats TO regress_midipipe_metrics_reader;
SET ROLE regress_midipipe_metrics_reader;
SELECT count(*) <= 1 AS last_run_readable FROM midipipe_metrics_last_run;
RESET ROLE;
SELECT midipipe_metrics_reset();
SELECT files_total, errors_total, batches_total, runs_started_total, stats_reset > (SELECT stats_reset FROM after) AS reset_later
  FROM midipipe_metrics WHERE datname = current_database();
DROP ROLE regress_midipipe_metrics_reader;
SELECT format('cat >/dev/null; rm -rf %s', :'dir') AS cmd \gset
COPY (SELECT 1) TO PROGRAM :'cmd';
