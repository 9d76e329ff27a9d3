-- Content search through the server (docs/content.md): variants of corpus files land in their
-- original's group of midipipe_same_music; corpus pieces share a fingerprint only when they hold
-- the same notes (the pairs listed below); melody excerpts are found in any key (recall 100%,
-- precision printed); midipipe_find_progression equals a brute-force scan of midipipe_chords and
-- finds the hand-made progressions where they are. Files: test/content/content_files.py (run.sh).
SET client_min_messages = warning;
SELECT plan(18);
SELECT value || '/content' AS root, value || '/corpus/' AS corpus FROM tap.ctx WHERE key = 'work' \gset
\set manifest :root '/variants/manifest.tsv'
\set excerpts :root '/variants/excerpts.tsv'
\set hand :root '/hand/progressions.tsv'
CREATE TEMP TABLE manifest (path text PRIMARY KEY, original text, kind text);
COPY manifest FROM :'manifest';
CREATE TEMP TABLE excerpts (path text, track_no int, note_index int, pitches int[], transposition int);
COPY excerpts FROM :'excerpts';
CREATE TEMP TABLE hand (path text, numerals text, bars bigint[]);
COPY hand FROM :'hand';

SELECT midipipe_import(:'root', wait => true) AS content_run \gset
SELECT is((SELECT state FROM midipipe_runs ORDER BY run_id DESC LIMIT 1), 'completed', 'the content tree imported');
-- each path's content (a file identical to one imported before is its duplicate)
CREATE TEMP TABLE content AS
  SELECT f.path, a.* FROM midipipe_files f
    JOIN midipipe_analysis a ON a.file_id = coalesce(f.duplicate_of, f.file_id);
SELECT is((SELECT count(*) FROM manifest m JOIN content c USING (path)), (SELECT count(*) FROM manifest),
          'every variant has an analysis');
SELECT cmp_ok((SELECT count(DISTINCT original) FROM manifest), '>=', 30::bigint, 'at least 30 originals');

-- 1. the same music
CREATE TEMP VIEW pairs AS
  SELECT m.kind, v.file_id AS v_id, o.file_id AS o_id, v.notes_fingerprint AS v_fp, o.notes_fingerprint AS o_fp,
         v.notes_fingerprint_transposed AS v_fpt, o.notes_fingerprint_transposed AS o_fpt
    FROM manifest m JOIN content v ON v.path = m.path JOIN content o ON o.path = m.original
   WHERE m.kind <> 'original';
SELECT is((SELECT count(*) FROM pairs WHERE kind NOT LIKE 'transposed%' AND v_fp IS DISTINCT FROM o_fp), 0::bigint,
          'meta stripped, format 0, tracks reordered, tempo, channels/programs, velocities, resolution: the original''s exact fingerprint');
SELECT is((SELECT count(*) FROM pairs WHERE kind LIKE 'transposed%' AND (v_fpt IS DISTINCT FROM o_fpt OR v_fp = o_fp)),
          0::bigint, 'transposed -5..+6: another exact fingerprint, the original''s transposition-invariant one');
SELECT is((SELECT count(*) FROM pairs p
            WHERE p.v_id <> p.o_id
              AND NOT EXISTS (SELECT FROM midipipe_same_music s
                               WHERE s.match = CASE WHEN p.kind LIKE 'transposed%' THEN 'transposed' ELSE 'exact' END
                                 AND p.v_id = ANY (s.file_ids) AND p.o_id = ANY (s.file_ids))),
          0::bigint, 'midipipe_same_music: every variant in its original''s group');
SELECT is((SELECT count(*) FROM pairs p
            WHERE p.v_id <> p.o_id
              AND NOT EXISTS (SELECT FROM midipipe_similar(p.o_id, 0.5) s WHERE s.file_id = p.v_id)),
          0::bigint, 'midipipe_similar(original, 0.5) lists every variant');

-- Corpus pieces that share an exact fingerprint: only these, each checked note by note by
-- content_files.py same-notes (ctest content_same_notes). Reasons: the jazz-soft and nfroidure
-- edge files are one test tune saved with other headers, running status, corrupt or unknown
-- chunks, other sysex, controllers or tunings; music21 test18/19 and test20/21 are one score
-- exported twice; the Bach and Debussy pieces are the same piano-midi.de files in two collections;
-- the two Clair de Lune are one file in two PianoBooster course folders.
CREATE TEMP TABLE known_same (grp text, path text);
INSERT INTO known_same VALUES
  ('clair', 'debian-pianobooster/courses/BeginnerCourse/04-ClairDeLaLune.mid'),
  ('clair', 'debian-pianobooster/courses/BoosterMusic/01-ClairDeLaLune.mid'),
  ('2tracks', 'edge/jazz-soft-test-midi-files/midi/test-2-tracks-type-0.mid'),
  ('2tracks', 'edge/jazz-soft-test-midi-files/midi/test-2-tracks-type-1.mid'),
  ('2tracks', 'edge/jazz-soft-test-midi-files/midi/test-2-tracks-type-2.mid'),
  ('doggy', 'edge/jazz-soft-test-midi-files/midi/test-gm2-doggy-79-01-7b.mid'),
  ('doggy', 'edge/jazz-soft-test-midi-files/midi/test-gs-doggy-01-00-7b.mid'),
  ('doggy', 'edge/jazz-soft-test-midi-files/midi/test-sysex-gs-40-1x-4x-scale-tuning.mid'),
  ('doggy', 'edge/jazz-soft-test-midi-files/midi/test-xg-doggy-40-00-30.mid'),
  ('chords', 'edge/jazz-soft-test-midi-files/midi/test-multichannel-chords-0.mid'),
  ('chords', 'edge/jazz-soft-test-midi-files/midi/test-multichannel-chords-1.mid'),
  ('chords', 'edge/jazz-soft-test-midi-files/midi/test-multichannel-chords-2.mid'),
  ('chords', 'edge/jazz-soft-test-midi-files/midi/test-multichannel-chords-3.mid'),
  ('tuning', 'edge/jazz-soft-test-midi-files/midi/test-rpn-00-02-coarse-tuning.mid'),
  ('tuning', 'edge/jazz-soft-test-midi-files/midi/test-sysex-7f-04-04-master-coarse-tuning.mid'),
  ('m21a', 'edge/music21/testPrimitive/test18.mid'), ('m21a', 'edge/music21/testPrimitive/test19.mid'),
  ('m21b', 'edge/music21/testPrimitive/test20.mid'), ('m21b', 'edge/music21/testPrimitive/test21.mid'),
  ('bach846', 'piano-midi-de/Bach/bach_846.mid'), ('bach846', 'tonejs-midi-tests/bach/bach_846.mid'),
  ('bach850', 'piano-midi-de/Bach/bach_850.mid'), ('bach850', 'tonejs-midi-tests/bach/bach_850.mid'),
  ('debussy', 'piano-midi-de/Debussy/debussy_cc_4.mid'),
  ('debussy', 'tonejs-midi-tests/debussy/childrens_corner_4.mid');
INSERT INTO known_same SELECT 'scale', 'edge/jazz-soft-test-midi-files/midi/' || n FROM unnest(ARRAY[
  'test-c-major-scale.mid', 'test-corrupt-file-extra-byte.mid', 'test-corrupt-file-missing-byte.mid',
  'test-illegal-message-f1-xx.mid', 'test-illegal-message-f2-xx-xx.mid', 'test-illegal-message-f3-xx.mid',
  'test-illegal-message-f6.mid', 'test-illegal-message-f8.mid', 'test-illegal-message-fa.mid',
  'test-illegal-message-fb.mid', 'test-illegal-message-fc.mid', 'test-illegal-message-fe.mid',
  'test-non-midi-track.mid', 'test-running-status-metaevent.mid', 'test-running-status-sysex.mid',
  'test-smpte-offset.mid', 'test-vlq-2-byte.mid', 'test-vlq-3-byte.mid', 'test-vlq-4-byte.mid']) n;
INSERT INTO known_same SELECT 'nfroidure', 'edge/nfroidure-midifile/' || n FROM unnest(ARRAY[
  'MIDIBadFormat1.mid', 'MIDIBadHeaderTracksNum.mid', 'MIDIBadTrackLength.mid', 'MIDIOkFormat0.mid',
  'MIDIOkFormat1.mid']) n;
-- the corpus contents (paths of the corpus copy) in a group with another corpus content
CREATE TEMP TABLE corpus_groups AS
  SELECT s.fingerprint, substr(p, length(:'corpus') + 1) AS path
    FROM midipipe_same_music s, unnest(s.paths) p
   WHERE s.match = 'exact' AND p LIKE :'corpus' || '%';
DELETE FROM corpus_groups g WHERE (SELECT count(*) FROM corpus_groups o WHERE o.fingerprint = g.fingerprint) < 2;
SELECT is_empty($$SELECT g.path, o.path FROM corpus_groups g JOIN corpus_groups o USING (fingerprint)
                   WHERE g.path < o.path AND NOT EXISTS (SELECT FROM known_same a JOIN known_same b USING (grp)
                                                          WHERE a.path = g.path AND b.path = o.path)$$,
                'no two corpus pieces share an exact fingerprint but the listed pairs of the same notes');
SELECT cmp_ok((SELECT count(DISTINCT fingerprint) FROM corpus_groups), '>=', 8::bigint,
              'the listed groups of the same notes are found (' ||
              (SELECT count(DISTINCT fingerprint) FROM corpus_groups) || ' groups)');

-- 2. melodies: every excerpt found at its place, in any key
CREATE TEMP TABLE hits AS
  SELECT e.*, c.file_id AS src, r.file_id AS hit, r.track_no AS hit_track, r.note_index AS hit_index,
         r.onset_seconds AS hit_onset
    FROM excerpts e JOIN content c USING (path)
    LEFT JOIN LATERAL midipipe_find_melody(e.pitches) r ON true;
SELECT is((SELECT count(*) FROM excerpts e JOIN content c USING (path)
            WHERE NOT EXISTS (SELECT FROM hits h WHERE h.path = e.path AND h.pitches = e.pitches
                                AND h.hit = c.file_id AND h.hit_track = e.track_no
                                AND h.hit_index = e.note_index)),
          0::bigint, 'recall: every one of the ' || (SELECT count(*) FROM excerpts) ||
          ' excerpts found at its file, track and note (' ||
          (SELECT count(*) FROM excerpts WHERE transposition <> 0) || ' transposed)');
-- precision: of the (file, track) hits, those of the source's piece (the file or its variants)
CREATE TEMP TABLE piece AS
  SELECT DISTINCT o.file_id AS src, v.file_id AS member
    FROM manifest m JOIN content o ON o.path = m.original JOIN content v ON v.path = m.path;
SELECT diag('melody precision: ' ||
            round(100.0 * count(*) FILTER (WHERE EXISTS (SELECT FROM piece p WHERE p.src = h.src AND p.member = h.hit))
                  / greatest(count(*), 1), 1) || '% of ' || count(*) || ' distinct (excerpt, file, track) hits are the source piece')
  FROM (SELECT DISTINCT path, pitches, src, hit, hit_track FROM hits WHERE hit IS NOT NULL) h;
SELECT throws_like($$SELECT * FROM midipipe_find_melody('{60,62,64,65}')$$, '%needs 6 to 64 pitches, not 4%',
                   'a melody of 4 notes: a clear error');
-- the onsets of the hits: those of the notes where each occurrence starts
SELECT is((SELECT count(*) FILTER (WHERE h.hit_onset IS DISTINCT FROM t.melody_onsets_ms[h.hit_index]::float8 / 1000)
                  || ' of ' || count(*)
             FROM hits h JOIN midipipe_tracks t ON t.file_id = h.hit AND t.track_no = h.hit_track),
          '0 of ' || (SELECT count(*) FROM hits WHERE hit IS NOT NULL),
          'every hit''s onset is that of its note in the stored line');
SELECT is(midipipe__pick('{10,20,30}', '{3,1,4,0}'), '{30,10,NULL,NULL}'::bigint[],
          'midipipe__pick: the elements at 1-based places, NULL outside');

-- 3. progressions: the function equals a brute-force scan of midipipe_chords in the detected key
CREATE FUNCTION pg_temp.brute(q smallint[]) RETURNS TABLE (file_id bigint, n int) LANGUAGE plpgsql AS $$
DECLARE r record; seq smallint[]; fam int; code smallint; last smallint; cnt int;
BEGIN
  FOR r IN SELECT c.file_id, c.roots, c.qualities, a.key_tonic FROM midipipe_chords c
             JOIN midipipe_analysis a USING (file_id) WHERE a.key_tonic IS NOT NULL LOOP
    seq := '{}'; last := -1;
    FOR i IN 1 .. coalesce(cardinality(r.roots), 0) LOOP
      CONTINUE WHEN r.roots[i] IS NULL;
      fam := CASE WHEN r.qualities[i] IN ('maj', '6', '7', 'maj7', 'add9', '9', 'maj9') THEN 0
                  WHEN r.qualities[i] IN ('min', 'm6', 'm7', 'm9') THEN 1
                  WHEN r.qualities[i] IN ('dim', 'm7b5', 'dim7') THEN 2
                  WHEN r.qualities[i] = 'aug' THEN 3
                  WHEN r.qualities[i] IN ('sus2', 'sus4', '7sus4') THEN 4
                  WHEN r.qualities[i] = 'aug6' THEN 5 END;  -- on its bass, the root + 2
      CONTINUE WHEN fam IS NULL;
      code := (((r.roots[i] + CASE WHEN fam = 5 THEN 2 ELSE 0 END - r.key_tonic) % 12 + 12) % 12) * 8 + fam + 1;
      CONTINUE WHEN code = last;
      last := code;
      seq := seq || code;
    END LOOP;
    cnt := 0;
    FOR i IN 1 .. cardinality(seq) - cardinality(q) + 1 LOOP
      IF seq[i : i + cardinality(q) - 1] = q THEN cnt := cnt + 1; END IF;
    END LOOP;
    IF cnt > 0 THEN file_id := r.file_id; n := cnt; RETURN NEXT; END IF;
  END LOOP;
END $$;
CREATE TEMP TABLE progressions (p text);
INSERT INTO progressions VALUES ('ii V I'), ('I V vi IV'), ('I IV V'), ('i bVII bVI V'), ('vi IV I V'),
  ('I vi IV V'), ('i iv V'), ('IV V I'), ('V I'), ('I V'), ('ii V'), ('i bVI bIII bVII'), ('I IV I V I'),
  ('bVI+6 V'), ('iv Ger+6 V');
CREATE TEMP TABLE prog_diff AS
  SELECT p.p, (SELECT count(*) FROM ((SELECT file_id, occurrences FROM midipipe_find_progression(p.p)
                                      EXCEPT SELECT * FROM pg_temp.brute((midipipe__progression_query(p.p)).codes))
                                     UNION ALL
                                     (SELECT * FROM pg_temp.brute((midipipe__progression_query(p.p)).codes)
                                      EXCEPT SELECT file_id, occurrences FROM midipipe_find_progression(p.p))) d) AS diff,
         (SELECT count(*) FROM midipipe_find_progression(p.p)) AS files
    FROM progressions p;
SELECT is((SELECT string_agg(p, ', ') FROM prog_diff WHERE diff > 0), NULL,
          'midipipe_find_progression = brute force for ' || (SELECT string_agg(p || ' (' || files || ' files)', ', ') FROM prog_diff));
SELECT cmp_ok((SELECT min(files) FILTER (WHERE p IN ('ii V I', 'I IV V', 'V I')) FROM prog_diff), '>', 0::bigint,
              'common progressions are found in the corpus');
SELECT is((SELECT count(*) FROM hand h
            WHERE NOT EXISTS (SELECT FROM midipipe_find_progression(h.numerals) r
                               WHERE r.path = h.path AND r.bars = h.bars)),
          0::bigint, 'the hand-made files: ' || (SELECT string_agg(numerals, ', ') FROM hand) || ' at their bars');
SELECT throws_like($$SELECT * FROM midipipe_find_progression('ii V X')$$,
                   'midipipe: bad progression at character 6: expected a Roman numeral%',
                   'bad syntax: an error with the position');

-- the least privileged role reads nothing through the functions
CREATE ROLE tap_content_nobody;
SET ROLE tap_content_nobody;
SELECT throws_like($$SELECT * FROM midipipe_find_progression('ii V I')$$, '%permission denied%',
                   'a role that may not read the tables gets nothing through midipipe_find_progression');
RESET ROLE;
DROP ROLE tap_content_nobody;
SELECT * FROM finish();
