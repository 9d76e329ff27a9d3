// midipipe: the columns of midipipe_analysis and midipipe_tracks, named once.
//
// Each list below names the columns of one group in the table's order; the
// column is the struct field of that name (the file-name columns add the
// prefix "filename_"), and the field's C++ type says the column's type
// (2/4/8-byte integer, double precision, text, boolean, an array, or jsonb for
// the drum counts). Each visit_*_columns() calls v(name, field) for them. Every reader of the
// columns walks these lists instead of naming the fields again:
//   json.cpp (src/midi)          the JSON form (the CLI, midipipe_analyze())
//   batch_rows.cpp (src/pg)      the row values of a batch's inserts
//   batch_plans.cpp (src/pg)     the insert statements' column lists, checked
//                                against the tables' columns when prepared
// Adding a column: the field and its computation, its name in a list here,
// the upgrade script and the version.
#pragma once

#include "analysis.hpp"
#include "filename_meta.hpp"

// clang-format off
// The columns computed by analyze() (midipipe_analysis after file_id, 0.1).
#define MIDIPIPE_ANALYSIS_COLUMNS(C)                                                     \
  C(format) C(ntracks) C(ppq) C(smpte_fps) C(smpte_ticks_per_frame)                      \
  C(duration_ticks) C(duration_seconds)                                                  \
  C(tempo_bpm) C(tempo_mean_bpm) C(tempo_min_bpm) C(tempo_max_bpm) C(tempo_changes)      \
  C(time_signature) C(time_signature_changes) C(key_signature)                           \
  C(key) C(key_tonic) C(key_mode) C(key_confidence)                                      \
  C(note_count) C(unique_pitches) C(pitch_min) C(pitch_max) C(pitch_mean)                \
  C(velocity_min) C(velocity_max) C(velocity_mean) C(velocity_stddev) C(note_density)    \
  C(polyphony_max) C(polyphony_mean) C(channels) C(programs) C(instrument_families)      \
  C(has_drums) C(drum_note_count) C(cc_count) C(pitch_bend_count) C(sysex_count)         \
  C(title) C(copyright) C(track_names) C(markers) C(has_lyrics)

// The analysis depth columns (0.2; docs/analysis-depth.md), after those above;
// NULL throughout in the table when depth was not computed.
#define MIDIPIPE_DEPTH_COLUMNS(C)                                                        \
  C(chord_resolution) C(distinct_chords) C(chord_changes_per_bar)                        \
  C(has_sevenths) C(has_extended) C(harmonic_complexity)                                 \
  C(drum_counts) C(ghost_notes) C(flams) C(double_bass) C(double_bass_runs)              \
  C(swing_ratio) C(drum_feel) C(drum_pattern_bars) C(drum_loops)                         \
  C(cc_numbers) C(cc_counts) C(sustain_pedal_presses) C(has_sustain)                     \
  C(note_length_mean_beats) C(note_length_median_beats) C(legato_share) C(staccato_share) \
  C(timing_dev_ticks) C(timing_dev_ms) C(on_grid_share) C(timing_humanised)              \
  C(bar_count) C(distinct_bars) C(repeated_share)

// The file-name metadata columns (0.2), the last of midipipe_analysis, each
// named "filename_" and its field.
#define MIDIPIPE_FILENAME_COLUMNS(C)                                                     \
  C(bpm) C(key) C(key_tonic) C(key_mode) C(genres) C(bpm_agrees) C(key_agrees)

// The content search columns (0.4; docs/content.md), the last of
// midipipe_analysis; NULL throughout when they were not computed.
#define MIDIPIPE_CONTENT_COLUMNS(C)                                                      \
  C(notes_fingerprint) C(notes_fingerprint_transposed) C(drums_fingerprint)              \
  C(notes_minhash) C(notes_bands)                                                        \
  C(progression) C(progression_codes) C(progression_onsets_ms) C(progression_bars)       \
  C(progression_ngrams)

// The melodic line of a track (0.4; docs/content.md), the last of
// midipipe_tracks (after smf, smf_sha256).
#define MIDIPIPE_TRACK_CONTENT_COLUMNS(C) C(melody_intervals) C(melody_onsets_ms) C(melody_ngrams)

// midipipe_tracks after file_id (the extension adds smf and smf_sha256).
#define MIDIPIPE_TRACK_COLUMNS(C)                                                        \
  C(track_no) C(name) C(channels) C(program) C(instrument) C(note_count)                 \
  C(pitch_min) C(pitch_max) C(is_drum) C(duration_ticks)
// clang-format on

namespace midipipe {

// One visitor per list: v(column name, field) for each field of the list, in
// its order. The filename columns carry a prefix in the table.
#define MIDIPIPE_VISIT_FIELD(f) v(#f, x.f);
#define MIDIPIPE_VISIT_FILENAME_FIELD(f) v("filename_" #f, x.f);
#define MIDIPIPE_DEFINE_VISITOR(name, Type, LIST, VISIT) \
  template <typename V>                                  \
  void name(const Type& x, V&& v) {                      \
    LIST(VISIT)                                          \
  }

MIDIPIPE_DEFINE_VISITOR(visit_analysis_columns, Analysis, MIDIPIPE_ANALYSIS_COLUMNS,
                        MIDIPIPE_VISIT_FIELD)
MIDIPIPE_DEFINE_VISITOR(visit_depth_columns, Depth, MIDIPIPE_DEPTH_COLUMNS, MIDIPIPE_VISIT_FIELD)
MIDIPIPE_DEFINE_VISITOR(visit_filename_columns, FilenameMeta, MIDIPIPE_FILENAME_COLUMNS,
                        MIDIPIPE_VISIT_FILENAME_FIELD)
MIDIPIPE_DEFINE_VISITOR(visit_track_columns, TrackAnalysis, MIDIPIPE_TRACK_COLUMNS,
                        MIDIPIPE_VISIT_FIELD)
MIDIPIPE_DEFINE_VISITOR(visit_content_columns, Content, MIDIPIPE_CONTENT_COLUMNS,
                        MIDIPIPE_VISIT_FIELD)
MIDIPIPE_DEFINE_VISITOR(visit_track_content_columns, TrackMelody, MIDIPIPE_TRACK_CONTENT_COLUMNS,
                        MIDIPIPE_VISIT_FIELD)

#undef MIDIPIPE_DEFINE_VISITOR
#undef MIDIPIPE_VISIT_FILENAME_FIELD
#undef MIDIPIPE_VISIT_FIELD

}  // namespace midipipe
