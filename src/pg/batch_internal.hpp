// midipipe: the inside of one batch (batch.hpp), shared by the batch_*.cpp files.
//
//   batch.cpp          mp_process_batch: the driver, the list of the phases below
//   batch_columns.cpp  the columns of the analysis tables, from the engine's columns.hpp
//   batch_plans.cpp    the prepared statements: SQL text, exec_plan(), exec_scans()
//   batch_datums.cpp   Datum building: column buffers, text, arrays, depth values
//   batch_read.cpp     stat and read one claimed file (file_read.hpp); failures as error rows
//   batch_engine.cpp   the engine call (hash, analyse, split) on guard.hpp
//   batch_rows.cpp     the engine's result as analysis, track and chord row values
//   batch_claim.cpp    the claim (and its cursor), the claimed rows done, the run's counts
//   batch_dedup.cpp    the rows already stored, released and repeated contents (SPI side)
//   dedup.cpp          the decisions themselves: plain C++, unit-tested (test/dedup)
//   batch_store.cpp    midipipe_files upserts, analysis/track/chord inserts
//
// Memory: everything is palloc'd in the batch's memory context (batch.cpp).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "analysis.hpp"
#include "batch.hpp"
#include "batch_columns.hpp"
#include "dedup.hpp"
#include "depth.hpp"
#include "filename_meta.hpp"
#include "run_options.hpp"
#include "split.hpp"

extern "C" {
#include "datatype/timestamp.h"
#include "storage/itemptr.h"
}

namespace mp_batch {

// ------------------------------------------------------------------ batch_plans.cpp

enum PlanId {
  P_RUN,
  P_CLAIM,
  P_EXISTING,
  P_RELEASE,
  P_BY_SHA,
  P_UPSERT,
  P_DEL_ANALYSIS,
  P_INS_ANALYSIS,
  P_INS_TRACKS,
  P_INS_CHORDS,
  P_DEDUP_SMF,
  P_QUEUE_DONE,
  P_RUN_COUNTS,
  P_COUNT
};

// Resolves the extension (afresh every batch) and drops the plans of a
// previous incarnation or version; ERROR when the tables are not this library's.
void check_plans();
// The batch appends its counts to midipipe_run_counts (0.4 tables), rather
// than updating its run's midipipe_runs row.
bool run_counts_appended();
// Runs plan `id` (prepared on first use); ERROR unless SPI returns `expected`.
void exec_plan(PlanId id, Datum* values, const char* nulls, int expected);
// The row type of the table that plan P_UPSERT, P_INS_ANALYSIS, P_INS_TRACKS or
// P_INS_CHORDS inserts into: their one parameter is an array of it.
Oid insert_rowtype(PlanId id);
// The owner of the extension's tables, as which exec_plan() runs the statements
// on the run row and the manifest (set by mp_process_batch; README "Threat model").
extern Oid g_owner;
// exec_plan() with the planner's scans `disabled` while the statement runs.
void exec_scans(PlanId id, Datum* values, const char* nulls, int expected,
                std::initializer_list<const char*> disabled);

// ------------------------------------------------------------------ batch_datums.cpp

// One column of a set-based insert: values pushed row by row, turned into an
// array parameter (optionally a subset of the rows, in a given order).
struct Col {
  Oid type;
  int16 len;
  bool byval;
  char align;
  Datum* v;
  bool* isnull;
  int n;
  int cap;
};

void col_init(Col* c, Oid type);
void col_grow(Col* c);
inline void col_push(Col* c, Datum d, bool null) {
  if (c->n == c->cap) col_grow(c);
  c->v[c->n] = null ? static_cast<Datum>(0) : d;
  c->isnull[c->n] = null;
  ++c->n;
}
// Array of the rows idx[0..k) (all rows in order when idx is null).
Datum col_array(const Col* c, const int* idx, int k);

// Text: call text_setup() once per batch, then utf8_text() makes a text datum
// of UTF-8 bytes in the database encoding; false when it cannot be represented
// (the caller stores NULL).
void text_setup();
bool utf8_text(const char* s, size_t len, Datum* out);

void push_text(Col* c, const char* s, size_t len);
void push_str(Col* c, const std::string& s);
void push_opt_str(Col* c, const std::optional<std::string>& s);
inline void push_i2(Col* c, int v) { col_push(c, Int16GetDatum(static_cast<int16>(v)), false); }
inline void push_opt_i2(Col* c, const std::optional<int16_t>& v) {
  col_push(c, v.has_value() ? Int16GetDatum(*v) : 0, !v.has_value());
}
inline void push_i4(Col* c, int64 v) { col_push(c, Int32GetDatum(static_cast<int32>(v)), false); }
inline void push_i8(Col* c, uint64_t v) {
  col_push(c, Int64GetDatum(static_cast<int64>(std::min<uint64_t>(v, PG_INT64_MAX))), false);
}
inline void push_f8(Col* c, double v) {
  col_push(c, Float8GetDatum(v), std::isnan(v) || std::isinf(v));
}
inline void push_opt_f8(Col* c, const std::optional<double>& v) {
  if (v.has_value())
    push_f8(c, *v);
  else
    col_push(c, 0, true);
}
inline void push_bool(Col* c, bool v) { col_push(c, BoolGetDatum(v), false); }
void push_i2_list(Col* c, const std::vector<int16_t>& v);        // an int2[]
void push_i8_list(Col* c, const std::vector<int64_t>& v);        // an int8[]
void push_text_list(Col* c, const std::vector<std::string>& v);  // a text[]
void push_bytea(Col* c, const uint8_t* p, size_t len);

Datum bytea_datum(const uint8* p, int len);
Datum simple_array(Datum* v, bool* nulls, int n, Oid type);

// Depth values: a chord quality or name as text (cached), drum counts as jsonb.
bool chord_text(const std::string& s, Datum* out);
Datum drum_counts_jsonb(const std::array<uint64_t, midipipe::kDrumClasses>& counts);

// ------------------------------------------------------------------ the batch's files

enum FileState : uint8 {
  FS_UNCHANGED,  // size and mtime as recorded: not read
  FS_ERROR,      // error row
  FS_OK,         // new content: ok row + analysis
  FS_DUPLICATE,  // content already stored (or stored by an earlier file of this batch)
};

struct FileRec {
  char* path;
  Datum path_text;
  FileState state;
  bool have_stat;
  int64 size;
  TimestampTz mtime;
  bool have_sha;
  uint8 sha[32];
  const char* err_code;
  char* err_msg;
  int64 err_offset;            // -1: NULL
  int64 bytes;                 // bytes read
  ItemPointerData queue_ctid;  // of the claimed midipipe_queue row
  int analysis_row;            // row in the analysis columns (ok candidates), -1
  int track_first;             // rows in the track columns
  int track_count;
  Datum* chords;  // the midipipe_chords parameters after file_id (kNChordParams - 1), or null
  char* chord_nulls;
  mp_dedup::Recorded old;  // the existing row for the path, if any
  // the outcome
  int64 dup_of;    // file_id of the stored content, or -1
  int dup_of_rec;  // index of the batch's file holding the content, or -1
  bool reanalyse;  // stays the ok row of the same content: replace its analysis
  int64 file_id;
};

struct Batch {
  FileRec* f;
  int n;
  int* path_order;  // indexes of f sorted by path (find_path())
  int* oks;         // indexes of the files read as FS_OK, by (sha256, path)
  int noks;
  Col a[kMaxCols];  // the analysis columns (analysis_cols()), na of them
  int na;
  Col t[kMaxCols];  // the track columns (track_cols()), nt of them
  int nt;
  int nanalysis;
  uint64 max_file_size;
  MpRunOptions options;  // the run's, from midipipe_runs.options
  bool any_smf;          // a split file was pushed: deduplicate after the insert
  char* buf;             // read buffer, reused
  size_t bufcap;
};

void set_error(FileRec* r, const char* code, char* msg, int64 offset);
inline int cmp_sha(const uint8* x, const uint8* y) { return memcmp(x, y, 32); }
// Index of `path` in the batch (by b->path_order, batch_claim.cpp), or -1.
int find_path(const Batch* b, const char* path);

// ------------------------------------------------------------------ batch_read.cpp

// Every claimed file: stat it, and read and analyse it unless unchanged;
// counts unchanged, failed and bytes_read, and calls on_file after each.
void read_files(Batch* b, MpBatchOutcome* out, mp_file_callback on_file, void* arg);

// ------------------------------------------------------------------ batch_engine.cpp

// Hashes and analyses one file's bytes: r becomes FS_OK with its rows pushed,
// or FS_ERROR. No C++ exception escapes; the engine's result is always freed.
void engine_file(Batch* b, FileRec* r, const uint8_t* data, size_t len);

// ------------------------------------------------------------------ batch_rows.cpp

// What the engine made of one file: all of it C++ objects built inside one
// try block (the only place a C++ exception may be thrown), then read by
// push_analysis() under mp_pg_call().
struct EngineOut {
  midipipe::AnalyzeResult result;
  midipipe::FilenameMeta name;
  midipipe::SplitResult split;  // empty unless the run splits tracks
};

// Pushes one analysis row (in analysis_cols() order), its track rows and its chords.
void push_analysis(Batch* b, FileRec* r, const EngineOut& eo);

// ------------------------------------------------------------------ batch_claim.cpp

// The run's options (midipipe_runs.options) into b->options.
void read_run_options(Batch* b, int64 run_id);
// Claims up to n unfinished paths of the run into b->f (b->n of them).
void claim_files(Batch* b, int64 run_id, int n);
// Marks the claimed queue rows done and adds `out` to the run's counts.
void finish_claim(const Batch* b, int64 run_id, const MpBatchOutcome& out);
void reset_claim_cursor();
// (find_path() is here too: claim_files() sorts b->path_order.)

// ------------------------------------------------------------------ batch_dedup.cpp

// The midipipe_files rows already stored for the batch's paths.
void load_existing(Batch* b);
// 'ok' rows whose content is going away hand their analysis to a duplicate
// (midipipe__release); those of the same content are re-analysed in place.
void release_changed(Batch* b);
// Contents already stored, and contents repeated within the batch: FS_DUPLICATE.
void find_duplicates(Batch* b, MpBatchOutcome* out);

// ------------------------------------------------------------------ batch_store.cpp

// midipipe_files: new contents, errors, duplicates of stored contents, then
// the batch's own duplicates; records every file's file_id.
void write_files(Batch* b, int64 run_id);
// midipipe_analysis, midipipe_tracks, midipipe_chords of the new contents
// (replacing those re-analysed); sets out->ok.
void write_analysis(Batch* b, MpBatchOutcome* out);

}  // namespace mp_batch
