-- midipipe 0.3 -> 0.4
\echo Use "ALTER EXTENSION midipipe UPDATE TO '0.4'" to load this file. \quit

-- ---------------------------------------------------------------- issue 13, finding 7: stalls
-- midipipe_stats gains last_progress (when the worker last got on: a file
-- started or finished, a pass of its loop) and stalled_since (set by the
-- supervisor when a worker busy with a run has not got on for
-- midipipe.stall_timeout; its state then reads 'stalled'). The library fills
-- 13 columns for a 0.3 schema and 15 for this one.
DROP VIEW @extschema@.midipipe_stats;
DROP FUNCTION @extschema@.midipipe_stats();
CREATE FUNCTION @extschema@.midipipe_stats(
    OUT worker_id int, OUT pid int, OUT database name, OUT state text, OUT run_id bigint,
    OUT files_done bigint, OUT bytes_read bigint, OUT errors bigint, OUT current_path text,
    OUT started_at timestamptz, OUT last_checkout timestamptz, OUT checkouts bigint,
    OUT checks_failed bigint, OUT last_progress timestamptz, OUT stalled_since timestamptz)
  RETURNS SETOF record AS 'MODULE_PATHNAME', 'midipipe_stats' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.midipipe_stats() IS 'the pool workers, from shared memory (see the view midipipe_stats)';
CREATE VIEW @extschema@.midipipe_stats AS SELECT * FROM @extschema@.midipipe_stats();
COMMENT ON VIEW @extschema@.midipipe_stats IS
  'one row per pool worker (current_path is NULL unless the reader is a superuser or member of pg_read_all_stats; state ''stalled'' with stalled_since when a busy worker made no progress for midipipe.stall_timeout)';
GRANT SELECT ON @extschema@.midipipe_stats TO PUBLIC;
-- ---------------------------------------------------------------- end of finding 7
