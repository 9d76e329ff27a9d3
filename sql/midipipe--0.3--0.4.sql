-- midipipe 0.3 -> 0.4
\echo Use "ALTER EXTENSION midipipe UPDATE TO '0.4'" to load this file. \quit

-- ---------------------------------------------------------------- monitoring (issue 20)
-- Counters that only grow since server start (or midipipe_metrics_reset()),
-- gauges of the pool now, and the last ended run of this database, for a
-- monitoring stack (contrib/postgres_exporter.yaml) or any SQL scraper.
-- Units: *_total counters count events (files, batches, runs ...) except
-- bytes_total (bytes); gauges count workers, runs or files now; stats_reset
-- is a timestamptz. The names are stable: new columns may be added, none
-- renamed.
CREATE FUNCTION midipipe_metrics(
    OUT datname name,
    OUT files_total bigint, OUT bytes_total bigint, OUT errors_total bigint,
    OUT batches_total bigint, OUT batches_failed_total bigint,
    OUT checkouts_total bigint, OUT checks_failed_total bigint,
    OUT runs_started_total bigint, OUT runs_refused_total bigint,
    OUT runs_completed_total bigint, OUT runs_cancelled_total bigint, OUT runs_failed_total bigint,
    OUT workers_starting int, OUT workers_idle int, OUT workers_busy int,
    OUT workers_yielding int, OUT workers_stalled int, OUT workers_stopping int,
    OUT runs_active int, OUT runs_queued int, OUT files_queued bigint,
    OUT stats_reset timestamptz)
  RETURNS SETOF record AS 'MODULE_PATHNAME', 'midipipe_metrics' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION midipipe_metrics() IS
  'monitoring counters (since server start or midipipe_metrics_reset) and gauges per database, from shared memory (see the view midipipe_metrics)';

CREATE VIEW midipipe_metrics AS SELECT * FROM midipipe_metrics();
COMMENT ON VIEW midipipe_metrics IS
  'one row per database with midipipe activity since server start: cumulative *_total counters, worker and run gauges (README "Monitoring")';

CREATE FUNCTION midipipe_metrics_reset()
  RETURNS void AS 'MODULE_PATHNAME', 'midipipe_metrics_reset' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION midipipe_metrics_reset() IS
  'zero this database''s midipipe_metrics counters (superuser, or a role granted EXECUTE, like pg_stat_reset)';

CREATE VIEW midipipe_metrics_last_run AS
SELECT r.run_id, r.state,
       (r.state = 'completed')::int AS success,
       r.started_at, r.finished_at,
       extract(epoch FROM r.finished_at - r.started_at)::float8 AS duration_seconds,
       extract(epoch FROM pg_catalog.clock_timestamp() - r.finished_at)::float8 AS age_seconds,
       r.files_found, r.files_ok, r.files_duplicate, r.files_unchanged, r.files_failed,
       r.bytes_read
  FROM midipipe_runs r
 WHERE r.finished_at IS NOT NULL
 ORDER BY r.run_id DESC
 LIMIT 1;
COMMENT ON VIEW midipipe_metrics_last_run IS
  'the last ended run of this database (no root path): its outcome, duration and counts';

REVOKE ALL ON FUNCTION midipipe_metrics_reset() FROM PUBLIC;
GRANT SELECT ON midipipe_metrics, midipipe_metrics_last_run TO PUBLIC;
-- ---------------------------------------------------------------- end of monitoring (issue 20)
