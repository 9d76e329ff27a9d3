// midipipe: the supervisor, a static background worker connected to no database.
//
// It reconciles what backends asked for (in shared memory) with the processes
// that exist: it starts pool workers for runs and warm pools, assigns them to
// runs, replaces workers that die, starts one scanner ("midipipe scanner")
// per active run, trims pools on request, and after a restart resumes the runs
// listed in $PGDATA/pg_midipipe/active_runs. It is the only process that
// registers or terminates midipipe workers, so it alone holds their handles.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "metrics.hpp"
#include "pool_internal.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "utils/snapmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
}

namespace {

constexpr const char* kStateDir = "pg_midipipe";
constexpr const char* kStateFile = "pg_midipipe/active_runs";
constexpr const char* kStateTmp = "pg_midipipe/active_runs.tmp";
// Resume attempts since the last one that finished: a resume that crashes the
// server every time must not turn into a crash loop.
constexpr const char* kAttemptsFile = "pg_midipipe/resume_attempts";
constexpr int kMaxResumeAttempts = 3;
bool resume_in_progress = false;
constexpr int kMaxStartFailures = 3;
// While workers fail to start in a database, look it up at most this often.
constexpr int kDbCheckMs = 10000;

BackgroundWorkerHandle** worker_handles = nullptr;  // [mp_shared->nworkers]
BackgroundWorkerHandle* scanner_handles[MP_MAX_RUNS];
uint32 scanner_generation[MP_MAX_RUNS];
// Each pool's spare scanner until it is handed a run (its handle then
// moves to scanner_handles), and whether it was asked to stop.
BackgroundWorkerHandle* spare_handles[MP_MAX_POOLS];
bool spare_stopping[MP_MAX_POOLS];
// The run slot whose scanner is the pool's spare, out on that run (its handle
// in scanner_handles), or -1: it joins the pool again after the run
// (rejoin_pool() in scanner.cpp), and no other spare is started meanwhile.
int spare_out[MP_MAX_POOLS];
// Set during a pass when a run could not get a process started (no free
// max_worker_processes slot): spares give their slots up and none is started.
bool slots_short = false;

struct PendingResume {
  Oid dboid;
  BackgroundWorkerHandle* handle;
  int starts;
};
PendingResume pending[MP_MAX_POOLS];
int npending = 0;

// Runs whose waiters must be woken (granted workers, or ended) once the lock is released.
bool run_changed[MP_MAX_RUNS];

Oid warm_dboid = InvalidOid;
Oid written_dbs[MP_MAX_RUNS + MP_MAX_POOLS];
int nwritten = -1;  // -1: never written by this supervisor

// The fields every midipipe process shares: the library, its entry point and
// the names pg_stat_activity shows; a database connection; never restarted by
// the postmaster (the supervisor decides what runs), the supervisor notified.
void fill_process(BackgroundWorker* bgw, const char* function, const char* name, const char* type) {
  memset(bgw, 0, sizeof(*bgw));
  bgw->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  bgw->bgw_start_time = BgWorkerStart_RecoveryFinished;
  bgw->bgw_restart_time = BGW_NEVER_RESTART;
  snprintf(bgw->bgw_library_name, BGW_MAXLEN, "midipipe");
  snprintf(bgw->bgw_function_name, BGW_MAXLEN, "%s", function);
  snprintf(bgw->bgw_name, BGW_MAXLEN, "%s", name);
  snprintf(bgw->bgw_type, BGW_MAXLEN, "%s", type);
  bgw->bgw_notify_pid = MyProcPid;
}

// Registers a midipipe process (see fill_process()) with main_arg and, when
// not null, the generation it must find in its slot (in bgw_extra). The
// handle (in TopMemoryContext), or null when no max_worker_processes slot is
// free.
BackgroundWorkerHandle* start_process(const char* function, const char* name, const char* type,
                                      Datum main_arg, const uint32* generation) {
  BackgroundWorker bgw;
  fill_process(&bgw, function, name, type);
  bgw.bgw_main_arg = main_arg;
  if (generation != nullptr) memcpy(bgw.bgw_extra, generation, sizeof(*generation));
  MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
  BackgroundWorkerHandle* handle = nullptr;
  bool ok = RegisterDynamicBackgroundWorker(&bgw, &handle);
  MemoryContextSwitchTo(old);
  return ok ? handle : nullptr;
}

int live_workers_locked() {
  int n = 0;
  for (int i = 0; i < mp_shared->nworkers; i++)
    if (mp_worker_slot(i)->state != MP_W_FREE) n++;
  return n;
}

// Starts a pool worker in dboid, optionally already assigned to run slot run_slot.
bool start_worker_locked(Oid dboid, int run_slot) {
  int idx = -1;
  for (int i = 0; i < mp_shared->nworkers; i++) {
    if (mp_worker_slot(i)->state == MP_W_FREE && worker_handles[i] == nullptr) {
      idx = i;
      break;
    }
  }
  if (idx < 0) return false;
  MpWorkerSlot* w = mp_worker_slot(idx);
  uint32 gen = mp_shared->next_generation++;
  memset(w, 0, sizeof(*w));
  w->state = MP_W_STARTING;
  w->generation = gen;
  w->dboid = dboid;
  w->run_slot = -1;
  w->started_at = GetCurrentTimestamp();
  w->idle_since = w->started_at;
  if (run_slot >= 0) {
    MpRunSlot* r = &mp_shared->runs[run_slot];
    w->run_slot = run_slot;
    w->run_id = r->run_id;
    w->run_generation = r->generation;
  }

  char name[BGW_MAXLEN];
  snprintf(name, sizeof(name), "midipipe worker %d", idx);
  BackgroundWorkerHandle* handle =
      start_process("midipipe_worker_main", name, "midipipe worker", Int32GetDatum(idx), &gen);
  if (handle == nullptr) {
    w->state = MP_W_FREE;
    w->run_slot = -1;
    return false;
  }
  worker_handles[idx] = handle;
  return true;
}

void terminate_worker_locked(int idx) {
  MpWorkerSlot* w = mp_worker_slot(idx);
  w->stop_requested = true;
  if (w->state != MP_W_FREE) w->state = MP_W_STOPPING;
  if (worker_handles[idx] != nullptr)
    TerminateBackgroundWorker(worker_handles[idx]);
  else if (w->pid != 0)
    kill(w->pid, SIGTERM);
}

bool start_scanner_locked(int r) {
  MpRunSlot* run = &mp_shared->runs[r];
  char name[BGW_MAXLEN];
  snprintf(name, sizeof(name), "midipipe scanner run " INT64_FORMAT, run->run_id);
  BackgroundWorkerHandle* handle = start_process("midipipe_scanner_main", name, "midipipe scanner",
                                                 Int32GetDatum(r), &run->generation);
  if (handle == nullptr) return false;
  scanner_handles[r] = handle;
  scanner_generation[r] = run->generation;
  run->scanner_starts++;
  return true;
}

// Starts a spare scanner for pool pi (see MpPool).
bool start_spare_locked(int pi) {
  MpPool* p = &mp_shared->pools[pi];
  uint32 gen = ++p->spare_generation;
  p->spare_pid = 0;
  p->spare_latch = nullptr;
  p->spare_assigned = false;
  p->spare_run = -1;
  char name[BGW_MAXLEN];
  snprintf(name, sizeof(name), "midipipe scanner (spare) db %u", p->dboid);
  BackgroundWorkerHandle* handle =
      start_process("midipipe_spare_main", name, "midipipe scanner", Int32GetDatum(pi), &gen);
  if (handle == nullptr) return false;
  spare_handles[pi] = handle;
  spare_stopping[pi] = false;
  return true;
}

void stop_spare_locked(int pi) {
  if (spare_handles[pi] == nullptr || spare_stopping[pi]) return;
  TerminateBackgroundWorker(spare_handles[pi]);  // it holds no run: nothing is lost
  spare_stopping[pi] = true;
}

// Hands the spare scanner of the run's database, when there is one, to
// run slot r: the run does not wait for a process to start and connect.
bool take_spare_locked(int r) {
  MpRunSlot* run = &mp_shared->runs[r];
  MpPool* p = mp_pool_find_locked(run->dboid, false);
  if (p == nullptr) return false;
  int pi = static_cast<int>(p - mp_shared->pools);
  if (spare_handles[pi] == nullptr || spare_stopping[pi] || p->spare_assigned) return false;
  pid_t pid = 0;
  if (GetBackgroundWorkerPid(spare_handles[pi], &pid) == BGWH_STOPPED) return false;
  p->spare_assigned = true;
  p->spare_run = r;
  p->spare_run_generation = run->generation;
  scanner_handles[r] = spare_handles[pi];
  spare_handles[pi] = nullptr;
  scanner_generation[r] = run->generation;
  spare_out[pi] = r;
  run->scanner_starts++;
  if (p->spare_latch != nullptr) SetLatch(p->spare_latch);
  return true;
}

// Stops one spare that holds no run, to give its max_worker_processes slot
// to a run.
void release_a_spare_locked() {
  for (int pi = 0; pi < MP_MAX_POOLS; pi++) {
    if (spare_handles[pi] != nullptr && !spare_stopping[pi]) {
      stop_spare_locked(pi);
      return;
    }
  }
}

// A pool keeps a spare scanner while it is warm: not stopped, with live
// workers, at least its floor of them (the workers come first when
// max_worker_processes is tight).
void reconcile_spares_locked() {
  for (int pi = 0; pi < MP_MAX_POOLS; pi++) {
    MpPool* p = &mp_shared->pools[pi];
    if (!p->in_use) continue;
    int live = mp_workers_in_db_locked(p->dboid, false);
    bool want = !p->stopped && live > 0 && live >= mp_pool_floor_locked(p->dboid) &&
                !mp_db_held_locked(p->dboid);
    if (!want || slots_short) {
      stop_spare_locked(pi);
    } else if (spare_handles[pi] == nullptr && !p->spare_assigned && spare_out[pi] < 0) {
      (void)start_spare_locked(pi);
    }
  }
}

bool start_resume(PendingResume* p) {
  char name[BGW_MAXLEN];
  snprintf(name, sizeof(name), "midipipe resume db %u", p->dboid);
  p->starts++;
  BackgroundWorkerHandle* handle = start_process("midipipe_resume_main", name, "midipipe scanner",
                                                 ObjectIdGetDatum(p->dboid), nullptr);
  if (handle == nullptr) return false;
  p->handle = handle;
  return true;
}

void finish_run_locked(MpRunSlot* run, int state, const char* error) {
  run_changed[run - mp_shared->runs] = true;
  if (!run->finished) mp_metrics_run_ended(run->dboid, state);
  run->finished = true;
  run->state = state;
  run->finished_at = GetCurrentTimestamp();
  if (error != nullptr) strlcpy(run->error, error, sizeof(run->error));
}

// ---------------------------------------------------------------- reaping

void reap_locked() {
  for (int i = 0; i < mp_shared->nworkers; i++) {
    MpWorkerSlot* w = mp_worker_slot(i);
    if (worker_handles[i] != nullptr) {
      pid_t pid = 0;
      if (GetBackgroundWorkerPid(worker_handles[i], &pid) != BGWH_STOPPED) continue;
      pfree(worker_handles[i]);
      worker_handles[i] = nullptr;
      if (w->state != MP_W_FREE) {
        // Died without detaching (never started, or exited before attaching);
        // one the supervisor stopped itself is no start failure.
        if (!w->ready && !w->stop_requested) {
          MpPool* p = mp_pool_find_locked(w->dboid, false);
          if (p != nullptr) p->start_failures++;
        }
        w->state = MP_W_FREE;
        w->run_slot = -1;
        w->pid = 0;
        w->latch = nullptr;
      }
    } else if (w->state != MP_W_FREE) {
      // A worker from before this supervisor started: no handle, watch its pid.
      bool gone = w->pid != 0
                      ? (kill(w->pid, 0) != 0 && errno == ESRCH)
                      : TimestampDifferenceExceeds(w->started_at, GetCurrentTimestamp(), 60000);
      if (gone) {
        w->state = MP_W_FREE;
        w->run_slot = -1;
        w->pid = 0;
        w->latch = nullptr;
      }
    }
  }

  for (int r = 0; r < MP_MAX_RUNS; r++) {
    if (scanner_handles[r] == nullptr) continue;
    pid_t pid = 0;
    if (GetBackgroundWorkerPid(scanner_handles[r], &pid) != BGWH_STOPPED) {
      // a spare back from its run: the pool's spare again
      for (int pi = 0; pi < MP_MAX_POOLS; pi++) {
        MpPool* p = &mp_shared->pools[pi];
        if (spare_out[pi] != r || !p->in_use || p->spare_pid == 0 || p->spare_pid != pid ||
            spare_handles[pi] != nullptr)
          continue;
        spare_handles[pi] = scanner_handles[r];
        spare_stopping[pi] = false;
        scanner_handles[r] = nullptr;
        spare_out[pi] = -1;
        break;
      }
      continue;
    }
    for (int pi = 0; pi < MP_MAX_POOLS; pi++)
      if (spare_out[pi] == r) spare_out[pi] = -1;
    pfree(scanner_handles[r]);
    scanner_handles[r] = nullptr;
    MpRunSlot* run = &mp_shared->runs[r];
    if (run->generation == scanner_generation[r]) {
      run->scanner_pid = 0;
      run->scanner_latch = nullptr;
    }
    // a spare that exited before it took the run handed to it
    for (int pi = 0; pi < MP_MAX_POOLS; pi++) {
      MpPool* p = &mp_shared->pools[pi];
      if (p->in_use && p->spare_assigned && p->spare_run == r &&
          p->spare_run_generation == scanner_generation[r]) {
        p->spare_assigned = false;
        p->spare_pid = 0;
        p->spare_latch = nullptr;
      }
    }
  }

  for (int pi = 0; pi < MP_MAX_POOLS; pi++) {
    if (spare_handles[pi] == nullptr) continue;
    pid_t pid = 0;
    if (GetBackgroundWorkerPid(spare_handles[pi], &pid) != BGWH_STOPPED) continue;
    pfree(spare_handles[pi]);
    spare_handles[pi] = nullptr;
    spare_stopping[pi] = false;
    MpPool* p = &mp_shared->pools[pi];
    if (!p->spare_assigned) {  // died without detaching (or never started)
      p->spare_pid = 0;
      p->spare_latch = nullptr;
    }
  }

  for (int i = 0; i < npending;) {
    PendingResume* p = &pending[i];
    pid_t pid = 0;
    bool done = false;
    if (p->handle != nullptr && GetBackgroundWorkerPid(p->handle, &pid) == BGWH_STOPPED) {
      pfree(p->handle);
      p->handle = nullptr;
      done = true;  // it ran (or could not connect: a dropped database has nothing to resume)
    }
    if (!done && p->handle == nullptr && p->starts >= kMaxStartFailures) done = true;
    if (done) {
      pending[i] = pending[npending - 1];
      npending--;
    } else {
      i++;
    }
  }
}

// ---------------------------------------------------------------- runs

int busy_elsewhere_locked(int r) {
  int n = 0;
  for (int i = 0; i < mp_shared->nworkers; i++) {
    MpWorkerSlot* w = mp_worker_slot(i);
    if (w->state == MP_W_FREE || w->state == MP_W_STOPPING || w->run_slot < 0 || w->run_slot == r)
      continue;
    MpRunSlot* other = &mp_shared->runs[w->run_slot];
    if (other->in_use && !other->finished && other->generation == w->run_generation) n++;
  }
  return n;
}

// A woken worker claims at least this many paths (kWakeShare in scanner.cpp).
constexpr int64 kWakeShare = 8;

// Makes the run's assigned workers reach `target`; returns how many it has
// (assigned + being made room for).
int fill_run_locked(int r, int target) {
  MpRunSlot* run = &mp_shared->runs[r];
  int assigned = mp_run_workers_locked(r);
  int pending_room = 0;
  // Workers to wake now: none before the run's row is written (nothing to
  // claim yet; the scanner's flush wakes them), then as many as the paths not
  // yet done keep busy, as the scanner wakes them (wake_workers() in
  // scanner.cpp). A 1-file run whose scan flushed before this grant would
  // otherwise wake eight workers, seven of them to spend a transaction each
  // on an empty claim, on the CPUs the one with the path needs.
  const int64 left = run->files_found - run->done_committed;
  int64 to_wake = run->row_written && left > 0 ? (left + kWakeShare - 1) / kWakeShare : 0;
  while (assigned + pending_room < target) {
    // 1. an idle (or starting, unassigned) worker of this database
    int pick = -1;
    for (int i = 0; i < mp_shared->nworkers && pick < 0; i++) {
      MpWorkerSlot* w = mp_worker_slot(i);
      if (w->dboid != run->dboid || w->stop_requested) continue;
      if (w->state != MP_W_IDLE && w->state != MP_W_STARTING) continue;
      if (w->run_slot >= 0) {
        MpRunSlot* other = &mp_shared->runs[w->run_slot];
        if (other->in_use && !other->finished && other->generation == w->run_generation) continue;
      }
      pick = i;
    }
    if (pick >= 0) {
      MpWorkerSlot* w = mp_worker_slot(pick);
      w->run_slot = r;
      w->run_id = run->run_id;
      w->run_generation = run->generation;
      if (to_wake > 0 && w->latch != nullptr) {
        SetLatch(w->latch);
        to_wake--;
      }
      assigned++;
      continue;
    }
    // 2. a new worker, within midipipe.max_workers
    if (live_workers_locked() >= mp_max_workers) {
      // make room: stop an idle worker of another database
      int victim = -1;
      for (int i = 0; i < mp_shared->nworkers && victim < 0; i++) {
        MpWorkerSlot* w = mp_worker_slot(i);
        if (w->state == MP_W_IDLE && w->dboid != run->dboid && w->run_slot < 0) victim = i;
      }
      if (victim < 0) break;
      terminate_worker_locked(victim);
      pending_room++;
      continue;
    }
    if (!start_worker_locked(run->dboid, r)) {  // no free max_worker_processes slot
      slots_short = true;
      release_a_spare_locked();
      break;
    }
    assigned++;
  }
  return assigned + pending_room;
}

void reconcile_runs_locked() {
  for (int r = 0; r < MP_MAX_RUNS; r++) {
    MpRunSlot* run = &mp_shared->runs[r];
    if (!run->in_use || run->finished || mp_db_held_locked(run->dboid)) continue;

    // The run's scanner first: workers granted before it would take the last
    // max_worker_processes slots and wait for a scanner that can never start.
    // A run whose scanner cannot be registered yet gets no workers; its caller
    // gives up after acquire_timeout with a hint naming max_worker_processes.
    if (scanner_handles[r] == nullptr && run->scanner_pid == 0) {
      if (run->scanner_starts >= MP_SCANNER_MAX_STARTS) {
        finish_run_locked(run, MP_R_FAILED,
                          "midipipe: the run's scanner process failed repeatedly; see the "
                          "server log (the run resumes after a server restart)");
        ereport(LOG, (errmsg("midipipe: run " INT64_FORMAT " abandoned: scanner failed %d times",
                             run->run_id, run->scanner_starts)));
        continue;
      }
      if (!take_spare_locked(r) && !start_scanner_locked(r)) {
        slots_short = true;
        release_a_spare_locked();
        // Cancelled before its scanner ever ran (its caller gave up waiting):
        // nothing was written for it, so it simply ends here.
        if (run->cancel_requested && run->scanner_starts == 0)
          finish_run_locked(run, run->fail_requested ? MP_R_FAILED : MP_R_CANCELLED,
                            nullptr);  // request_cancel() already set run->error
        continue;
      }
    }

    if (!run->cancel_requested) {
      if (run->workers_granted < 0) {
        int cap = mp_max_workers - busy_elsewhere_locked(r);
        int want = run->options.workers < cap ? run->options.workers : cap;
        if (want > 0) {
          int got = fill_run_locked(r, want);
          if (got > 0) {
            run->workers_granted = got;
            run_changed[r] = true;
          }
        }
      } else if (run->workers_granted > 0) {
        (void)fill_run_locked(r, run->workers_granted);
      }
    }
  }
}

// ---------------------------------------------------------------- pools

// Stops (SIGTERM) one idle, unassigned worker of a database other than
// dboid whose pool has more live workers than it keeps warm. Returns false
// when there is none.
bool evict_surplus_idle_locked(Oid dboid) {
  for (int i = 0; i < mp_shared->nworkers; i++) {
    MpWorkerSlot* w = mp_worker_slot(i);
    if (w->state != MP_W_IDLE || w->dboid == dboid || w->run_slot >= 0 || w->stop_requested)
      continue;
    if (mp_workers_in_db_locked(w->dboid, false) <= mp_pool_floor_locked(w->dboid)) continue;
    terminate_worker_locked(i);
    return true;
  }
  return false;
}

void reconcile_pools_locked() {
  for (int i = 0; i < MP_MAX_POOLS; i++) {
    MpPool* p = &mp_shared->pools[i];
    if (!p->in_use || mp_db_held_locked(p->dboid)) continue;

    if (p->trim_requested) {
      p->trim_requested = false;
      int keep = mp_pool_floor_locked(p->dboid);  // the target, but never below min_workers
      int live = mp_workers_in_db_locked(p->dboid, false);
      // idle ones first (SIGTERM now), then busy ones leave after their run
      for (int pass = 0; pass < 2 && live > keep; pass++) {
        for (int k = 0; k < mp_shared->nworkers && live > keep; k++) {
          MpWorkerSlot* w = mp_worker_slot(k);
          if (w->state == MP_W_FREE || w->dboid != p->dboid || w->stop_requested) continue;
          bool idle = (w->state == MP_W_IDLE || w->state == MP_W_STARTING) && w->run_slot < 0;
          if (pass == 0 && idle) {
            terminate_worker_locked(k);
            live--;
          } else if (pass == 1) {
            w->stop_requested = true;
            if (w->latch != nullptr) SetLatch(w->latch);
            live--;
          }
        }
      }
    }

    int floor = mp_pool_floor_locked(p->dboid);
    int live = mp_workers_in_db_locked(p->dboid, false);
    while (live < floor && p->start_failures < kMaxStartFailures) {
      if (live_workers_locked() >= mp_max_workers) {
        // Make room as a run does: stop an idle worker of another database,
        // but only one that its own pool does not keep warm (no ping-pong
        // between two pools that both want their floor). It leaves on
        // SIGTERM; the next pass starts ours.
        (void)evict_surplus_idle_locked(p->dboid);
        break;
      }
      if (!start_worker_locked(p->dboid, -1)) break;
      live++;
    }
  }

  // Workers asked to stop that are idle now: SIGTERM (drained ones exit themselves too).
  for (int k = 0; k < mp_shared->nworkers; k++) {
    MpWorkerSlot* w = mp_worker_slot(k);
    if (w->stop_requested && w->state == MP_W_IDLE && w->run_slot < 0) terminate_worker_locked(k);
  }
}

// ---------------------------------------------------------------- stalls

// A worker busy with a run that has not moved for midipipe.stall_timeout (a
// stopped process, an analysis that does not end, a lock that is never
// granted) is marked stalled (midipipe_stats shows it) and logged once, with
// its pid and the file it is on; logged again when it moves. Nothing else is
// done to it: the run's other workers go on, and midipipe_cancel ends the run
// without waiting for it (see finalize() in scanner.cpp).
void detect_stalls_locked() {
  TimestampTz now = GetCurrentTimestamp();
  for (int i = 0; i < mp_shared->nworkers; i++) {
    MpWorkerSlot* w = mp_worker_slot(i);
    bool working = (w->state == MP_W_BUSY || w->state == MP_W_CHECKOUT) && w->run_slot >= 0;
    if (w->stalled_since != 0) {
      if (!working || w->last_progress > w->stalled_since) {
        long secs = 0;
        int usecs = 0;
        TimestampDifference(w->stalled_since, now, &secs, &usecs);
        ereport(LOG, (errmsg("midipipe: worker %d (pid %d) makes progress again after %ld s "
                             "stalled",
                             i, static_cast<int>(w->pid), secs)));
        w->stalled_since = 0;
      }
      continue;
    }
    if (!working || mp_stall_timeout_s <= 0 || w->last_progress == 0 ||
        !TimestampDifferenceExceeds(w->last_progress, now, mp_stall_timeout_s * 1000))
      continue;
    w->stalled_since = now;
    long secs = 0;
    int usecs = 0;
    TimestampDifference(w->last_progress, now, &secs, &usecs);
    ereport(
        LOG,
        (errmsg("midipipe: worker %d (pid %d) has made no progress for %ld s on run " INT64_FORMAT
                ", file \"%s\"",
                i, static_cast<int>(w->pid), secs, w->run_id,
                w->current_path[0] != '\0' ? w->current_path : "(none)"),
         errhint("The worker may be stopped, stuck in one file, or waiting for a lock; "
                 "midipipe_cancel() ends its run without it.")));
  }
}

// ---------------------------------------------------------------- active runs file

void read_state_file() {
  FILE* f = fopen(kStateFile, "r");
  if (f == nullptr) return;
  unsigned int oid = 0;
  while (npending < MP_MAX_POOLS && fscanf(f, "%u", &oid) == 1) {
    bool dup = false;
    for (int i = 0; i < npending; i++) dup = dup || pending[i].dboid == oid;
    if (dup || oid == InvalidOid) continue;
    pending[npending].dboid = oid;
    pending[npending].handle = nullptr;
    pending[npending].starts = 0;
    npending++;
  }
  fclose(f);
  if (npending == 0) return;

  int attempts = 0;
  if (FILE* a = fopen(kAttemptsFile, "r")) {
    if (fscanf(a, "%d", &attempts) != 1) attempts = 0;
    fclose(a);
  }
  if (attempts >= kMaxResumeAttempts) {
    ereport(WARNING,
            (errmsg("midipipe: not resuming unfinished runs: %d attempts in a row did not finish",
                    attempts),
             errhint("See the server log for the cause; the runs stay in midipipe_runs and can "
                     "be cancelled with midipipe_cancel() or imported again.")));
    npending = 0;
    unlink(kAttemptsFile);
    return;
  }
  if (FILE* a = fopen(kAttemptsFile, "w")) {
    fprintf(a, "%d\n", attempts + 1);
    fflush(a);
    (void)pg_fsync(fileno(a));
    fclose(a);
  }
  resume_in_progress = true;
  ereport(LOG, (errmsg("midipipe: %d database(s) have unfinished runs to resume", npending)));
}

// Databases with unfinished runs (or runs still to be resumed).
int collect_active_dbs_locked(Oid* dbs) {
  int n = 0;
  auto add = [&](Oid db) {
    for (int i = 0; i < n; i++)
      if (dbs[i] == db) return;
    dbs[n++] = db;
  };
  for (int i = 0; i < npending; i++) add(pending[i].dboid);
  for (int r = 0; r < MP_MAX_RUNS; r++) {
    MpRunSlot* run = &mp_shared->runs[r];
    if (run->in_use && !run->finished) add(run->dboid);
  }
  return n;
}

void write_state_file_if_changed(const Oid* dbs, int n) {
  // order-insensitive comparison with what is on disk
  if (n == nwritten) {
    bool same = true;
    for (int i = 0; i < n && same; i++) {
      bool found = false;
      for (int j = 0; j < nwritten; j++) found = found || written_dbs[j] == dbs[i];
      same = found;
    }
    if (same) return;
  }

  if (MakePGDirectory(kStateDir) < 0 && errno != EEXIST) {
    ereport(WARNING, (errcode_for_file_access(),
                      errmsg("midipipe: could not create directory \"%s\": %m", kStateDir)));
    return;
  }
  int fd = OpenTransientFile(kStateTmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
  if (fd < 0) {
    ereport(WARNING, (errcode_for_file_access(),
                      errmsg("midipipe: could not create file \"%s\": %m", kStateTmp)));
    return;
  }
  char buf[(MP_MAX_RUNS + MP_MAX_POOLS) * 12 + 1];
  int len = 0;
  for (int i = 0; i < n; i++) len += snprintf(buf + len, sizeof(buf) - len, "%u\n", dbs[i]);
  bool ok = write(fd, buf, len) == len && pg_fsync(fd) == 0;
  if (CloseTransientFile(fd) != 0) ok = false;
  if (!ok) {
    ereport(WARNING, (errcode_for_file_access(),
                      errmsg("midipipe: could not write file \"%s\": %m", kStateTmp)));
    return;
  }
  if (durable_rename(kStateTmp, kStateFile, WARNING) != 0) return;
  for (int i = 0; i < n; i++) written_dbs[i] = dbs[i];
  nwritten = n;
}

// ---------------------------------------------------------------- configuration

// ---------------------------------------------------------------- databases that go away

struct DbLook {
  bool exists;
  bool allow_connections;
  Oid oid;
  NameData name;
};

// Looks a database up by oid, or by name when db is InvalidOid, with a heap
// scan of pg_database (as the autovacuum launcher does): a process connected
// to no database cannot use the catalog's indexes.
DbLook look_database(Oid db, const char* name = nullptr) {
  DbLook look = {false, false, InvalidOid, {}};
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  (void)GetTransactionSnapshot();
  Relation rel = table_open(DatabaseRelationId, AccessShareLock);
  TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
  HeapTuple tup;
  while ((tup = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
    Form_pg_database form = reinterpret_cast<Form_pg_database>(GETSTRUCT(tup));
    if (OidIsValid(db) ? form->oid != db : strcmp(NameStr(form->datname), name) != 0) continue;
    look.exists = true;
    look.allow_connections = form->datallowconn;
    look.oid = form->oid;
    look.name = form->datname;
    break;
  }
  table_endscan(scan);
  table_close(rel, AccessShareLock);
  CommitTransactionCommand();
  return look;
}

// Stops every pool process connected to db (workers, the spare, the runs'
// scanners, a resume worker); true once none is left nor starting.
bool clear_database_locked(Oid db) {
  bool quiet = true;
  for (int i = 0; i < mp_shared->nworkers; i++) {
    MpWorkerSlot* w = mp_worker_slot(i);
    if (w->dboid != db) continue;
    if (w->state != MP_W_FREE) {
      if (w->state != MP_W_STOPPING || !w->stop_requested) terminate_worker_locked(i);
      quiet = false;
    } else if (worker_handles[i] != nullptr) {
      quiet = false;  // detached, but its process has not exited yet
    }
  }
  if (MpPool* p = mp_pool_find_locked(db, false)) {
    int pi = static_cast<int>(p - mp_shared->pools);
    if (spare_handles[pi] != nullptr) {
      stop_spare_locked(pi);
      quiet = false;
    } else if (p->spare_pid != 0) {
      (void)kill(p->spare_pid, SIGTERM);  // started by an earlier supervisor
      quiet = false;
    }
  }
  for (int r = 0; r < MP_MAX_RUNS; r++) {
    MpRunSlot* run = &mp_shared->runs[r];
    if (!run->in_use || run->dboid != db) continue;
    if (scanner_handles[r] != nullptr) {
      TerminateBackgroundWorker(scanner_handles[r]);
      quiet = false;
    } else if (run->scanner_pid != 0) {
      (void)kill(run->scanner_pid, SIGTERM);
      quiet = false;
    }
  }
  for (int i = 0; i < npending; i++) {
    if (pending[i].dboid == db && pending[i].handle != nullptr) {
      TerminateBackgroundWorker(pending[i].handle);
      quiet = false;
    }
  }
  return quiet;
}

// A dropped database: its runs end (failed), its pool and pending resume are
// forgotten, nothing is started for it again. False while a process of it is
// still leaving (call again).
bool forget_database_locked(Oid db) {
  if (!clear_database_locked(db)) return false;
  for (int r = 0; r < MP_MAX_RUNS; r++) {
    MpRunSlot* run = &mp_shared->runs[r];
    if (run->in_use && !run->finished && run->dboid == db)
      finish_run_locked(run, MP_R_FAILED, "midipipe: the run's database was dropped");
  }
  if (MpPool* p = mp_pool_find_locked(db, false)) {
    spare_out[p - mp_shared->pools] = -1;  // its scanner, if any, is a run's scanner now
    memset(p, 0, sizeof(*p));
  }
  for (int i = 0; i < npending;) {
    if (pending[i].dboid == db) {
      pending[i] = pending[--npending];
    } else {
      i++;
    }
  }
  if (warm_dboid == db) warm_dboid = InvalidOid;
  return true;
}

// The databases held by DROP DATABASE / ALTER DATABASE RENAME (dbhold.cpp).
void reconcile_held_locked() {
  for (MpHeldDb& h : mp_shared->held) {
    if (!OidIsValid(h.dboid)) continue;
    if (h.gone) {
      if (forget_database_locked(h.dboid)) {
        ereport(LOG, (errmsg("midipipe: database %u was dropped: its pool and runs are forgotten",
                             h.dboid)));
        h = {InvalidOid, 0, false, false};
      }
      continue;
    }
    if (h.holder != 0 && kill(h.holder, 0) != 0 && errno == ESRCH) {
      h = {InvalidOid, 0, false, false};  // its backend died before it could release it
      continue;
    }
    h.quiet = clear_database_locked(h.dboid);
  }
}

// Pools whose workers fail to start: the database is looked up (at most every
// kDbCheckMs). Gone (dropped while no hold saw it): forgotten, said once.
// Refusing connections: said once, and no worker is started until it accepts
// them again. Without this, a worker that cannot connect is restarted every
// pass for ever.
void check_failing_databases() {
  Oid cand[MP_MAX_POOLS];
  int n = 0;
  TimestampTz now = GetCurrentTimestamp();
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  for (MpPool& p : mp_shared->pools) {
    if (!p.in_use || (p.start_failures == 0 && !p.no_connections) || mp_db_held_locked(p.dboid))
      continue;
    if (p.db_checked_at != 0 && !TimestampDifferenceExceeds(p.db_checked_at, now, kDbCheckMs))
      continue;
    p.db_checked_at = now;
    cand[n++] = p.dboid;
  }
  LWLockRelease(mp_shared->lock);
  for (int i = 0; i < n; i++) {
    DbLook look = look_database(cand[i]);
    LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
    MpPool* p = mp_pool_find_locked(cand[i], false);
    if (p == nullptr) {
      // forgotten meanwhile
    } else if (!look.exists) {
      if (forget_database_locked(cand[i]))
        ereport(LOG, (errmsg("midipipe: database %u was dropped: its pool and runs are forgotten",
                             cand[i])));
      else
        p->db_checked_at = 0;  // again at the next pass
    } else if (!look.allow_connections) {
      p->start_failures = kMaxStartFailures;
      if (!p->no_connections)
        ereport(LOG, (errmsg("midipipe: database \"%s\" does not allow connections: its pool "
                             "starts no worker until it does",
                             NameStr(look.name))));
      p->no_connections = true;
    } else if (p->no_connections) {
      ereport(LOG,
              (errmsg("midipipe: database \"%s\" allows connections again", NameStr(look.name))));
      p->no_connections = false;
      p->start_failures = 0;
    }
    LWLockRelease(mp_shared->lock);
  }
}

void resolve_warm_database() {
  Oid db = InvalidOid;
  if (mp_database != nullptr && mp_database[0] != '\0') {
    db = look_database(InvalidOid, mp_database).oid;
    if (!OidIsValid(db))
      ereport(WARNING, (errmsg("midipipe: midipipe.database \"%s\" does not exist", mp_database),
                        errhint("Create the database or change midipipe.database, then reload "
                                "the configuration.")));
  }
  warm_dboid = db;
  if (OidIsValid(db)) {
    LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
    MpPool* p = mp_pool_find_locked(db, true);
    if (p != nullptr) p->start_failures = 0;
    LWLockRelease(mp_shared->lock);
  }
}

void log_shape() {
  ereport(LOG, (errmsg("midipipe: pool of %d workers x 1 connection (+ 2 utility: supervisor, "
                       "scanner); warm %d; database '%s'",
                       mp_max_workers, mp_min_workers, mp_database ? mp_database : "")));
  mp_warn_if_workers_do_not_fit();
}

void supervisor_detach(int code, Datum arg) {
  if (mp_shared == nullptr) return;
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  if (mp_shared->supervisor_pid == MyProcPid) {
    mp_shared->supervisor_pid = 0;
    mp_shared->supervisor_latch = nullptr;
  }
  LWLockRelease(mp_shared->lock);
}

}  // namespace

void mp_register_supervisor() {
  BackgroundWorker bgw;
  fill_process(&bgw, "midipipe_supervisor_main", "midipipe supervisor", "midipipe supervisor");
  bgw.bgw_restart_time = 5;  // the one process the postmaster restarts
  bgw.bgw_notify_pid = 0;    // registered by the postmaster: nobody to notify
  RegisterBackgroundWorker(&bgw);
}

void midipipe_supervisor_main(Datum arg) {
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);
  pgstat_report_appname("midipipe supervisor");

  worker_handles = static_cast<BackgroundWorkerHandle**>(MemoryContextAllocZero(
      TopMemoryContext, sizeof(BackgroundWorkerHandle*) * mp_shared->nworkers));
  for (int& out : spare_out) out = -1;

  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  mp_shared->supervisor_pid = MyProcPid;
  mp_shared->supervisor_latch = MyLatch;
  LWLockRelease(mp_shared->lock);
  before_shmem_exit(supervisor_detach, 0);

  log_shape();
  read_state_file();
  resolve_warm_database();

  for (;;) {
    CHECK_FOR_INTERRUPTS();
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
      log_shape();
      resolve_warm_database();
    }

    for (int i = 0; i < npending; i++) {
      if (pending[i].handle != nullptr || pending[i].starts >= kMaxStartFailures) continue;
      LWLockAcquire(mp_shared->lock, LW_SHARED);
      bool held = mp_db_held_locked(pending[i].dboid);
      LWLockRelease(mp_shared->lock);
      if (!held) (void)start_resume(&pending[i]);
    }
    check_failing_databases();

    Oid dbs[MP_MAX_RUNS + MP_MAX_POOLS];
    LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
    reap_locked();
    reconcile_held_locked();
    slots_short = false;
    reconcile_runs_locked();
    reconcile_pools_locked();
    reconcile_spares_locked();
    detect_stalls_locked();
    int ndbs = collect_active_dbs_locked(dbs);
    LWLockRelease(mp_shared->lock);
    // reap_locked() may have freed the slots of workers that died without detaching
    ConditionVariableBroadcast(&mp_shared->pool_cv);
    for (int r = 0; r < MP_MAX_RUNS; r++) {
      if (!run_changed[r]) continue;
      run_changed[r] = false;
      mp_run_changed(r);
    }
    write_state_file_if_changed(dbs, ndbs);
    if (resume_in_progress && ndbs == 0) {
      // every resumed run ended: the next restart starts counting afresh
      resume_in_progress = false;
      unlink(kAttemptsFile);
    }

    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
  }
}
