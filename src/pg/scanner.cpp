// midipipe: the run's scanner (bgworker "midipipe scanner") and the resume worker.
//
// One scanner per active run, connected to the run's database. It writes
// the midipipe_runs row (the caller cannot: its transaction is still open
// while it waits), walks the directory tree into the run's manifest
// (midipipe_queue) in committed chunks, in name order, leaving out the files
// whose size and mtime midipipe_files records (counted unchanged, once per
// directory: its marker row), then watches the run, folding the batches'
// counts (midipipe_run_counts) into the run row, until they add up to the
// files found, and finalizes it (completed, cancelled or failed; an empty
// manifest is truncated). Rescanning is idempotent (ON CONFLICT DO NOTHING on
// the manifest, the markers), so a scanner that dies, or a server restart,
// simply starts over.
//
// The resume worker runs once per database listed in pg_midipipe/active_runs
// after a restart: it puts that database's unfinished runs back into shared
// memory; the supervisor then starts their scanners and workers.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <initializer_list>

#include "dedup.hpp"
#include "file_read.hpp"
#include "metrics.hpp"
#include "pool_internal.hpp"
#include "run_counts.hpp"

extern "C" {
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

namespace {

constexpr int kChunk = 2000;              // manifest rows per insert
constexpr int kFlushMs = 200;             // flush a partial chunk this often
constexpr int64 kMaxUnfinished = 100000;  // back-pressure threshold
constexpr int kFoldMs = 1000;             // fold midipipe_run_counts into the run row
constexpr int kCheckEveryMs = 30000;      // ask the manifest too (see coordinate())
constexpr int kMaxPathBytes = 2048;       // longest path imported, plus its NUL

int my_run = -1;
uint32 my_gen = 0;

struct RunInfo {
  int64 run_id;
  Oid dboid;
  Oid roleoid;
  char root[MAXPGPATH];
  MpRunOptions options;
  int granted;
  TimestampTz started_at;
};
RunInfo info;
// The run's row is not written yet: a new run's row is written in the
// transaction of the scan's first flush (write_run_row()), one transaction
// fewer for a small run, or on its own once the scan has taken kRowWithinMs.
bool row_pending = false;
constexpr int kRowWithinMs = 20;
Oid boot_user = InvalidOid;
int boot_sec = 0;

// The server's synchronous_commit, for the transaction that ends the run.
// Every other transaction of the scanner (the run row, the manifest) commits
// without waiting for its WAL flush: nothing outside the server has seen
// them, a crash before the flush loses a run that no worker has written for
// yet (workers flush it with their own WAL, which comes after it), and the
// end of the run (finalize) is committed with the server's setting, which
// flushes all of it. A 1-file run waited for three such flushes before.
char* run_end_sync_commit = nullptr;

void commit_without_flush() {
  run_end_sync_commit =
      MemoryContextStrdup(TopMemoryContext, GetConfigOption("synchronous_commit", false, false));
  SetConfigOption("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION);
}
Oid tx_nsp = InvalidOid;  // the extension's schema, in the open transaction

// sql with every %s replaced by the extension's schema (see mp_with_schema)
char* q(const char* sql) { return mp_with_schema(tx_nsp, sql); }

MpRunSlot* run_slot() { return &mp_shared->runs[my_run]; }

void scanner_detach(int code, Datum arg) {
  if (mp_shared == nullptr || my_run < 0) return;
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  MpRunSlot* r = run_slot();
  if (r->generation == my_gen && r->scanner_pid == MyProcPid) {
    r->scanner_pid = 0;
    r->scanner_latch = nullptr;
  }
  LWLockRelease(mp_shared->lock);
  mp_wake_supervisor();
}

// Marks the run slot ended (shared memory only), wakes the backends waiting
// for it, then its workers (which go idle): the caller first, so that the
// workers' wake-ups do not delay its return.
void finish_slot(int state, const char* error) {
  Latch** wake = static_cast<Latch**>(palloc(sizeof(Latch*) * mp_shared->nworkers));
  int nwake = 0;
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  MpRunSlot* r = run_slot();
  if (r->generation == my_gen) {
    if (!r->finished) mp_metrics_run_ended(r->dboid, state);
    r->state = state;
    r->finished = true;
    r->finished_at = GetCurrentTimestamp();
    if (error != nullptr && error[0] != '\0') strlcpy(r->error, error, sizeof(r->error));
    for (int i = 0; i < mp_shared->nworkers; i++) {
      MpWorkerSlot* w = mp_worker_slot(i);
      if (w->run_slot == my_run && w->run_generation == my_gen && w->latch != nullptr)
        wake[nwake++] = w->latch;
    }
  }
  LWLockRelease(mp_shared->lock);
  mp_run_changed(my_run);
  for (int i = 0; i < nwake; i++) SetLatch(wake[i]);  // a latch in PGPROC: never freed
  pfree(wake);
  mp_wake_supervisor();
}

// Wakes as many of the run's workers as the paths not yet done can keep busy:
// a worker claims at least kWakeShare of them (kMinClaim in worker.cpp), so a
// 1-file run wakes one worker, instead of eight that each spend a transaction
// on an empty claim on the CPUs the one with the file needs. A worker left
// asleep looks again within its 1 s poll, and each one that ends a batch
// with more paths waiting takes the next at once.
constexpr int64 kWakeShare = 8;

void wake_workers() {
  LWLockAcquire(mp_shared->lock, LW_SHARED);
  const MpRunSlot* r = run_slot();
  int64 left = r->files_found - r->done_committed;
  int64 want = left > 0 ? (left + kWakeShare - 1) / kWakeShare : 1;
  for (int i = 0; i < mp_shared->nworkers && want > 0; i++) {
    MpWorkerSlot* w = mp_worker_slot(i);
    if (w->run_slot == my_run && w->run_generation == my_gen && w->latch != nullptr) {
      SetLatch(w->latch);
      want--;
    }
  }
  LWLockRelease(mp_shared->lock);
}

bool cancel_requested(bool* fail) {
  LWLockAcquire(mp_shared->lock, LW_SHARED);
  MpRunSlot* r = run_slot();
  bool c = r->generation != my_gen || r->cancel_requested || r->finished;
  if (fail != nullptr) *fail = r->fail_requested;
  LWLockRelease(mp_shared->lock);
  return c;
}

int state_from_name(const char* s) {
  for (int st = MP_R_QUEUED; st <= MP_R_FAILED; st++)
    if (strcmp(s, mp_run_state_name(st)) == 0) return st;
  return MP_R_FAILED;
}

// ---------------------------------------------------------------- the statements

const char* const kReadRow =
    "SELECT state, scan_done, files_found, files_ok, files_duplicate, files_unchanged, "
    "files_failed, bytes_read, error FROM %s.midipipe_runs WHERE run_id = $1";
const char* const kInsertRun =
    "INSERT INTO %s.midipipe_runs (run_id, root, options, state, requested_by, "
    "workers_requested, workers_granted, started_at) "
    "VALUES ($1, $2, $3, 'scanning', $4::name, $5, $6, $7) "
    "ON CONFLICT (run_id) DO NOTHING";
const char* const kStartRun =
    "UPDATE %s.midipipe_runs SET state = 'scanning', workers_granted = $6 "
    "WHERE run_id = $1 AND state = 'queued'";
const char* const kUnchanged =
    "SELECT u.i, f.size, f.mtime, f.status, f.error_code "
    "FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[])) WITH ORDINALITY AS u(p, i) "
    "JOIN %s.midipipe_files f ON f.path OPERATOR(pg_catalog.=) u.p";
const char* const kMarkers =
    "WITH ins AS (INSERT INTO %s.midipipe_queue (run_id, path, done) "
    "SELECT $1, p, true FROM pg_catalog.unnest($2::pg_catalog.text[]) AS p "
    "ON CONFLICT DO NOTHING RETURNING path) "
    "SELECT u.i FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.text[])) WITH ORDINALITY "
    "AS u(p, i) JOIN ins ON ins.path OPERATOR(pg_catalog.=) u.p";
const char* const kQueuePaths =
    "WITH ins AS (INSERT INTO %s.midipipe_queue (run_id, path) "
    "SELECT $1, p FROM pg_catalog.unnest($2::pg_catalog.text[]) AS p ON CONFLICT DO NOTHING "
    "RETURNING 1) "
    "UPDATE %s.midipipe_runs SET files_found = files_found + (SELECT count(*) FROM ins) + $3, "
    "files_unchanged = files_unchanged + $3 "
    "WHERE run_id = $1 RETURNING files_found";
const char* const kScanDone =
    "UPDATE %s.midipipe_runs SET scan_done = true, "
    "state = CASE WHEN state = 'scanning' THEN 'running' ELSE state END "
    "WHERE run_id = $1";
const char* const kScanRunning =
    "UPDATE %s.midipipe_runs SET state = 'running' "
    "WHERE run_id = $1 AND state = 'scanning' AND files_found > 0";
const char* const kQueueComplete =
    "SELECT NOT EXISTS (SELECT 1 FROM %s.midipipe_queue WHERE run_id = $1 AND NOT done)";
const char* const kDeleteQueue = "DELETE FROM %s.midipipe_queue WHERE run_id = $1";
const char* const kDeleteQueueSkipLocked =
    "DELETE FROM %s.midipipe_queue WHERE ctid = ANY (ARRAY(SELECT ctid FROM "
    "%s.midipipe_queue WHERE run_id = $1 FOR UPDATE SKIP LOCKED))";
const char* const kEndRun =
    "UPDATE %s.midipipe_runs SET state = $2, finished_at = clock_timestamp(), "
    "error = COALESCE($3, error) "
    "WHERE run_id = $1 AND state IN ('queued', 'scanning', 'running')";

// ---------------------------------------------------------------- transactions

// Opens a transaction with SPI and a snapshot; false (transaction closed again)
// when the extension is not installed in this database any more.
bool begin_tx(bool as_role) {
  mp_begin_spi_tx();
  Oid nsp = mp_extension_schema();
  if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("midipipe_runs", nsp))) {
    mp_end_spi_tx(false);
    return false;
  }
  mp_set_local_search_path(nsp);
  tx_nsp = nsp;
  if (as_role) SetUserIdAndSecContext(info.roleoid, boot_sec | SECURITY_LOCAL_USERID_CHANGE);
  return true;
}

// A spare scanner serves many runs: what a run allocates outside its
// transactions goes into this context (a commit leaves TopMemoryContext
// current), reset after the run. Null in a scanner of one run.
MemoryContext run_cxt = nullptr;

void end_tx() {
  SetUserIdAndSecContext(boot_user, boot_sec);
  mp_end_spi_tx(true);
  if (run_cxt != nullptr) MemoryContextSwitchTo(run_cxt);
  (void)pgstat_report_stat(false);  // the manifest's inserts reach autovacuum during the run
}

[[noreturn]] void extension_gone() {
  finish_slot(MP_R_FAILED, "extension midipipe was dropped while the run was active");
  ereport(LOG, (errmsg("midipipe: run " INT64_FORMAT
                       " abandoned: extension midipipe is not installed in this database",
                       info.run_id)));
  proc_exit(0);
}

// The scanner's statements are parsed and analysed once per process and kept
// (SPI_keepplan), keyed by their text's address (each is a literal). A spare
// scanner prepares those of a run, and plans them, before it is handed the
// run (spare_warm_up()): a 1-file run spent about half its time parsing and
// planning its dozen statements, in a process whose catalog caches are cold.
// Each is kept with one generic plan (every one looks rows up by a key, or
// inserts from its parameters), except the few in custom_plan(), which read
// a run's whole manifest and are planned for it. A statement's plan follows
// the tables (the plan cache re-analyses it after DDL); the plans are made
// again when the extension's schema is another one (DROP and CREATE EXTENSION).
struct KeptPlan {
  const char* sql;
  SPIPlanPtr plan;
};
constexpr int kMaxKept = 24;
KeptPlan kept[kMaxKept];
int nkept = 0;
Oid kept_nsp = InvalidOid;

// The statements that read a run's whole manifest: planned for each use.
bool custom_plan(const char* sql) {
  return sql == kQueueComplete || sql == kDeleteQueue || sql == kDeleteQueueSkipLocked;
}

SPIPlanPtr kept_plan(const char* sql, int nargs, Oid* types) {
  if (kept_nsp != tx_nsp) {
    for (int i = 0; i < nkept; i++) SPI_freeplan(kept[i].plan);
    nkept = 0;
    kept_nsp = tx_nsp;
  }
  for (int i = 0; i < nkept; i++)
    if (kept[i].sql == sql) return kept[i].plan;
  SPIPlanPtr p =
      SPI_prepare_cursor(q(sql), nargs, types, custom_plan(sql) ? 0 : CURSOR_OPT_GENERIC_PLAN);
  if (p == nullptr)
    elog(ERROR, "midipipe: could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
  if (nkept == kMaxKept) return p;  // not kept: freed with the SPI connection
  if (SPI_keepplan(p) != 0) elog(ERROR, "midipipe: SPI_keepplan failed");
  kept[nkept++] = {sql, p};
  return p;
}

// Prepares sql (kept_plan) and makes its generic plan now (see spare_warm_up()).
void prepare(const char* sql, int nargs, Oid* types) {
  SPIPlanPtr p = kept_plan(sql, nargs, types);
  if (custom_plan(sql)) return;
  CachedPlan* cp = SPI_plan_get_cached_plan(p);
  if (cp != nullptr) ReleaseCachedPlan(cp, CurrentResourceOwner);
}

// Runs sql (a literal) with every %s the extension's schema, through its kept plan.
void exec(const char* sql, int nargs, Oid* types, Datum* values, const char* nulls, int expect) {
  int rc = SPI_execute_plan(kept_plan(sql, nargs, types), values, nulls, false, 0);
  if (rc != expect)
    elog(ERROR, "midipipe: SPI_execute_plan failed (%s): %s", SPI_result_code_string(rc), sql);
}

// exec() of a statement run once in a while (not kept).
void exec_once(const char* sql, int expect) {
  int rc = SPI_execute(q(sql), false, 0);
  if (rc != expect)
    elog(ERROR, "midipipe: SPI_execute failed (%s): %s", SPI_result_code_string(rc), sql);
}

// Turns off, until AtEOXact_GUC(true, level), the scans the lookup of
// unchanged files (kUnchanged) must not use while it is planned and run (as
// exec_scans() in batch_plans.cpp): the statistics of midipipe_files may say
// "empty" while a run fills it. Returns the GUC nest level.
int unchanged_scans_off() {
  const int nest = NewGUCNestLevel();
  for (const char* name : {"enable_seqscan", "enable_hashjoin", "enable_mergejoin"})
    (void)set_config_option(name, "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0,
                            false);
  return nest;
}

// The statements of a run, prepared and planned ahead of it (kept_plan()).
void prepare_run_statements() {
  Oid run_row[7] = {INT8OID, TEXTOID, JSONBOID, TEXTOID, INT4OID, INT4OID, TIMESTAMPTZOID};
  Oid id[1] = {INT8OID};
  Oid paths[1] = {TEXTARRAYOID};
  Oid markers[2] = {INT8OID, TEXTARRAYOID};
  Oid queue[3] = {INT8OID, TEXTARRAYOID, INT8OID};
  Oid end[3] = {INT8OID, TEXTOID, TEXTOID};
  prepare(kInsertRun, 7, run_row);
  prepare(kStartRun, 7, run_row);
  prepare(kReadRow, 1, id);
  const int nest = unchanged_scans_off();
  prepare(kUnchanged, 1, paths);
  AtEOXact_GUC(true, nest);
  prepare(kMarkers, 2, markers);
  prepare(kQueuePaths, 3, queue);
  if (OidIsValid(get_relname_relid("midipipe_run_counts", tx_nsp)))
    prepare(mp_fold_counts_sql(), 1, id);
  prepare(kScanDone, 1, id);
  prepare(kScanRunning, 1, id);
  prepare(kDeleteQueue, 1, id);
  prepare(kEndRun, 3, end);
}

int64 get_int8(int col) {
  bool isnull = false;
  Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);
  return isnull ? 0 : DatumGetInt64(d);
}

// ---------------------------------------------------------------- the run row

struct RowState {
  int state;
  bool scan_done;
  int64 found, ok, dup, unchanged, failed, bytes;
  char error[MP_ERR_LEN];
};

void read_row(RowState* rs) {
  Oid types[1] = {INT8OID};
  Datum values[1] = {Int64GetDatum(info.run_id)};
  exec(kReadRow, 1, types, values, nullptr, SPI_OK_SELECT);
  memset(rs, 0, sizeof(*rs));
  if (SPI_processed != 1) {
    rs->state = -1;
    return;
  }
  char* st = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
  rs->state = state_from_name(st);
  bool isnull = false;
  rs->scan_done =
      DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
  rs->found = get_int8(3);
  rs->ok = get_int8(4);
  rs->dup = get_int8(5);
  rs->unchanged = get_int8(6);
  rs->failed = get_int8(7);
  rs->bytes = get_int8(8);
  char* err = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 9);
  if (err != nullptr) strlcpy(rs->error, err, sizeof(rs->error));
}

// Moves the counts the batches appended to midipipe_run_counts into the run
// row, in the open transaction (DELETE ... RETURNING and the UPDATE in one
// statement: a count is in exactly one of the two places, whatever crashes).
// Nothing without the table (tables older than 0.4: batches update the row).
void fold_counts() {
  if (!OidIsValid(get_relname_relid("midipipe_run_counts", tx_nsp))) return;
  Oid types[1] = {INT8OID};
  Datum values[1] = {Int64GetDatum(info.run_id)};
  exec(mp_fold_counts_sql(), 1, types, values, nullptr, SPI_OK_UPDATE);
}

void mirror_row_locked(MpRunSlot* r, const RowState* rs) {
  r->files_found = rs->found;
  r->files_ok = rs->ok;
  r->files_duplicate = rs->dup;
  r->files_unchanged = rs->unchanged;
  r->files_failed_committed = rs->failed;
  r->done_committed = rs->ok + rs->dup + rs->unchanged + rs->failed;
  if (r->files_done < r->done_committed) r->files_done = r->done_committed;
  if (r->files_failed < rs->failed) r->files_failed = rs->failed;
  if (r->bytes_read < rs->bytes) r->bytes_read = rs->bytes;
}

// Inserts the run row (or finds it, for a resumed run) in the open
// transaction, and reads it.
RowState write_run_row() {
  char* user = GetUserNameFromId(info.roleoid, true);
  Oid types[7] = {INT8OID, TEXTOID, JSONBOID, TEXTOID, INT4OID, INT4OID, TIMESTAMPTZOID};
  Datum values[7] = {Int64GetDatum(info.run_id),
                     CStringGetTextDatum(info.root),
                     mp_run_options_to_jsonb(info.options),
                     CStringGetTextDatum(user != nullptr ? user : "?"),
                     Int32GetDatum(info.options.workers),
                     Int32GetDatum(info.granted),
                     TimestampTzGetDatum(info.started_at)};
  exec(kInsertRun, 7, types, values, nullptr, SPI_OK_INSERT);
  row_pending = false;
  RowState rs;
  if (SPI_processed == 1) {  // a new row, as inserted
    memset(&rs, 0, sizeof(rs));
    rs.state = MP_R_SCANNING;
    return rs;
  }
  // there already (a resumed run, or a scanner started again)
  exec(kStartRun, 7, types, values, nullptr, SPI_OK_UPDATE);
  read_row(&rs);
  return rs;
}

// After the commit of write_run_row(): ends this process when the row is gone
// or ended; otherwise mirrors it into the run slot, where it lets the workers
// claim. Returns its scan_done.
bool adopt_run_row(const RowState& rs) {
  if (rs.state < 0) {
    finish_slot(MP_R_FAILED, "the run's row disappeared");
    proc_exit(0);
  }
  if (rs.state >= MP_R_COMPLETED) {  // ended meanwhile (e.g. midipipe_cancel with no live slot)
    LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
    mirror_row_locked(run_slot(), &rs);
    LWLockRelease(mp_shared->lock);
    finish_slot(rs.state, rs.error);
    proc_exit(0);
  }
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  MpRunSlot* r = run_slot();
  mirror_row_locked(r, &rs);
  r->scan_done = rs.scan_done;
  r->state = rs.state;
  r->row_written = true;
  bool work_waiting = r->files_found > r->done_committed;
  LWLockRelease(mp_shared->lock);
  // Workers have something to claim only when the manifest has rows (a
  // resumed run); a new run's workers are woken by the scan's first flush,
  // instead of each spending a transaction on an empty claim now, on the CPU
  // the scan needs.
  if (work_waiting) wake_workers();
  return rs.scan_done;
}

// The run row in a transaction of its own. Returns its scan_done.
bool setup_run_row() {
  if (!begin_tx(false)) extension_gone();
  RowState rs = write_run_row();
  end_tx();
  return adopt_run_row(rs);
}

// A new run's row, on its own, once the scan has taken kRowWithinMs without
// a flush (a large tree): users see the run in midipipe_runs at once, as
// before the row waited for the first flush.
void row_if_late() {
  if (row_pending &&
      TimestampDifferenceExceeds(info.started_at, GetCurrentTimestamp(), kRowWithinMs))
    (void)setup_run_row();
}

// ---------------------------------------------------------------- the scan

struct ErrRow {
  char* path;
  const char* code;
  char* message;
  int64 size;  // -1: unknown
  TimestampTz mtime;
  bool has_mtime;
};

struct DirNode {
  char* path;
  dev_t dev;
  ino_t ino;
  int parent;
};

// The files of one directory, held together until the directory has been
// read, so that its unchanged files are decided and counted in one flush with
// a marker row (see flush_units()). A directory with more than kChunk
// matching files is not held: its paths are queued as they come.
struct Unit {
  char* marker;  // the directory's path and a '/': no file's path ends so
  int end;       // its entries are [previous unit's end, end)
};

struct Scan {
  MemoryContext cxt;        // the pending chunk: paths and error rows, reset by flush()
  MemoryContext tree_cxt;   // the directory tree and the arrays, for the whole scan
  MemoryContext unit_cxt;   // the units' paths, reset by flush() when no unit is open
  MemoryContext names_cxt;  // the names of the directory being read (read_sorted)
  char** paths;             // up to 4 * kChunk (a spilled unit and the units' changed files on top)
  int npaths;
  char** upaths;  // the units' files (up to 2 * kChunk), their size and mtime
  int64* usize;
  TimestampTz* umtime;
  int nu;
  Unit* units;  // the closed units (up to 2 * kChunk)
  int nunits;
  bool unit_open;  // the directory being read collects its files into a unit
  int unit_start;  // its first entry
  ErrRow* errs;
  int nerrs;
  int errcap;
  DirNode* dirs;
  int ndirs;
  int dircap;
  int* stack;
  int nstack;
  int stackcap;
  TimestampTz last_flush;
  TimestampTz last_fold;
  int64 entries;
};

bool name_matches(const char* name) {
  const char* dot = strrchr(name, '.');
  if (dot == nullptr || dot == name) return false;
  static const char* const exts[] = {".mid", ".midi", ".kar", ".rmi", ".smf"};
  for (const char* e : exts)
    if (pg_strcasecmp(dot, e) == 0) return true;
  return false;
}

// A displayable rendering of a path that is not valid in the database
// encoding, which can never equal the path of another file: the leading
// components that are valid stay as they are, then comes "//" (which no path
// the scan builds contains: the root is canonical, and names hold no '/'),
// then the rest with each byte that is not valid (or is a control character)
// written as \xNN and each backslash as \\. Valid paths are stored as they
// are, so "/t/bad\xFF.mid" (a valid name, with backslashes) and the invalid
// name "/t/bad<0xFF>.mid" (stored as "/t//bad\xFF.mid") are two rows.
char* escape_path(const char* path) {
  StringInfoData buf;
  initStringInfo(&buf);
  int enc = GetDatabaseEncoding();
  const int len = static_cast<int>(strlen(path));
  // the valid prefix, cut back to the '/' before the first component with an invalid byte
  int cut = pg_encoding_verifymbstr(enc, path, len);
  while (cut > 0 && path[cut] != '/') cut--;
  appendBinaryStringInfo(&buf, path, cut);
  appendStringInfoString(&buf, "//");
  const unsigned char* p = reinterpret_cast<const unsigned char*>(path) + cut;
  int remaining = len - cut;
  if (remaining > 0 && *p == '/') {
    p++;
    remaining--;
  }
  while (remaining > 0) {
    if (*p == '\\') {
      appendStringInfoString(&buf, "\\\\");
      p++;
      remaining--;
    } else if (*p < 0x20 || *p == 0x7f) {
      appendStringInfo(&buf, "\\x%02X", *p);
      p++;
      remaining--;
    } else if (*p < 0x80) {
      appendStringInfoChar(&buf, static_cast<char>(*p));
      p++;
      remaining--;
    } else {
      int l = pg_encoding_verifymbchar(enc, reinterpret_cast<const char*>(p), remaining);
      if (l > 0) {
        appendBinaryStringInfo(&buf, reinterpret_cast<const char*>(p), l);
        p += l;
        remaining -= l;
      } else {
        appendStringInfo(&buf, "\\x%02X", *p);
        p++;
        remaining--;
      }
    }
  }
  return buf.data;
}

void add_error(Scan* s, const char* path, const char* code, const char* message,
               const struct stat* st) {
  MemoryContext old = MemoryContextSwitchTo(s->cxt);
  if (s->nerrs == s->errcap) {
    s->errcap = s->errcap * 2;
    s->errs = static_cast<ErrRow*>(repalloc(s->errs, sizeof(ErrRow) * s->errcap));
  }
  ErrRow* e = &s->errs[s->nerrs++];
  e->path = pg_verifymbstr(path, static_cast<int>(strlen(path)), true) ? pstrdup(path)
                                                                       : escape_path(path);
  e->code = code;
  e->message = pstrdup(message);
  e->size = st != nullptr ? static_cast<int64>(st->st_size) : -1;
  e->has_mtime = st != nullptr;
  e->mtime = st != nullptr ? time_t_to_timestamptz(st->st_mtime) : 0;
  MemoryContextSwitchTo(old);
}

void add_path(Scan* s, const char* path) {
  s->paths[s->npaths++] = MemoryContextStrdup(s->cxt, path);
}

// A regular file of the directory being read: into its unit, or, when the
// unit grows past kChunk files (or there is none), into the pending paths.
void add_file(Scan* s, const char* path, const struct stat* st) {
  if (s->unit_open && s->nu - s->unit_start >= kChunk) {
    for (int i = s->unit_start; i < s->nu; i++) add_path(s, s->upaths[i]);
    s->nu = s->unit_start;
    s->unit_open = false;
  }
  if (!s->unit_open) {
    add_path(s, path);
    return;
  }
  s->upaths[s->nu] = MemoryContextStrdup(s->unit_cxt, path);
  s->usize[s->nu] = static_cast<int64>(st->st_size);
  // as a batch records it (set_stat() in batch_read.cpp)
  s->umtime[s->nu] = time_t_to_timestamptz(st->st_mtim.tv_sec) + st->st_mtim.tv_nsec / 1000;
  s->nu++;
}

void open_unit(Scan* s) {
  s->unit_open = true;
  s->unit_start = s->nu;
}

void close_unit(Scan* s, const char* dpath) {
  if (s->unit_open && s->nu > s->unit_start) {
    Unit* u = &s->units[s->nunits++];
    u->marker = MemoryContextStrdup(s->unit_cxt, psprintf("%s/", dpath));
    u->end = s->nu;
  }
  s->unit_open = false;
}

void push_dir(Scan* s, const char* path, const struct stat* st, int parent) {
  MemoryContext old = MemoryContextSwitchTo(s->tree_cxt);
  if (s->ndirs == s->dircap) {
    s->dircap *= 2;
    s->dirs = static_cast<DirNode*>(repalloc(s->dirs, sizeof(DirNode) * s->dircap));
  }
  if (s->nstack == s->stackcap) {
    s->stackcap *= 2;
    s->stack = static_cast<int*>(repalloc(s->stack, sizeof(int) * s->stackcap));
  }
  DirNode* d = &s->dirs[s->ndirs];
  d->path = pstrdup(path);
  d->dev = st->st_dev;
  d->ino = st->st_ino;
  d->parent = parent;
  s->stack[s->nstack++] = s->ndirs++;
  MemoryContextSwitchTo(old);
}

// With follow_symlinks: is (dev, ino) a directory on the path from the root to `parent`?
bool on_path(const Scan* s, int parent, const struct stat* st) {
  for (int i = parent; i >= 0; i = s->dirs[i].parent)
    if (s->dirs[i].dev == st->st_dev && s->dirs[i].ino == st->st_ino) return true;
  return false;
}

// Writes the pending manifest paths and error rows in one transaction; with
// final (the walk is over) the same transaction marks the scan done, which
// saves a run one transaction (and a WAL flush).
// The closed units of the chunk, in the open transaction: their files whose
// size and mtime are those of their midipipe_files row (as a batch decides,
// mp_dedup::unchanged) are not queued; the others join the pending paths.
// The unchanged ones are counted (returned) only for the units whose marker
// row is new in the manifest: a rescan (after a crash or a restart) of a
// directory already flushed counts nothing twice. The lookup runs as the
// run's role (its privileges and row-level security apply, as in a batch).
int64 flush_units(Scan* s) {
  if (s->nunits == 0) return 0;
  Datum* elems = static_cast<Datum*>(palloc(sizeof(Datum) * (s->nu > 0 ? s->nu : 1)));
  for (int i = 0; i < s->nu; i++) elems[i] = CStringGetTextDatum(s->upaths[i]);
  bool* same = static_cast<bool*>(palloc0(sizeof(bool) * s->nu));
  {
    Oid types[1] = {TEXTARRAYOID};
    Datum values[1] = {
        PointerGetDatum(construct_array(elems, s->nu, TEXTOID, -1, false, TYPALIGN_INT))};
    SetUserIdAndSecContext(info.roleoid, boot_sec | SECURITY_LOCAL_USERID_CHANGE);
    const int nest = unchanged_scans_off();
    exec(kUnchanged, 1, types, values, nullptr, SPI_OK_SELECT);
    AtEOXact_GUC(true, nest);
    SetUserIdAndSecContext(boot_user, boot_sec);
    TupleDesc td = SPI_tuptable->tupdesc;
    for (uint64 r = 0; r < SPI_processed; r++) {
      HeapTuple t = SPI_tuptable->vals[r];
      bool isnull = false;
      const int64 i = DatumGetInt64(SPI_getbinval(t, td, 1, &isnull)) - 1;
      if (i < 0 || i >= s->nu) continue;
      mp_dedup::Recorded old;
      old.exists = true;
      Datum d = SPI_getbinval(t, td, 2, &isnull);
      old.size = isnull ? -1 : DatumGetInt64(d);
      d = SPI_getbinval(t, td, 3, &isnull);
      old.have_stat = !isnull && old.size >= 0;
      old.mtime = isnull ? 0 : DatumGetTimestampTz(d);
      char* status = SPI_getvalue(t, td, 4);
      old.status = status != nullptr ? status[0] : 0;
      char* code = SPI_getvalue(t, td, 5);
      old.io_error = code != nullptr && mp_dedup::is_io_code(code);
      same[i] = mp_dedup::unchanged(old, s->usize[i], s->umtime[i]);
    }
    SPI_freetuptable(SPI_tuptable);
  }
  // the markers: which are new (their unit index, from 1)
  bool* fresh = static_cast<bool*>(palloc0(sizeof(bool) * s->nunits));
  {
    Datum* m = static_cast<Datum*>(palloc(sizeof(Datum) * s->nunits));
    for (int k = 0; k < s->nunits; k++) m[k] = CStringGetTextDatum(s->units[k].marker);
    Oid types[2] = {INT8OID, TEXTARRAYOID};
    Datum values[2] = {
        Int64GetDatum(info.run_id),
        PointerGetDatum(construct_array(m, s->nunits, TEXTOID, -1, false, TYPALIGN_INT))};
    exec(kMarkers, 2, types, values, nullptr, SPI_OK_SELECT);
    for (uint64 r = 0; r < SPI_processed; r++) {
      bool isnull = false;
      const int64 k =
          DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull)) -
          1;
      if (k >= 0 && k < s->nunits) fresh[k] = true;
    }
    SPI_freetuptable(SPI_tuptable);
  }
  int64 counted = 0;
  int first = 0;
  for (int k = 0; k < s->nunits; k++) {
    for (int i = first; i < s->units[k].end; i++) {
      if (!same[i])
        s->paths[s->npaths++] = s->upaths[i];  // lives in unit_cxt until after the insert
      else if (fresh[k])
        counted++;
    }
    first = s->units[k].end;
  }
  return counted;
}

// The manifest rows a flush inserts belong to the run's row, which the same
// transaction updates (their count): when that update finds no row (deleted
// meanwhile), the flush fails, and its rows with it, as the foreign key to
// midipipe_runs made it fail before 0.4 (its check, once per row, walked
// every version of the run's row that the waiting caller's snapshot kept).
[[noreturn]] void run_row_gone() {
  ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                  errmsg("midipipe: run " INT64_FORMAT " has no row in midipipe_runs any more",
                         info.run_id)));
}

// Writes one chunk of the scan in one transaction: a new run's row (the first
// flush, see row_pending), the queued paths, the directories' markers and
// unchanged counts, the error rows, the run row's counts, then the
// shared-memory mirror and the workers' wake-up. Long: its
// steps share the chunk's buffers and must commit together (a chunk lost in
// a crash is scanned again whole), so they stay in one function in order.
void flush(Scan* s, bool final = false) {
  if (s->npaths == 0 && s->nerrs == 0 && s->nunits == 0 && !final) {
    s->last_flush = GetCurrentTimestamp();
    return;
  }

  // back-pressure: let the workers catch up before the manifest grows further
  for (;;) {
    LWLockAcquire(mp_shared->lock, LW_SHARED);
    MpRunSlot* r = run_slot();
    int64 unfinished = r->files_found - r->done_committed;
    LWLockRelease(mp_shared->lock);
    if (unfinished <= kMaxUnfinished || cancel_requested(nullptr)) break;
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
  }
  // kFlushMs counts from here: had it counted the wait, every directory read
  // after one would be flushed on its own (1,000 files instead of kChunk),
  // and a large run's scan, which waits here from its first 100,000 files
  // on, paid its flushes' fixed cost twice per file.
  s->last_flush = GetCurrentTimestamp();

  // The manifest and the run row are the extension's own (written as the
  // owner of its tables, see README "Threat model"); an error row is the
  // importer's (as its role: its privileges and row-level security apply).
  if (!begin_tx(false)) extension_gone();
  // Not waiting for this commit's WAL flush loses nothing in a crash: a lost
  // chunk is scanned again (its markers are lost with it), and a batch that
  // read its rows commits after it, flushing the WAL up to its own commit.
  (void)set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
                          true, 0, false);
  const bool with_row = row_pending;
  RowState row{};
  if (with_row) {
    row = write_run_row();
    if (row.state < 0 || row.state >= MP_R_COMPLETED) {
      end_tx();                  // only the row was written, or nothing
      (void)adopt_run_row(row);  // ends this process
    }
  }
  int64 found = -1;
  int64 new_errors = 0;
  const int64 unchanged = flush_units(s);
  if (s->npaths > 0 || unchanged > 0) {
    Datum* elems = static_cast<Datum*>(palloc(sizeof(Datum) * (s->npaths > 0 ? s->npaths : 1)));
    for (int i = 0; i < s->npaths; i++) elems[i] = CStringGetTextDatum(s->paths[i]);
    ArrayType* arr = construct_array(elems, s->npaths, TEXTOID, -1, false, TYPALIGN_INT);
    Oid types[3] = {INT8OID, TEXTARRAYOID, INT8OID};
    Datum values[3] = {Int64GetDatum(info.run_id), PointerGetDatum(arr), Int64GetDatum(unchanged)};
    // the unchanged files the units did not queue count as found and unchanged
    exec(kQueuePaths, 3, types, values, nullptr, SPI_OK_UPDATE_RETURNING);
    if (SPI_processed != 1) run_row_gone();
    found = get_int8(1);
  }
  if (TimestampDifferenceExceeds(s->last_fold, s->last_flush, kFoldMs)) {
    s->last_fold = s->last_flush;
    fold_counts();  // the run row's counts stay current while the scan goes on
  }
  for (int i = 0; i < s->nerrs; i++) {
    ErrRow* e = &s->errs[i];
    Oid types[6] = {INT8OID, TEXTOID, INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID};
    Datum values[6] = {Int64GetDatum(info.run_id),   CStringGetTextDatum(e->path),
                       Int64GetDatum(e->size),       TimestampTzGetDatum(e->mtime),
                       CStringGetTextDatum(e->code), CStringGetTextDatum(e->message)};
    char nulls[7] = {' ', ' ', e->size < 0 ? 'n' : ' ', e->has_mtime ? ' ' : 'n', ' ', ' ', '\0'};
    exec(
        "INSERT INTO %s.midipipe_queue (run_id, path, done) VALUES ($1, $2, true) "
        "ON CONFLICT DO NOTHING",
        2, types, values, nulls, SPI_OK_INSERT);
    if (SPI_processed != 1) continue;  // listed already (a resumed scan)
    SetUserIdAndSecContext(info.roleoid, boot_sec | SECURITY_LOCAL_USERID_CHANGE);
    exec(
        "INSERT INTO %s.midipipe_files (path, size, mtime, status, error_code, "
        "error_message, run_id) VALUES ($2, $3, $4, 'error', $5, $6, $1) "
        "ON CONFLICT (path) DO UPDATE SET size = EXCLUDED.size, mtime = EXCLUDED.mtime, "
        "sha256 = NULL, status = 'error', duplicate_of = NULL, error_code = EXCLUDED.error_code, "
        "error_message = EXCLUDED.error_message, error_offset = NULL, run_id = EXCLUDED.run_id, "
        "imported_at = pg_catalog.now()",
        6, types, values, nulls, SPI_OK_INSERT);
    SetUserIdAndSecContext(boot_user, boot_sec);
    const int64 written = static_cast<int64>(SPI_processed);
    Oid ctypes[2] = {INT8OID, INT8OID};
    Datum cvalues[2] = {Int64GetDatum(info.run_id), Int64GetDatum(written)};
    exec(
        "UPDATE %s.midipipe_runs SET files_found = files_found + 1, "
        "files_failed = files_failed + $2 WHERE run_id = $1 RETURNING files_found",
        2, ctypes, cvalues, nullptr, SPI_OK_UPDATE_RETURNING);
    if (SPI_processed != 1) run_row_gone();
    found = get_int8(1);
    new_errors += written;
  }
  {
    Oid types[1] = {INT8OID};
    Datum values[1] = {Int64GetDatum(info.run_id)};
    if (final)
      exec(kScanDone, 1, types, values, nullptr, SPI_OK_UPDATE);
    else
      exec(kScanRunning, 1, types, values, nullptr, SPI_OK_UPDATE);
  }
  end_tx();
  if (with_row) (void)adopt_run_row(row);

  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  MpRunSlot* r = run_slot();
  if (final) {
    r->scan_done = true;
    if (r->state == MP_R_SCANNING) r->state = MP_R_RUNNING;
  }
  if (found >= 0) r->files_found = found;
  r->files_unchanged += unchanged;
  r->files_done += unchanged;
  r->done_committed += unchanged;
  r->files_done += new_errors;
  r->files_failed += new_errors;
  r->files_failed_committed += new_errors;
  r->done_committed += new_errors;
  if (r->files_found > 0 && r->state == MP_R_SCANNING) r->state = MP_R_RUNNING;
  LWLockRelease(mp_shared->lock);
  mp_metrics_add(MyDatabaseId, MP_C_FILES, new_errors + unchanged);
  mp_metrics_add(MyDatabaseId, MP_C_ERRORS, new_errors);
  wake_workers();

  MemoryContextReset(s->cxt);
  s->npaths = 0;
  s->nerrs = 0;
  // the closed units are written; an open one (a flush while its directory
  // is read: only once it spilled, so it holds no entry) keeps nothing
  s->nu = 0;
  s->nunits = 0;
  s->unit_start = 0;
  MemoryContextReset(s->unit_cxt);
}

// Time to flush: a chunk is full, or something waits for kFlushMs. Never
// while a unit is open (its directory's files are flushed together).
bool due(Scan* s) {
  if (s->unit_open) return false;
  return s->npaths >= kChunk || s->nerrs >= kChunk || s->nu >= kChunk ||
         ((s->npaths > 0 || s->nerrs > 0 || s->nunits > 0) &&
          TimestampDifferenceExceeds(s->last_flush, GetCurrentTimestamp(), kFlushMs));
}

// The next names of a directory (up to kSortNames, without "." and ".."),
// sorted, in names_cxt; 0 at the end. The tree is walked in name order, so
// that the manifest fills in about the order the workers claim it in (path
// order, from each worker's claim cursor, batch_claim.cpp): rows queued
// behind the cursors make a claim start again from the run's first path,
// stepping over every entry already done.
constexpr int kSortNames = 65536;

int read_sorted(Scan* s, DIR* dir, char*** out) {
  MemoryContextReset(s->names_cxt);
  MemoryContext old = MemoryContextSwitchTo(s->names_cxt);
  int cap = 256;
  int n = 0;
  char** names = static_cast<char**>(palloc(sizeof(char*) * cap));
  struct dirent* de;
  while (n < kSortNames && (de = readdir(dir)) != nullptr) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (n == cap) {
      cap *= 2;
      names = static_cast<char**>(repalloc(names, sizeof(char*) * cap));
    }
    names[n++] = pstrdup(de->d_name);
  }
  MemoryContextSwitchTo(old);
  std::sort(names, names + n, [](const char* a, const char* b) { return strcmp(a, b) < 0; });
  *out = names;
  return n;
}

// Walks the tree; false when the run was cancelled meanwhile. Long: one loop
// over an explicit directory stack (no recursion, bounded memory) whose steps
// (read an entry, classify, queue, flush a chunk, check for cancel) share it.
bool scan() {
  pgstat_report_activity(STATE_RUNNING,
                         psprintf("midipipe scan of run " INT64_FORMAT, info.run_id));
  Scan s;
  memset(&s, 0, sizeof(s));
  s.cxt = AllocSetContextCreate(TopMemoryContext, "midipipe scan chunk", ALLOCSET_DEFAULT_SIZES);
  s.tree_cxt =
      AllocSetContextCreate(TopMemoryContext, "midipipe scan tree", ALLOCSET_DEFAULT_SIZES);
  s.unit_cxt =
      AllocSetContextCreate(TopMemoryContext, "midipipe scan units", ALLOCSET_DEFAULT_SIZES);
  s.names_cxt =
      AllocSetContextCreate(TopMemoryContext, "midipipe scan names", ALLOCSET_DEFAULT_SIZES);
  s.errcap = 16;
  s.dircap = 64;
  s.stackcap = 64;
  MemoryContext old = MemoryContextSwitchTo(s.tree_cxt);
  s.paths = static_cast<char**>(palloc(sizeof(char*) * 4 * kChunk));
  s.upaths = static_cast<char**>(palloc(sizeof(char*) * 2 * kChunk));
  s.usize = static_cast<int64*>(palloc(sizeof(int64) * 2 * kChunk));
  s.umtime = static_cast<TimestampTz*>(palloc(sizeof(TimestampTz) * 2 * kChunk));
  s.units = static_cast<Unit*>(palloc(sizeof(Unit) * 2 * kChunk));
  s.errs = static_cast<ErrRow*>(palloc(sizeof(ErrRow) * s.errcap));
  s.dirs = static_cast<DirNode*>(palloc(sizeof(DirNode) * s.dircap));
  s.stack = static_cast<int*>(palloc(sizeof(int) * s.stackcap));
  MemoryContextSwitchTo(old);
  s.last_flush = GetCurrentTimestamp();
  s.last_fold = s.last_flush;

  struct stat st;
  const char* root = info.root;
  if ((info.options.follow_symlinks ? stat(root, &st) : lstat(root, &st)) != 0) {
    add_error(&s, root, "not_found", psprintf("could not stat root: %s", strerror(errno)), nullptr);
  } else if (S_ISDIR(st.st_mode)) {
    push_dir(&s, root, &st, -1);
  } else if (S_ISREG(st.st_mode)) {
    add_path(&s, root);
  } else {
    add_error(&s, root, "not_regular_file", "not a regular file or directory", &st);
  }

  while (s.nstack > 0) {
    CHECK_FOR_INTERRUPTS();
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
    if (cancel_requested(nullptr)) {
      MemoryContextDelete(s.tree_cxt);
      MemoryContextDelete(s.unit_cxt);
      MemoryContextDelete(s.names_cxt);
      MemoryContextDelete(s.cxt);
      return false;
    }
    row_if_late();
    int di = s.stack[--s.nstack];
    const char* dpath = s.dirs[di].path;
    DIR* dir = opendir(dpath);
    if (dir == nullptr) {
      add_error(&s, dpath, "unreadable_directory",
                psprintf("could not open directory: %s", strerror(errno)), nullptr);
      if (due(&s)) flush(&s);
      continue;
    }
    // Paths are kept below kMaxPathBytes so that a path always fits in the
    // btree indexes of midipipe_files and midipipe_queue (an index entry is at
    // most about 2,700 bytes) even when it does not compress. An entry whose
    // path would be longer is never acted on (a cut path names another file,
    // or this very directory): it is counted, and the directory gets one
    // path_too_long row below.
    char full[kMaxPathBytes];
    int too_long = 0;
    const size_t dl = strlen(dpath);
    open_unit(&s);
    const int stack_mark = s.nstack;
    int nnames = 0;
    int next = 0;
    char** names = nullptr;
    for (;;) {
      if (next == nnames) {
        nnames = read_sorted(&s, dir, &names);
        next = 0;
        if (nnames == 0) break;
      }
      const char* name = names[next++];
      if (row_pending && (s.entries & 255) == 0) row_if_late();
      const int n = (dl > 0 && dpath[dl - 1] == '/')
                        ? snprintf(full, sizeof(full), "%s%s", dpath, name)
                        : snprintf(full, sizeof(full), "%s/%s", dpath, name);
      s.entries++;
      if (n < 0 || static_cast<size_t>(n) >= sizeof(full)) {
        too_long++;
        continue;
      }
      bool matches = name_matches(name);

      if (lstat(full, &st) != 0) continue;  // vanished meanwhile
      if (S_ISLNK(st.st_mode)) {
        if (!info.options.follow_symlinks) continue;  // symlinks are not followed
        if (stat(full, &st) != 0) {
          if (matches) {
            add_error(&s, full, "broken_symlink",
                      psprintf("symbolic link target: %s", strerror(errno)), nullptr);
          }
          continue;
        }
      }
      if (S_ISDIR(st.st_mode)) {
        if (!info.options.recursive) continue;
        if (info.options.follow_symlinks && on_path(&s, di, &st)) continue;  // a symlink loop
        push_dir(&s, full, &st, di);
        continue;
      }
      if (!matches) continue;
      if (!pg_verifymbstr(full, static_cast<int>(strlen(full)), true))
        add_error(&s, full, "bad_file_name", "file name is not valid in the database encoding",
                  &st);
      else if (!S_ISREG(st.st_mode))
        add_error(&s, full, "not_regular_file",
                  "not a regular file (fifo, socket or device): not opened", &st);
      else
        add_file(&s, full, &st);
      if (due(&s)) {
        flush(&s);
        if (cancel_requested(nullptr)) break;
      }
    }
    closedir(dir);
    MemoryContextReset(s.names_cxt);
    close_unit(&s, dpath);
    // its subdirectories were pushed in name order: reversed, they are
    // walked in name order too
    for (int a = stack_mark, b = s.nstack - 1; a < b; a++, b--) std::swap(s.stack[a], s.stack[b]);
    if (too_long > 0)
      add_error(&s, dpath, "path_too_long",
                psprintf("%d entr%s of this directory not imported: the path would be longer "
                         "than %d bytes",
                         too_long, too_long == 1 ? "y" : "ies", kMaxPathBytes - 1),
                nullptr);
    if (due(&s)) flush(&s);
  }
  if (cancel_requested(nullptr)) {
    MemoryContextDelete(s.tree_cxt);
    MemoryContextDelete(s.unit_cxt);
    MemoryContextDelete(s.names_cxt);
    MemoryContextDelete(s.cxt);
    return false;
  }
  flush(&s, true);  // the last paths and scan_done, in one transaction; wakes the workers
  MemoryContextDelete(s.tree_cxt);
  MemoryContextDelete(s.unit_cxt);
  MemoryContextDelete(s.names_cxt);
  MemoryContextDelete(s.cxt);
  return true;
}

// ---------------------------------------------------------------- the end of a run

// The run's end is committed with the server's synchronous_commit (batches
// and scanner flushes commit without waiting for their WAL flush): the run's
// end, and with it every row of the run, is durable as the server says.
void use_server_sync_commit() {
  if (run_end_sync_commit != nullptr)
    (void)set_config_option("synchronous_commit", run_end_sync_commit, PGC_USERSET, PGC_S_SESSION,
                            GUC_ACTION_LOCAL, true, 0, false);
}

// Opens the transaction that ends the run.
void begin_end_tx() {
  if (!begin_tx(false)) extension_gone();
  use_server_sync_commit();
}

void finalize_in_tx(int state, const char* error, bool folded = false);

// Folds the batches' counts into the run row and ends the run, in the same
// transaction, when it is complete by the row alone: every file found has its
// outcome counted (a batch counts each path it marks done, the scan each error
// row and each unchanged file it did not queue). A question of one row, where
// asking the manifest walks every entry of the run that is done. Returns
// true when it ended the run; false, having only folded the counts, when the
// run is not complete.
bool finalize_if_counted() {
  if (!begin_tx(false)) extension_gone();
  fold_counts();
  RowState rs;
  read_row(&rs);
  if (rs.state >= 0 && rs.state < MP_R_COMPLETED && rs.scan_done &&
      rs.ok + rs.dup + rs.unchanged + rs.failed >= rs.found) {
    use_server_sync_commit();
    finalize_in_tx(MP_R_COMPLETED, nullptr, true);
    return true;
  }
  end_tx();
  return false;
}

// Ends the run as completed when no manifest row of it is left undone; the
// look and the end share one transaction (a run's end noticed a transaction
// sooner). Returns true when it ended the run; false, having changed nothing,
// when the run is not complete.
// The safety net of coordinate(), should the counts ever disagree.
bool finalize_if_complete() {
  begin_end_tx();
  Oid types[1] = {INT8OID};
  Datum values[1] = {Int64GetDatum(info.run_id)};
  exec(kQueueComplete, 1, types, values, nullptr, SPI_OK_SELECT);
  bool isnull = false;
  bool complete =
      DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  if (complete) {
    finalize_in_tx(MP_R_COMPLETED, nullptr);
    return true;
  }
  end_tx();
  return false;
}

// An empty manifest is made small again (issue 17: "empty after a run means
// small after a run"): the rows a run deletes leave their heap pages and index
// entries behind until a vacuum, and a million-file run left about 400 MB.
// TRUNCATE, when the table has grown past kTruncateMinBlocks (a small one is
// left to autovacuum: a TRUNCATE costs a 1-file run 25-35 ms of new files and
// their fsyncs), no other run of this database is active (its scanner and
// batches use the table; its own end truncates it) and the table holds no row
// of any run (e.g. of one waiting to be resumed after a restart). It runs
// after the run's end is reported (the caller does not wait for it). The lock
// waits at most kTruncateLockMs: long enough for the deadlock check to cancel
// an autovacuum of the table (which would otherwise keep it), short enough
// that a session reading the table is not held up for long.
constexpr BlockNumber kTruncateMinBlocks = 128;  // 1 MB of heap
constexpr int kTruncateLockMs = 2000;

bool other_active_run() {
  bool other = false;
  LWLockAcquire(mp_shared->lock, LW_SHARED);
  for (int i = 0; i < MP_MAX_RUNS; i++) {
    const MpRunSlot* r = &mp_shared->runs[i];
    if (i != my_run && r->in_use && !r->finished && r->dboid == MyDatabaseId) other = true;
  }
  LWLockRelease(mp_shared->lock);
  return other;
}

bool large_manifest(Oid rel) {
  Relation r = relation_open(rel, AccessShareLock);
  const BlockNumber blocks = RelationGetNumberOfBlocks(r);
  relation_close(r, AccessShareLock);
  return blocks >= kTruncateMinBlocks;
}

void truncate_idle_manifest() {
  if (other_active_run()) return;
  MemoryContext outer = CurrentMemoryContext;  // outside the transaction: survives its abort
  if (!begin_tx(false)) return;
  PG_TRY();
  {
    const Oid rel = get_relname_relid("midipipe_queue", tx_nsp);
    if (OidIsValid(rel) && large_manifest(rel)) {
      char ms[16];
      snprintf(ms, sizeof(ms), "%d", kTruncateLockMs);
      (void)set_config_option("lock_timeout", ms, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
                              true, 0, false);
      LockRelationOid(rel, AccessExclusiveLock);
      exec_once("SELECT NOT EXISTS (SELECT 1 FROM %s.midipipe_queue)", SPI_OK_SELECT);
      bool isnull = false;
      if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
        exec_once("TRUNCATE %s.midipipe_queue", SPI_OK_UTILITY);
    }
    end_tx();
  }
  PG_CATCH();
  {
    // not taken in time (or any other error): the next run's end tries again
    MemoryContextSwitchTo(outer);
    HOLD_INTERRUPTS();
    ErrorData* e = CopyErrorData();
    FlushErrorState();
    SetUserIdAndSecContext(boot_user, boot_sec);
    AbortCurrentTransaction();
    RESUME_INTERRUPTS();
    ereport(DEBUG1, (errmsg("midipipe: manifest not truncated: %s", e->message)));
    FreeErrorData(e);
  }
  PG_END_TRY();
}

void finalize(int state, const char* error) {
  begin_end_tx();
  finalize_in_tx(state, error);
}

// Ends the run in the open transaction and commits; then the run slot.
// folded: the counts were folded in this transaction already.
void finalize_in_tx(int state, const char* error, bool folded) {
  Oid types[3] = {INT8OID, TEXTOID, TEXTOID};
  Datum values[3] = {Int64GetDatum(info.run_id), CStringGetTextDatum(mp_run_state_name(state)),
                     CStringGetTextDatum(error != nullptr ? error : "")};
  char nulls[4] = {' ', ' ', error != nullptr && error[0] != '\0' ? ' ' : 'n', '\0'};
  if (row_pending) (void)write_run_row();  // cancelled before the scan's first flush
  if (!folded) fold_counts();              // the final counts, in the transaction that ends the run
  // manifest first, then the run row: the order a batch takes its locks in.
  // A run that ends otherwise than complete skips the rows a batch still
  // holds, so that a stopped or stuck worker cannot hold a cancel up: that
  // worker deletes them when it gives its batch up (drop_leftover_manifest()
  // in worker.cpp). A complete run's rows are all done: no batch holds one.
  exec(state == MP_R_COMPLETED ? kDeleteQueue : kDeleteQueueSkipLocked, 1, types, values, nullptr,
       SPI_OK_DELETE);
  exec(kEndRun, 3, types, values, nulls, SPI_OK_UPDATE);
  RowState rs;
  read_row(&rs);
  end_tx();
  if (rs.state >= 0) {
    LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
    mirror_row_locked(run_slot(), &rs);
    LWLockRelease(mp_shared->lock);
    state = rs.state;
  }
  finish_slot(state, rs.state >= 0 ? rs.error : error);
  pgstat_report_activity(STATE_IDLE, nullptr);
}

}  // namespace

namespace {

// Takes run slot r (of generation gen) as its scanner; false when the
// slot was given away meanwhile or already has a scanner.
bool attach_run(int r, uint32 gen) {
  if (r < 0 || r >= MP_MAX_RUNS) return false;
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  MpRunSlot* slot = &mp_shared->runs[r];
  if (!slot->in_use || slot->finished || slot->generation != gen || slot->scanner_pid != 0) {
    LWLockRelease(mp_shared->lock);
    return false;
  }
  slot->scanner_pid = MyProcPid;
  slot->scanner_latch = MyLatch;
  info.run_id = slot->run_id;
  info.dboid = slot->dboid;
  info.roleoid = slot->roleoid;
  strlcpy(info.root, slot->root, sizeof(info.root));
  info.options = slot->options;
  info.granted = slot->workers_granted > 0 ? slot->workers_granted : 0;
  info.started_at = slot->started_at;
  // a run midipipe_import() made, whose first scanner this is: no row yet
  row_pending = slot->new_run && slot->scanner_starts == 1;
  LWLockRelease(mp_shared->lock);
  my_run = r;
  my_gen = gen;
  return true;
}

// The scanner's work once attached and connected: the run row, the scan,
// then watching the run until it ends. Returns once it has ended the run.
void coordinate() {
  bool scan_done = row_pending ? false : setup_run_row();
  if (!scan_done && !scan()) {
    bool fail = false;
    (void)cancel_requested(&fail);
    char err[MP_ERR_LEN];
    LWLockAcquire(mp_shared->lock, LW_SHARED);
    strlcpy(err, run_slot()->error, sizeof(err));
    LWLockRelease(mp_shared->lock);
    finalize(fail ? MP_R_FAILED : MP_R_CANCELLED, err);
    return;
  }

  pgstat_report_activity(
      STATE_RUNNING, psprintf("midipipe run " INT64_FORMAT " waiting for workers", info.run_id));
  // The first look at the manifest waits for a reason (below): asking it right
  // after the scan would take CPU from the workers that just started.
  TimestampTz last_check = GetCurrentTimestamp();
  TimestampTz last_fold = last_check;
  for (;;) {
    CHECK_FOR_INTERRUPTS();
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
    bool fail = false;
    if (cancel_requested(&fail)) {
      char err[MP_ERR_LEN];
      LWLockAcquire(mp_shared->lock, LW_SHARED);
      strlcpy(err, run_slot()->error, sizeof(err));
      LWLockRelease(mp_shared->lock);
      finalize(fail ? MP_R_FAILED : MP_R_CANCELLED, err);
      return;
    }
    // The counts are folded into the run row (and the row asked whether the
    // run is complete) when the committed counts in shared memory say it may
    // be, and every kFoldMs whatever they say (they lag behind the tables
    // when a worker dies between its commit and its report). The manifest
    // itself (a query whose cost grows with the rows already done) is asked
    // only every kCheckEveryMs, a safety net should the counts ever disagree.
    TimestampTz now = GetCurrentTimestamp();
    LWLockAcquire(mp_shared->lock, LW_SHARED);
    bool maybe = run_slot()->done_committed >= run_slot()->files_found;
    LWLockRelease(mp_shared->lock);
    if (maybe || TimestampDifferenceExceeds(last_fold, now, kFoldMs)) {
      last_fold = now;
      if (finalize_if_counted()) return;
    }
    if (TimestampDifferenceExceeds(last_check, now, kCheckEveryMs)) {
      last_check = now;
      if (finalize_if_complete()) return;
    }
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 250,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
  }
}

int spare_pool = -1;
uint32 spare_gen = 0;

void spare_detach(int code, Datum arg) {
  if (mp_shared == nullptr || spare_pool < 0) return;
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  MpPool* p = &mp_shared->pools[spare_pool];
  if (p->spare_generation == spare_gen && p->spare_pid == MyProcPid) {
    p->spare_pid = 0;
    p->spare_latch = nullptr;
  }
  LWLockRelease(mp_shared->lock);
  mp_wake_supervisor();
}

// Loads what a run's first transactions need (the extension's schema, the
// catalog entries of its tables, its statements parsed and planned), so that
// the run does not pay for it. Nothing when the extension is not installed.
void spare_warm_up() {
  mp_begin_spi_tx();
  Oid nsp = mp_extension_schema();
  if (OidIsValid(nsp) && OidIsValid(get_relname_relid("midipipe_runs", nsp)) &&
      OidIsValid(get_relname_relid("midipipe_queue", nsp))) {
    mp_set_local_search_path(nsp);
    tx_nsp = nsp;
    prepare_run_statements();
  }
  mp_end_spi_tx(true);
  pgstat_report_activity(STATE_IDLE, nullptr);
}

// The spare waits on its latch until the supervisor hands it a run; takes it
// (the pool has no spare from then on) and returns its run slot.
int wait_for_spare_run(uint32 gen, uint32* run_gen) {
  MpPool* p = &mp_shared->pools[spare_pool];
  for (;;) {
    CHECK_FOR_INTERRUPTS();
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
    int r = -1;
    LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
    if (p->spare_generation == gen && p->spare_assigned) {
      r = p->spare_run;
      *run_gen = p->spare_run_generation;
      p->spare_assigned = false;
      p->spare_pid = 0;  // no longer the pool's spare: it joins the pool again after the run
      p->spare_latch = nullptr;
    }
    LWLockRelease(mp_shared->lock);
    if (r >= 0) return r;
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
  }
}

// After its run, the scanner that was the pool's spare is the pool's spare
// again (connected, its statements planned), unless the supervisor started
// another one meanwhile, the pool was stopped or its database is held: the
// supervisor starts no replacement while it is out on a run (a new process
// connecting and planning in the middle of a short run took the CPU its
// scanner and worker needed), and the next run finds it waiting. The run
// slot no longer names it as its scanner. False: it leaves.
bool rejoin_pool() {
  bool again = false;
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  if (my_run >= 0) {
    MpRunSlot* r = run_slot();
    if (r->generation == my_gen && r->scanner_pid == MyProcPid) {
      r->scanner_pid = 0;
      r->scanner_latch = nullptr;
    }
  }
  my_run = -1;
  MpPool* p = &mp_shared->pools[spare_pool];
  if (p->in_use && p->spare_generation == spare_gen && p->spare_pid == 0 && !p->spare_assigned &&
      !p->stopped && p->dboid == MyDatabaseId && !mp_db_held_locked(p->dboid)) {
    p->spare_pid = MyProcPid;
    p->spare_latch = MyLatch;
    again = true;
  }
  LWLockRelease(mp_shared->lock);
  mp_wake_supervisor();
  return again;
}

}  // namespace

void midipipe_scanner_main(Datum arg) {
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();

  int r = DatumGetInt32(arg);
  uint32 gen = 0;
  memcpy(&gen, MyBgworkerEntry->bgw_extra, sizeof(gen));
  if (mp_shared == nullptr || !attach_run(r, gen)) proc_exit(0);
  before_shmem_exit(scanner_detach, 0);

  BackgroundWorkerInitializeConnectionByOid(info.dboid, InvalidOid, 0);
  pgstat_report_appname("midipipe scanner");
  GetUserIdAndSecContext(&boot_user, &boot_sec);
  commit_without_flush();
  coordinate();
  truncate_idle_manifest();
  proc_exit(0);
}

// A pool's spare scanner: connects to the pool's database ahead of any
// run, waits on its latch until the supervisor hands it a run, then is that
// run's scanner exactly as midipipe_scanner_main would be. It is started
// and stopped (SIGTERM, only while it holds no run) by the supervisor.
void midipipe_spare_main(Datum arg) {
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();

  int pi = DatumGetInt32(arg);
  uint32 gen = 0;
  memcpy(&gen, MyBgworkerEntry->bgw_extra, sizeof(gen));
  if (mp_shared == nullptr || pi < 0 || pi >= MP_MAX_POOLS) proc_exit(0);
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  MpPool* p = &mp_shared->pools[pi];
  if (!p->in_use || p->spare_generation != gen || p->spare_pid != 0) {
    LWLockRelease(mp_shared->lock);
    proc_exit(0);  // the supervisor started another spare meanwhile
  }
  p->spare_pid = MyProcPid;
  p->spare_latch = MyLatch;
  Oid dboid = p->dboid;
  LWLockRelease(mp_shared->lock);
  spare_pool = pi;
  spare_gen = gen;
  before_shmem_exit(spare_detach, 0);

  BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
  pgstat_report_appname("midipipe scanner");
  GetUserIdAndSecContext(&boot_user, &boot_sec);
  commit_without_flush();
  spare_warm_up();

  before_shmem_exit(scanner_detach, 0);  // inert while no run is attached (my_run < 0)
  run_cxt = AllocSetContextCreate(TopMemoryContext, "midipipe scanner run", ALLOCSET_DEFAULT_SIZES);
  for (;;) {
    uint32 run_gen = 0;
    const int r = wait_for_spare_run(gen, &run_gen);
    mp_wake_supervisor();
    MemoryContextSwitchTo(run_cxt);
    // The supervisor holds this process's handle as the run's scanner handle
    // now: when attaching fails (the run ended meanwhile), it joins the pool again.
    if (attach_run(r, run_gen)) {
      pgstat_report_activity(STATE_RUNNING,
                             psprintf("midipipe run " INT64_FORMAT " starting", info.run_id));
      coordinate();
    }
    // the manifest's truncate first: it may wait for its lock (up to
    // kTruncateLockMs), and a run handed to the spare meanwhile would wait too
    truncate_idle_manifest();
    const bool again = rejoin_pool();
    MemoryContextSwitchTo(TopMemoryContext);
    MemoryContextReset(run_cxt);
    if (!again) proc_exit(0);
  }
}

void midipipe_resume_main(Datum arg) {
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  Oid dboid = DatumGetObjectId(arg);
  if (mp_shared == nullptr) proc_exit(0);
  BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
  pgstat_report_appname("midipipe resume");

  mp_begin_spi_tx();
  int resumed = 0;
  Oid nsp = mp_extension_schema();
  if (OidIsValid(nsp) && OidIsValid(get_relname_relid("midipipe_runs", nsp))) {
    mp_set_local_search_path(nsp);
    // The rows are trusted: only the extension writes midipipe_runs (as the
    // owner of its tables; README "Threat model").
    int rc = SPI_execute(
        mp_with_schema(
            nsp,
            "SELECT run_id, root, options, COALESCE(workers_requested, 0), requested_by::text, "
            "started_at FROM %s.midipipe_runs "
            "WHERE state IN ('queued', 'scanning', 'running') ORDER BY run_id"),
        true, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "midipipe: could not read unfinished runs");
    for (uint64 i = 0; i < SPI_processed; i++) {
      HeapTuple t = SPI_tuptable->vals[i];
      TupleDesc td = SPI_tuptable->tupdesc;
      bool isnull = false;
      int64 run_id = DatumGetInt64(SPI_getbinval(t, td, 1, &isnull));
      char* root = SPI_getvalue(t, td, 2);
      Datum options_jsonb = SPI_getbinval(t, td, 3, &isnull);
      MpRunOptions options = mp_run_options_from_jsonb(options_jsonb, isnull);
      // workers: the workers_requested column, as the run asked (NULL: midipipe.max_workers)
      int workers = DatumGetInt32(SPI_getbinval(t, td, 4, &isnull));
      options.workers = workers > 0 ? workers : mp_max_workers;
      char* role = SPI_getvalue(t, td, 5);
      TimestampTz started = DatumGetTimestampTz(SPI_getbinval(t, td, 6, &isnull));
      Oid roleoid = role != nullptr ? get_role_oid(role, true) : InvalidOid;
      if (!OidIsValid(roleoid)) {
        ereport(WARNING,
                (errmsg("midipipe: cannot resume run " INT64_FORMAT ": role \"%s\" does not exist",
                        run_id, role != nullptr ? role : "")));
        continue;
      }
      // the role may have lost the right to read server files since it asked
      if (!mp_may_read_server_files(roleoid)) {
        ereport(WARNING, (errmsg("midipipe: cannot resume run " INT64_FORMAT
                                 ": role \"%s\" may no longer read server files",
                                 run_id, role)));
        continue;
      }
      LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
      MpRunSlot* existing = mp_run_find_locked(dboid, run_id);
      if (existing == nullptr || existing->finished) {
        int idx = existing != nullptr ? static_cast<int>(existing - mp_shared->runs)
                                      : mp_run_alloc_locked();
        if (existing != nullptr) {
          uint32 g = existing->generation + 1;
          memset(existing, 0, sizeof(*existing));
          existing->generation = g;
          existing->in_use = true;
          existing->workers_granted = -1;
        }
        if (idx >= 0) {
          MpRunSlot* r = &mp_shared->runs[idx];
          r->dboid = dboid;
          r->roleoid = roleoid;
          r->run_id = run_id;
          strlcpy(r->root, root != nullptr ? root : "/", sizeof(r->root));
          r->options = options;
          r->state = MP_R_QUEUED;
          r->started_at = started;
          (void)mp_pool_find_locked(dboid, true);
          resumed++;
        }
      }
      LWLockRelease(mp_shared->lock);
    }
  }
  char* dbname = get_database_name(dboid);
  if (resumed > 0)
    ereport(LOG, (errmsg("midipipe: resuming %d unfinished run(s) in database \"%s\"", resumed,
                         dbname != nullptr ? dbname : "?")));
  mp_end_spi_tx(true);
  mp_wake_supervisor();
  proc_exit(0);
}
