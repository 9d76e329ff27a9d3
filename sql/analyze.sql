-- midipipe_analyze(bytea): the engine in this backend, on bytes built here.
-- A format-0 file, 96 ticks per quarter, tempo 500000 (120 bpm), one C4
-- note of one beat, End of Track at tick 96.
CREATE TEMP TABLE smf AS SELECT decode(
  '4d546864' || '00000006' || '0000' || '0001' || '0060' ||
  '4d54726b' || '00000013' ||
  '00ff510307a120' || '00903c64' || '60803c00' || '00ff2f00', 'hex') AS data;

SELECT j->>'format' AS format, j->>'ntracks' AS ntracks, j->>'ppq' AS ppq,
       j->>'duration_ticks' AS ticks, j->>'duration_seconds' AS seconds,
       j->>'tempo_bpm' AS bpm, j->>'note_count' AS notes, j->>'pitch_min' AS pmin,
       j->>'pitch_max' AS pmax, j->>'velocity_max' AS vmax, j->'channels' AS channels,
       j->>'has_drums' AS drums, j->>'time_signature' AS ts,
       jsonb_array_length(j->'tracks') AS tracks, j->'tracks'->0->>'note_count' AS track0_notes
  FROM (SELECT midipipe_analyze(data) AS j FROM smf) s;

-- the same fields as the tables: every key of the JSON is a column
SELECT k AS key_not_a_column
  FROM smf, jsonb_object_keys(midipipe_analyze(data)) k
 WHERE k NOT IN ('tracks', 'warnings', 'chords')  -- rows of midipipe_tracks, midipipe_chords
   AND k NOT IN (SELECT attname FROM pg_attribute
                  WHERE attrelid = 'midipipe_analysis'::regclass AND attnum > 0);
SELECT k AS track_key_not_a_column
  FROM smf, jsonb_object_keys(midipipe_analyze(data)->'tracks'->0) k
 WHERE k NOT IN (SELECT attname FROM pg_attribute
                  WHERE attrelid = 'midipipe_tracks'::regclass AND attnum > 0);

-- bad input is a value, never an error: code, message, byte offset
SELECT midipipe_analyze(''::bytea)->>'error_code' AS empty;
SELECT midipipe_analyze('hello, world'::bytea)->>'error_code' AS text_file;
SELECT j->>'error_code' AS code, j->>'error_offset' AS offset
  FROM (SELECT midipipe_analyze(decode('4d54686400000006000000', 'hex')) AS j) s;
-- format 3 does not exist
SELECT midipipe_analyze(decode('4d546864000000060003000100604d54726b0000000400ff2f00', 'hex'))->>'error_code' AS bad_format;
-- a track cut short is recoverable: analysed, with a warning
SELECT j->>'error_code' IS NULL AS analysed, j->>'note_count' AS notes
  FROM (SELECT midipipe_analyze(substring(data FROM 1 FOR length(data) - 4)) AS j FROM smf) s;
-- every prefix of the file: no crash, always an object
SELECT count(*) AS prefixes, count(*) FILTER (WHERE jsonb_typeof(j) = 'object') AS objects
  FROM smf, generate_series(0, length(data)) n,
       LATERAL (SELECT midipipe_analyze(substring(data FROM 1 FOR n)) AS j) s;
-- STRICT
SELECT midipipe_analyze(NULL) IS NULL AS null_in_null_out;
-- a bytea from any role: no file privilege needed
CREATE ROLE regress_midipipe_nobody;
GRANT SELECT ON smf TO regress_midipipe_nobody;
SET ROLE regress_midipipe_nobody;
SELECT midipipe_analyze(data)->>'note_count' AS notes FROM smf;
RESET ROLE;
DROP TABLE smf;
DROP ROLE regress_midipipe_nobody;
