// midipipe: midipipe_import, midipipe_wait, midipipe_cancel (the calling backend's side).
//
// The caller takes a run id, describes the run in a shared-memory run slot and
// wakes the supervisor; the supervisor grants workers and starts the run's
// scanner, which writes the midipipe_runs row. With wait the caller sleeps
// on the run slot's condition variable (broadcast when workers are granted and
// when the run ends, so a short run returns the moment it ends), reports
// progress, and cancels the run when it is itself cancelled.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "file_read.hpp"
#include "guard.hpp"
#include "metrics.hpp"
#include "pool_internal.hpp"
#include "run_counts.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

PGDLLEXPORT Datum midipipe_import(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum midipipe_wait(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum midipipe_cancel(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(midipipe_import);
PG_FUNCTION_INFO_V1(midipipe_wait);
PG_FUNCTION_INFO_V1(midipipe_cancel);
}

namespace {

constexpr int kPollMs = 100;         // polling a run that is not in shared memory
constexpr int kSafetyPollMs = 1000;  // a run slot is re-read at least this often
constexpr int kProgressEveryMs = 5000;
constexpr int kLockCheckEveryMs = 1000;  // look for run processes blocked by the caller

// Waiting while this transaction holds a lock that conflicts with the
// workers' row writes would hang forever: refuse instead.
void check_caller_locks(Oid nsp, const char* function) {
  static const char* const tables[] = {"midipipe_runs",   "midipipe_files", "midipipe_analysis",
                                       "midipipe_tracks", "midipipe_queue", "midipipe_run_counts"};
  static const LOCKMODE modes[] = {AccessExclusiveLock, ExclusiveLock, ShareRowExclusiveLock,
                                   ShareLock};
  static const char* const mode_names[] = {"ACCESS EXCLUSIVE", "EXCLUSIVE", "SHARE ROW EXCLUSIVE",
                                           "SHARE"};
  for (const char* t : tables) {
    Oid relid = get_relname_relid(t, nsp);
    if (!OidIsValid(relid)) continue;
    LOCKTAG tag;
    SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
      if (LockHeldByMe(&tag, modes[m]))
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_IN_USE),
                 errmsg("%s cannot wait: this transaction holds a %s lock on %s, which the "
                        "midipipe workers need",
                        function, mode_names[m], t),
                 errhint("Commit the transaction first, or call midipipe_import(..., wait => "
                         "false) and midipipe_wait() after committing.")));
    }
  }
}

char* format_hms(double seconds) {
  if (seconds < 0) seconds = 0;
  int64 s = static_cast<int64>(seconds + 0.5);
  return psprintf("%02d:%02d:%02d", static_cast<int>(s / 3600), static_cast<int>((s / 60) % 60),
                  static_cast<int>(s % 60));
}

double seconds_between(TimestampTz a, TimestampTz b) {
  return static_cast<double>(b - a) / 1000000.0;
}

struct RunView {
  bool present;  // slot still holds this run
  bool finished;
  int state;
  int granted;
  bool scan_done;
  int64 found, done, failed, bytes;
  int64 ok, dup, unchanged, failed_c;
  TimestampTz started_at, finished_at;
  char error[MP_ERR_LEN];
};

RunView read_slot(int idx, uint32 gen) {
  RunView s;
  memset(&s, 0, sizeof(s));
  LWLockAcquire(mp_shared->lock, LW_SHARED);
  MpRunSlot* r = &mp_shared->runs[idx];
  if (r->in_use && r->generation == gen) {
    s.present = true;
    s.finished = r->finished;
    s.state = r->state;
    s.granted = r->workers_granted;
    s.scan_done = r->scan_done;
    s.found = r->files_found;
    s.done = r->files_done;
    s.failed = r->files_failed;
    s.bytes = r->bytes_read;
    s.ok = r->files_ok;
    s.dup = r->files_duplicate;
    s.unchanged = r->files_unchanged;
    s.failed_c = r->files_failed_committed;
    s.started_at = r->started_at;
    s.finished_at = r->finished_at;
    strlcpy(s.error, r->error, sizeof(s.error));
  }
  LWLockRelease(mp_shared->lock);
  return s;
}

void request_cancel(int idx, uint32 gen, bool fail, const char* error) {
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  MpRunSlot* r = &mp_shared->runs[idx];
  if (r->in_use && r->generation == gen && !r->finished) {
    r->cancel_requested = true;
    if (fail) {
      r->fail_requested = true;
      if (error != nullptr) strlcpy(r->error, error, sizeof(r->error));
    }
    if (r->scanner_latch != nullptr) SetLatch(r->scanner_latch);
  }
  LWLockRelease(mp_shared->lock);
  mp_wake_supervisor();
}

// Sleeps until run slot idx changes (its condition variable is broadcast),
// timeout_ms passes or an interrupt arrives. The first call after a check
// only prepares the sleep (see ConditionVariableTimedSleep), so a broadcast
// between the check and the sleep is never lost.
void sleep_run(int idx, long timeout_ms) {
  if (timeout_ms < 1) timeout_ms = 1;
  if (timeout_ms > kSafetyPollMs) timeout_ms = kSafetyPollMs;
  (void)ConditionVariableTimedSleep(&mp_shared->run_cv[idx], timeout_ms, PG_WAIT_EXTENSION);
  CHECK_FOR_INTERRUPTS();
}

long ms_left(TimestampTz from, int64 total_ms) {
  int64 spent = (GetCurrentTimestamp() - from) / 1000;
  return total_ms > spent ? static_cast<long>(total_ms - spent) : 0;
}

void sleep_poll() {
  int rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, kPollMs,
                     PG_WAIT_EXTENSION);
  if (rc & WL_LATCH_SET) ResetLatch(MyLatch);
  CHECK_FOR_INTERRUPTS();
}

void progress_notice(int64 run_id, const RunView& s) {
  double elapsed = seconds_between(s.started_at, GetCurrentTimestamp());
  double rate = elapsed > 0 ? static_cast<double>(s.done) / elapsed : 0;
  double pct = s.found > 0 ? 100.0 * static_cast<double>(s.done) / static_cast<double>(s.found) : 0;
  const char* eta = rate > 0 ? format_hms(static_cast<double>(s.found - s.done) / rate) : "?";
  ereport(NOTICE, (errmsg("midipipe: run " INT64_FORMAT ": " INT64_FORMAT "/" INT64_FORMAT
                          " files (%.1f%%), %.0f files/s, ETA %s%s",
                          run_id, s.done, s.found, pct, rate, eta,
                          s.scan_done ? "" : " (still scanning)")));
}

void summary_notice(int64 run_id, const RunView& s) {
  double elapsed = seconds_between(s.started_at, s.finished_at);
  int64 total = s.ok + s.dup + s.unchanged + s.failed_c;
  double rate = elapsed > 0 ? static_cast<double>(total) / elapsed : 0;
  ereport(NOTICE,
          (errmsg("midipipe: run " INT64_FORMAT " %s: " INT64_FORMAT " files (" INT64_FORMAT
                  " ok, " INT64_FORMAT " duplicate, " INT64_FORMAT " unchanged, " INT64_FORMAT
                  " failed), %.1f MB in %.1f s, %.0f files/s",
                  run_id, mp_run_state_name(s.state), s.found, s.ok, s.dup, s.unchanged, s.failed_c,
                  static_cast<double>(s.bytes) / (1024.0 * 1024.0), elapsed, rate)));
}

// Returns the pid of a process of the run (worker or scanner) that waits for a
// lock this backend holds, or 0. The caller waiting for the run would then
// wait forever: PostgreSQL's deadlock detector cannot see that the caller
// waits for the run, since it sleeps on a condition variable, not a lock.
// Row locks are the case check_caller_locks() cannot catch up front (an
// UPDATE of a midipipe_files row, then midipipe_import(wait => true)).
pid_t run_process_blocked_by_me(int idx, uint32 gen) {
  pid_t* pids = static_cast<pid_t*>(palloc(sizeof(pid_t) * (mp_shared->nworkers + 1)));
  int n = 0;
  LWLockAcquire(mp_shared->lock, LW_SHARED);
  MpRunSlot* r = &mp_shared->runs[idx];
  if (r->in_use && r->generation == gen && !r->finished) {
    if (r->scanner_pid != 0) pids[n++] = r->scanner_pid;
    for (int i = 0; i < mp_shared->nworkers; i++) {
      MpWorkerSlot* w = mp_worker_slot(i);
      if (w->state != MP_W_FREE && w->pid != 0 && w->run_slot == idx && w->run_generation == gen)
        pids[n++] = w->pid;
    }
  }
  LWLockRelease(mp_shared->lock);
  for (int k = 0; k < n; k++) {
    ArrayType* a =
        DatumGetArrayTypeP(DirectFunctionCall1(pg_blocking_pids, Int32GetDatum(pids[k])));
    Datum* elems;
    bool* nulls;
    int nelems;
    deconstruct_array(a, INT4OID, sizeof(int32), true, TYPALIGN_INT, &elems, &nulls, &nelems);
    for (int e = 0; e < nelems; e++)
      if (!nulls[e] && DatumGetInt32(elems[e]) == MyProcPid) return pids[k];
  }
  pfree(pids);
  return 0;
}

// Waits for the run in slot idx to end (or timeout_ms, -1 = forever); with
// report, sends progress NOTICEs. Returns the last snapshot. Errors out when
// a process of the run waits for a lock held by this transaction.
RunView wait_for_run(int64 run_id, int idx, uint32 gen, int64 timeout_ms, bool report) {
  TimestampTz start = GetCurrentTimestamp();
  TimestampTz last_notice = start;
  TimestampTz last_lock_check = start;
  ConditionVariablePrepareToSleep(&mp_shared->run_cv[idx]);
  for (;;) {
    RunView s = read_slot(idx, gen);
    if (!s.present || s.finished) {
      ConditionVariableCancelSleep();
      return s;
    }
    TimestampTz now = GetCurrentTimestamp();
    if (TimestampDifferenceExceeds(last_lock_check, now, kLockCheckEveryMs)) {
      last_lock_check = now;
      pid_t blocked = run_process_blocked_by_me(idx, gen);
      if (blocked != 0) {
        ConditionVariableCancelSleep();
        ereport(ERROR,
                (errcode(ERRCODE_LOCK_NOT_AVAILABLE),
                 errmsg("cannot wait for midipipe run " INT64_FORMAT
                        ": its process %d waits for a lock held by this transaction",
                        run_id, static_cast<int>(blocked)),
                 errhint("Commit the transaction first, or call midipipe_import(..., wait => "
                         "false) and midipipe_wait() after committing.")));
      }
    }
    if (timeout_ms >= 0 && TimestampDifferenceExceeds(start, now, static_cast<int>(timeout_ms))) {
      ConditionVariableCancelSleep();
      return s;
    }
    if (report && TimestampDifferenceExceeds(last_notice, now, kProgressEveryMs)) {
      progress_notice(run_id, s);
      last_notice = now;
    }
    long sleep_ms = kSafetyPollMs;
    if (report) sleep_ms = std::min(sleep_ms, ms_left(last_notice, kProgressEveryMs));
    if (timeout_ms >= 0) sleep_ms = std::min(sleep_ms, ms_left(start, timeout_ms));
    sleep_run(idx, sleep_ms);
  }
}

// SPI on the extension's own rows, inside the caller's transaction: with
// search_path = pg_catalog, pg_temp and as the owner of the tables (any role
// may learn a run's state; README "Threat model"). internal_spi_end() undoes
// it; on an error the transaction's abort does.
struct InternalSpi {
  Oid save_user;
  int save_sec;
  int guc_level;
};

void internal_spi_begin(Oid nsp, InternalSpi* s) {
  GetUserIdAndSecContext(&s->save_user, &s->save_sec);
  Oid owner = mp_tables_owner(nsp);
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "midipipe: SPI_connect failed");
  s->guc_level = mp_push_search_path();
  SetUserIdAndSecContext(owner, s->save_sec | SECURITY_LOCAL_USERID_CHANGE);
}

void internal_spi_end(const InternalSpi* s) {
  SetUserIdAndSecContext(s->save_user, s->save_sec);
  mp_pop_search_path(s->guc_level);
  SPI_finish();
}

// The run's state in the table (SPI), or NULL when there is no such run.
char* table_state(Oid nsp, int64 run_id) {
  char* result = nullptr;
  InternalSpi spi;
  internal_spi_begin(nsp, &spi);
  if (mp_spi_exec_id(nsp, "SELECT state FROM %s.midipipe_runs WHERE run_id = $1", run_id, true,
                     1) == SPI_OK_SELECT &&
      SPI_processed == 1) {
    char* v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
    if (v != nullptr) result = MemoryContextStrdup(CurTransactionContext, v);
  }
  internal_spi_end(&spi);
  return result;
}

// Pool control: EXECUTE on midipipe_pool_stop() (revoked from PUBLIC; a role
// that may stop the pool interrupts every run anyway), or superuser.
bool has_pool_control(Oid nsp) {
  if (superuser()) return true;
  List* name =
      list_make2(makeString(get_namespace_name(nsp)), makeString(pstrdup("midipipe_pool_stop")));
  Oid fn = LookupFuncName(name, 0, nullptr, true);
  return OidIsValid(fn) && pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE) == ACLCHECK_OK;
}

[[noreturn]] void cancel_denied(int64 run_id) {
  ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                  errmsg("permission denied to cancel midipipe run " INT64_FORMAT, run_id),
                  errdetail("Only the role that started the run (or a role with its "
                            "privileges), a superuser or a role with pool control (EXECUTE on "
                            "midipipe_pool_stop()) may cancel it.")));
}

int find_slot(int64 run_id, uint32* gen) {
  int idx = -1;
  LWLockAcquire(mp_shared->lock, LW_SHARED);
  MpRunSlot* r = mp_run_find_locked(MyDatabaseId, run_id);
  if (r != nullptr) {
    idx = static_cast<int>(r - mp_shared->runs);
    *gen = r->generation;
  }
  LWLockRelease(mp_shared->lock);
  return idx;
}

}  // namespace

// Long: the argument checks, the run slot and the wake-up of the supervisor,
// then the wait; the steps share the run's slot, generation and id, and read
// in the order they happen.
Datum midipipe_import(PG_FUNCTION_ARGS) {
  mp_require_preload();
  if (PG_ARGISNULL(0))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("root must not be NULL")));
  char* root = text_to_cstring(PG_GETARG_TEXT_PP(0));
  MpRunOptions options = mp_run_options_from_call(fcinfo);
  const bool wait = options.wait;

  // like COPY FROM a file
  mp_require_read_server_files();
  if (!is_absolute_path(root))
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("root must be an absolute path: \"%s\"", root)));
  canonicalize_path(root);
  if (strlen(root) >= MAXPGPATH)
    ereport(ERROR, (errcode(ERRCODE_NAME_TOO_LONG), errmsg("root path is too long")));
  if (options.workers == 0 || options.workers < -1)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("workers must be at least 1 (or NULL for midipipe.max_workers)")));

  struct stat st;
  if (stat(root, &st) != 0)
    ereport(ERROR, (errcode_for_file_access(), errmsg("could not stat \"%s\": %m", root)));
  if (S_ISDIR(st.st_mode)) {
    if (access(root, R_OK | X_OK) != 0)
      ereport(ERROR,
              (errcode_for_file_access(), errmsg("could not open directory \"%s\": %m", root)));
  } else if (S_ISREG(st.st_mode)) {
    if (access(root, R_OK) != 0)
      ereport(ERROR, (errcode_for_file_access(), errmsg("could not open file \"%s\": %m", root)));
  } else {
    ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                    errmsg("\"%s\" is neither a directory nor a regular file", root)));
  }

  Oid nsp = mp_require_extension_schema();
  if (wait) check_caller_locks(nsp, "midipipe_import");
  Oid seq = get_relname_relid("midipipe_runs_run_id_seq", nsp);
  if (!OidIsValid(seq))
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                    errmsg("sequence midipipe_runs_run_id_seq is missing")));
  int64 run_id = DatumGetInt64(DirectFunctionCall1(nextval_oid, ObjectIdGetDatum(seq)));
  if (options.workers < 0) options.workers = mp_max_workers;
  const int requested = options.workers;

  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  // One run of a root at a time in a database: a second import of the same
  // root (a scheduled re-import firing while the last one still runs) is
  // refused, so that two runs never race over the same paths by accident.
  // Nested or overlapping roots stay allowed (each path is claimed once).
  for (const MpRunSlot& other : mp_shared->runs) {
    if (!other.in_use || other.finished || other.dboid != MyDatabaseId ||
        strcmp(other.root, root) != 0)
      continue;
    int64 busy_run = other.run_id;
    LWLockRelease(mp_shared->lock);
    mp_metrics_add(MyDatabaseId, MP_C_RUNS_REFUSED, 1);
    ereport(ERROR, (errcode(ERRCODE_OBJECT_IN_USE),
                    errmsg("midipipe: \"%s\" is already being imported by run " INT64_FORMAT, root,
                           busy_run),
                    errdetail("One run of a root at a time: this call started no run."),
                    errhint("Wait for it with midipipe_wait(" INT64_FORMAT
                            "), or cancel it with midipipe_cancel(" INT64_FORMAT ").",
                            busy_run, busy_run)));
  }
  int idx = mp_run_alloc_locked();
  if (idx < 0) {
    LWLockRelease(mp_shared->lock);
    ereport(ERROR, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
                    errmsg("too many active midipipe runs (at most %d)", MP_MAX_RUNS),
                    errhint("Wait for a run to end, or cancel one with midipipe_cancel().")));
  }
  // an ended run of an earlier incarnation of the extension may carry the same id
  for (int i = 0; i < MP_MAX_RUNS; i++) {
    MpRunSlot* old = &mp_shared->runs[i];
    if (i != idx && old->in_use && old->finished && old->dboid == MyDatabaseId &&
        old->run_id == run_id && old->scanner_pid == 0)
      old->in_use = false;
  }
  MpRunSlot* r = &mp_shared->runs[idx];
  uint32 gen = r->generation;
  r->dboid = MyDatabaseId;
  r->roleoid = GetUserId();
  r->run_id = run_id;
  strlcpy(r->root, root, sizeof(r->root));
  r->options = options;
  r->state = MP_R_QUEUED;
  r->new_run = true;
  r->started_at = GetCurrentTimestamp();
  // A run warms a stopped pool again, as a database's first run warms a new
  // one: the workers it starts stay after it, and so does a spare scanner. (A
  // pool left stopped kept those workers but no spare, so every later run
  // started a scanner of its own: 140-210 ms for a 1-file run, not 10-15.)
  if (MpPool* pool = mp_pool_find_locked(MyDatabaseId, true)) pool->stopped = false;
  bool have_supervisor = mp_shared->supervisor_pid != 0;
  LWLockRelease(mp_shared->lock);
  mp_metrics_add(MyDatabaseId, MP_C_RUNS_STARTED, 1);
  mp_wake_supervisor();

  RunView s;
  PG_TRY();
  {
    // acquire: wait until the supervisor has granted workers
    TimestampTz start = GetCurrentTimestamp();
    ConditionVariablePrepareToSleep(&mp_shared->run_cv[idx]);
    for (;;) {
      s = read_slot(idx, gen);
      if (!s.present || s.finished || s.granted > 0) break;
      if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), mp_acquire_timeout_ms)) {
        request_cancel(idx, gen, true,
                       "no midipipe worker became available within midipipe.acquire_timeout");
        ereport(ERROR,
                (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
                 errmsg("midipipe: no worker became available for run " INT64_FORMAT
                        " within midipipe.acquire_timeout (%d ms)",
                        run_id, mp_acquire_timeout_ms),
                 have_supervisor
                     ? errhint("All midipipe.max_workers (%d) workers are busy with other runs, "
                               "or max_worker_processes (%d) has no free slot: raise them, or "
                               "see midipipe_stats.",
                               mp_max_workers, max_worker_processes)
                     : errhint("The midipipe supervisor is not running; see the server log.")));
      }
      sleep_run(idx, ms_left(start, mp_acquire_timeout_ms));
    }
    ConditionVariableCancelSleep();
    if (s.present && !s.finished && s.granted < requested)
      ereport(NOTICE,
              (errmsg("midipipe: run " INT64_FORMAT " got %d of %d requested workers", run_id,
                      s.granted, requested),
               errhint("Raise midipipe.max_workers (now %d) or max_worker_processes (now %d), or "
                       "wait for other runs to finish.",
                       mp_max_workers, max_worker_processes)));
    if (wait) s = wait_for_run(run_id, idx, gen, -1, true);
  }
  PG_CATCH();
  {
    // a cancel (or any error) of the waiting caller cancels the run
    request_cancel(idx, gen, false, nullptr);
    PG_RE_THROW();
  }
  PG_END_TRY();

  if (!wait) PG_RETURN_INT64(run_id);
  if (!s.present)
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                    errmsg("midipipe: run " INT64_FORMAT " vanished from shared memory", run_id)));
  summary_notice(run_id, s);
  if (s.state == MP_R_FAILED)
    ereport(ERROR, (errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
                    errmsg("midipipe: run " INT64_FORMAT " failed: %s", run_id,
                           s.error[0] ? s.error : "unknown error"),
                    errhint("Rows committed before the failure stay; see midipipe_runs and the "
                            "server log.")));
  PG_RETURN_INT64(run_id);
}

Datum midipipe_wait(PG_FUNCTION_ARGS) {
  mp_require_preload();
  int64 run_id = PG_GETARG_INT64(0);
  int64 timeout_ms = -1;
  if (!PG_ARGISNULL(1)) {
    Interval* iv = PG_GETARG_INTERVAL_P(1);
    int64 us = iv->time + static_cast<int64>(iv->day) * USECS_PER_DAY +
               static_cast<int64>(iv->month) * DAYS_PER_MONTH * USECS_PER_DAY;
    timeout_ms = us < 0 ? 0 : us / 1000;
    if (timeout_ms > INT_MAX) timeout_ms = INT_MAX;
  }
  Oid nsp = mp_require_extension_schema();
  check_caller_locks(nsp, "midipipe_wait");

  TimestampTz start = GetCurrentTimestamp();
  for (;;) {
    uint32 gen = 0;
    int idx = find_slot(run_id, &gen);
    if (idx >= 0) {
      int64 left = timeout_ms;
      if (timeout_ms >= 0) {
        int64 spent = (GetCurrentTimestamp() - start) / 1000;
        left = timeout_ms > spent ? timeout_ms - spent : 0;
      }
      RunView s = wait_for_run(run_id, idx, gen, left, false);
      if (s.present) PG_RETURN_TEXT_P(cstring_to_text(mp_run_state_name(s.state)));
      continue;  // slot reused meanwhile: look again
    }
    // not in shared memory: ended long ago, or waiting to be resumed
    char* state = table_state(nsp, run_id);
    if (state == nullptr)
      ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                      errmsg("midipipe run " INT64_FORMAT " does not exist", run_id)));
    bool active = strcmp(state, "queued") == 0 || strcmp(state, "scanning") == 0 ||
                  strcmp(state, "running") == 0;
    if (!active || (timeout_ms >= 0 && TimestampDifferenceExceeds(start, GetCurrentTimestamp(),
                                                                  static_cast<int>(timeout_ms))))
      PG_RETURN_TEXT_P(cstring_to_text(state));
    sleep_poll();
  }
}

Datum midipipe_cancel(PG_FUNCTION_ARGS) {
  mp_require_preload();
  int64 run_id = PG_GETARG_INT64(0);
  Oid nsp = mp_require_extension_schema();
  const bool pool_control = has_pool_control(nsp);

  bool done = false;
  bool denied = false;
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  MpRunSlot* r = mp_run_find_locked(MyDatabaseId, run_id);
  bool live = r != nullptr && !r->finished;
  if (live) {
    if (!pool_control && !has_privs_of_role(GetUserId(), r->roleoid)) {
      denied = true;
    } else {
      r->cancel_requested = true;
      if (r->scanner_latch != nullptr) SetLatch(r->scanner_latch);
      done = true;
    }
  }
  LWLockRelease(mp_shared->lock);
  if (denied) cancel_denied(run_id);
  if (done) {
    mp_wake_supervisor();
    PG_RETURN_BOOL(true);
  }
  if (r != nullptr) PG_RETURN_BOOL(false);  // ended already

  // Not in shared memory (e.g. waiting to be resumed after a restart): end it
  // in the table, after the same check against the role the row names.
  const Oid caller = GetUserId();
  bool updated = false;
  {
    InternalSpi spi;
    internal_spi_begin(nsp, &spi);
    if (mp_spi_exec_id(nsp,
                       "SELECT requested_by::text FROM %s.midipipe_runs WHERE run_id = $1 "
                       "AND state IN ('queued', 'scanning', 'running') FOR UPDATE",
                       run_id, false, 1) != SPI_OK_SELECT)
      elog(ERROR, "midipipe: could not read midipipe_runs");
    if (SPI_processed == 1) {
      char* role = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
      Oid roleoid = role != nullptr ? get_role_oid(role, true) : InvalidOid;
      if (!pool_control && !(OidIsValid(roleoid) && has_privs_of_role(caller, roleoid)))
        cancel_denied(run_id);
      // the counts its batches appended before the restart (no scanner folds them)
      if (OidIsValid(get_relname_relid("midipipe_run_counts", nsp)) &&
          mp_spi_exec_id(nsp, mp_fold_counts_sql(), run_id, false, 0) != SPI_OK_UPDATE)
        elog(ERROR, "midipipe: could not fold the run's counts");
      updated = mp_spi_exec_id(nsp,
                               "UPDATE %s.midipipe_runs SET state = 'cancelled', "
                               "finished_at = clock_timestamp() WHERE run_id = $1",
                               run_id, false, 0) == SPI_OK_UPDATE &&
                SPI_processed > 0;
    }
    internal_spi_end(&spi);
  }
  PG_RETURN_BOOL(updated);
}
