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

-- ================================================================ security: SQL and privileges
-- (issue 13, findings 1, 2 and 8; README "Threat model")
--
-- 1. No function or view of the extension resolves a name through a schema
--    others may create in: functions run with search_path = pg_catalog,
--    pg_temp (functions and operators are never looked up in pg_temp), name
--    the extension's objects with @extschema@ and write operators and
--    functions as pg_catalog's. A view is bound when it is created (by a DBA,
--    with public on the path), so the views are written the same way: an
--    exact signature a user put in public would otherwise beat pg_catalog's
--    polymorphic unnest() or its bigint / double precision through a cast.

CREATE OR REPLACE FUNCTION midipipe__release(released bigint[], busy text[]) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  x bigint;
  y bigint;
BEGIN
  FOREACH x IN ARRAY released LOOP
    UPDATE @extschema@.midipipe_files SET sha256 = NULL
     WHERE file_id OPERATOR(pg_catalog.=) x AND status OPERATOR(pg_catalog.=) 'ok';
    IF NOT FOUND THEN
      CONTINUE;
    END IF;
    SELECT pg_catalog.min(f.file_id) INTO y FROM @extschema@.midipipe_files f
     WHERE f.duplicate_of OPERATOR(pg_catalog.=) x AND f.status OPERATOR(pg_catalog.=) 'duplicate'
       AND f.path OPERATOR(pg_catalog.<>) ALL (busy);
    IF y IS NULL THEN
      DELETE FROM @extschema@.midipipe_tracks WHERE file_id OPERATOR(pg_catalog.=) x;
      DELETE FROM @extschema@.midipipe_analysis WHERE file_id OPERATOR(pg_catalog.=) x;
    ELSE
      UPDATE @extschema@.midipipe_files SET status = 'ok', duplicate_of = NULL
       WHERE file_id OPERATOR(pg_catalog.=) y;
      UPDATE @extschema@.midipipe_analysis SET file_id = y WHERE file_id OPERATOR(pg_catalog.=) x;
      UPDATE @extschema@.midipipe_tracks SET file_id = y WHERE file_id OPERATOR(pg_catalog.=) x;
      UPDATE @extschema@.midipipe_files SET duplicate_of = y
       WHERE duplicate_of OPERATOR(pg_catalog.=) x AND file_id OPERATOR(pg_catalog.<>) y
         AND path OPERATOR(pg_catalog.<>) ALL (busy);
    END IF;
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION midipipe_track_smf(sha256 bytea) RETURNS bytea
  LANGUAGE sql STABLE STRICT
  RETURN (SELECT t.smf FROM @extschema@.midipipe_tracks t
          WHERE t.smf_sha256 OPERATOR(pg_catalog.=) sha256 AND t.smf IS NOT NULL LIMIT 1);

-- pg_temp last: an unqualified table name can never be a temporary table
ALTER FUNCTION midipipe_split(bigint) SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE VIEW midipipe_chord_events AS
  SELECT c.file_id, u.ord::pg_catalog.int4 AS ord, u.tick, u.seconds, u.root, u.quality, u.name
  FROM @extschema@.midipipe_chords c,
       ROWS FROM (pg_catalog.unnest(c.ticks), pg_catalog.unnest(c.seconds),
                  pg_catalog.unnest(c.roots), pg_catalog.unnest(c.qualities),
                  pg_catalog.unnest(c.names)) WITH ORDINALITY AS u(tick, seconds, root, quality, name, ord);

-- 8. midipipe_progress: every role sees that a run exists, its state, workers
--    and times (as pg_stat_activity shows every session); its root and
--    counts only the run's role (or a role with its privileges), superusers
--    and members of pg_read_all_stats or pg_read_server_files (who may read
--    midipipe_runs itself).
CREATE OR REPLACE VIEW midipipe_progress AS
WITH live AS (SELECT * FROM @extschema@.midipipe_run_live()),
runs AS (
  SELECT coalesce(r.run_id, l.run_id) AS run_id,
         CASE WHEN r.state OPERATOR(pg_catalog.=) ANY ('{completed,cancelled,failed}'::pg_catalog.text[])
              THEN r.state ELSE coalesce(l.state, r.state) END AS state,
         r.root,
         (pg_catalog.pg_has_role(CURRENT_USER, 'pg_read_all_stats'::pg_catalog.name, 'USAGE')
          OR pg_catalog.pg_has_role(CURRENT_USER, 'pg_read_server_files'::pg_catalog.name, 'USAGE')
          OR EXISTS (SELECT FROM pg_catalog.pg_roles o
                      WHERE o.rolname OPERATOR(pg_catalog.=) r.requested_by
                        AND pg_catalog.pg_has_role(o.oid, 'USAGE'))
          -- midipipe_run_live() shows a run's counts by the same rule (before its row exists)
          OR l.files_done IS NOT NULL) AS visible,
         coalesce(l.workers, r.workers_granted) AS workers,
         coalesce(r.files_found, 0) AS files_found,
         CASE WHEN r.state OPERATOR(pg_catalog.=) ANY ('{completed,cancelled,failed}'::pg_catalog.text[])
              THEN r.files_ok OPERATOR(pg_catalog.+) r.files_duplicate OPERATOR(pg_catalog.+)
                   r.files_unchanged OPERATOR(pg_catalog.+) r.files_failed
              ELSE greatest(l.files_done,
                            coalesce(r.files_ok OPERATOR(pg_catalog.+) r.files_duplicate
                                     OPERATOR(pg_catalog.+) r.files_unchanged
                                     OPERATOR(pg_catalog.+) r.files_failed, 0))
         END AS files_done,
         CASE WHEN r.state OPERATOR(pg_catalog.=) ANY ('{completed,cancelled,failed}'::pg_catalog.text[])
              THEN r.files_failed
              ELSE greatest(l.files_failed, coalesce(r.files_failed, 0)) END AS files_failed,
         CASE WHEN r.state OPERATOR(pg_catalog.=) ANY ('{completed,cancelled,failed}'::pg_catalog.text[])
              THEN r.bytes_read
              ELSE greatest(l.bytes_read, coalesce(r.bytes_read, 0)) END AS bytes_read,
         coalesce(r.finished_at, pg_catalog.statement_timestamp()) OPERATOR(pg_catalog.-)
           coalesce(r.started_at, l.started_at) AS elapsed,
         coalesce(l.scan_done, r.scan_done, false) AS scan_done
    FROM @extschema@.midipipe_runs r FULL JOIN live l ON l.run_id OPERATOR(pg_catalog.=) r.run_id
   WHERE l.run_id IS NOT NULL
      OR r.state OPERATOR(pg_catalog.<>) ALL ('{completed,cancelled,failed}'::pg_catalog.text[])
      OR r.finished_at OPERATOR(pg_catalog.>)
           (pg_catalog.statement_timestamp() OPERATOR(pg_catalog.-) '1 hour'::pg_catalog.interval)
),
shown AS (
  SELECT run_id, state, workers, elapsed, scan_done,
         CASE WHEN visible THEN root END AS root,
         CASE WHEN visible THEN files_found END AS files_found,
         CASE WHEN visible THEN files_done END AS files_done,
         CASE WHEN visible THEN files_failed END AS files_failed,
         CASE WHEN visible THEN bytes_read END AS bytes_read,
         pg_catalog.date_part('epoch', elapsed) AS secs
    FROM runs
)
SELECT run_id, state, root, workers, files_found, files_done, files_failed, bytes_read, elapsed,
       CASE WHEN secs OPERATOR(pg_catalog.>) 0
            THEN files_done::pg_catalog.float8 OPERATOR(pg_catalog./) secs END AS files_per_sec,
       CASE WHEN state OPERATOR(pg_catalog.=) ANY ('{queued,scanning,running}'::pg_catalog.text[])
                 AND scan_done AND files_done OPERATOR(pg_catalog.>) 0
                 AND secs OPERATOR(pg_catalog.>) 0
            THEN pg_catalog.make_interval(
                   secs => (greatest(files_found OPERATOR(pg_catalog.-) files_done, 0)::pg_catalog.float8
                            OPERATOR(pg_catalog.*) secs)
                           OPERATOR(pg_catalog./) files_done::pg_catalog.float8)
       END AS eta,
       scan_done
  FROM shown;

-- 2. The run rows and the manifest are the extension's own bookkeeping: the
--    server trusts them (a run is resumed after a restart as requested_by,
--    over its root, with its options; the workers read the paths to open from
--    the manifest). Only the extension writes them, as the owner of its
--    tables; importers may read them. A DBA must not grant these back.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON midipipe_runs, midipipe_queue FROM pg_read_server_files;
-- ================================================================ end of security: SQL and privileges

-- ---------------------------------------------------------------- monitoring (issue 20)
-- Counters that only grow since server start (or midipipe_metrics_reset()),
-- gauges of the pool now, and the last ended run of this database, for a
-- monitoring stack (contrib/postgres_exporter.yaml) or any SQL scraper.
-- Units: *_total counters count events (files, batches, runs ...) except
-- bytes_total (bytes); gauges count workers, runs or files now; stats_reset
-- is a timestamptz. The names are stable: new columns may be added, none
-- renamed.
CREATE FUNCTION @extschema@.midipipe_metrics(
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
COMMENT ON FUNCTION @extschema@.midipipe_metrics() IS
  'monitoring counters (since server start or midipipe_metrics_reset) and gauges per database, from shared memory (see the view midipipe_metrics)';

CREATE VIEW @extschema@.midipipe_metrics AS SELECT * FROM @extschema@.midipipe_metrics();
COMMENT ON VIEW @extschema@.midipipe_metrics IS
  'one row per database with midipipe activity since server start: cumulative *_total counters, worker and run gauges (README "Monitoring")';

CREATE FUNCTION @extschema@.midipipe_metrics_reset()
  RETURNS void AS 'MODULE_PATHNAME', 'midipipe_metrics_reset' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.midipipe_metrics_reset() IS
  'zero this database''s midipipe_metrics counters (superuser, or a role granted EXECUTE, like pg_stat_reset)';

-- Written as the security block's views are (operators and functions of
-- pg_catalog, the table of @extschema@). It shows a run's counts, which
-- midipipe_progress shows only to the run's role and to readers of all
-- statistics: so it is granted to pg_read_all_stats (pg_monitor has it), not
-- to PUBLIC.
CREATE VIEW @extschema@.midipipe_metrics_last_run AS
SELECT r.run_id, r.state,
       (r.state OPERATOR(pg_catalog.=) 'completed')::pg_catalog.int4 AS success,
       r.started_at, r.finished_at,
       pg_catalog.date_part('epoch', r.finished_at OPERATOR(pg_catalog.-) r.started_at)
         AS duration_seconds,
       pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) r.finished_at)
         AS age_seconds,
       r.files_found, r.files_ok, r.files_duplicate, r.files_unchanged, r.files_failed,
       r.bytes_read
  FROM @extschema@.midipipe_runs r
 WHERE r.finished_at IS NOT NULL
 ORDER BY r.run_id DESC
 LIMIT 1;
COMMENT ON VIEW @extschema@.midipipe_metrics_last_run IS
  'the last ended run of this database (no root path): its outcome, duration and counts';

REVOKE ALL ON FUNCTION @extschema@.midipipe_metrics_reset() FROM PUBLIC;
GRANT SELECT ON @extschema@.midipipe_metrics TO PUBLIC;
GRANT SELECT ON @extschema@.midipipe_metrics_last_run TO pg_read_all_stats;
-- ---------------------------------------------------------------- end of monitoring (issue 20)

-- ---------------------------------------------------------------- scale (issue 17)
-- A million files cost per file what fifty thousand do.
--
-- 1. The run's counts without a row every batch waits for. A batch no longer
--    updates its run's midipipe_runs row (every batch and every scanner flush
--    of a run updated that one row, so the workers queued on its lock, and
--    each update left a row version that the waiting caller's snapshot kept
--    alive). It appends its counts to midipipe_run_counts, in its own
--    transaction as before (so they stay exact after a crash), and the run's
--    scanner folds them into the run row about once a second and when the
--    run ends (a DELETE ... RETURNING and the UPDATE in one transaction: each
--    count is in exactly one of the two places). An append takes no lock a
--    worker waits for; no index: the scanner reads the few rows left since
--    its last fold. Only the extension writes it (as the owner of its
--    tables), like midipipe_runs; pg_dump keeps it with the runs.
CREATE TABLE @extschema@.midipipe_run_counts (
  run_id          bigint NOT NULL,
  files_ok        bigint NOT NULL,
  files_duplicate bigint NOT NULL,
  files_unchanged bigint NOT NULL,
  files_failed    bigint NOT NULL,
  bytes_read      bigint NOT NULL
);
COMMENT ON TABLE @extschema@.midipipe_run_counts IS
  'internal: counts of committed batches not yet folded into their midipipe_runs row (by the run''s scanner, about once a second)';
REVOKE ALL ON @extschema@.midipipe_run_counts FROM PUBLIC;
GRANT SELECT ON @extschema@.midipipe_run_counts TO pg_read_server_files;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.midipipe_run_counts', '');

-- 2. Indexes for what users search (README "Searching a large library"; each
--    measured against what it adds to an import: scripts/bench-scale.sh).
--    The path's unique index becomes one in text_pattern_ops: the same one
--    index (no write added), which serves path = x, path = ANY (...), ON
--    CONFLICT (path), and also path LIKE 'prefix%', starts_with(path, ...) and
--    path ^@ ... whatever the database's collation (a default-collation
--    index serves prefixes only under the C collation); it compares bytes,
--    which is cheaper than a collation's rules. It no longer serves ORDER BY
--    path or ranges (path < x) in the database's collation: no statement of
--    the extension uses them on midipipe_files.
ALTER TABLE @extschema@.midipipe_files DROP CONSTRAINT midipipe_files_path_key;
CREATE UNIQUE INDEX midipipe_files_path_key ON @extschema@.midipipe_files (path text_pattern_ops);
--    Error rows are few: a partial index costs nothing for the others.
CREATE INDEX midipipe_files_errors ON @extschema@.midipipe_files (path text_pattern_ops)
  WHERE status OPERATOR(pg_catalog.=) 'error';
--    What the analysis is searched by.
CREATE INDEX midipipe_analysis_key ON @extschema@.midipipe_analysis (key);
CREATE INDEX midipipe_analysis_tempo ON @extschema@.midipipe_analysis (tempo_bpm);
CREATE INDEX midipipe_analysis_duration ON @extschema@.midipipe_analysis (duration_seconds);
-- ---------------------------------------------------------------- end of scale (issue 17)

-- ---------------------------------------------------------------- content search (issue 18)
-- Find music by its content (docs/content.md has every definition): the same
-- music in other bytes (note fingerprints, a near-match signature), a melody
-- in any key (the melodic line of each track as interval n-grams), a chord
-- progression as key-relative Roman numerals. The workers write the columns
-- with the analysis depth; GIN indexes answer the searches. Written as the
-- security block requires: objects of @extschema@, operators of pg_catalog,
-- functions with search_path = pg_catalog, pg_temp; the functions run with
-- the caller's privileges (the tables are readable by pg_read_server_files).
ALTER TABLE @extschema@.midipipe_analysis
  ADD COLUMN notes_fingerprint            text,      -- non-drum notes (beats, pitch), 32 hex digits
  ADD COLUMN notes_fingerprint_transposed text,      -- the same under any transposition
  ADD COLUMN drums_fingerprint            text,      -- drum notes (channel index 9)
  ADD COLUMN notes_minhash                bigint[],  -- MinHash of the note 4-grams (64 bins)
  ADD COLUMN notes_bands                  bigint[],  -- its 21 LSH bands (GIN)
  ADD COLUMN progression                  text[],    -- Roman numerals in the detected key
  ADD COLUMN progression_codes            smallint[],-- degree * 8 + family + 1, parallel
  ADD COLUMN progression_onsets_ms        bigint[],  -- where each numeral starts, parallel
  ADD COLUMN progression_bars             bigint[],  -- its 1-based bar, parallel
  ADD COLUMN progression_ngrams           bigint[];  -- distinct 2- and 3-grams of the codes (GIN)
ALTER TABLE @extschema@.midipipe_tracks
  ADD COLUMN melody_intervals             smallint[],-- pitch steps of the track's melodic line
  ADD COLUMN melody_onsets_ms             bigint[],  -- onset of each line note
  ADD COLUMN melody_ngrams                bigint[];  -- winnowed interval 4-grams (GIN)

-- The GIN indexes keep a pending list of up to 64 MB (the default 4 MB made
-- the batches merge it into the index again and again: the import ran at
-- half the speed); VACUUM (autovacuum) merges it, searches read it meanwhile.
-- Every content index is partial (NOT NULL): a NULL has no content to find,
-- and every search's operator (=, &&, @>) is strict, so the planner uses the
-- index for it; rows without content (drum and conductor tracks, drum-only
-- files, an import with midipipe.content_search off) cost no index entry.
CREATE INDEX midipipe_analysis_notes_fingerprint
  ON @extschema@.midipipe_analysis (notes_fingerprint)
  WHERE notes_fingerprint IS NOT NULL;
CREATE INDEX midipipe_analysis_notes_fingerprint_transposed
  ON @extschema@.midipipe_analysis (notes_fingerprint_transposed)
  WHERE notes_fingerprint_transposed IS NOT NULL;
CREATE INDEX midipipe_analysis_notes_bands
  ON @extschema@.midipipe_analysis USING gin (notes_bands)
  WITH (gin_pending_list_limit = 65536) WHERE notes_bands IS NOT NULL;
CREATE INDEX midipipe_analysis_progression_ngrams
  ON @extschema@.midipipe_analysis USING gin (progression_ngrams)
  WITH (gin_pending_list_limit = 65536) WHERE progression_ngrams IS NOT NULL;
CREATE INDEX midipipe_tracks_melody_ngrams
  ON @extschema@.midipipe_tracks USING gin (melody_ngrams)
  WITH (gin_pending_list_limit = 65536) WHERE melody_ngrams IS NOT NULL;

CREATE FUNCTION @extschema@.midipipe__melody_query(pitches int[],
    OUT intervals smallint[], OUT ngrams bigint[])
  AS 'MODULE_PATHNAME', 'midipipe__melody_query' LANGUAGE C IMMUTABLE STRICT;
CREATE FUNCTION @extschema@.midipipe__progression_query(progression text,
    OUT codes smallint[], OUT ngrams bigint[])
  AS 'MODULE_PATHNAME', 'midipipe__progression_query' LANGUAGE C IMMUTABLE STRICT;
CREATE FUNCTION @extschema@.midipipe__positions(haystack smallint[], needle smallint[])
  RETURNS int[] AS 'MODULE_PATHNAME', 'midipipe__positions' LANGUAGE C IMMUTABLE STRICT;
CREATE FUNCTION @extschema@.midipipe__pick(vals bigint[], positions int[])
  RETURNS bigint[] AS 'MODULE_PATHNAME', 'midipipe__pick' LANGUAGE C IMMUTABLE STRICT;

-- Groups of distinct contents holding the same notes: 'exact' (the same
-- notes_fingerprint), 'transposed' (the same notes_fingerprint_transposed,
-- listed only when it joins contents of different exact fingerprints),
-- 'drums' (files without pitched notes, the same drums_fingerprint).
CREATE VIEW @extschema@.midipipe_same_music WITH (security_invoker = true) AS
SELECT 'exact'::pg_catalog.text AS match, a.notes_fingerprint AS fingerprint,
       pg_catalog.count(*)::pg_catalog.int4 AS files,
       pg_catalog.array_agg(a.file_id ORDER BY f.path) AS file_ids,
       pg_catalog.array_agg(f.path ORDER BY f.path) AS paths
  FROM @extschema@.midipipe_analysis a
  JOIN @extschema@.midipipe_files f ON f.file_id OPERATOR(pg_catalog.=) a.file_id
 WHERE a.notes_fingerprint IS NOT NULL
 GROUP BY a.notes_fingerprint
HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1
UNION ALL
SELECT 'transposed', a.notes_fingerprint_transposed, pg_catalog.count(*)::pg_catalog.int4,
       pg_catalog.array_agg(a.file_id ORDER BY f.path), pg_catalog.array_agg(f.path ORDER BY f.path)
  FROM @extschema@.midipipe_analysis a
  JOIN @extschema@.midipipe_files f ON f.file_id OPERATOR(pg_catalog.=) a.file_id
 WHERE a.notes_fingerprint_transposed IS NOT NULL
 GROUP BY a.notes_fingerprint_transposed
HAVING pg_catalog.count(DISTINCT a.notes_fingerprint) OPERATOR(pg_catalog.>) 1
UNION ALL
SELECT 'drums', a.drums_fingerprint, pg_catalog.count(*)::pg_catalog.int4,
       pg_catalog.array_agg(a.file_id ORDER BY f.path), pg_catalog.array_agg(f.path ORDER BY f.path)
  FROM @extschema@.midipipe_analysis a
  JOIN @extschema@.midipipe_files f ON f.file_id OPERATOR(pg_catalog.=) a.file_id
 WHERE a.notes_fingerprint IS NULL AND a.drums_fingerprint IS NOT NULL
 GROUP BY a.drums_fingerprint
HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1;
COMMENT ON VIEW @extschema@.midipipe_same_music IS
  'groups of distinct contents with the same notes: exact, under transposition, or drums only (docs/content.md)';

-- The contents whose notes are almost those of content `of_file`: the share
-- of equal MinHash bins (an estimate of the Jaccard similarity of their note
-- 4-gram sets), at least `threshold`, found through the GIN index of the LSH
-- bands (a pair below about 0.4 may be missed: docs/content.md).
CREATE FUNCTION @extschema@.midipipe_similar(of_file bigint, threshold double precision DEFAULT 0.5)
  RETURNS TABLE (file_id bigint, path text, similarity double precision,
                 same_notes boolean, same_transposed boolean)
  LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
SELECT a.file_id, f.path, s.sim,
       a.notes_fingerprint OPERATOR(pg_catalog.=) t.notes_fingerprint,
       a.notes_fingerprint_transposed OPERATOR(pg_catalog.=) t.notes_fingerprint_transposed
  FROM @extschema@.midipipe_analysis t
  JOIN @extschema@.midipipe_analysis a
    ON a.notes_bands OPERATOR(pg_catalog.&&) t.notes_bands
   AND a.file_id OPERATOR(pg_catalog.<>) t.file_id
  JOIN @extschema@.midipipe_files f ON f.file_id OPERATOR(pg_catalog.=) a.file_id
  CROSS JOIN LATERAL (
    SELECT pg_catalog.count(*) FILTER (WHERE u.x OPERATOR(pg_catalog.=) u.y)::pg_catalog.float8
           OPERATOR(pg_catalog./) 64 AS sim
      FROM ROWS FROM (pg_catalog.unnest(a.notes_minhash), pg_catalog.unnest(t.notes_minhash))
           AS u(x, y)) s
 WHERE t.file_id OPERATOR(pg_catalog.=) $1 AND s.sim OPERATOR(pg_catalog.>=) $2
 ORDER BY s.sim DESC, f.path
$$;
COMMENT ON FUNCTION @extschema@.midipipe_similar(bigint, double precision) IS
  'contents whose notes are almost those of a content (estimated share of shared note 4-grams >= threshold)';

-- Every occurrence of a melody (6 to 64 MIDI note numbers), in any key, in
-- the melodic line of any track: the index finds the tracks holding all of
-- its winnowed interval 4-grams, midipipe__positions the places in each (once per
-- track: OFFSET 0 keeps the planner from copying the call into every place
-- that uses its result), midipipe__pick their onsets (the onset array
-- detoasted once per track, not once per occurrence); the tracks without an
-- occurrence are dropped before the paths are read.
CREATE FUNCTION @extschema@.midipipe_find_melody(pitches int[])
  RETURNS TABLE (file_id bigint, path text, track_no int, note_index int,
                 onset_seconds double precision)
  LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
SELECT h.file_id, f.path, h.track_no, p.i, p.ms::pg_catalog.float8 OPERATOR(pg_catalog./) 1000
  FROM (SELECT t.file_id, t.track_no, t.melody_onsets_ms AS onsets,
               @extschema@.midipipe__positions(t.melody_intervals, q.intervals) AS pos
          FROM @extschema@.midipipe__melody_query($1) q
          JOIN @extschema@.midipipe_tracks t ON t.melody_ngrams OPERATOR(pg_catalog.@>) q.ngrams
        OFFSET 0) h
  JOIN @extschema@.midipipe_files f ON f.file_id OPERATOR(pg_catalog.=) h.file_id
  CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(h.pos),
                                pg_catalog.unnest(@extschema@.midipipe__pick(h.onsets, h.pos))) AS p(i, ms)
 WHERE pg_catalog.cardinality(h.pos) OPERATOR(pg_catalog.>) 0
 ORDER BY f.path, h.track_no, p.i
$$;
COMMENT ON FUNCTION @extschema@.midipipe_find_melody(int[]) IS
  'every occurrence of a melody (MIDI note numbers) in any key in the melodic line of any track';

-- The contents whose progression holds `numerals` ('ii V I', 'I-V-vi-IV'):
-- how often, and where (1-based bars and seconds of each occurrence's first
-- chord). Bad syntax: an error naming the character. Written as
-- midipipe_find_melody is (positions once per content, then its places).
CREATE FUNCTION @extschema@.midipipe_find_progression(numerals text)
  RETURNS TABLE (file_id bigint, path text, occurrences int, bars bigint[],
                 seconds double precision[])
  LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
SELECT m.file_id, f.path, pg_catalog.cardinality(m.pos),
       @extschema@.midipipe__pick(m.bars, m.pos),
       ARRAY(SELECT x::pg_catalog.float8 OPERATOR(pg_catalog./) 1000
               FROM pg_catalog.unnest(@extschema@.midipipe__pick(m.onsets, m.pos)) AS x)
  FROM (SELECT a.file_id, a.progression_bars AS bars, a.progression_onsets_ms AS onsets,
               @extschema@.midipipe__positions(a.progression_codes, q.codes) AS pos
          FROM @extschema@.midipipe__progression_query($1) q
          JOIN @extschema@.midipipe_analysis a ON a.progression_ngrams OPERATOR(pg_catalog.@>) q.ngrams
        OFFSET 0) m
  JOIN @extschema@.midipipe_files f ON f.file_id OPERATOR(pg_catalog.=) m.file_id
 WHERE pg_catalog.cardinality(m.pos) OPERATOR(pg_catalog.>) 0
 ORDER BY pg_catalog.cardinality(m.pos) DESC, f.path
$$;
COMMENT ON FUNCTION @extschema@.midipipe_find_progression(text) IS
  'contents whose chord progression holds the Roman numerals given, with how often and where';

GRANT SELECT ON @extschema@.midipipe_same_music TO pg_read_server_files;
-- ---------------------------------------------------------------- end of content search (issue 18)

-- ---------------------------------------------------------------- the manifest's run key (issue 17)
-- The manifest's rows no longer reference their run's row by a foreign key.
-- Its check ran once per row the scanner queued: a lookup of the run's row,
-- which each scanner flush and each fold of the counts updates, and whose
-- versions the snapshot of the caller waiting for the run keeps alive, so
-- that each lookup walked all of them (a 300,000-file import: 7 heap pages
-- per file queued half way, the scanner's CPU per file found up 1.5 times
-- by its end). The scanner writes the run's row before its first manifest
-- rows and updates it in the statement that queues each chunk, which fails
-- when the row is gone (as the check did). Deleting a run's row still
-- deletes its manifest rows: the trigger below does what ON DELETE CASCADE
-- did, as the owner of the tables (as a cascade runs).
ALTER TABLE @extschema@.midipipe_queue DROP CONSTRAINT midipipe_queue_run_id_fkey;
CREATE FUNCTION @extschema@.midipipe__drop_manifest() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  DELETE FROM @extschema@.midipipe_queue q USING gone g
   WHERE q.run_id OPERATOR(pg_catalog.=) g.run_id;
  RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION @extschema@.midipipe__drop_manifest() FROM PUBLIC;
CREATE TRIGGER midipipe_runs_drop_manifest AFTER DELETE ON @extschema@.midipipe_runs
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
  EXECUTE FUNCTION @extschema@.midipipe__drop_manifest();
-- ---------------------------------------------------------------- end of the manifest's run key (issue 17)
