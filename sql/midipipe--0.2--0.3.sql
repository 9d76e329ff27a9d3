-- midipipe 0.2 -> 0.3: chord progressions are stored inline and uncompressed
-- up to a page.
\echo Use "ALTER EXTENSION midipipe UPDATE TO '0.3'" to load this file. \quit

-- A progression of a hundred chords is about 3.5 kB of arrays: above the
-- default toast_tuple_target (2 kB), every such row was compressed with LZ4
-- (most of the cost of writing it: the compressor sets up 16 kB of state per
-- value) and a third of them still went to the TOAST table. With the target
-- at its maximum, rows up to a page are stored as they are; longer ones are
-- compressed and moved out of line as before. The table is larger on disk
-- (about 1.3x for the corpus); an import with analysis depth writes faster.
ALTER TABLE midipipe_chords SET (toast_tuple_target = 8160);
