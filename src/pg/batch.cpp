// midipipe: one batch of a run (see batch.hpp): claim paths, read, hash and
// analyse the files, write the rows with a handful of set-based statements.
//
// Memory and errors: everything here is palloc'd in a per-batch memory
// context, and PostgreSQL errors propagate as usual (the worker aborts the
// transaction and the claimed paths go back to the queue). The only C++
// objects with destructors are the engine's results, which live in
// engine_file() under PG_TRY/PG_FINALLY, so an ERROR while converting them
// still frees them; no C++ exception leaves the engine call.
//
// Per batch, whatever its size: one statement to read the run's options, one
// claim, one lookup of the existing rows by path, one lookup of the stored
// contents by sha256, one or two upserts of midipipe_files, one insert per
// analysis table, one queue update and one run update. Rare extra statements:
// midipipe__release() when an 'ok' row's content changed, a delete of stale
// analysis rows when an unchanged content is re-read.
//
// Text: the engine's strings are valid UTF-8 without NUL. In a UTF-8 database
// they are stored as they are (after a verification); in SQL_ASCII too; in any
// other encoding they are converted, and a string that cannot be represented
// is stored as NULL (never an error that would fail the batch).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <new>
#include <span>

#include "analysis.hpp"
#include "batch.hpp"
#include "filename_meta.hpp"
#include "key.hpp"  // AnalyzeOptions, analyze_with
#include "split.hpp"
#include "guard.hpp"
#include "sha256.hpp"
#include "shmem.hpp"

extern "C" {
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/namespace.h"
#include "common/string.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

PGDLLEXPORT Datum midipipe__process_batch(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(midipipe__process_batch);
}

namespace {

// ------------------------------------------------------------------ prepared plans

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

SPIPlanPtr g_plans[P_COUNT];
Oid g_plans_ext = InvalidOid;  // the extension the plans were prepared for
bool g_plans_current = false;  // g_plans_ext's version was checked
// The install script version these plans are written for, and the older
// versions whose tables are the same (0.3 changed a storage parameter only,
// 0.4 functions, views and privileges).
constexpr const char* kTablesVersion = "0.4";
constexpr const char* kSameTables[] = {"0.2", "0.3", "0.4"};
char* g_schema = nullptr;  // its schema, quoted (TopMemoryContext)

// Columns of midipipe_analysis after file_id, in the order analysis_row() pushes them.
// `cast` turns the text parameter of an array column into the column's type.
struct ColSpec {
  const char* name;
  Oid type;
  const char* cast;
};

constexpr ColSpec kAnalysisCols[] = {
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
constexpr int kNAnalysis = sizeof(kAnalysisCols) / sizeof(kAnalysisCols[0]);

constexpr ColSpec kTrackCols[] = {
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
constexpr int kNTracks = sizeof(kTrackCols) / sizeof(kTrackCols[0]);

// midipipe_chords: one row per content, the progression as parallel arrays,
// inserted a row at a time with the arrays built in binary (a progression is
// a few hundred values: through text they cost more than the row's insert).
// Parameters: file_id, resolution, ticks, seconds, roots, qualities, names.
constexpr int kNChordParams = 7;

Oid array_of(Oid t) {
  switch (t) {
    case INT2OID:
      return INT2ARRAYOID;
    case INT4OID:
      return INT4ARRAYOID;
    case INT8OID:
      return INT8ARRAYOID;
    case FLOAT8OID:
      return FLOAT8ARRAYOID;
    case BOOLOID:
      return BOOLARRAYOID;
    case TEXTOID:
      return TEXTARRAYOID;
    case BYTEAOID:
      return BYTEAARRAYOID;
    case TIMESTAMPTZOID:
      return TIMESTAMPTZARRAYOID;
    default:
      return get_array_type(t);
  }
}

// "INSERT INTO s.table (file_id, cols...) SELECT u.c0, u.c1::cast, ... FROM unnest($1, ...)".
char* insert_unnest_sql(const char* table, const ColSpec* cols, int ncols) {
  StringInfoData s;
  initStringInfo(&s);
  appendStringInfo(&s, "INSERT INTO %s.%s (file_id", g_schema, table);
  for (int i = 0; i < ncols; ++i) appendStringInfo(&s, ", %s", quote_identifier(cols[i].name));
  appendStringInfoString(&s, ") SELECT u.c0");
  for (int i = 0; i < ncols; ++i) {
    appendStringInfo(&s, ", u.c%d", i + 1);
    if (cols[i].cast != nullptr) appendStringInfo(&s, "::%s", cols[i].cast);
  }
  appendStringInfoString(&s, " FROM ROWS FROM (pg_catalog.unnest($1)");
  for (int i = 0; i < ncols; ++i) appendStringInfo(&s, ", pg_catalog.unnest($%d)", i + 2);
  appendStringInfoString(&s, ") AS u(c0");
  for (int i = 0; i < ncols; ++i) appendStringInfo(&s, ", c%d", i + 1);
  appendStringInfoChar(&s, ')');
  return s.data;
}

SPIPlanPtr prepare(const char* sql, int nargs, const Oid* types) {
  SPIPlanPtr p = SPI_prepare(sql, nargs, const_cast<Oid*>(types));
  if (p == nullptr)
    elog(ERROR, "midipipe: could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
  if (SPI_keepplan(p) != 0) elog(ERROR, "midipipe: SPI_keepplan failed");
  return p;
}

// Resolves the extension (afresh every batch: DROP/CREATE EXTENSION while the
// pool is warm gives new oids) and drops the plans of a previous incarnation.
void check_plans() {
  Oid ext = get_extension_oid("midipipe", true);
  if (!OidIsValid(ext))
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                    errmsg("extension \"midipipe\" is not installed in this database")));
  if (ext == g_plans_ext && g_plans_current) return;
  // The tables must be those this library writes (ALTER EXTENSION ... UPDATE
  // keeps the extension's oid, so the version is checked, not just the oid).
  {
    Datum arg[1] = {ObjectIdGetDatum(ext)};
    Oid argt[1] = {OIDOID};
    if (SPI_execute_with_args("SELECT extversion FROM pg_catalog.pg_extension WHERE oid = $1", 1,
                              argt, arg, nullptr, true, 1) != SPI_OK_SELECT ||
        SPI_processed != 1)
      elog(ERROR, "midipipe: cannot read the extension's version");
    char* version = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
    bool same = false;
    for (const char* v : kSameTables)
      same = same || (version != nullptr && strcmp(version, v) == 0);
    if (!same)
      ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                      errmsg("midipipe: the extension in this database is version %s, the library "
                             "writes version %s tables",
                             version != nullptr ? version : "?", kTablesVersion),
                      errhint("Run ALTER EXTENSION midipipe UPDATE;")));
  }
  g_plans_current = true;
  for (auto& p : g_plans) {
    if (p != nullptr) SPI_freeplan(p);
    p = nullptr;
  }
  if (g_schema != nullptr) pfree(g_schema);
  g_schema = nullptr;
  g_plans_ext = InvalidOid;
  char* nsp = get_namespace_name(mp_extension_schema());
  if (nsp == nullptr) elog(ERROR, "midipipe: the extension's schema is missing");
  g_schema = MemoryContextStrdup(TopMemoryContext, quote_identifier(nsp));
  g_plans_ext = ext;
}

char* with_schema(const char* fmt) {
  // every %s in fmt is the schema
  StringInfoData s;
  initStringInfo(&s);
  for (const char* p = fmt; *p != '\0'; ++p) {
    if (p[0] == '%' && p[1] == 's') {
      appendStringInfoString(&s, g_schema);
      ++p;
    } else {
      appendStringInfoChar(&s, *p);
    }
  }
  return s.data;
}

SPIPlanPtr plan(PlanId id) {
  if (g_plans[id] != nullptr) return g_plans[id];
  switch (id) {
    case P_RUN: {
      const Oid t[] = {INT8OID};
      g_plans[id] = prepare(
          with_schema("SELECT coalesce((options->>'follow_symlinks')::pg_catalog.bool, false), "
                      "coalesce((options->>'split_tracks')::pg_catalog.bool, false), "
                      "coalesce((options->>'analysis_depth')::pg_catalog.bool, true) "
                      "FROM %s.midipipe_runs WHERE run_id = $1"),
          1, t);
      break;
    }
    case P_CLAIM: {
      // From $3 on (see claim()): the partial index's entries before it are
      // mostly those of rows already done, which a scan from the start of
      // the run would step over again at every claim.
      const Oid t[] = {INT8OID, INT4OID, TEXTOID};
      g_plans[id] = prepare(
          with_schema("SELECT path, ctid FROM %s.midipipe_queue WHERE run_id = $1 AND NOT done "
                      "AND path OPERATOR(pg_catalog.>) $3 "
                      "ORDER BY path LIMIT $2 FOR UPDATE SKIP LOCKED"),
          3, t);
      break;
    }
    case P_EXISTING: {
      const Oid t[] = {TEXTARRAYOID};
      g_plans[id] =
          prepare(with_schema("SELECT path, file_id, size, mtime, status, sha256, error_code "
                              "FROM %s.midipipe_files WHERE path OPERATOR(pg_catalog.=) ANY ($1)"),
                  1, t);
      break;
    }
    case P_RELEASE: {
      const Oid t[] = {INT8ARRAYOID, TEXTARRAYOID};
      g_plans[id] = prepare(with_schema("SELECT %s.midipipe__release($1, $2)"), 2, t);
      break;
    }
    case P_BY_SHA: {
      const Oid t[] = {BYTEAARRAYOID};
      g_plans[id] =
          prepare(with_schema("SELECT sha256, file_id, path FROM %s.midipipe_files "
                              "WHERE status = 'ok' AND sha256 OPERATOR(pg_catalog.=) ANY ($1)"),
                  1, t);
      break;
    }
    case P_UPSERT: {
      const Oid t[] = {TEXTARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID, BYTEAARRAYOID, TEXTARRAYOID,
                       INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,        INT8ARRAYOID,  INT8OID};
      g_plans[id] = prepare(
          with_schema(
              "INSERT INTO %s.midipipe_files AS f (path, size, mtime, sha256, status, "
              "duplicate_of, error_code, error_message, error_offset, run_id) "
              "SELECT u.*, $10 FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), "
              "pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5), "
              "pg_catalog.unnest($6), pg_catalog.unnest($7), pg_catalog.unnest($8), "
              "pg_catalog.unnest($9)) "
              "AS u(path, size, mtime, sha256, status, duplicate_of, error_code, "
              "error_message, error_offset) "
              "ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime, "
              "sha256 = excluded.sha256, status = excluded.status, "
              "duplicate_of = excluded.duplicate_of, error_code = excluded.error_code, "
              "error_message = excluded.error_message, error_offset = excluded.error_offset, "
              "run_id = excluded.run_id, imported_at = pg_catalog.now() "
              "RETURNING file_id, path"),
          10, t);
      break;
    }
    case P_DEL_ANALYSIS: {
      const Oid t[] = {INT8ARRAYOID};
      g_plans[id] = prepare(
          with_schema("WITH t AS (DELETE FROM %s.midipipe_tracks "
                      "WHERE file_id OPERATOR(pg_catalog.=) ANY ($1)), "
                      "c AS (DELETE FROM %s.midipipe_chords "
                      "WHERE file_id OPERATOR(pg_catalog.=) ANY ($1)) "
                      "DELETE FROM %s.midipipe_analysis WHERE file_id OPERATOR(pg_catalog.=) "
                      "ANY ($1)"),
          1, t);
      break;
    }
    case P_INS_CHORDS: {
      const Oid t[kNChordParams] = {INT8OID,      TEXTOID,      INT8ARRAYOID, FLOAT8ARRAYOID,
                                    INT2ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
      g_plans[id] =
          prepare(with_schema("INSERT INTO %s.midipipe_chords "
                              "(file_id, resolution, ticks, seconds, roots, qualities, names) "
                              "VALUES ($1, $2, $3, $4, $5, $6, $7)"),
                  kNChordParams, t);
      break;
    }
    case P_INS_ANALYSIS:
    case P_INS_TRACKS: {
      const ColSpec* cols = id == P_INS_ANALYSIS ? kAnalysisCols : kTrackCols;
      const int n = id == P_INS_ANALYSIS ? kNAnalysis : kNTracks;
      const char* table = id == P_INS_ANALYSIS ? "midipipe_analysis" : "midipipe_tracks";
      Oid t[kNAnalysis + 1];
      t[0] = INT8ARRAYOID;
      for (int i = 0; i < n; ++i) t[i + 1] = array_of(cols[i].type);
      g_plans[id] = prepare(insert_unnest_sql(table, cols, n), n + 1, t);
      break;
    }
    case P_DEDUP_SMF: {
      // A split file whose bytes another track row already holds keeps only
      // its smf_sha256 (the row with the smallest (file_id, track_no) keeps
      // the bytes; rows of batches running at the same moment may both keep
      // theirs: deduplication is best effort, never a lost track).
      const Oid t[] = {INT8ARRAYOID};
      g_plans[id] = prepare(
          with_schema(
              "UPDATE %s.midipipe_tracks t SET smf = NULL "
              "WHERE t.file_id OPERATOR(pg_catalog.=) ANY ($1) AND t.smf IS NOT NULL "
              "AND EXISTS (SELECT 1 FROM %s.midipipe_tracks o "
              "WHERE o.smf_sha256 OPERATOR(pg_catalog.=) t.smf_sha256 "
              "AND o.smf IS NOT NULL AND (o.file_id, o.track_no) < (t.file_id, t.track_no))"),
          1, t);
      break;
    }
    case P_QUEUE_DONE: {
      // By the ctids the claim returned, in a TID scan (see exec_scans()):
      // the claimed rows are locked by this transaction, so they are where
      // the claim found them. (By run and path, the planner often chose to
      // scan the run's whole primary key range and filter by path: every
      // batch then read every row of the run.)
      const Oid t[] = {INT8OID, TIDARRAYOID};
      g_plans[id] = prepare(with_schema("UPDATE %s.midipipe_queue SET done = true "
                                        "WHERE ctid OPERATOR(pg_catalog.=) ANY ($2) "
                                        "AND run_id = $1"),
                            2, t);
      break;
    }
    case P_RUN_COUNTS: {
      const Oid t[] = {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID};
      g_plans[id] =
          prepare(with_schema("UPDATE %s.midipipe_runs SET files_ok = files_ok + $2, "
                              "files_duplicate = files_duplicate + $3, "
                              "files_unchanged = files_unchanged + $4, "
                              "files_failed = files_failed + $5, bytes_read = bytes_read + $6 "
                              "WHERE run_id = $1"),
                  6, t);
      break;
    }
    case P_COUNT:
      break;
  }
  return g_plans[id];
}

// The run row and the manifest are the extension's own: read and written as
// the owner of its tables (g_owner), never as the importing role, which has
// no right to write them (README "Threat model"). Every other statement runs
// as the importing role.
Oid g_owner = InvalidOid;

bool internal_plan(PlanId id) {
  return id == P_RUN || id == P_CLAIM || id == P_QUEUE_DONE || id == P_RUN_COUNTS;
}

void exec(PlanId id, Datum* values, const char* nulls, int expected) {
  Oid save_user = InvalidOid;
  int save_sec = 0;
  const bool internal = internal_plan(id);
  if (internal) {
    GetUserIdAndSecContext(&save_user, &save_sec);
    SetUserIdAndSecContext(g_owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
  }
  int rc = SPI_execute_plan(plan(id), values, nulls, false, 0);
  if (internal) SetUserIdAndSecContext(save_user, save_sec);
  if (rc != expected)
    elog(ERROR, "midipipe: batch statement %d failed: %s", static_cast<int>(id),
         SPI_result_code_string(rc));
}

// exec() with the scans the statement must not use disabled while it is
// planned and run (as a function's SET clause does; restored after it, or by
// the abort of the transaction). A batch's statements look up the batch's own
// rows, but the planner judges by the tables' statistics, which may say
// "empty" while a run fills them: the queue's almost always (it is emptied at
// the end of every run, then vacuumed), midipipe_files' after its rows were
// deleted and the table vacuumed. It then prefers a sequential scan, or for
// the queue an index range over every row of the run filtered afterwards, and
// each batch reads the whole table: an import's cost grows with its file
// count squared.
void exec_scans(PlanId id, Datum* values, const char* nulls, int expected,
                std::initializer_list<const char*> disabled) {
  const int nest = NewGUCNestLevel();
  for (const char* name : disabled)
    (void)set_config_option(name, "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0,
                            false);
  exec(id, values, nulls, expected);
  AtEOXact_GUC(true, nest);
}

// ------------------------------------------------------------------ columns

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

void col_init(Col* c, Oid type) {
  c->type = type;
  get_typlenbyvalalign(type, &c->len, &c->byval, &c->align);
  c->cap = 64;
  c->n = 0;
  c->v = static_cast<Datum*>(palloc(sizeof(Datum) * c->cap));
  c->isnull = static_cast<bool*>(palloc(sizeof(bool) * c->cap));
}

void col_push(Col* c, Datum d, bool null) {
  if (c->n == c->cap) {
    c->cap *= 2;
    c->v = static_cast<Datum*>(repalloc(c->v, sizeof(Datum) * c->cap));
    c->isnull = static_cast<bool*>(repalloc(c->isnull, sizeof(bool) * c->cap));
  }
  c->v[c->n] = null ? static_cast<Datum>(0) : d;
  c->isnull[c->n] = null;
  ++c->n;
}

// Array of the rows idx[0..k) (all rows in order when idx is null).
Datum col_array(const Col* c, const int* idx, int k) {
  Datum* v = static_cast<Datum*>(palloc(sizeof(Datum) * (k > 0 ? k : 1)));
  bool* nl = static_cast<bool*>(palloc(sizeof(bool) * (k > 0 ? k : 1)));
  for (int i = 0; i < k; ++i) {
    const int r = idx != nullptr ? idx[i] : i;
    v[i] = c->v[r];
    nl[i] = c->isnull[r];
  }
  int dims[1] = {k};
  int lbs[1] = {1};
  ArrayType* a = construct_md_array(v, nl, 1, dims, lbs, c->type, c->len, c->byval, c->align);
  return PointerGetDatum(a);
}

// ------------------------------------------------------------------ text

Oid g_conv_proc = InvalidOid;  // UTF-8 -> database encoding, when neither is UTF-8/SQL_ASCII
int g_db_encoding = -1;

void text_setup() {
  g_db_encoding = GetDatabaseEncoding();
  g_conv_proc = InvalidOid;
  if (g_db_encoding != PG_UTF8 && g_db_encoding != PG_SQL_ASCII)
    g_conv_proc = FindDefaultConversionProc(PG_UTF8, g_db_encoding);
}

// A text datum of UTF-8 bytes in the database encoding; false when it cannot
// be represented (the caller stores NULL).
bool utf8_text(const char* s, size_t len, Datum* out) {
  if (len > MaxAllocSize / 8) return false;
  if (g_db_encoding == PG_SQL_ASCII) {
    *out = PointerGetDatum(cstring_to_text_with_len(s, static_cast<int>(len)));
    return true;
  }
  if (!pg_verify_mbstr(PG_UTF8, s, static_cast<int>(len), true)) return false;
  if (g_db_encoding == PG_UTF8 || pg_is_ascii(s)) {
    *out = PointerGetDatum(cstring_to_text_with_len(s, static_cast<int>(len)));
    return true;
  }
  if (!OidIsValid(g_conv_proc)) return false;
  const int srclen = static_cast<int>(len);
  char* dst = static_cast<char*>(palloc(static_cast<size_t>(srclen) * MAX_CONVERSION_GROWTH + 1));
  char* src = pnstrdup(s, len);
  const int done = pg_do_encoding_conversion_buf(
      g_conv_proc, PG_UTF8, g_db_encoding, reinterpret_cast<unsigned char*>(src), srclen,
      reinterpret_cast<unsigned char*>(dst), srclen * MAX_CONVERSION_GROWTH + 1, true);
  pfree(src);
  if (done != srclen) {
    pfree(dst);
    return false;
  }
  *out = PointerGetDatum(cstring_to_text(dst));
  pfree(dst);
  return true;
}

void push_text(Col* c, const char* s, size_t len) {
  Datum d;
  const bool ok = utf8_text(s, len, &d);
  col_push(c, d, !ok);
}
void push_str(Col* c, const std::string& s) { push_text(c, s.data(), s.size()); }
void push_opt_str(Col* c, const std::optional<std::string>& s) {
  if (s.has_value())
    push_text(c, s->data(), s->size());
  else
    col_push(c, 0, true);
}
void push_i2(Col* c, int v) { col_push(c, Int16GetDatum(static_cast<int16>(v)), false); }
void push_opt_i2(Col* c, const std::optional<int16_t>& v) {
  col_push(c, v.has_value() ? Int16GetDatum(*v) : 0, !v.has_value());
}
void push_i4(Col* c, int64 v) { col_push(c, Int32GetDatum(static_cast<int32>(v)), false); }
void push_i8(Col* c, uint64_t v) {
  col_push(c, Int64GetDatum(static_cast<int64>(std::min<uint64_t>(v, PG_INT64_MAX))), false);
}
void push_f8(Col* c, double v) { col_push(c, Float8GetDatum(v), std::isnan(v) || std::isinf(v)); }
void push_opt_f8(Col* c, const std::optional<double>& v) {
  if (v.has_value())
    push_f8(c, *v);
  else
    col_push(c, 0, true);
}
void push_bool(Col* c, bool v) { col_push(c, BoolGetDatum(v), false); }

// '{1,2,3}' for an int2[] column.
void push_i2_list(Col* c, const std::vector<int16_t>& v) {
  StringInfoData s;
  initStringInfo(&s);
  appendStringInfoChar(&s, '{');
  for (size_t i = 0; i < v.size(); ++i) appendStringInfo(&s, i == 0 ? "%d" : ",%d", v[i]);
  appendStringInfoChar(&s, '}');
  push_text(c, s.data, static_cast<size_t>(s.len));
  pfree(s.data);
}

// '{1,2,3}' for an int8[] column.
void push_i8_list(Col* c, const std::vector<int64_t>& v) {
  StringInfoData s;
  initStringInfo(&s);
  appendStringInfoChar(&s, '{');
  for (size_t i = 0; i < v.size(); ++i)
    appendStringInfo(&s, i == 0 ? INT64_FORMAT : "," INT64_FORMAT, static_cast<int64>(v[i]));
  appendStringInfoChar(&s, '}');
  push_text(c, s.data, static_cast<size_t>(s.len));
  pfree(s.data);
}

Datum bytea_datum(const uint8* p, int len);
Datum simple_array(Datum* v, bool* nulls, int n, Oid type);

void push_bytea(Col* c, const uint8_t* p, size_t len) {
  col_push(c, bytea_datum(p, static_cast<int>(len)), false);
}

// '{"a","b\"c"}' for a text[] column, from get(x) of every x in v.
template <typename T, typename F>
void push_text_list_of(Col* c, const std::vector<T>& v, F get) {
  StringInfoData s;
  initStringInfo(&s);
  appendStringInfoChar(&s, '{');
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) appendStringInfoChar(&s, ',');
    appendStringInfoChar(&s, '"');
    for (char ch : get(v[i])) {
      if (ch == '"' || ch == '\\') appendStringInfoChar(&s, '\\');
      if (ch != '\0') appendStringInfoChar(&s, ch);
    }
    appendStringInfoChar(&s, '"');
  }
  appendStringInfoChar(&s, '}');
  push_text(c, s.data, static_cast<size_t>(s.len));
  pfree(s.data);
}

void push_text_list(Col* c, const std::vector<std::string>& v) {
  push_text_list_of(c, v, [](const std::string& x) -> const std::string& { return x; });
}

// ------------------------------------------------------------------ depth values

// The text datum of a chord quality or name ("maj", "C#m7", "N", ...): a few
// hundred ASCII strings of at most 7 bytes, each made once per process (in
// TopMemoryContext) instead of once per chord. Anything else: utf8_text().
bool chord_text(const std::string& s, Datum* out) {
  constexpr size_t kMaxLen = 7;
  struct Entry {
    uint64 key;
    Datum text;  // 0: empty
  };
  static Entry cache[512];
  if (s.empty() || s.size() > kMaxLen || !pg_is_ascii(s.c_str()))
    return utf8_text(s.data(), s.size(), out);
  unsigned char bytes[8] = {};  // the string, zero-padded, and its length last
  memcpy(bytes, s.data(), s.size());
  bytes[7] = static_cast<unsigned char>(s.size());
  uint64 key;
  memcpy(&key, bytes, sizeof key);
  size_t h = static_cast<size_t>((key * UINT64CONST(0x9E3779B97F4A7C15)) >> 55);
  for (size_t probe = 0; probe < 8; ++probe, h = (h + 1) & 511) {
    Entry& e = cache[h];
    if (e.text != 0 && e.key == key) {
      *out = e.text;
      return true;
    }
    if (e.text == 0) {
      MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
      e.text = PointerGetDatum(cstring_to_text_with_len(s.data(), static_cast<int>(s.size())));
      MemoryContextSwitchTo(old);
      e.key = key;
      *out = e.text;
      return true;
    }
  }
  return utf8_text(s.data(), s.size(), out);  // (a full neighbourhood: never with these names)
}

// The drum counts as a jsonb object {"class": count, ...}, built in binary
// (equal to what jsonb_in makes of the same text: integral numerics, keys in
// jsonb's order, which is by length then bytes; given in that order, the
// object's key sort finds them sorted).
Datum drum_counts_jsonb(const std::array<uint64_t, midipipe::kDrumClasses>& counts) {
  static int order[midipipe::kDrumClasses];
  static bool have_order = false;
  if (!have_order) {
    for (int k = 0; k < midipipe::kDrumClasses; ++k) order[k] = k;
    std::sort(order, order + midipipe::kDrumClasses, [](int x, int y) {
      const std::string_view a = midipipe::drum_class_name(x), b = midipipe::drum_class_name(y);
      return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
    have_order = true;
  }
  JsonbParseState* state = nullptr;
  (void)pushJsonbValue(&state, WJB_BEGIN_OBJECT, nullptr);
  for (int i = 0; i < midipipe::kDrumClasses; ++i) {
    const int k = order[i];
    const std::string_view name = midipipe::drum_class_name(k);
    JsonbValue key;
    key.type = jbvString;
    key.val.string.len = static_cast<int>(name.size());
    key.val.string.val = const_cast<char*>(name.data());
    (void)pushJsonbValue(&state, WJB_KEY, &key);
    JsonbValue value;
    value.type = jbvNumeric;
    value.val.numeric =
        int64_to_numeric(static_cast<int64>(std::min<uint64_t>(counts[k], PG_INT64_MAX)));
    (void)pushJsonbValue(&state, WJB_VALUE, &value);
  }
  return JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, nullptr)));
}

// ------------------------------------------------------------------ files

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
  // the existing row for the path, if any
  bool exists;
  int64 old_id;
  char old_status;  // 'o'k, 'd'uplicate, 'e'rror
  bool old_has_sha;
  uint8 old_sha[32];
  bool old_io_error;  // an error row whose cause was not the content (re-read it)
  // the outcome
  int64 dup_of;    // file_id of the stored content, or -1
  int dup_of_rec;  // index of the batch's file holding the content, or -1
  bool reanalyse;  // stays the ok row of the same content: replace its analysis
  int64 file_id;
};

struct Batch {
  FileRec* f;
  int n;
  Col a[kNAnalysis];
  Col t[kNTracks];
  int nanalysis;
  uint64 max_file_size;
  bool follow_symlinks;
  bool split_tracks;
  bool analysis_depth;
  bool any_smf;  // a split file was pushed: deduplicate after the insert
  char* buf;     // read buffer, reused
  size_t bufcap;
};

// Error codes that describe the file system rather than the content: such a
// row is re-read even when size and mtime did not change.
bool is_io_code(const char* code) {
  return strcmp(code, "io_error") == 0 || strcmp(code, "not_regular_file") == 0 ||
         strcmp(code, "file_too_large") == 0 || strcmp(code, "out_of_memory") == 0;
}

void set_error(FileRec* r, const char* code, char* msg, int64 offset) {
  r->state = FS_ERROR;
  r->err_code = code;
  r->err_msg = msg;
  r->err_offset = offset;
}

// strerror text, valid in the database encoding.
char* errno_message(const char* what, int err) {
  const char* e = strerror(err);
  if (e == nullptr || !pg_verifymbstr(e, static_cast<int>(strlen(e)), true) || !pg_is_ascii(e))
    return psprintf("%s: errno %d", what, err);
  return psprintf("%s: %s", what, e);
}

void set_stat(FileRec* r, const struct stat* st) {
  r->have_stat = true;
  r->size = static_cast<int64>(st->st_size);
  r->mtime = time_t_to_timestamptz(st->st_mtim.tv_sec) + st->st_mtim.tv_nsec / 1000;
}

void stat_file(Batch* b, FileRec* r) {
  struct stat st;
  if ((b->follow_symlinks ? stat(r->path, &st) : lstat(r->path, &st)) != 0) {
    set_error(r, "io_error", errno_message("could not stat file", errno), -1);
    return;
  }
  set_stat(r, &st);
  if (S_ISLNK(st.st_mode))
    set_error(r, "not_regular_file", pstrdup("symbolic link not followed (follow_symlinks is off)"),
              -1);
  else if (!S_ISREG(st.st_mode))
    set_error(r, "not_regular_file", pstrdup("not a regular file"), -1);
}

// Reads the whole file into b->buf; false (and an error row) on failure.
bool read_file(Batch* b, FileRec* r, size_t* len) {
  int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC;
  if (!b->follow_symlinks) flags |= O_NOFOLLOW;
  const int fd = OpenTransientFile(r->path, flags);
  if (fd < 0) {
    const int err = errno;
    if (err == ELOOP)
      set_error(r, "not_regular_file",
                pstrdup("symbolic link not followed (follow_symlinks is off)"), -1);
    else
      set_error(r, "io_error", errno_message("could not open file", err), -1);
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    CloseTransientFile(fd);
    set_error(r, "io_error", errno_message("could not stat file", err), -1);
    return false;
  }
  set_stat(r, &st);
  if (!S_ISREG(st.st_mode)) {
    CloseTransientFile(fd);
    set_error(r, "not_regular_file", pstrdup("not a regular file"), -1);
    return false;
  }
  const uint64 size = static_cast<uint64>(st.st_size);
  if (size > b->max_file_size) {
    CloseTransientFile(fd);
    set_error(r, "file_too_large",
              psprintf("file is " UINT64_FORMAT
                       " bytes, more than midipipe.max_file_size (" UINT64_FORMAT " bytes)",
                       size, b->max_file_size),
              -1);
    return false;
  }
  if (size + 1 > b->bufcap) {
    size_t cap = std::max<size_t>(b->bufcap * 2, size + 1);
    void* p =
        MemoryContextAllocExtended(CurrentMemoryContext, cap, MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
    if (p == nullptr) {
      CloseTransientFile(fd);
      set_error(r, "out_of_memory", pstrdup("out of memory reading the file"), -1);
      return false;
    }
    if (b->buf != nullptr) pfree(b->buf);
    b->buf = static_cast<char*>(p);
    b->bufcap = cap;
  }
  // The file may change while we read: read what is there, up to the size fstat saw.
  size_t got = 0;
  while (got < size) {
    const ssize_t k = read(fd, b->buf + got, size - got);
    if (k < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      CloseTransientFile(fd);
      set_error(r, "io_error", errno_message("could not read file", err), static_cast<int64>(got));
      return false;
    }
    if (k == 0) break;
    got += static_cast<size_t>(k);
  }
  CloseTransientFile(fd);
  r->bytes = static_cast<int64>(got);
  *len = got;
  return true;
}

// What the engine made of one file: all of it C++ objects built inside one
// try block (the only place a C++ exception may be thrown), then read by
// push_analysis() under PG_TRY.
struct EngineOut {
  midipipe::AnalyzeResult result;
  midipipe::FilenameMeta name;
  midipipe::SplitResult split;  // empty unless the run splits tracks
};

// Pushes one analysis row (in kAnalysisCols order), its track rows and its
// chord progression.
void push_analysis(Batch* b, FileRec* r, const EngineOut& eo) {
  const midipipe::Analysis& an = eo.result.analysis;
  Col* a = b->a;
  int i = 0;
  push_i2(&a[i++], an.format);
  push_i4(&a[i++], an.ntracks);
  if (an.ppq.has_value())
    push_i4(&a[i++], *an.ppq);
  else
    col_push(&a[i++], 0, true);
  push_opt_i2(&a[i++], an.smpte_fps);
  push_opt_i2(&a[i++], an.smpte_ticks_per_frame);
  push_i8(&a[i++], an.duration_ticks);
  push_f8(&a[i++], an.duration_seconds);
  push_f8(&a[i++], an.tempo_bpm);
  push_f8(&a[i++], an.tempo_mean_bpm);
  push_f8(&a[i++], an.tempo_min_bpm);
  push_f8(&a[i++], an.tempo_max_bpm);
  push_i4(&a[i++], an.tempo_changes);
  push_str(&a[i++], an.time_signature);
  push_i4(&a[i++], an.time_signature_changes);
  push_opt_str(&a[i++], an.key_signature);
  push_opt_str(&a[i++], an.key);
  push_opt_i2(&a[i++], an.key_tonic);
  push_opt_str(&a[i++], an.key_mode);
  push_opt_f8(&a[i++], an.key_confidence);
  push_i8(&a[i++], an.note_count);
  push_i4(&a[i++], an.unique_pitches);
  push_opt_i2(&a[i++], an.pitch_min);
  push_opt_i2(&a[i++], an.pitch_max);
  push_opt_f8(&a[i++], an.pitch_mean);
  push_opt_i2(&a[i++], an.velocity_min);
  push_opt_i2(&a[i++], an.velocity_max);
  push_opt_f8(&a[i++], an.velocity_mean);
  push_opt_f8(&a[i++], an.velocity_stddev);
  push_f8(&a[i++], an.note_density);
  push_i4(&a[i++], an.polyphony_max);
  push_f8(&a[i++], an.polyphony_mean);
  push_i2_list(&a[i++], an.channels);
  push_i2_list(&a[i++], an.programs);
  push_text_list(&a[i++], an.instrument_families);
  push_bool(&a[i++], an.has_drums);
  push_i8(&a[i++], an.drum_note_count);
  push_i8(&a[i++], an.cc_count);
  push_i8(&a[i++], an.pitch_bend_count);
  push_i8(&a[i++], an.sysex_count);
  push_opt_str(&a[i++], an.title);
  push_opt_str(&a[i++], an.copyright);
  push_text_list(&a[i++], an.track_names);
  push_text_list(&a[i++], an.markers);
  push_bool(&a[i++], an.has_lyrics);
  // analysis depth: NULL throughout when it was not computed
  static const midipipe::Depth kNoDepth{};
  const midipipe::Depth& d = an.depth.has_value() ? *an.depth : kNoDepth;
  const bool hd = an.depth.has_value();
  auto opt_b = [&](bool v) { col_push(&a[i++], BoolGetDatum(v), !hd); };
  auto opt_i4 = [&](int64 v) { col_push(&a[i++], Int32GetDatum(static_cast<int32>(v)), !hd); };
  auto opt_i8 = [&](uint64_t v) {
    col_push(&a[i++], Int64GetDatum(static_cast<int64>(std::min<uint64_t>(v, PG_INT64_MAX))), !hd);
  };
  push_opt_str(&a[i++], d.chord_resolution);
  opt_i4(d.distinct_chords);
  push_opt_f8(&a[i++], d.chord_changes_per_bar);
  opt_b(d.has_sevenths);
  opt_b(d.has_extended);
  push_opt_f8(&a[i++], d.harmonic_complexity);
  if (hd) {
    col_push(&a[i++], drum_counts_jsonb(d.drum_counts), false);
  } else {
    col_push(&a[i++], 0, true);
  }
  opt_i8(d.ghost_notes);
  opt_i8(d.flams);
  opt_b(d.double_bass);
  opt_i4(d.double_bass_runs);
  push_opt_f8(&a[i++], d.swing_ratio);
  push_opt_str(&a[i++], d.drum_feel);
  if (d.drum_pattern_bars.has_value())
    push_i4(&a[i++], *d.drum_pattern_bars);
  else
    col_push(&a[i++], 0, true);
  opt_b(d.drum_loops);
  if (hd) {
    push_i2_list(&a[i++], d.cc_numbers);
    push_i8_list(&a[i++], d.cc_counts);
  } else {
    col_push(&a[i++], 0, true);
    col_push(&a[i++], 0, true);
  }
  opt_i8(d.sustain_pedal_presses);
  opt_b(d.has_sustain);
  push_opt_f8(&a[i++], d.note_length_mean_beats);
  push_opt_f8(&a[i++], d.note_length_median_beats);
  push_opt_f8(&a[i++], d.legato_share);
  push_opt_f8(&a[i++], d.staccato_share);
  push_opt_f8(&a[i++], d.timing_dev_ticks);
  push_opt_f8(&a[i++], d.timing_dev_ms);
  push_opt_f8(&a[i++], d.on_grid_share);
  if (d.timing_humanised.has_value())
    push_bool(&a[i++], *d.timing_humanised);
  else
    col_push(&a[i++], 0, true);
  opt_i4(d.bar_count);
  opt_i4(d.distinct_bars);
  push_opt_f8(&a[i++], d.repeated_share);
  // file-name metadata (of the path of the file that brought this content)
  const midipipe::FilenameMeta& fm = eo.name;
  push_opt_f8(&a[i++], fm.bpm);
  push_opt_str(&a[i++], fm.key);
  push_opt_i2(&a[i++], fm.key_tonic);
  push_opt_str(&a[i++], fm.key_mode);
  push_text_list(&a[i++], fm.genres);
  if (fm.bpm_agrees.has_value())
    push_bool(&a[i++], *fm.bpm_agrees);
  else
    col_push(&a[i++], 0, true);
  if (fm.key_agrees.has_value())
    push_bool(&a[i++], *fm.key_agrees);
  else
    col_push(&a[i++], 0, true);
  if (i != kNAnalysis) elog(ERROR, "midipipe: analysis columns out of step (%d)", i);
  r->analysis_row = b->nanalysis++;

  Col* t = b->t;
  r->track_first = t[0].n;
  r->track_count = 0;
  for (const auto& tr : an.tracks) {
    int j = 0;
    push_i4(&t[j++], tr.track_no);
    push_opt_str(&t[j++], tr.name);
    push_i2_list(&t[j++], tr.channels);
    push_opt_i2(&t[j++], tr.program);
    push_opt_str(&t[j++], tr.instrument);
    push_i8(&t[j++], tr.note_count);
    push_opt_i2(&t[j++], tr.pitch_min);
    push_opt_i2(&t[j++], tr.pitch_max);
    push_bool(&t[j++], tr.is_drum);
    push_i8(&t[j++], tr.duration_ticks);
    const midipipe::SplitTrack* st = nullptr;
    for (const auto& sp : eo.split.tracks)
      if (sp.track_no == tr.track_no) st = &sp;
    if (st != nullptr) {
      push_bytea(&t[j++], st->smf.data(), st->smf.size());
      push_bytea(&t[j++], st->sha256.data(), st->sha256.size());
      b->any_smf = true;
    } else {
      col_push(&t[j++], 0, true);
      col_push(&t[j++], 0, true);
    }
    if (j != kNTracks) elog(ERROR, "midipipe: track columns out of step (%d)", j);
    ++r->track_count;
  }

  r->chords = nullptr;
  if (hd && !d.chords.empty()) {
    const std::vector<midipipe::ChordEvent>& ch = d.chords;
    const int n = static_cast<int>(std::min<size_t>(ch.size(), MaxAllocSize / sizeof(Datum) / 2));
    Datum* v = static_cast<Datum*>(palloc(sizeof(Datum) * n));
    bool* nulls = static_cast<bool*>(palloc0(sizeof(bool) * n));
    r->chords = static_cast<Datum*>(palloc(sizeof(Datum) * (kNChordParams - 1)));
    r->chord_nulls = static_cast<char*>(palloc(kNChordParams - 1));
    memset(r->chord_nulls, ' ', kNChordParams - 1);
    int k = 0;
    if (d.chord_resolution.has_value()) {
      const bool ok =
          utf8_text(d.chord_resolution->data(), d.chord_resolution->size(), &r->chords[k]);
      if (!ok) r->chord_nulls[k] = 'n';
    } else {
      r->chords[k] = 0;
      r->chord_nulls[k] = 'n';
    }
    ++k;
    for (int e = 0; e < n; ++e) v[e] = Int64GetDatum(static_cast<int64>(ch[e].tick));
    r->chords[k++] = simple_array(v, nullptr, n, INT8OID);
    for (int e = 0; e < n; ++e)
      v[e] = Float8GetDatum(std::isfinite(ch[e].seconds) ? ch[e].seconds : 0.0);
    r->chords[k++] = simple_array(v, nullptr, n, FLOAT8OID);
    bool any_null = false;
    for (int e = 0; e < n; ++e) {
      nulls[e] = !ch[e].root.has_value();
      any_null = any_null || nulls[e];
      v[e] = Int16GetDatum(nulls[e] ? 0 : static_cast<int16>(*ch[e].root));
    }
    r->chords[k++] = simple_array(v, any_null ? nulls : nullptr, n, INT2OID);
    for (int which = 0; which < 2; ++which) {
      any_null = false;
      for (int e = 0; e < n; ++e) {
        const std::string& str = which == 0 ? ch[e].quality : ch[e].name;
        nulls[e] = !chord_text(str, &v[e]);
        any_null = any_null || nulls[e];
      }
      r->chords[k++] = simple_array(v, any_null ? nulls : nullptr, n, TEXTOID);
    }
    if (k != kNChordParams - 1) elog(ERROR, "midipipe: chord columns out of step (%d)", k);
  }
}

// Hashes and analyses one file's bytes; the engine's result is freed however
// this ends (PG_FINALLY), and no C++ exception escapes.
void engine_file(Batch* b, FileRec* r, const uint8_t* data, size_t len) {
  const midipipe::Sha256Digest digest = midipipe::sha256({data, len});
  memcpy(r->sha, digest.data(), 32);
  r->have_sha = true;

  EngineOut* volatile res = nullptr;
  bool oom = false;
  try {
    midipipe::Limits limits;
    limits.max_file_size = b->max_file_size;
    std::unique_ptr<EngineOut> eo(new EngineOut);
    midipipe::AnalyzeOptions options = midipipe::default_analyze_options();
    options.depth = b->analysis_depth;
    eo->result = midipipe::analyze_with({data, len}, limits, options);
    if (eo->result.status.ok()) {
      eo->name = midipipe::filename_meta(r->path, &eo->result.analysis);
      if (b->split_tracks) eo->split = midipipe::split_tracks({data, len}, limits);
    }
    res = eo.release();
  } catch (...) {
    oom = true;  // std::bad_alloc: the engine throws nothing else
  }
  if (oom || res == nullptr) {
    set_error(r, "out_of_memory", pstrdup("out of memory analysing the file"), -1);
    return;
  }
  PG_TRY();
  {
    const midipipe::AnalyzeResult& ar = res->result;
    if (!ar.status.ok()) {
      const std::string_view name = midipipe::code_name(ar.status.code);
      set_error(r, pnstrdup(name.data(), name.size()), nullptr,
                static_cast<int64>(std::min<uint64_t>(ar.status.offset, PG_INT64_MAX)));
      Datum msg;
      if (utf8_text(ar.status.message.data(), ar.status.message.size(), &msg))
        r->err_msg = text_to_cstring(DatumGetTextPP(msg));
      else
        r->err_msg = pstrdup(r->err_code);
    } else {
      r->state = FS_OK;
      push_analysis(b, r, *res);
    }
  }
  PG_FINALLY();
  { delete res; }
  PG_END_TRY();
}

// ------------------------------------------------------------------ helpers

int cmp_sha(const uint8* x, const uint8* y) { return memcmp(x, y, 32); }

Datum bytea_datum(const uint8* p, int len) {
  bytea* v = static_cast<bytea*>(palloc(VARHDRSZ + len));
  SET_VARSIZE(v, VARHDRSZ + len);
  memcpy(VARDATA(v), p, len);
  return PointerGetDatum(v);
}

Datum simple_array(Datum* v, bool* nulls, int n, Oid type) {
  int16 len;
  bool byval;
  char align;
  get_typlenbyvalalign(type, &len, &byval, &align);
  int dims[1] = {n};
  int lbs[1] = {1};
  return PointerGetDatum(construct_md_array(v, nulls, 1, dims, lbs, type, len, byval, align));
}

// Index of `path` in the batch (recs sorted by strcmp through `order`), or -1.
int find_path(const Batch* b, const int* order, const char* path) {
  int lo = 0, hi = b->n - 1;
  while (lo <= hi) {
    const int mid = (lo + hi) / 2;
    const int c = strcmp(b->f[order[mid]].path, path);
    if (c == 0) return order[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return -1;
}

const char* status_text(FileState s) {
  switch (s) {
    case FS_OK:
      return "ok";
    case FS_DUPLICATE:
      return "duplicate";
    default:
      return "error";
  }
}

// Upserts the rows recs[idx[0..k)] into midipipe_files and records their file_ids.
void upsert_files(Batch* b, int64 run_id, const int* idx, int k, const int* path_order) {
  if (k == 0) return;
  Datum* col[9];
  bool* nul[9];
  for (int c = 0; c < 9; ++c) {
    col[c] = static_cast<Datum*>(palloc0(sizeof(Datum) * k));
    nul[c] = static_cast<bool*>(palloc0(sizeof(bool) * k));
  }
  for (int i = 0; i < k; ++i) {
    const FileRec* r = &b->f[idx[i]];
    col[0][i] = r->path_text;
    col[1][i] = Int64GetDatum(r->size);
    nul[1][i] = !r->have_stat;
    col[2][i] = TimestampTzGetDatum(r->mtime);
    nul[2][i] = !r->have_stat;
    if (r->have_sha)
      col[3][i] = bytea_datum(r->sha, 32);
    else
      nul[3][i] = true;
    col[4][i] = CStringGetTextDatum(status_text(r->state));
    col[5][i] = Int64GetDatum(r->dup_of);
    nul[5][i] = r->state != FS_DUPLICATE;
    if (r->state == FS_ERROR) {
      col[6][i] = CStringGetTextDatum(r->err_code);
      col[7][i] = CStringGetTextDatum(r->err_msg != nullptr ? r->err_msg : r->err_code);
      col[8][i] = Int64GetDatum(r->err_offset);
      nul[8][i] = r->err_offset < 0;
    } else {
      nul[6][i] = nul[7][i] = nul[8][i] = true;
    }
  }
  const Oid types[9] = {TEXTOID, INT8OID, TIMESTAMPTZOID, BYTEAOID, TEXTOID,
                        INT8OID, TEXTOID, TEXTOID,        INT8OID};
  Datum values[10];
  for (int c = 0; c < 9; ++c) values[c] = simple_array(col[c], nul[c], k, types[c]);
  values[9] = Int64GetDatum(run_id);
  exec(P_UPSERT, values, nullptr, SPI_OK_INSERT_RETURNING);
  if (SPI_processed != static_cast<uint64>(k))
    elog(ERROR, "midipipe: upsert returned " UINT64_FORMAT " rows for %d paths", SPI_processed, k);
  for (uint64 i = 0; i < SPI_processed; ++i) {
    HeapTuple tup = SPI_tuptable->vals[i];
    bool isnull;
    const int64 id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
    char* path = TextDatumGetCString(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
    // RETURNING follows the input order; search only if it does not
    int r = idx[i];
    if (strcmp(b->f[r].path, path) != 0) r = find_path(b, path_order, path);
    if (r < 0) elog(ERROR, "midipipe: upsert returned an unknown path \"%s\"", path);
    b->f[r].file_id = id;
    pfree(path);
  }
  SPI_freetuptable(SPI_tuptable);
}

// The claim cursor: the last path this process claimed, in run
// g_cursor_run (in TopMemoryContext). A claim takes the first unclaimed paths
// after it, and starts again from the first path of the run when there are
// none: rows before the cursor that are not done (paths the scanner queued
// later, another worker's batch that was rolled back) are claimed then.
int64 g_cursor_run = 0;
char* g_cursor = nullptr;

// Sets the cursor to `path` (copied), or to the run's start (nullptr).
void set_cursor(const char* path) {
  if (g_cursor != nullptr) pfree(g_cursor);
  g_cursor = path != nullptr ? MemoryContextStrdup(TopMemoryContext, path) : nullptr;
}

// Claims up to n paths of the run (P_CLAIM); the rows are in SPI_tuptable.
void claim(int64 run_id, int n) {
  if (g_cursor_run != run_id) set_cursor(nullptr);
  g_cursor_run = run_id;
  for (;;) {
    const bool from_start = g_cursor == nullptr;
    Datum v[3] = {Int64GetDatum(run_id), Int32GetDatum(n),
                  CStringGetTextDatum(from_start ? "" : g_cursor)};
    // an index scan from the cursor, in path order (not a bitmap scan and a
    // sort of every row left, nor a sequential scan)
    exec_scans(P_CLAIM, v, nullptr, SPI_OK_SELECT,
               {"enable_seqscan", "enable_bitmapscan", "enable_sort"});
    if (SPI_processed > 0) {
      bool isnull;
      char* last = TextDatumGetCString(
          SPI_getbinval(SPI_tuptable->vals[SPI_processed - 1], SPI_tuptable->tupdesc, 1, &isnull));
      set_cursor(last);
      pfree(last);
      return;
    }
    if (from_start) return;
    SPI_freetuptable(SPI_tuptable);
    set_cursor(nullptr);
  }
}

}  // namespace

// ------------------------------------------------------------------ the batch

void mp_reset_claim_cursor(void) { set_cursor(nullptr); }

MpBatchOutcome mp_process_batch(int64 run_id, int batch_size, uint64 max_file_size,
                                mp_file_callback on_file, void* arg) {
  MpBatchOutcome out = {0, 0, 0, 0, 0, 0};
  check_plans();
  g_owner = mp_tables_owner(mp_extension_schema());
  text_setup();

  MemoryContext batch_cxt =
      AllocSetContextCreate(CurrentMemoryContext, "midipipe batch", ALLOCSET_DEFAULT_SIZES);
  MemoryContext old_cxt = MemoryContextSwitchTo(batch_cxt);

  Batch* b = static_cast<Batch*>(palloc0(sizeof(Batch)));
  b->max_file_size = max_file_size;
  for (int c = 0; c < kNAnalysis; ++c) col_init(&b->a[c], kAnalysisCols[c].type);
  for (int c = 0; c < kNTracks; ++c) col_init(&b->t[c], kTrackCols[c].type);

  // the run's options
  {
    Datum v[1] = {Int64GetDatum(run_id)};
    exec(P_RUN, v, nullptr, SPI_OK_SELECT);
    if (SPI_processed != 1)
      ereport(ERROR, (errcode(ERRCODE_NO_DATA_FOUND),
                      errmsg("midipipe: run " INT64_FORMAT " does not exist", run_id)));
    bool isnull;
    b->follow_symlinks =
        DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    b->split_tracks =
        DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
    b->analysis_depth =
        DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
    SPI_freetuptable(SPI_tuptable);
  }

  // claim
  {
    claim(run_id, std::max(batch_size, 1));
    b->n = static_cast<int>(SPI_processed);
    b->f = static_cast<FileRec*>(palloc0(sizeof(FileRec) * (b->n > 0 ? b->n : 1)));
    for (int i = 0; i < b->n; ++i) {
      bool isnull;
      Datum d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
      FileRec* r = &b->f[i];
      r->path = TextDatumGetCString(d);
      d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
      ItemPointerCopy(reinterpret_cast<ItemPointer>(DatumGetPointer(d)), &r->queue_ctid);
      r->path_text = CStringGetTextDatum(r->path);
      r->err_offset = -1;
      r->analysis_row = -1;
      r->dup_of = -1;
      r->dup_of_rec = -1;
      r->file_id = -1;
    }
    SPI_freetuptable(SPI_tuptable);
  }
  out.claimed = b->n;
  if (b->n == 0) {
    MemoryContextSwitchTo(old_cxt);
    MemoryContextDelete(batch_cxt);
    return out;
  }

  int* path_order = static_cast<int*>(palloc(sizeof(int) * b->n));
  for (int i = 0; i < b->n; ++i) path_order[i] = i;
  std::sort(path_order, path_order + b->n,
            [b](int x, int y) { return strcmp(b->f[x].path, b->f[y].path) < 0; });
  Datum* all_paths = static_cast<Datum*>(palloc(sizeof(Datum) * b->n));
  for (int i = 0; i < b->n; ++i) all_paths[i] = b->f[i].path_text;
  const Datum all_paths_array = simple_array(all_paths, nullptr, b->n, TEXTOID);

  // the rows already stored for these paths
  {
    Datum v[1] = {all_paths_array};
    exec_scans(P_EXISTING, v, nullptr, SPI_OK_SELECT, {"enable_seqscan"});
    TupleDesc td = SPI_tuptable->tupdesc;
    for (uint64 i = 0; i < SPI_processed; ++i) {
      HeapTuple tup = SPI_tuptable->vals[i];
      bool isnull;
      char* path = TextDatumGetCString(SPI_getbinval(tup, td, 1, &isnull));
      const int k = find_path(b, path_order, path);
      pfree(path);
      if (k < 0) continue;
      FileRec* r = &b->f[k];
      r->exists = true;
      r->old_id = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));
      Datum d = SPI_getbinval(tup, td, 3, &isnull);
      const int64 size = isnull ? -1 : DatumGetInt64(d);
      d = SPI_getbinval(tup, td, 4, &isnull);
      const bool mtime_null = isnull;
      const TimestampTz mtime = isnull ? 0 : DatumGetTimestampTz(d);
      char* status = TextDatumGetCString(SPI_getbinval(tup, td, 5, &isnull));
      r->old_status = status[0];
      d = SPI_getbinval(tup, td, 6, &isnull);
      if (!isnull) {
        bytea* sha = DatumGetByteaPP(d);
        if (VARSIZE_ANY_EXHDR(sha) == 32) {
          r->old_has_sha = true;
          memcpy(r->old_sha, VARDATA_ANY(sha), 32);
        }
      }
      d = SPI_getbinval(tup, td, 7, &isnull);
      if (!isnull) {
        char* code = TextDatumGetCString(d);
        r->old_io_error = is_io_code(code);
      }
      // keep the recorded size/mtime in the fields used below
      r->size = size;
      r->mtime = mtime;
      r->have_stat = !mtime_null && size >= 0;
    }
    SPI_freetuptable(SPI_tuptable);
  }

  // stat, decide what is unchanged, read and analyse the rest
  for (int k = 0; k < b->n; ++k) {
    FileRec* r = &b->f[k];
    const bool had = r->exists && r->have_stat;
    const int64 old_size = r->size;
    const TimestampTz old_mtime = r->mtime;
    r->have_stat = false;
    r->state = FS_ERROR;
    r->err_code = nullptr;
    stat_file(b, r);
    if (r->err_code == nullptr) {
      if (had && old_size == r->size && old_mtime == r->mtime && !r->old_io_error &&
          (r->old_status == 'o' || r->old_status == 'd' || r->old_status == 'e')) {
        r->state = FS_UNCHANGED;
      } else {
        size_t len = 0;
        if (read_file(b, r, &len)) engine_file(b, r, reinterpret_cast<const uint8_t*>(b->buf), len);
      }
    }
    switch (r->state) {
      case FS_UNCHANGED:
        ++out.unchanged;
        break;
      case FS_ERROR:
        ++out.failed;
        break;
      default:
        break;
    }
    out.bytes_read += r->bytes;
    if (on_file != nullptr)
      on_file(arg, r->path, r->bytes, r->state == FS_ERROR);
    else
      CHECK_FOR_INTERRUPTS();
  }

  // 'ok' rows whose content is going away: hand their analysis to a duplicate
  {
    int nrel = 0, nbusy = 0;
    Datum* rel = static_cast<Datum*>(palloc(sizeof(Datum) * b->n));
    Datum* busy = static_cast<Datum*>(palloc(sizeof(Datum) * b->n));
    for (int k = 0; k < b->n; ++k) {
      FileRec* r = &b->f[k];
      if (r->state == FS_UNCHANGED) continue;
      busy[nbusy++] = r->path_text;
      if (!r->exists || r->old_status != 'o') continue;
      const bool same = r->state == FS_OK && r->old_has_sha && cmp_sha(r->sha, r->old_sha) == 0;
      if (same)
        r->reanalyse = true;
      else
        rel[nrel++] = Int64GetDatum(r->old_id);
    }
    if (nrel > 0) {
      Datum v[2] = {simple_array(rel, nullptr, nrel, INT8OID),
                    simple_array(busy, nullptr, nbusy, TEXTOID)};
      exec(P_RELEASE, v, nullptr, SPI_OK_SELECT);
      SPI_freetuptable(SPI_tuptable);
    }
  }

  // contents already stored, and contents repeated within the batch
  int* oks = static_cast<int*>(palloc(sizeof(int) * b->n));
  int noks = 0;
  for (int k = 0; k < b->n; ++k)
    if (b->f[k].state == FS_OK) oks[noks++] = k;
  std::sort(oks, oks + noks, [b](int x, int y) {
    const int c = cmp_sha(b->f[x].sha, b->f[y].sha);
    return c != 0 ? c < 0 : strcmp(b->f[x].path, b->f[y].path) < 0;
  });
  if (noks > 0) {
    Datum* shas = static_cast<Datum*>(palloc(sizeof(Datum) * noks));
    int nshas = 0;
    for (int i = 0; i < noks; ++i)
      if (i == 0 || cmp_sha(b->f[oks[i]].sha, b->f[oks[i - 1]].sha) != 0)
        shas[nshas++] = bytea_datum(b->f[oks[i]].sha, 32);
    Datum v[1] = {simple_array(shas, nullptr, nshas, BYTEAOID)};
    exec_scans(P_BY_SHA, v, nullptr, SPI_OK_SELECT, {"enable_seqscan"});
    TupleDesc td = SPI_tuptable->tupdesc;
    for (uint64 j = 0; j < SPI_processed; ++j) {
      bool isnull;
      bytea* sha = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[j], td, 1, &isnull));
      const int64 id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[j], td, 2, &isnull));
      const char* stored_path = SPI_getvalue(SPI_tuptable->vals[j], td, 3);
      if (VARSIZE_ANY_EXHDR(sha) != 32) continue;
      const uint8* s = reinterpret_cast<const uint8*>(VARDATA_ANY(sha));
      for (int i = 0; i < noks; ++i) {
        FileRec* r = &b->f[oks[i]];
        if (r->state != FS_OK || cmp_sha(r->sha, s) != 0) continue;
        if (r->reanalyse && r->old_id == id) continue;  // its own row
        if (stored_path != nullptr && strcmp(stored_path, r->path) == 0) {
          // Another run (on an overlapping tree) stored this very path with
          // this content since this batch looked: nothing left to write, and
          // never a duplicate of itself.
          r->state = FS_UNCHANGED;
          r->reanalyse = false;
          ++out.unchanged;
          continue;
        }
        r->state = FS_DUPLICATE;
        r->dup_of = id;
        r->reanalyse = false;
      }
    }
    SPI_freetuptable(SPI_tuptable);
    // within the batch: one file holds each new content (the path that
    // already held it when it is re-read, else the first path), the others
    // repeat it
    for (int i = 0; i < noks;) {
      int j = i;
      while (j < noks && cmp_sha(b->f[oks[j]].sha, b->f[oks[i]].sha) == 0) ++j;
      int holder = -1;
      for (int g = i; g < j; ++g)
        if (b->f[oks[g]].state == FS_OK && b->f[oks[g]].reanalyse) holder = oks[g];
      for (int g = i; g < j && holder < 0; ++g)
        if (b->f[oks[g]].state == FS_OK) holder = oks[g];
      for (int g = i; g < j; ++g) {
        FileRec* d = &b->f[oks[g]];
        if (d->state != FS_OK || oks[g] == holder) continue;
        d->state = FS_DUPLICATE;
        d->dup_of_rec = holder;
        d->reanalyse = false;
      }
      i = j;
    }
  }

  // write midipipe_files: new contents (in sha256 order, so that concurrent
  // workers take the content index's locks in the same order), errors and
  // duplicates of stored contents; then the batch's own duplicates
  {
    int* idx = static_cast<int*>(palloc(sizeof(int) * b->n));
    int k = 0;
    for (int i = 0; i < noks; ++i)
      if (b->f[oks[i]].state == FS_OK) idx[k++] = oks[i];
    for (int i = 0; i < b->n; ++i) {
      const FileRec* r = &b->f[i];
      if (r->state == FS_ERROR || (r->state == FS_DUPLICATE && r->dup_of_rec < 0)) idx[k++] = i;
    }
    upsert_files(b, run_id, idx, k, path_order);
    k = 0;
    for (int i = 0; i < b->n; ++i) {
      FileRec* r = &b->f[i];
      if (r->state == FS_DUPLICATE && r->dup_of_rec >= 0) {
        r->dup_of = b->f[r->dup_of_rec].file_id;
        if (r->dup_of < 0) elog(ERROR, "midipipe: duplicate target without a row");
        idx[k++] = i;
      }
    }
    upsert_files(b, run_id, idx, k, path_order);
  }

  // analysis of the new contents
  {
    int nre = 0;
    Datum* re = static_cast<Datum*>(palloc(sizeof(Datum) * b->n));
    for (int i = 0; i < b->n; ++i)
      if (b->f[i].state == FS_OK && b->f[i].reanalyse) re[nre++] = Int64GetDatum(b->f[i].file_id);
    if (nre > 0) {
      Datum v[1] = {simple_array(re, nullptr, nre, INT8OID)};
      exec_scans(P_DEL_ANALYSIS, v, nullptr, SPI_OK_DELETE, {"enable_seqscan"});
    }
    int* arows = static_cast<int*>(palloc(sizeof(int) * (b->nanalysis + 1)));
    Datum* aids = static_cast<Datum*>(palloc(sizeof(Datum) * (b->nanalysis + 1)));
    int na = 0;
    const int ntr = b->t[0].n;
    int* trows = static_cast<int*>(palloc(sizeof(int) * (ntr + 1)));
    Datum* tids = static_cast<Datum*>(palloc(sizeof(Datum) * (ntr + 1)));
    int nt = 0;
    for (int i = 0; i < noks; ++i) {
      const FileRec* r = &b->f[oks[i]];
      if (r->state != FS_OK) continue;
      arows[na] = r->analysis_row;
      aids[na++] = Int64GetDatum(r->file_id);
      for (int j = 0; j < r->track_count; ++j) {
        trows[nt] = r->track_first + j;
        tids[nt++] = Int64GetDatum(r->file_id);
      }
    }
    out.ok = na;
    if (na > 0) {
      Datum v[kNAnalysis + 1];
      v[0] = simple_array(aids, nullptr, na, INT8OID);
      for (int c = 0; c < kNAnalysis; ++c) v[c + 1] = col_array(&b->a[c], arows, na);
      exec(P_INS_ANALYSIS, v, nullptr, SPI_OK_INSERT);
    }
    if (nt > 0) {
      Datum v[kNTracks + 1];
      v[0] = simple_array(tids, nullptr, nt, INT8OID);
      for (int c = 0; c < kNTracks; ++c) v[c + 1] = col_array(&b->t[c], trows, nt);
      exec(P_INS_TRACKS, v, nullptr, SPI_OK_INSERT);
      if (b->any_smf) {
        Datum dv[1] = {simple_array(aids, nullptr, na, INT8OID)};
        exec_scans(P_DEDUP_SMF, dv, nullptr, SPI_OK_UPDATE, {"enable_seqscan"});
      }
    }
    for (int i = 0; i < noks; ++i) {
      const FileRec* r = &b->f[oks[i]];
      if (r->state != FS_OK || r->chords == nullptr) continue;
      Datum v[kNChordParams];
      char nulls[kNChordParams + 1];
      v[0] = Int64GetDatum(r->file_id);
      nulls[0] = ' ';
      for (int c = 1; c < kNChordParams; ++c) {
        v[c] = r->chords[c - 1];
        nulls[c] = r->chord_nulls[c - 1];
      }
      nulls[kNChordParams] = '\0';
      exec(P_INS_CHORDS, v, nulls, SPI_OK_INSERT);
    }
  }
  for (int i = 0; i < b->n; ++i)
    if (b->f[i].state == FS_DUPLICATE) ++out.duplicate;

  // the manifest and the run's counts
  {
    Datum* tids = static_cast<Datum*>(palloc(sizeof(Datum) * b->n));
    for (int i = 0; i < b->n; ++i) tids[i] = PointerGetDatum(&b->f[i].queue_ctid);
    Datum v[2] = {Int64GetDatum(run_id), simple_array(tids, nullptr, b->n, TIDOID)};
    exec_scans(P_QUEUE_DONE, v, nullptr, SPI_OK_UPDATE,
               {"enable_seqscan", "enable_indexscan", "enable_bitmapscan"});  // a TID scan
    if (SPI_processed != static_cast<uint64>(b->n))
      elog(ERROR, "midipipe: marked " UINT64_FORMAT " of %d claimed manifest rows done",
           SPI_processed, b->n);
    Datum c[6] = {Int64GetDatum(run_id),        Int64GetDatum(out.ok),
                  Int64GetDatum(out.duplicate), Int64GetDatum(out.unchanged),
                  Int64GetDatum(out.failed),    Int64GetDatum(out.bytes_read)};
    exec(P_RUN_COUNTS, c, nullptr, SPI_OK_UPDATE);
  }

  MemoryContextSwitchTo(old_cxt);
  MemoryContextDelete(batch_cxt);
  return out;
}

// ------------------------------------------------------------------ SQL helper

// midipipe__process_batch(run_id, batch_size, max_file_size): one batch in
// this backend, as the current user (internal; tests and debugging).
Datum midipipe__process_batch(PG_FUNCTION_ARGS) {
  mp_require_preload();
  if (!superuser() && !has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("permission denied to read server files"),
                    errdetail("Only roles with privileges of the \"%s\" role may import files.",
                              "pg_read_server_files")));
  if (PG_ARGISNULL(0))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("run_id must not be NULL")));
  const int64 run_id = PG_GETARG_INT64(0);
  const int batch_size = PG_ARGISNULL(1) ? mp_batch_size : PG_GETARG_INT32(1);
  uint64 max_size = static_cast<uint64>(mp_max_file_size_kb) * 1024;
  if (!PG_ARGISNULL(2)) max_size = static_cast<uint64>(std::max<int64>(PG_GETARG_INT64(2), 0));

  TupleDesc td;
  if (get_call_result_type(fcinfo, nullptr, &td) != TYPEFUNC_COMPOSITE)
    elog(ERROR, "midipipe: return type must be a row type");
  td = BlessTupleDesc(td);

  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "midipipe: SPI_connect failed");
  const int guc_level = mp_push_search_path();  // as the pool's workers run it
  const MpBatchOutcome o = mp_process_batch(run_id, batch_size, max_size, nullptr, nullptr);
  mp_pop_search_path(guc_level);
  SPI_finish();

  Datum values[6] = {Int64GetDatum(o.claimed),   Int64GetDatum(o.ok),
                     Int64GetDatum(o.duplicate), Int64GetDatum(o.unchanged),
                     Int64GetDatum(o.failed),    Int64GetDatum(o.bytes_read)};
  bool nulls[6] = {false, false, false, false, false, false};
  PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(td, values, nulls)));
}
