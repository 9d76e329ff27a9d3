// midipipe: cumulative counters for monitoring (midipipe_metrics), kept in a
// shared memory segment of their own ("midipipe metrics"), apart from the pool's
// state in pool_internal.hpp.
//
// Each database has an entry of lock-free 64-bit atomic counters: writers add
// with pg_atomic_fetch_add_u64 (no LWLock, so a counter can be bumped
// anywhere, even with mp_shared->lock held), readers load them. A counter only
// grows; it goes back to 0 only at a server restart or midipipe_metrics_reset()
// (of that database's entry).
#pragma once

extern "C" {
#include "postgres.h"

#include "datatype/timestamp.h"
}

enum MpCounter : int {
  MP_C_FILES = 0,       // files whose outcome a batch committed (ok, duplicate, unchanged, failed)
  MP_C_BYTES,           // bytes read by those batches
  MP_C_ERRORS,          // files committed as failed (bad files, unreadable paths)
  MP_C_BATCHES,         // batches committed
  MP_C_BATCHES_FAILED,  // batches rolled back by an error (retried)
  MP_C_CHECKOUTS,       // worker checkouts (one per batch attempt)
  MP_C_CHECKS_FAILED,   // failed health checks (the worker was replaced)
  MP_C_RUNS_STARTED,    // midipipe_import calls that started a run
  MP_C_RUNS_REFUSED,    // midipipe_import calls refused: the same root was being imported
  MP_C_RUNS_COMPLETED,  // runs that ended completed
  MP_C_RUNS_CANCELLED,  // runs that ended cancelled
  MP_C_RUNS_FAILED,     // runs that ended failed
  MP_C_COUNT
};

constexpr int MP_METRICS_DBS = 64;    // databases with counters; more share one overflow entry

Size mp_metrics_shmem_size();
void mp_metrics_shmem_startup();

// Adds n to counter c of database dboid (no-op before shared memory exists).
void mp_metrics_add(Oid dboid, MpCounter c, int64 n);
// The counter of a run that ended in state (MpRunState: completed/cancelled/failed).
void mp_metrics_run_ended(Oid dboid, int state);
