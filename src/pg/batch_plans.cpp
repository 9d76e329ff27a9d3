// midipipe: the prepared statements of a batch: their SQL text, the insert
// statements built from batch_columns.hpp, the check that the extension's
// tables are the ones this library writes, and exec_plan()/exec_scans().
//
// Per batch, whatever its size: one statement to read the run's options, one
// claim, one lookup of the existing rows by path, one lookup of the stored
// contents by sha256, one or two upserts of midipipe_files, one insert per
// analysis table, one queue update and one run update. Rare extra statements:
// midipipe__release() when an 'ok' row's content changed, a delete of stale
// analysis rows when an unchanged content is re-read.
//
// The plans are kept (SPI_keepplan) for the life of the process, and made
// again when the extension was dropped and created again or updated.
#include "batch_internal.hpp"
#include "pool_internal.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
}

namespace mp_batch {
namespace {

SPIPlanPtr g_plans[P_COUNT];
Oid g_plans_ext = InvalidOid;  // the extension the plans were prepared for
bool g_plans_current = false;  // g_plans_ext's version was checked
// The install script version these plans are written for, and the other
// versions whose tables are the same (0.4 added the content search columns
// to midipipe_analysis and midipipe_tracks: no earlier version's tables).
constexpr const char* kTablesVersion = "0.4";
constexpr const char* kSameTables[] = {"0.4"};
char* g_schema = nullptr;  // its schema, quoted (TopMemoryContext)
// midipipe_run_counts exists (0.4): a batch appends its counts there instead
// of updating the run's row (issue 17: the row every batch waited for).
bool g_run_counts = false;

// "INSERT INTO s.table (file_id, cols...) SELECT u.file_id, u.cols... FROM
// unnest($1) AS u", $1 an array of the table's row type: one composite value
// per row (batch_store.cpp). Unnesting one array of rows instead of one array
// per column (a function scan of 120 columns, each materialised) took the
// analysis insert from about a quarter of a batch's database time to a few
// per cent.
char* insert_rows_sql(const char* table, const ColSpec* cols, int ncols) {
  StringInfoData s;
  initStringInfo(&s);
  appendStringInfo(&s, "INSERT INTO %s.%s (file_id", g_schema, table);
  for (int i = 0; i < ncols; ++i) appendStringInfo(&s, ", %s", quote_identifier(cols[i].name));
  appendStringInfoString(&s, ") SELECT u.file_id");
  for (int i = 0; i < ncols; ++i) appendStringInfo(&s, ", u.%s", quote_identifier(cols[i].name));
  appendStringInfoString(&s, " FROM pg_catalog.unnest($1) AS u");
  return s.data;
}

const char* insert_table(PlanId id) {
  return id == P_INS_ANALYSIS ? "midipipe_analysis"
         : id == P_INS_TRACKS ? "midipipe_tracks"
         : id == P_UPSERT     ? "midipipe_files"
                              : "midipipe_chords";
}

// One generic plan per statement, made at its first use (under the settings
// exec_scans() gives it) and kept: the plan cache would otherwise plan a
// statement afresh at each of its first five executions before settling on
// the generic plan, and a young worker's batch spent about 2 ms of a 1-file
// run planning its inserts (120 columns) and lookups (issue 16 b). Every
// statement looks rows up by a key, or inserts the rows of its parameters:
// its plan does not depend on their values.
SPIPlanPtr prepare(const char* sql, int nargs, const Oid* types) {
  SPIPlanPtr p = SPI_prepare_cursor(sql, nargs, const_cast<Oid*>(types), CURSOR_OPT_GENERIC_PLAN);
  if (p == nullptr)
    elog(ERROR, "midipipe: could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
  if (SPI_keepplan(p) != 0) elog(ERROR, "midipipe: SPI_keepplan failed");
  return p;
}

// Resolves the extension (afresh every batch: DROP/CREATE EXTENSION while the
// pool is warm gives new oids) and drops the plans of a previous incarnation.
}  // namespace

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
  g_run_counts = OidIsValid(get_relname_relid("midipipe_run_counts", mp_extension_schema()));
  g_plans_ext = ext;
}

bool run_counts_appended() { return g_run_counts; }

namespace {

// every %s in fmt is the schema
char* with_schema(const char* fmt) { return mp_with_quoted_schema(g_schema, fmt); }

// The table's columns (but file_id) must be exactly `cols`, by name and type:
// the engine's column list (columns.hpp) and the install scripts agree.
void check_columns(const char* table, const ColSpec* cols, int n) {
  const Oid rel = get_relname_relid(table, mp_extension_schema());
  if (!OidIsValid(rel)) elog(ERROR, "midipipe: table %s is missing", table);
  Datum arg[1] = {ObjectIdGetDatum(rel)};
  Oid argt[1] = {OIDOID};
  if (SPI_execute_with_args(
          "SELECT attname::pg_catalog.text, atttypid FROM pg_catalog.pg_attribute "
          "WHERE attrelid OPERATOR(pg_catalog.=) $1 AND attnum > 0 "
          "AND NOT attisdropped AND attname OPERATOR(pg_catalog.<>) 'file_id'",
          1, argt, arg, nullptr, true, 0) != SPI_OK_SELECT)
    elog(ERROR, "midipipe: cannot read the columns of %s", table);
  int found = 0;
  for (uint64 r = 0; r < SPI_processed; ++r) {
    bool isnull;
    const char* name = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
    const Oid type =
        DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));
    const ColSpec* c = nullptr;
    for (int i = 0; i < n && c == nullptr; ++i)
      if (strcmp(cols[i].name, name) == 0) c = &cols[i];
    if (c == nullptr)
      ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                      errmsg("midipipe: column %s.%s is not one the library writes", table, name)));
    if (c->column_type != type)
      ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                      errmsg("midipipe: column %s.%s is of type %s, the library writes %s", table,
                             name, format_type_be(type), format_type_be(c->column_type))));
    ++found;
  }
  SPI_freetuptable(SPI_tuptable);
  if (found != n)
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("midipipe: %s has %d of the %d columns the library writes", table, found, n)));
}

// The plan of statement `id`, prepared on first use. Long (one case per
// statement): the batch's SQL text and parameter types stay together in one
// place, to be read and reviewed as a whole.
SPIPlanPtr plan(PlanId id) {
  if (g_plans[id] != nullptr) return g_plans[id];
  switch (id) {
    case P_RUN: {
      const Oid t[] = {INT8OID};
      g_plans[id] =
          prepare(with_schema("SELECT options FROM %s.midipipe_runs WHERE run_id = $1"), 1, t);
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
      // the rows as an array of midipipe_files' row type, as the inserts below
      const Oid t[] = {get_array_type(insert_rowtype(id))};
      g_plans[id] = prepare(
          with_schema(
              "INSERT INTO %s.midipipe_files AS f (path, size, mtime, sha256, status, "
              "duplicate_of, error_code, error_message, error_offset, run_id) "
              "SELECT u.path, u.size, u.mtime, u.sha256, u.status, u.duplicate_of, u.error_code, "
              "u.error_message, u.error_offset, u.run_id FROM pg_catalog.unnest($1) AS u "
              "ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime, "
              "sha256 = excluded.sha256, status = excluded.status, "
              "duplicate_of = excluded.duplicate_of, error_code = excluded.error_code, "
              "error_message = excluded.error_message, error_offset = excluded.error_offset, "
              "run_id = excluded.run_id, imported_at = pg_catalog.now() "
              "RETURNING file_id, path"),
          1, t);
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
    case P_INS_ANALYSIS:
    case P_INS_TRACKS:
    case P_INS_CHORDS: {
      int n = kNChordParams - 1;
      const ColSpec* cols = id == P_INS_ANALYSIS ? analysis_cols(&n)
                            : id == P_INS_TRACKS ? track_cols(&n)
                                                 : chord_cols();
      const char* table = insert_table(id);
      if (id != P_INS_CHORDS) check_columns(table, cols, n);
      const Oid rows_type = get_array_type(insert_rowtype(id));
      if (!OidIsValid(rows_type)) elog(ERROR, "midipipe: %s has no array type", table);
      g_plans[id] = prepare(insert_rows_sql(table, cols, n), 1, &rows_type);
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
      // Appended, not added to the run row (folded there by the scanner,
      // see fold_counts() in scanner.cpp); tables older than 0.4 have no
      // midipipe_run_counts: the run row then, as before.
      const Oid t[] = {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID};
      g_plans[id] = prepare(
          with_schema(g_run_counts
                          ? "INSERT INTO %s.midipipe_run_counts (run_id, files_ok, "
                            "files_duplicate, files_unchanged, files_failed, bytes_read) "
                            "VALUES ($1, $2, $3, $4, $5, $6)"
                          : "UPDATE %s.midipipe_runs SET files_ok = files_ok + $2, "
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

}  // namespace

Oid insert_rowtype(PlanId id) {
  const char* table = insert_table(id);
  const Oid rel = get_relname_relid(table, mp_extension_schema());
  if (!OidIsValid(rel)) elog(ERROR, "midipipe: table %s is missing", table);
  return get_rel_type_id(rel);
}

// The run row and the manifest are the extension's own: read and written as
// the owner of its tables (g_owner), never as the importing role, which has
// no right to write them (README "Threat model"). Every other statement runs
// as the importing role.
Oid g_owner = InvalidOid;

namespace {
bool internal_plan(PlanId id) {
  return id == P_RUN || id == P_CLAIM || id == P_QUEUE_DONE || id == P_RUN_COUNTS;
}
}  // namespace

void exec_plan(PlanId id, Datum* values, const char* nulls, int expected) {
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

// exec_plan() with the scans the statement must not use disabled while it is
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
  exec_plan(id, values, nulls, expected);
  AtEOXact_GUC(true, nest);
}

}  // namespace mp_batch
