// midipipe: the columns a batch writes to midipipe_analysis and midipipe_tracks
// (after file_id), described from the engine's one list of them
// (src/midi/columns.hpp): the plans' column lists and parameter types
// (batch_plans.cpp, which checks them against the tables), and the order in
// which batch_rows.cpp pushes the values. Also the parameters of the
// midipipe_chords insert.
#pragma once

extern "C" {
#include "postgres.h"
}

namespace mp_batch {

// One column: its name, the type of the values the batch makes for it
// (`type`) and the type the table must have (`column_type`; the same today:
// array columns are built in binary too).
struct ColSpec {
  const char* name;
  Oid type;
  Oid column_type;
};

// At most this many columns per table (the batch keeps one buffer for each).
inline constexpr int kMaxCols = 128;

// midipipe_analysis after file_id: analysis, depth and file-name columns.
const ColSpec* analysis_cols(int* n);
// midipipe_tracks after file_id: the track columns, then smf and smf_sha256.
const ColSpec* track_cols(int* n);

// midipipe_chords: one row per content, the progression as parallel arrays
// built in binary (a progression is a few hundred values: through text they
// cost more than the row's insert). Columns: file_id, resolution, ticks,
// seconds, roots, qualities, names.
inline constexpr int kNChordParams = 7;
// midipipe_chords after file_id (kNChordParams - 1 of them).
const ColSpec* chord_cols();
// The midipipe_files columns a batch writes (file_id and imported_at come
// from the table's defaults).
inline constexpr int kNFileCols = 10;
const ColSpec* file_cols();

}  // namespace mp_batch
