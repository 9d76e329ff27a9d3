// midipipe: the columns a batch writes to midipipe_analysis and midipipe_tracks
// (after file_id), in the order batch_rows.cpp pushes their values, and the
// parameters of the midipipe_chords insert. batch_plans.cpp builds the insert
// statements from these lists.
#pragma once

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
}

namespace mp_batch {

// Columns of midipipe_analysis after file_id, in the order push_analysis() (batch_rows.cpp) pushes
// them. `cast` turns the text parameter of an array column into the column's type.
struct ColSpec {
  const char* name;
  Oid type;
  const char* cast;
};

inline constexpr ColSpec kAnalysisCols[] = {
    {"format", INT2OID, nullptr},
    {"ntracks", INT4OID, nullptr},
    {"ppq", INT4OID, nullptr},
    {"smpte_fps", INT2OID, nullptr},
    {"smpte_ticks_per_frame", INT2OID, nullptr},
    {"duration_ticks", INT8OID, nullptr},
    {"duration_seconds", FLOAT8OID, nullptr},
    {"tempo_bpm", FLOAT8OID, nullptr},
    {"tempo_mean_bpm", FLOAT8OID, nullptr},
    {"tempo_min_bpm", FLOAT8OID, nullptr},
    {"tempo_max_bpm", FLOAT8OID, nullptr},
    {"tempo_changes", INT4OID, nullptr},
    {"time_signature", TEXTOID, nullptr},
    {"time_signature_changes", INT4OID, nullptr},
    {"key_signature", TEXTOID, nullptr},
    {"key", TEXTOID, nullptr},
    {"key_tonic", INT2OID, nullptr},
    {"key_mode", TEXTOID, nullptr},
    {"key_confidence", FLOAT8OID, nullptr},
    {"note_count", INT8OID, nullptr},
    {"unique_pitches", INT4OID, nullptr},
    {"pitch_min", INT2OID, nullptr},
    {"pitch_max", INT2OID, nullptr},
    {"pitch_mean", FLOAT8OID, nullptr},
    {"velocity_min", INT2OID, nullptr},
    {"velocity_max", INT2OID, nullptr},
    {"velocity_mean", FLOAT8OID, nullptr},
    {"velocity_stddev", FLOAT8OID, nullptr},
    {"note_density", FLOAT8OID, nullptr},
    {"polyphony_max", INT4OID, nullptr},
    {"polyphony_mean", FLOAT8OID, nullptr},
    {"channels", TEXTOID, "pg_catalog.int2[]"},
    {"programs", TEXTOID, "pg_catalog.int2[]"},
    {"instrument_families", TEXTOID, "pg_catalog.text[]"},
    {"has_drums", BOOLOID, nullptr},
    {"drum_note_count", INT8OID, nullptr},
    {"cc_count", INT8OID, nullptr},
    {"pitch_bend_count", INT8OID, nullptr},
    {"sysex_count", INT8OID, nullptr},
    {"title", TEXTOID, nullptr},
    {"copyright", TEXTOID, nullptr},
    {"track_names", TEXTOID, "pg_catalog.text[]"},
    {"markers", TEXTOID, "pg_catalog.text[]"},
    {"has_lyrics", BOOLOID, nullptr},
    // 0.2: analysis depth (docs/analysis-depth.md)
    {"chord_resolution", TEXTOID, nullptr},
    {"distinct_chords", INT4OID, nullptr},
    {"chord_changes_per_bar", FLOAT8OID, nullptr},
    {"has_sevenths", BOOLOID, nullptr},
    {"has_extended", BOOLOID, nullptr},
    {"harmonic_complexity", FLOAT8OID, nullptr},
    {"drum_counts", JSONBOID, nullptr},
    {"ghost_notes", INT8OID, nullptr},
    {"flams", INT8OID, nullptr},
    {"double_bass", BOOLOID, nullptr},
    {"double_bass_runs", INT4OID, nullptr},
    {"swing_ratio", FLOAT8OID, nullptr},
    {"drum_feel", TEXTOID, nullptr},
    {"drum_pattern_bars", INT4OID, nullptr},
    {"drum_loops", BOOLOID, nullptr},
    {"cc_numbers", TEXTOID, "pg_catalog.int2[]"},
    {"cc_counts", TEXTOID, "pg_catalog.int8[]"},
    {"sustain_pedal_presses", INT8OID, nullptr},
    {"has_sustain", BOOLOID, nullptr},
    {"note_length_mean_beats", FLOAT8OID, nullptr},
    {"note_length_median_beats", FLOAT8OID, nullptr},
    {"legato_share", FLOAT8OID, nullptr},
    {"staccato_share", FLOAT8OID, nullptr},
    {"timing_dev_ticks", FLOAT8OID, nullptr},
    {"timing_dev_ms", FLOAT8OID, nullptr},
    {"on_grid_share", FLOAT8OID, nullptr},
    {"timing_humanised", BOOLOID, nullptr},
    {"bar_count", INT4OID, nullptr},
    {"distinct_bars", INT4OID, nullptr},
    {"repeated_share", FLOAT8OID, nullptr},
    {"filename_bpm", FLOAT8OID, nullptr},
    {"filename_key", TEXTOID, nullptr},
    {"filename_key_tonic", INT2OID, nullptr},
    {"filename_key_mode", TEXTOID, nullptr},
    {"filename_genres", TEXTOID, "pg_catalog.text[]"},
    {"filename_bpm_agrees", BOOLOID, nullptr},
    {"filename_key_agrees", BOOLOID, nullptr},
};
inline constexpr int kNAnalysis = sizeof(kAnalysisCols) / sizeof(kAnalysisCols[0]);

inline constexpr ColSpec kTrackCols[] = {
    {"track_no", INT4OID, nullptr},
    {"name", TEXTOID, nullptr},
    {"channels", TEXTOID, "pg_catalog.int2[]"},
    {"program", INT2OID, nullptr},
    {"instrument", TEXTOID, nullptr},
    {"note_count", INT8OID, nullptr},
    {"pitch_min", INT2OID, nullptr},
    {"pitch_max", INT2OID, nullptr},
    {"is_drum", BOOLOID, nullptr},
    {"duration_ticks", INT8OID, nullptr},
    {"smf", BYTEAOID, nullptr},         // 0.2: the track split to a format-0 file
    {"smf_sha256", BYTEAOID, nullptr},  // (both NULL unless the run splits tracks)
};
inline constexpr int kNTracks = sizeof(kTrackCols) / sizeof(kTrackCols[0]);

// midipipe_chords: one row per content, the progression as parallel arrays,
// inserted a row at a time with the arrays built in binary (a progression is
// a few hundred values: through text they cost more than the row's insert).
// Parameters: file_id, resolution, ticks, seconds, roots, qualities, names.
inline constexpr int kNChordParams = 7;

}  // namespace mp_batch
