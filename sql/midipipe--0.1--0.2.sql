-- midipipe 0.1 -> 0.2: analysis depth (chords, drums, performance traits,
-- structure), file-name metadata, and track splitting.
-- docs/analysis-depth.md defines every column added here.
\echo Use "ALTER EXTENSION midipipe UPDATE TO '0.2'" to load this file. \quit

-- ---------------------------------------------------------------- analysis depth
ALTER TABLE midipipe_analysis
  -- chords (drum channel excluded); the progression is in midipipe_chords
  ADD COLUMN chord_resolution         text,
  ADD COLUMN distinct_chords          int,
  ADD COLUMN chord_changes_per_bar    double precision,
  ADD COLUMN has_sevenths             boolean,
  ADD COLUMN has_extended             boolean,
  ADD COLUMN harmonic_complexity      double precision,
  -- drums (channel index 9 only)
  ADD COLUMN drum_counts              jsonb,
  ADD COLUMN ghost_notes              bigint,
  ADD COLUMN flams                    bigint,
  ADD COLUMN double_bass              boolean,
  ADD COLUMN double_bass_runs         int,
  ADD COLUMN swing_ratio              double precision,
  ADD COLUMN drum_feel                text,
  ADD COLUMN drum_pattern_bars        int,
  ADD COLUMN drum_loops               boolean,
  -- performance traits
  ADD COLUMN cc_numbers               smallint[],
  ADD COLUMN cc_counts                bigint[],
  ADD COLUMN sustain_pedal_presses    bigint,
  ADD COLUMN has_sustain              boolean,
  ADD COLUMN note_length_mean_beats   double precision,
  ADD COLUMN note_length_median_beats double precision,
  ADD COLUMN legato_share             double precision,
  ADD COLUMN staccato_share           double precision,
  ADD COLUMN timing_dev_ticks         double precision,
  ADD COLUMN timing_dev_ms            double precision,
  ADD COLUMN on_grid_share            double precision,
  ADD COLUMN timing_humanised         boolean,
  -- structure
  ADD COLUMN bar_count                int,
  ADD COLUMN distinct_bars            int,
  ADD COLUMN repeated_share           double precision;

COMMENT ON COLUMN midipipe_analysis.drum_counts IS
  'notes per GM drum class on the drum channel: {"kick": n, "snare": n, ...}';
COMMENT ON COLUMN midipipe_analysis.cc_counts IS 'count per controller, parallel to cc_numbers';

-- The chord progression of each distinct content: one row per file, the
-- chords as parallel arrays (equal consecutive chords merged). The view
-- midipipe_chord_events has one row per chord.
CREATE TABLE midipipe_chords (
  file_id     bigint PRIMARY KEY REFERENCES midipipe_files ON DELETE CASCADE,
  resolution  text,
  ticks       bigint[],
  seconds     double precision[],
  roots       smallint[],
  qualities   text[],
  names       text[]
);
COMMENT ON TABLE midipipe_chords IS
  'chord progression of each distinct content (parallel arrays; see midipipe_chord_events)';

CREATE VIEW midipipe_chord_events AS
  SELECT c.file_id, u.ord::int AS ord, u.tick, u.seconds, u.root, u.quality, u.name
  FROM midipipe_chords c,
       ROWS FROM (unnest(c.ticks), unnest(c.seconds), unnest(c.roots), unnest(c.qualities),
                  unnest(c.names)) WITH ORDINALITY AS u(tick, seconds, root, quality, name, ord);
COMMENT ON VIEW midipipe_chord_events IS 'one row per chord of midipipe_chords, in order';

-- ---------------------------------------------------------------- file-name metadata
-- Parsed from the path of the file whose content this is (the ok row), kept
-- apart from the analysed values; *_agrees compares the two.
ALTER TABLE midipipe_analysis
  ADD COLUMN filename_bpm         double precision,
  ADD COLUMN filename_key         text,
  ADD COLUMN filename_key_tonic   smallint,
  ADD COLUMN filename_key_mode    text,
  ADD COLUMN filename_genres      text[],
  ADD COLUMN filename_bpm_agrees  boolean,
  ADD COLUMN filename_key_agrees  boolean;

-- ---------------------------------------------------------------- track splitting
-- With split_tracks, each track with notes becomes a format-0 file carrying
-- the conductor track's tempo, meter and key events at their true times.
-- smf holds the bytes once per content: a track whose split file repeats one
-- already stored (same smf_sha256) has smf NULL; midipipe_track_smf(sha256)
-- returns the bytes for either.
ALTER TABLE midipipe_tracks
  ADD COLUMN smf        bytea,
  ADD COLUMN smf_sha256 bytea;
CREATE INDEX midipipe_tracks_smf_sha256 ON midipipe_tracks (smf_sha256) WHERE smf_sha256 IS NOT NULL;
COMMENT ON COLUMN midipipe_tracks.smf IS
  'the track split to a format-0 file (NULL when not split, or when an earlier row holds the same bytes)';

CREATE FUNCTION midipipe_track_smf(sha256 bytea) RETURNS bytea
  LANGUAGE sql STABLE STRICT
  RETURN (SELECT t.smf FROM @extschema@.midipipe_tracks t
          WHERE t.smf_sha256 = sha256 AND t.smf IS NOT NULL LIMIT 1);
COMMENT ON FUNCTION midipipe_track_smf(bytea) IS 'the split file with this SHA-256';

-- midipipe_split(file_id): split the stored file's tracks now, in the calling
-- backend (it reads the file from disk again: same privilege as import).
CREATE FUNCTION midipipe_split(file_id bigint) RETURNS int
  AS 'MODULE_PATHNAME', 'midipipe_split' LANGUAGE C VOLATILE STRICT
  SET search_path = pg_catalog, @extschema@;
COMMENT ON FUNCTION midipipe_split(bigint) IS
  'split an imported file''s tracks into format-0 files (midipipe_tracks.smf); returns the tracks split. Needs superuser or pg_read_server_files';

-- midipipe_import gains split_tracks (a new argument: the old signature goes).
DROP FUNCTION midipipe_import(text, int, bool, bool, bool);
CREATE FUNCTION midipipe_import(root text, workers int DEFAULT NULL, recursive bool DEFAULT true,
                                wait bool DEFAULT true, follow_symlinks bool DEFAULT false,
                                split_tracks bool DEFAULT false)
  RETURNS bigint AS 'MODULE_PATHNAME', 'midipipe_import' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION midipipe_import(text, int, bool, bool, bool, bool) IS
  'import every .mid/.midi/.kar/.rmi/.smf file under root (a server directory) on the worker pool; returns the run_id. With split_tracks, also one format-0 file per track. Needs superuser or pg_read_server_files';

GRANT SELECT, INSERT, UPDATE, DELETE ON midipipe_chords TO pg_read_server_files;
GRANT SELECT ON midipipe_chord_events TO pg_read_server_files;
SELECT pg_catalog.pg_extension_config_dump('midipipe_chords', '');
