// midipipe: a pool worker, a dynamic background worker connected to one
// database and kept alive across runs.
//
// Loop (the canonical one of worker_spi / autoprewarm): wait on the latch,
// apply reloads, and when the supervisor has assigned a run, take batches:
// health check on checkout, then one transaction per batch that calls
// mp_process_batch() as the run's role. A batch that errors is rolled back
// (its paths go back to the queue) and retried; a batch that keeps failing
// fails the run. The run's scanner finalizes runs; a worker only works.
#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "batch.hpp"
#include "guard.hpp"
#include "metrics.hpp"
#include "pool_internal.hpp"
#include "run_counts.hpp"
#include "stop.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

namespace {

constexpr int kMaxBatchFailures = 3;
// A run's last files are claimed in shares of 1/(workers * kTailSplit) of what
// is left (at least kMinClaim files), so that the workers end together even
// when the files' costs differ.
constexpr int64 kTailSplit = 2;
constexpr int64 kMinClaim = 8;

int my_slot = -1;
uint32 my_generation = 0;

MpWorkerSlot* me() { return mp_worker_slot(my_slot); }

void worker_detach(int code, Datum arg) {
  if (mp_shared == nullptr || my_slot < 0) return;
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  MpWorkerSlot* w = me();
  if (w->generation == my_generation) {
    // never connected (its database is gone, or refuses connections): the
    // supervisor counts it, so that it does not restart workers there for ever
    if (!w->ready && !w->stop_requested)
      if (MpPool* p = mp_pool_find_locked(w->dboid, false)) p->start_failures++;
    w->state = MP_W_FREE;
    w->pid = 0;
    w->latch = nullptr;
    w->run_slot = -1;
    w->current_path[0] = '\0';
  }
  LWLockRelease(mp_shared->lock);
  ConditionVariableBroadcast(&mp_shared->pool_cv);
  mp_wake_supervisor();
}

void set_state(int state) {
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  me()->state = state;
  me()->last_progress = GetCurrentTimestamp();
  if (state == MP_W_IDLE) me()->current_path[0] = '\0';
  LWLockRelease(mp_shared->lock);
}

struct BatchContext {
  int run_slot;
  uint32 run_generation;
  int64 files;
  int64 failed;
  int64 bytes;
  bool cancelled;  // the run was cancelled during the batch: it was abandoned on purpose
};

// Per-file progress from mp_process_batch: live counters and interrupts.
// bytes_read < 0: the batch starts on that file (current_path names it).
void on_file(void* arg, const char* path, int64 bytes_read, bool failed) {
  if (bytes_read < 0) {
    TimestampTz now = GetCurrentTimestamp();
    LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
    strlcpy(me()->current_path, path != nullptr ? path : "", sizeof(me()->current_path));
    me()->last_progress = now;
    LWLockRelease(mp_shared->lock);
    return;
  }
  BatchContext* ctx = static_cast<BatchContext*>(arg);
  TimestampTz now = GetCurrentTimestamp();
  ctx->files++;
  ctx->bytes += bytes_read;
  if (failed) ctx->failed++;
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  MpWorkerSlot* w = me();
  w->files_done++;
  w->bytes_read += bytes_read;
  if (failed) w->errors++;
  w->last_progress = now;
  MpRunSlot* run = &mp_shared->runs[ctx->run_slot];
  bool cancelled = run->generation != ctx->run_generation || run->cancel_requested;
  if (!cancelled) {
    run->files_done++;
    run->bytes_read += bytes_read;
    if (failed) run->files_failed++;
  }
  LWLockRelease(mp_shared->lock);
  CHECK_FOR_INTERRUPTS();
  if (!cancelled) mp_yield_point(my_slot);
  if (cancelled) {
    // Abandon the batch: its rows roll back, the scanner ends the run
    // without waiting for the rest of the batch.
    ctx->cancelled = true;
    ereport(ERROR, (errcode(ERRCODE_QUERY_CANCELED), errmsg("midipipe: run cancelled")));
  }
}

// Takes back the live progress of a batch that rolled back.
void undo_live_progress(const BatchContext* ctx) {
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  MpWorkerSlot* w = me();
  w->files_done -= ctx->files;
  w->bytes_read -= ctx->bytes;
  w->errors -= ctx->failed;
  w->current_path[0] = '\0';
  MpRunSlot* run = &mp_shared->runs[ctx->run_slot];
  if (run->generation == ctx->run_generation && !ctx->cancelled) {
    run->files_done -= ctx->files;
    run->bytes_read -= ctx->bytes;
    run->files_failed -= ctx->failed;
  }
  LWLockRelease(mp_shared->lock);
}

void publish_outcome(const BatchContext* ctx, const MpBatchOutcome& out) {
  int64 total = out.ok + out.duplicate + out.unchanged + out.failed;
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  MpRunSlot* run = &mp_shared->runs[ctx->run_slot];
  if (run->generation == ctx->run_generation) {
    run->files_ok += out.ok;
    run->files_duplicate += out.duplicate;
    run->files_unchanged += out.unchanged;
    run->files_failed_committed += out.failed;
    run->done_committed += total;
    // files the callback did not report still count as done
    if (total > ctx->files) run->files_done += total - ctx->files;
    if (out.failed > ctx->failed) run->files_failed += out.failed - ctx->failed;
    if (out.bytes_read > ctx->bytes) run->bytes_read += out.bytes_read - ctx->bytes;
    if (run->scanner_latch != nullptr) SetLatch(run->scanner_latch);
  }
  me()->current_path[0] = '\0';
  me()->last_progress = GetCurrentTimestamp();
  LWLockRelease(mp_shared->lock);
  mp_metrics_add(MyDatabaseId, MP_C_FILES, total);
  mp_metrics_add(MyDatabaseId, MP_C_BYTES, out.bytes_read);
  mp_metrics_add(MyDatabaseId, MP_C_ERRORS, out.failed);
  if (out.claimed > 0) mp_metrics_add(MyDatabaseId, MP_C_BATCHES, 1);
}

// kRaced: the batch stored a new content that another worker's batch stored
// and committed meanwhile (the unique index midipipe_files_content); rolled
// back and claimed again at once, where the content is then a duplicate.
enum class BatchResult { kClaimed, kNothing, kFailed, kUnhealthy, kCancelled, kRaced };

// The error of a batch that lost such a race: expected with several workers
// and files of the same content, so neither logged as an ERROR nor counted as
// a failed batch.
bool lost_content_race(const ErrorData* e) {
  return e->sqlerrcode == ERRCODE_UNIQUE_VIOLATION && e->constraint_name != nullptr &&
         strcmp(e->constraint_name, "midipipe_files_content") == 0;
}

// The run's scan is done and every path it found is committed: nothing is
// left to claim (the worker is woken when that changes).
bool run_drained(int run_slot, uint32 run_generation) {
  LWLockAcquire(mp_shared->lock, LW_SHARED);
  const MpRunSlot* run = &mp_shared->runs[run_slot];
  const bool drained = run->generation != run_generation ||
                       (run->scan_done && run->done_committed >= run->files_found);
  LWLockRelease(mp_shared->lock);
  return drained;
}

// The process's private resident memory (RssAnon: resident pages that are
// neither file-backed nor shared memory), in bytes, from /proc/self/statm;
// 0 when it cannot be read.
size_t private_resident() {
  const int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[256];
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  unsigned long size = 0, resident = 0, shared = 0;
  if (sscanf(buf, "%lu %lu %lu", &size, &resident, &shared) != 3 || resident < shared) return 0;
  return static_cast<size_t>(resident - shared) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

struct Assignment;
bool run_ending(const Assignment& a);
void fold_late_counts(const Assignment& a, MemoryContext loop_cxt);

// Files to claim: midipipe.batch_size, or a fair share of what is left when
// that is less than a batch per worker of the run, so that a small run (or the
// tail of a large one) is spread over all its workers instead of going to the
// first one in a single batch.
int claim_size(int run_slot, uint32 run_generation) {
  int size = mp_batch_size;
  LWLockAcquire(mp_shared->lock, LW_SHARED);
  const MpRunSlot* run = &mp_shared->runs[run_slot];
  if (run->generation == run_generation) {
    int64 left = run->files_found - run->done_committed;
    int64 n = mp_run_workers_locked(run_slot);
    int64 parts = n * kTailSplit;
    if (n > 1 && left > 0 && left < static_cast<int64>(size) * parts)
      size = static_cast<int>(
          std::min<int64>(size, std::max<int64>((left + parts - 1) / parts, kMinClaim)));
  }
  LWLockRelease(mp_shared->lock);
  return size > 0 ? size : 1;
}

struct Assignment {
  int run_slot;
  uint32 run_generation;
  int64 run_id;
  Oid roleoid;
};

// One checkout + batch. On kFailed, *errmsg holds the error (palloc'd in loop_cxt).
BatchResult run_batch(const Assignment& a, MemoryContext loop_cxt, char** errmsg_out,
                      char** unhealthy_reason) {
  // checkout: the process-level part of the health check
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  me()->state = MP_W_CHECKOUT;
  me()->last_checkout = GetCurrentTimestamp();
  me()->last_progress = me()->last_checkout;
  me()->checkouts++;
  LWLockRelease(mp_shared->lock);
  mp_metrics_add(MyDatabaseId, MP_C_CHECKOUTS, 1);

  if (!PostmasterIsAlive()) {
    *unhealthy_reason = pstrdup("postmaster is gone");
    return BatchResult::kUnhealthy;
  }
  if (IsTransactionOrTransactionBlock()) {
    *unhealthy_reason = pstrdup("a transaction was left open");
    return BatchResult::kUnhealthy;
  }

  // on the heap: read after a longjmp, so not a local the compiler may keep in registers
  BatchContext* ctxp = static_cast<BatchContext*>(palloc0(sizeof(BatchContext)));
  ctxp->run_slot = a.run_slot;
  ctxp->run_generation = a.run_generation;
  MpBatchOutcome out = {};
  volatile BatchResult result = BatchResult::kNothing;
  const char* volatile unhealthy = nullptr;

  pgstat_report_activity(STATE_RUNNING, psprintf("midipipe run " INT64_FORMAT, a.run_id));
  PG_TRY();
  {
    mp_begin_spi_tx();

    // the database-level part: the extension and its tables exist (resolved
    // afresh: DROP/CREATE EXTENSION while the pool is warm changes the oids)
    Oid nsp = mp_extension_schema();
    if (!OidIsValid(nsp))
      unhealthy = "extension midipipe is not installed in this database";
    else if (!OidIsValid(get_relname_relid("midipipe_queue", nsp)) ||
             !OidIsValid(get_relname_relid("midipipe_files", nsp)))
      unhealthy = "the extension's tables are missing";
    else if (mp_test_on_checkout &&
             (SPI_execute("SELECT 1", true, 0) != SPI_OK_SELECT || SPI_processed != 1))
      unhealthy = "SELECT 1 through SPI failed";

    if (unhealthy == nullptr) {
      mp_set_local_search_path(nsp);
      set_state(MP_W_BUSY);
      Oid save_user;
      int save_sec;
      GetUserIdAndSecContext(&save_user, &save_sec);
      SetUserIdAndSecContext(a.roleoid, save_sec | SECURITY_LOCAL_USERID_CHANGE);
      int claim = claim_size(a.run_slot, a.run_generation);
      {
        // a C++ exception must not unwind through PG_TRY: it becomes an ERROR here
        // The engine stops within a poll when the run is cancelled (stop.hpp).
        mp_stop_watch_run(a.run_slot, a.run_generation);
        MP_GUARD_BEGIN
        out = mp_process_batch(a.run_id, claim, static_cast<uint64>(mp_max_file_size_kb) * 1024,
                               on_file, ctxp);
        MP_GUARD_END
        mp_stop_watch_run(-1, 0);
      }
      SetUserIdAndSecContext(save_user, save_sec);
      result = out.claimed > 0 ? BatchResult::kClaimed : BatchResult::kNothing;
    }
    mp_end_spi_tx(unhealthy == nullptr);
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(loop_cxt);
    HOLD_INTERRUPTS();
    // the engine stopped a file for midipipe_cancel: an abandoned batch, as in on_file()
    if (mp_stop_was_run_cancel()) ctxp->cancelled = true;
    mp_stop_watch_run(-1, 0);
    ErrorData* edata = CopyErrorData();
    const bool raced = !ctxp->cancelled && lost_content_race(edata);
    if (!ctxp->cancelled && !raced) EmitErrorReport();
    AbortOutOfAnyTransaction();
    FlushErrorState();
    RESUME_INTERRUPTS();
    if (raced)
      ereport(DEBUG1, (errmsg("midipipe: a batch stored a content another batch committed "
                              "meanwhile; claimed again")));
    *errmsg_out = pstrdup(edata->message != nullptr ? edata->message : "unknown error");
    FreeErrorData(edata);
    result = ctxp->cancelled ? BatchResult::kCancelled
             : raced         ? BatchResult::kRaced
                             : BatchResult::kFailed;
  }
  PG_END_TRY();
  pgstat_report_activity(STATE_IDLE, nullptr);
  MemoryContextSwitchTo(loop_cxt);
  // Send the batch's table statistics (rate-limited to one flush a second), as
  // a backend does between statements: a worker that never exits would
  // otherwise keep them to itself, and autovacuum would never see the inserts
  // and updates, nor analyze or vacuum the extension's tables.
  (void)pgstat_report_stat(false);

  if (unhealthy != nullptr) {
    *unhealthy_reason = pstrdup(unhealthy);
    return BatchResult::kUnhealthy;
  }
  if (result == BatchResult::kFailed || result == BatchResult::kCancelled ||
      result == BatchResult::kRaced) {
    undo_live_progress(ctxp);
  } else {
    publish_outcome(ctxp, out);
    if (out.claimed > 0 && run_ending(a)) fold_late_counts(a, loop_cxt);
  }
  return result;
}

// The batch's run was cancelled, failed or ended (its slot given away): the
// scanner may have folded the run's counts for the last time before this
// batch committed (a batch holding rows when a run is cancelled can commit
// after it, e.g. a worker stopped meanwhile). A cancel is asked before the
// scanner's last fold, so a batch that committed after that fold sees it here.
bool run_ending(const Assignment& a) {
  LWLockAcquire(mp_shared->lock, LW_SHARED);
  const MpRunSlot* run = &mp_shared->runs[a.run_slot];
  const bool ending = run->generation != a.run_generation || run->cancel_requested ||
                      run->fail_requested || run->finished;
  LWLockRelease(mp_shared->lock);
  return ending;
}

// Runs body(a) in a transaction of its own, with SPI and the extension's
// search_path, when the extension and the tables named exist; an error is
// reported and rolled back, and the worker goes on.
void in_own_tx(const Assignment& a, MemoryContext loop_cxt, const char* table1, const char* table2,
               void (*body)(const Assignment&, Oid)) {
  PG_TRY();
  {
    mp_begin_spi_tx();
    Oid nsp = mp_extension_schema();
    if (OidIsValid(nsp) && OidIsValid(get_relname_relid(table1, nsp)) &&
        OidIsValid(get_relname_relid(table2, nsp))) {
      mp_set_local_search_path(nsp);
      body(a, nsp);
    }
    mp_end_spi_tx(true);
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(loop_cxt);
    HOLD_INTERRUPTS();
    EmitErrorReport();
    AbortOutOfAnyTransaction();
    FlushErrorState();
    RESUME_INTERRUPTS();
  }
  PG_END_TRY();
  MemoryContextSwitchTo(loop_cxt);
}

// Folds the run's appended counts into its row (run_counts.hpp), as the
// owner of the tables, so that an ended run's counts include this batch.
void fold_late_counts(const Assignment& a, MemoryContext loop_cxt) {
  in_own_tx(a, loop_cxt, "midipipe_run_counts", "midipipe_runs", [](const Assignment& r, Oid nsp) {
    Oid save_user;
    int save_sec;
    GetUserIdAndSecContext(&save_user, &save_sec);
    SetUserIdAndSecContext(mp_tables_owner(nsp), save_sec | SECURITY_LOCAL_USERID_CHANGE);
    if (mp_spi_exec_id(nsp, mp_fold_counts_sql(), r.run_id, false, 0) != SPI_OK_UPDATE)
      elog(ERROR, "midipipe: could not fold the run's counts");
    SetUserIdAndSecContext(save_user, save_sec);
  });
}

// After a batch given up because its run was cancelled: the scanner
// deleted the run's manifest except the rows this batch held (it skips locked
// rows, see finalize() in scanner.cpp); delete those once the run has ended.
// Waits (at most 5 s) for the scanner to end the run first.
void drop_leftover_manifest(const Assignment& a, MemoryContext loop_cxt) {
  for (int i = 0; i < 100; i++) {
    LWLockAcquire(mp_shared->lock, LW_SHARED);
    const MpRunSlot* run = &mp_shared->runs[a.run_slot];
    bool ended = run->generation != a.run_generation || run->finished;
    LWLockRelease(mp_shared->lock);
    if (ended) break;
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 50,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
  }
  in_own_tx(a, loop_cxt, "midipipe_queue", "midipipe_runs", [](const Assignment& r, Oid nsp) {
    (void)mp_spi_exec_id(nsp,
                         "DELETE FROM %s.midipipe_queue WHERE run_id = $1 AND EXISTS (SELECT 1 "
                         "FROM %s.midipipe_runs WHERE run_id = $1 AND state IN ('completed', "
                         "'cancelled', 'failed'))",
                         r.run_id, false, 0);
  });
}

}  // namespace

// Sets this process's niceness to midipipe.worker_nice, relative to the
// niceness the server runs at, so that bulk analysis yields the CPU to
// interactive backends when they compete for it (and costs nothing when they
// do not). An unprivileged process may raise its niceness but not lower it:
// a lower setting takes effect in workers started afterwards.
static void apply_worker_nice() {
  static int base = INT_MIN;  // the server's niceness, read once
  errno = 0;
  if (base == INT_MIN) {
    const int b = getpriority(PRIO_PROCESS, 0);
    if (errno != 0) return;
    base = b;
  }
  const int want = std::min(base + mp_worker_nice, 19);
  errno = 0;
  const int now = getpriority(PRIO_PROCESS, 0);
  if (errno != 0 || now == want) return;
  if (setpriority(PRIO_PROCESS, 0, want) != 0 && want > now)
    ereport(LOG, (errmsg("midipipe worker: could not set niceness %d: %m", want)));
}

// Long: the canonical background-worker main (worker_spi, autoprewarm):
// start-up and session settings, then one loop of wait, reload, checks and
// batches, kept in one function so the loop reads from top to bottom.
void midipipe_worker_main(Datum arg) {
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();

  int idx = DatumGetInt32(arg);
  uint32 gen = 0;
  memcpy(&gen, MyBgworkerEntry->bgw_extra, sizeof(gen));
  if (mp_shared == nullptr || idx < 0 || idx >= mp_shared->nworkers) proc_exit(0);

  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  MpWorkerSlot* w = mp_worker_slot(idx);
  if (w->generation != gen || w->state != MP_W_STARTING) {
    LWLockRelease(mp_shared->lock);
    proc_exit(0);  // the supervisor gave this slot away meanwhile
  }
  w->pid = MyProcPid;
  w->latch = MyLatch;
  Oid dboid = w->dboid;
  LWLockRelease(mp_shared->lock);
  my_slot = idx;
  my_generation = gen;
  before_shmem_exit(worker_detach, 0);

  BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
  pgstat_report_appname("midipipe worker");
  apply_worker_nice();
  // Every statement of a batch looks rows up by a key that has an index. A
  // cached generic plan made while the tables were small (a new database,
  // after TRUNCATE) would scan them whole on every later batch instead: perf
  // showed 22% of a worker's time in the filter of such a scan, growing with
  // the table. Autovacuum may not analyze the tables during a run to fix it.
  SetConfigOption("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION);
  // A batch commits without waiting for its WAL to reach the disk: a crash
  // before the flush loses the batch's rows and its queue rows' done flags
  // together, and the resumed run does the batch again (exactly once holds).
  // The run's end is committed with the server's synchronous_commit by the
  // scanner (finalize() in scanner.cpp), which flushes every batch before it.
  // Waiting for the flush at every batch made the workers wait on WALWrite /
  // WALSync, and a 1-file run on the fsync of its only batch.
  SetConfigOption("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION);
  // A worker's insert into a GIN index whose pending list is full merges the
  // list into the index (ginInsertCleanup), gathering its entries in work_mem
  // and writing each key's posting list once per gathering. With the default
  // 4 MB, a 64 MB list of the content indexes (sql, "content search") took
  // a dozen or more passes, each rewriting the posting lists of most keys:
  // at 100,000 files 37% of the server's CPU (perf). The worker gives the
  // merge the memory (auto)vacuum gives the same merge, maintenance_work_mem
  // (64 MB by default); only such a merge allocates it.
  SetConfigOption("work_mem", GetConfigOption("maintenance_work_mem", false, false), PGC_USERSET,
                  PGC_S_SESSION);
#ifdef USE_LZ4
  // Large values (chord progressions, split tracks) are compressed with lz4,
  // several times faster than pglz (on columns that do not set a method).
  SetConfigOption("default_toast_compression", "lz4", PGC_USERSET, PGC_S_SESSION);
#endif

  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  w->ready = true;
  w->idle_since = GetCurrentTimestamp();
  w->last_progress = w->idle_since;
  w->state = MP_W_IDLE;
  if (MpPool* p = mp_pool_find_locked(dboid, false)) p->start_failures = 0;
  LWLockRelease(mp_shared->lock);
  ConditionVariableBroadcast(&mp_shared->pool_cv);
  mp_wake_supervisor();

  MemoryContext loop_cxt =
      AllocSetContextCreate(TopMemoryContext, "midipipe worker loop", ALLOCSET_DEFAULT_SIZES);
  MemoryContextSwitchTo(loop_cxt);
  int failures = 0;
  int64 failing_run = 0;
  constexpr size_t kKeepFreed = size_t{32} << 20;  // see the malloc_trim after a batch
  bool trimmed = true;
  size_t resident_after_trim = private_resident();

  for (;;) {
    CHECK_FOR_INTERRUPTS();
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
      apply_worker_nice();
    }
    MemoryContextReset(loop_cxt);
    TimestampTz now = GetCurrentTimestamp();

    Assignment a = {-1, 0, 0, InvalidOid};
    bool working = false;
    bool leave = false;
    const char* why = nullptr;
    LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
    w->last_progress = now;
    if (w->run_slot >= 0) {
      MpRunSlot* run = &mp_shared->runs[w->run_slot];
      bool valid = run->in_use && !run->finished && run->generation == w->run_generation;
      if (!valid) {
        w->run_slot = -1;
        w->run_id = 0;
        w->state = MP_W_IDLE;
        w->idle_since = now;
        w->current_path[0] = '\0';
      } else {
        a = {w->run_slot, run->generation, run->run_id, run->roleoid};
        // a cancelled run: the scanner is finalizing it, take no more batches.
        // Nor while every path found so far is committed: woken by the grant
        // of a run whose scan has not flushed yet, eight workers would each
        // spend a transaction on an empty claim, on the CPU the scan needs;
        // the scan's flushes wake the workers its paths can keep busy.
        working =
            !run->cancel_requested && run->row_written && run->files_found > run->done_committed;
        if (w->state == MP_W_IDLE || w->state == MP_W_STARTING) w->state = MP_W_BUSY;
      }
    }
    if (a.run_slot < 0) {
      if (w->stop_requested) {
        leave = true;
        why = "stop requested";
      } else if (mp_idle_timeout_s >= 0 &&
                 TimestampDifferenceExceeds(w->idle_since, now, mp_idle_timeout_s * 1000) &&
                 mp_workers_in_db_locked(dboid, false) > mp_pool_floor_locked(dboid)) {
        leave = true;
        why = "idle_timeout";
      }
    }
    if (mp_max_lifetime_s >= 0 &&
        TimestampDifferenceExceeds(w->started_at, now, mp_max_lifetime_s * 1000)) {
      leave = true;
      why = "max_lifetime";
    }
    if (leave) w->state = MP_W_STOPPING;
    LWLockRelease(mp_shared->lock);

    if (leave) {
      ereport(LOG, (errmsg("midipipe worker %d exiting: %s", my_slot, why)));
      proc_exit(0);
    }

    if (working) {
      char* err = nullptr;
      char* unhealthy = nullptr;
      BatchResult res = run_batch(a, loop_cxt, &err, &unhealthy);
      mp_yield_release();  // between batches a worker holds no CPU token
      // The engine's C++ allocations (large vectors for big files) come from
      // malloc, not from memory contexts. What a batch freed is kept for the
      // next batch up to kKeepFreed: giving it all back after every batch
      // made the next one fault every page in again (server CPU per file
      // 450 -> 320 us on a 5,000-file import). Past that, all of it goes
      // back to the kernel, so a worker's resident size does not creep up
      // with the largest files it has seen; and all of it when the worker
      // goes idle (below), so an idle pool holds only its working set.
      // "What it keeps" is the growth of its private resident memory since
      // the last trim: the free bytes malloc counts (mallinfo2().fordblks)
      // still count the pages a trim gave back, so once the heap held 32 MB
      // of free holes, every batch trimmed again (madvise, and a TLB flush
      // on every CPU) and faulted the same pages in again: a third of a
      // worker's CPU in a re-import of 1% touched files, whose batches are
      // small (about 8 files: 1.2 ms per file against 0.5 ms fresh).
      if (private_resident() > resident_after_trim + kKeepFreed) {
        (void)malloc_trim(0);
        resident_after_trim = private_resident();
      }
      trimmed = false;
      if (res == BatchResult::kUnhealthy) {
        LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
        w->checks_failed++;
        mp_metrics_add(MyDatabaseId, MP_C_CHECKS_FAILED, 1);
        w->state = MP_W_STOPPING;
        LWLockRelease(mp_shared->lock);
        ereport(LOG, (errmsg("midipipe worker %d failed its health check: %s; exiting", my_slot,
                             unhealthy)));
        proc_exit(0);  // the supervisor replaces it
      }
      if (res == BatchResult::kRaced) {
        mp_reset_claim_cursor();  // the rolled-back paths are claimed again first
        continue;
      }
      if (res == BatchResult::kFailed) {
        mp_metrics_add(MyDatabaseId, MP_C_BATCHES_FAILED, 1);
        mp_reset_claim_cursor();  // the rolled-back paths are claimed again first
        failures = failing_run == a.run_id ? failures + 1 : 1;
        failing_run = a.run_id;
        if (failures >= kMaxBatchFailures) {
          LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
          MpRunSlot* run = &mp_shared->runs[a.run_slot];
          if (run->generation == a.run_generation && !run->finished) {
            run->fail_requested = true;
            run->cancel_requested = true;
            snprintf(run->error, sizeof(run->error), "a batch failed %d times: %s", failures, err);
            if (run->scanner_latch != nullptr) SetLatch(run->scanner_latch);
          }
          LWLockRelease(mp_shared->lock);
          failures = 0;
        }
        // back off a little before retrying
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100 * failures,
                        PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        continue;
      }
      failures = 0;
      // more work: next batch at once; but not when every path the scan found
      // is committed already: an empty claim would only take the CPU from
      // the scanner that ends the run (a 1-file run waited for it)
      if (res == BatchResult::kClaimed && !run_drained(a.run_slot, a.run_generation)) continue;
      if (res == BatchResult::kCancelled) {  // unassigned at the top of the loop
        drop_leftover_manifest(a, loop_cxt);
        continue;
      }
      // nothing to claim now: tell the scanner (it may be complete), wait for paths
      LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
      MpRunSlot* run = &mp_shared->runs[a.run_slot];
      if (run->generation == a.run_generation && run->scanner_latch != nullptr)
        SetLatch(run->scanner_latch);
      if (w->state != MP_W_STOPPING) w->state = MP_W_BUSY;
      LWLockRelease(mp_shared->lock);
    }

    if (a.run_slot < 0 && !trimmed) {  // unassigned: give back what the batches kept
      (void)malloc_trim(0);
      resident_after_trim = private_resident();
      trimmed = true;
    }
    (void)pgstat_report_stat(true);  // going idle: whatever is pending
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
  }
}
