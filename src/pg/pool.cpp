// midipipe: pool control from SQL: midipipe_pool_start / _resize / _stop.
//
// These only change the pool's target in shared memory and wake the
// supervisor, which starts workers or stops them (SIGTERM through
// TerminateBackgroundWorker for idle ones; busy ones leave after their run).
// The functions then wait (at most midipipe.acquire_timeout) for the pool to
// reach its new size, so what they return is what midipipe_stats shows.
#include "pool_internal.hpp"

extern "C" {
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "utils/timestamp.h"

PGDLLEXPORT Datum midipipe_pool_start(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum midipipe_pool_resize(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum midipipe_pool_stop(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(midipipe_pool_start);
PG_FUNCTION_INFO_V1(midipipe_pool_resize);
PG_FUNCTION_INFO_V1(midipipe_pool_stop);
}

namespace {

struct PoolCount {
  int ready;         // connected and not leaving
  int live;          // any state, not leaving
  int idle_leaving;  // asked to stop and not busy with a run: about to exit
  bool spare;        // the pool's spare scanner is connected (and holds no run)
};

PoolCount count_pool() {
  PoolCount c = {0, 0, 0, false};
  LWLockAcquire(mp_shared->lock, LW_SHARED);
  if (MpPool* p = mp_pool_find_locked(MyDatabaseId, false)) c.spare = p->spare_pid != 0;
  for (int i = 0; i < mp_shared->nworkers; i++) {
    MpWorkerSlot* w = mp_worker_slot(i);
    if (w->state == MP_W_FREE || w->dboid != MyDatabaseId) continue;
    bool leaving = w->stop_requested || w->state == MP_W_STOPPING;
    if (leaving) {
      if (w->run_slot < 0 || w->state == MP_W_STOPPING) c.idle_leaving++;
      continue;
    }
    c.live++;
    if (w->ready) c.ready++;
  }
  LWLockRelease(mp_shared->lock);
  return c;
}

int check_size(int n) {
  if (n < 0)
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("workers must not be negative")));
  if (n > mp_max_workers) {
    ereport(NOTICE, (errmsg("midipipe: pool limited to midipipe.max_workers (%d)", mp_max_workers),
                     errhint("Raise midipipe.max_workers to warm more workers.")));
    n = mp_max_workers;
  }
  return n;
}

MpPool* pool_entry_locked() {
  MpPool* p = mp_pool_find_locked(MyDatabaseId, true);
  if (p == nullptr) {
    LWLockRelease(mp_shared->lock);
    ereport(ERROR, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
                    errmsg("midipipe: too many databases with a pool (at most %d)", MP_MAX_POOLS)));
  }
  return p;
}

// Waits until done(count) or acquire_timeout. Workers broadcast pool_cv when
// they become ready or leave, so this returns as soon as the pool has its size;
// the pool is re-read at least every 100 ms all the same.
template <typename F>
PoolCount wait_pool(F done) {
  TimestampTz start = GetCurrentTimestamp();
  ConditionVariablePrepareToSleep(&mp_shared->pool_cv);
  for (;;) {
    PoolCount c = count_pool();
    if (done(c) ||
        TimestampDifferenceExceeds(start, GetCurrentTimestamp(), mp_acquire_timeout_ms)) {
      ConditionVariableCancelSleep();
      return c;
    }
    (void)ConditionVariableTimedSleep(&mp_shared->pool_cv, 100, PG_WAIT_EXTENSION);
    CHECK_FOR_INTERRUPTS();
  }
}

void short_notice(int have, int want) {
  if (have < want)
    ereport(NOTICE, (errmsg("midipipe: %d of %d workers started", have, want),
                     errhint("max_worker_processes (%d) may have no free slot, or workers are "
                             "busy in other databases (midipipe.max_workers = %d); see the "
                             "server log and midipipe_stats.",
                             max_worker_processes, mp_max_workers)));
}

}  // namespace

Datum midipipe_pool_start(PG_FUNCTION_ARGS) {
  mp_require_preload();
  int n = check_size(PG_ARGISNULL(0) ? mp_max_workers : PG_GETARG_INT32(0));
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  MpPool* p = pool_entry_locked();
  if (p->stopped || p->target < n) p->target = n;
  p->stopped = false;
  p->start_failures = 0;
  LWLockRelease(mp_shared->lock);
  mp_wake_supervisor();
  PoolCount c = wait_pool([n](const PoolCount& now) { return now.ready >= n; });
  short_notice(c.ready, n);
  PG_RETURN_INT32(c.ready);
}

Datum midipipe_pool_resize(PG_FUNCTION_ARGS) {
  mp_require_preload();
  if (PG_ARGISNULL(0))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("workers must not be NULL")));
  int n = check_size(PG_GETARG_INT32(0));
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  MpPool* p = pool_entry_locked();
  p->target = n;
  p->stopped = false;
  p->trim_requested = true;
  p->start_failures = 0;
  LWLockRelease(mp_shared->lock);
  mp_wake_supervisor();
  LWLockAcquire(mp_shared->lock, LW_SHARED);
  int keep = mp_pool_floor_locked(MyDatabaseId);
  LWLockRelease(mp_shared->lock);
  if (keep > n)
    ereport(NOTICE, (errmsg("midipipe: the pool keeps midipipe.min_workers (%d) workers", keep)));
  PoolCount c =
      wait_pool([keep](const PoolCount& now) { return now.ready >= keep && now.live <= keep; });
  short_notice(c.ready, keep);
  PG_RETURN_INT32(c.live);
}

Datum midipipe_pool_stop(PG_FUNCTION_ARGS) {
  mp_require_preload();
  int stopped = 0;
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  MpPool* p = mp_pool_find_locked(MyDatabaseId, false);
  if (p != nullptr) {
    p->target = 0;
    p->stopped = true;
    p->trim_requested = false;
  }
  for (int i = 0; i < mp_shared->nworkers; i++) {
    MpWorkerSlot* w = mp_worker_slot(i);
    if (w->state == MP_W_FREE || w->dboid != MyDatabaseId || w->stop_requested ||
        w->state == MP_W_STOPPING)
      continue;
    w->stop_requested = true;  // idle: SIGTERM from the supervisor; busy: after its run
    if (w->latch != nullptr) SetLatch(w->latch);
    stopped++;
  }
  LWLockRelease(mp_shared->lock);
  mp_wake_supervisor();
  // the spare scanner leaves with the pool (the supervisor stops it)
  (void)wait_pool([](const PoolCount& c) { return c.idle_leaving == 0 && !c.spare; });
  PG_RETURN_INT32(stopped);
}
