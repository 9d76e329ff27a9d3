// midipipe: the monitoring counters and gauges (midipipe_metrics(),
// midipipe_metrics_reset()). See metrics.hpp for the counters and
// README "Monitoring" for their names and units.
#include "metrics.hpp"

#include <initializer_list>

#include "pool_internal.hpp"

extern "C" {
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

PGDLLEXPORT Datum midipipe_metrics(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum midipipe_metrics_reset(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(midipipe_metrics);
PG_FUNCTION_INFO_V1(midipipe_metrics_reset);
}

namespace {

struct MpMetricsDb {
  Oid dboid;             // set once, before ndbs publishes the entry; never changes
  TimestampTz reset_at;  // server start or the last midipipe_metrics_reset() (under mutex)
  pg_atomic_uint64 c[MP_C_COUNT];
};

struct MpMetrics {
  slock_t mutex;  // appending an entry, reset_at
  pg_atomic_uint32 ndbs;
  MpMetricsDb dbs[MP_METRICS_DBS + 1];  // the last one: every database beyond MP_METRICS_DBS
};

MpMetrics* g_metrics = nullptr;

void init_entry(MpMetricsDb* e, Oid dboid, TimestampTz now) {
  e->dboid = dboid;
  e->reset_at = now;
  for (auto& c : e->c) pg_atomic_init_u64(&c, 0);
}

// The entry of dboid; appended when create (the overflow entry when full).
MpMetricsDb* entry_of(Oid dboid, bool create) {
  uint32 n = pg_atomic_read_u32(&g_metrics->ndbs);
  pg_read_barrier();
  for (uint32 i = 0; i < n; i++)
    if (g_metrics->dbs[i].dboid == dboid) return &g_metrics->dbs[i];
  if (!create) return nullptr;
  MpMetricsDb* found = nullptr;
  TimestampTz now = GetCurrentTimestamp();
  SpinLockAcquire(&g_metrics->mutex);
  n = pg_atomic_read_u32(&g_metrics->ndbs);
  for (uint32 i = 0; i < n && found == nullptr; i++)
    if (g_metrics->dbs[i].dboid == dboid) found = &g_metrics->dbs[i];
  // an entry freed by prune_dropped(), else a new one
  for (uint32 i = 0; i < n && found == nullptr; i++) {
    if (OidIsValid(g_metrics->dbs[i].dboid)) continue;
    found = &g_metrics->dbs[i];
    init_entry(found, InvalidOid, now);
    pg_write_barrier();
    found->dboid = dboid;
  }
  if (found == nullptr && n < MP_METRICS_DBS) {
    found = &g_metrics->dbs[n];
    found->dboid = dboid;  // its counters were initialized at startup
    pg_write_barrier();
    pg_atomic_write_u32(&g_metrics->ndbs, n + 1);
  }
  SpinLockRelease(&g_metrics->mutex);
  return found != nullptr ? found : &g_metrics->dbs[MP_METRICS_DBS];
}

// Frees the entries of databases that were dropped (called by a backend, in
// a transaction): a suite or an application that creates and drops databases
// does not fill the table. A late increment from a dropped database's worker
// may land in the reused entry: it only ever adds.
void prune_dropped() {
  uint32 n = pg_atomic_read_u32(&g_metrics->ndbs);
  pg_read_barrier();
  for (uint32 i = 0; i < n; i++) {
    Oid dboid = g_metrics->dbs[i].dboid;
    if (!OidIsValid(dboid)) continue;
    char* name = get_database_name(dboid);
    if (name != nullptr) {
      pfree(name);
      continue;
    }
    SpinLockAcquire(&g_metrics->mutex);
    if (g_metrics->dbs[i].dboid == dboid) g_metrics->dbs[i].dboid = InvalidOid;
    SpinLockRelease(&g_metrics->mutex);
  }
}

}  // namespace

Size mp_metrics_shmem_size() { return MAXALIGN(sizeof(MpMetrics)); }

void mp_metrics_shmem_startup() {
  bool found = false;
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  g_metrics =
      static_cast<MpMetrics*>(ShmemInitStruct("midipipe metrics", mp_metrics_shmem_size(), &found));
  if (!found) {
    TimestampTz now = GetCurrentTimestamp();
    SpinLockInit(&g_metrics->mutex);
    pg_atomic_init_u32(&g_metrics->ndbs, 0);
    for (auto& e : g_metrics->dbs) init_entry(&e, InvalidOid, now);
  }
  LWLockRelease(AddinShmemInitLock);
}

void mp_metrics_add(Oid dboid, MpCounter c, int64 n) {
  if (g_metrics == nullptr || n <= 0 || c < 0 || c >= MP_C_COUNT) return;
  (void)pg_atomic_fetch_add_u64(&entry_of(dboid, true)->c[c], n);
}

void mp_metrics_run_ended(Oid dboid, int state) {
  switch (state) {
    case MP_R_COMPLETED:
      mp_metrics_add(dboid, MP_C_RUNS_COMPLETED, 1);
      break;
    case MP_R_CANCELLED:
      mp_metrics_add(dboid, MP_C_RUNS_CANCELLED, 1);
      break;
    case MP_R_FAILED:
      mp_metrics_add(dboid, MP_C_RUNS_FAILED, 1);
      break;
    default:
      break;
  }
}

namespace {

struct Gauges {
  Oid dboid;
  int starting, idle, busy, yielding, stalled, stopping;
  int runs_active, runs_queued;
  int64 files_queued;
};

Gauges* gauges_for(Gauges* g, int* n, int cap, Oid dboid) {
  for (int i = 0; i < *n; i++)
    if (g[i].dboid == dboid) return &g[i];
  if (*n >= cap) return nullptr;
  Gauges* e = &g[(*n)++];
  memset(e, 0, sizeof(*e));
  e->dboid = dboid;
  return e;
}

// datname, the counters, 8 worker/run gauges, files_queued, stats_reset
constexpr int kColumns = 1 + MP_C_COUNT + 8 + 1 + 1;

}  // namespace

// One row per database that has counters or workers or runs now. The gauges
// are one pass over the worker and run slots under a shared lock; the
// counters are atomic loads (a row's counters are not one snapshot: each is
// exact on its own, which is what a scraper needs).
Datum midipipe_metrics(PG_FUNCTION_ARGS) {
  mp_require_preload();
  InitMaterializedSRF(fcinfo, 0);
  ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);

  int cap = MP_METRICS_DBS + mp_shared->nworkers + MP_MAX_RUNS + 1;
  Gauges* g = static_cast<Gauges*>(palloc0(sizeof(Gauges) * cap));
  int n = 0;
  prune_dropped();
  uint32 ndbs = pg_atomic_read_u32(&g_metrics->ndbs);
  pg_read_barrier();
  for (uint32 i = 0; i < ndbs; i++)
    if (OidIsValid(g_metrics->dbs[i].dboid)) (void)gauges_for(g, &n, cap, g_metrics->dbs[i].dboid);

  LWLockAcquire(mp_shared->lock, LW_SHARED);
  for (int i = 0; i < mp_shared->nworkers; i++) {
    const MpWorkerSlot* w = mp_worker_slot(i);
    if (w->state == MP_W_FREE) continue;
    Gauges* e = gauges_for(g, &n, cap, w->dboid);
    if (e == nullptr) continue;
    switch (w->state) {
      case MP_W_STARTING:
        e->starting++;
        break;
      case MP_W_IDLE:
        e->idle++;
        break;
      case MP_W_CHECKOUT:
      case MP_W_BUSY: {
        // a worker whose run just ended is idle (it notices within a second)
        const MpRunSlot* r = w->run_slot >= 0 ? &mp_shared->runs[w->run_slot] : nullptr;
        if (r == nullptr || !r->in_use || r->finished || r->generation != w->run_generation) {
          e->idle++;
          break;
        }
        e->busy++;
        // the supervisor's verdict, as midipipe_stats shows it (midipipe.stall_timeout)
        if (w->stalled_since != 0) e->stalled++;
        break;
      }
      case MP_W_YIELDING:
        e->yielding++;
        break;
      case MP_W_STOPPING:
        e->stopping++;
        break;
      default:
        break;
    }
  }
  for (const MpRunSlot& r : mp_shared->runs) {
    if (!r.in_use || r.finished) continue;
    Gauges* e = gauges_for(g, &n, cap, r.dboid);
    if (e == nullptr) continue;
    e->runs_active++;
    if (r.state == MP_R_QUEUED) e->runs_queued++;
    if (r.files_found > r.done_committed) e->files_queued += r.files_found - r.done_committed;
  }
  LWLockRelease(mp_shared->lock);

  for (int k = 0; k < n; k++) {
    const Gauges* e = &g[k];
    Datum values[kColumns];
    bool nulls[kColumns];
    memset(nulls, 0, sizeof(nulls));
    char* dbname = OidIsValid(e->dboid) ? get_database_name(e->dboid) : nullptr;
    if (dbname == nullptr) continue;  // dropped: its workers are leaving
    values[0] = DirectFunctionCall1(namein, CStringGetDatum(dbname));
    MpMetricsDb* m = OidIsValid(e->dboid) ? entry_of(e->dboid, false) : nullptr;
    for (int c = 0; c < MP_C_COUNT; c++)
      values[1 + c] =
          Int64GetDatum(m != nullptr ? static_cast<int64>(pg_atomic_read_u64(&m->c[c])) : 0);
    int col = 1 + MP_C_COUNT;
    for (int v : {e->starting, e->idle, e->busy, e->yielding, e->stalled, e->stopping,
                  e->runs_active, e->runs_queued})
      values[col++] = Int32GetDatum(v);
    values[col++] = Int64GetDatum(e->files_queued);
    SpinLockAcquire(&g_metrics->mutex);
    TimestampTz reset_at = m != nullptr ? m->reset_at : 0;
    SpinLockRelease(&g_metrics->mutex);
    if (m != nullptr)
      values[col] = TimestampTzGetDatum(reset_at);
    else
      nulls[col] = true;
    col++;
    Assert(col == kColumns);
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  return (Datum)0;
}

// Zeroes this database's counters (like pg_stat_reset(): EXECUTE is revoked
// from PUBLIC in the install script).
Datum midipipe_metrics_reset(PG_FUNCTION_ARGS) {
  mp_require_preload();
  MpMetricsDb* m = entry_of(MyDatabaseId, true);
  SpinLockAcquire(&g_metrics->mutex);
  m->reset_at = GetCurrentTimestamp();
  SpinLockRelease(&g_metrics->mutex);
  for (auto& c : m->c) pg_atomic_write_u64(&c, 0);
  PG_RETURN_VOID();
}
