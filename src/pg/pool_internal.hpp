// midipipe: the pool's internal API, shared by every file of src/pg: the GUC
// variables, the shared memory of the pool (worker slots, run slots, pools,
// held databases, yield tokens) and its helpers, the entry points of the
// background workers, and the catalog and SPI helpers of the extension's own
// SQL. The batch's internals are in batch_internal.hpp.
//
// Everything in MpShared is protected by mp_shared->lock (one LWLock of the
// "midipipe" tranche) unless a comment says otherwise. Latches are stored as
// pointers into PGPROC (the shared segment is mapped at the same address in
// every process of the cluster).
#pragma once

#include "run_options.hpp"

extern "C" {
#include "postgres.h"

#include "datatype/timestamp.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
}

// ------------------------------------------------------------------ GUCs
extern int mp_max_workers;
extern int mp_min_workers;
extern char* mp_database;
extern int mp_acquire_timeout_ms;
extern int mp_idle_timeout_s;
extern int mp_max_lifetime_s;
extern bool mp_test_on_checkout;
extern int mp_batch_size;
extern int mp_max_file_size_kb;
extern int mp_worker_nice;
extern double mp_yield_share;
extern int mp_yield_tps;
extern bool mp_analysis_depth;
extern int mp_stall_timeout_s;

// WARNING (with HINT) when midipipe.max_workers and the 2 utility processes do
// not fit in max_worker_processes (at start-up, and by the supervisor on reload).
void mp_warn_if_workers_do_not_fit();

// ------------------------------------------------------------------ shared state
enum MpWorkerState : int {
  MP_W_FREE = 0,
  MP_W_STARTING,
  MP_W_IDLE,
  MP_W_CHECKOUT,
  MP_W_BUSY,
  MP_W_STOPPING,
  MP_W_YIELDING,  // busy with a run, resting to leave the CPU to client sessions
};

enum MpRunState : int {
  MP_R_QUEUED = 0,
  MP_R_SCANNING,
  MP_R_RUNNING,
  MP_R_COMPLETED,
  MP_R_CANCELLED,
  MP_R_FAILED,
};

constexpr int MP_MAX_RUNS = 64;
constexpr int MP_MAX_POOLS = 32;
constexpr int MP_PATH_LEN = 1024;
constexpr int MP_ERR_LEN = 512;
constexpr int MP_SCANNER_MAX_STARTS = 5;

struct MpWorkerSlot {
  int state;              // MpWorkerState; MP_W_FREE = slot unused
  uint32 generation;      // bumped by the supervisor each time the slot is handed out
  pid_t pid;              // 0 until the worker attached
  Oid dboid;              // database the worker is connected to
  Latch* latch;           // the worker's latch (NULL until attached)
  bool ready;             // connected and in its main loop at least once
  bool stop_requested;    // leave at the next idle moment (drain: after its run)
  int run_slot;           // assigned run: index into runs[], -1 = none
  int64 run_id;           // run_id of the assignment (with run_slot)
  uint32 run_generation;  // generation of the run slot at assignment
  int64 files_done;
  int64 bytes_read;
  int64 errors;
  int64 checkouts;
  int64 checks_failed;
  TimestampTz started_at;
  TimestampTz last_checkout;
  TimestampTz idle_since;
  // Set by the worker whenever it gets on (a file started or finished, a
  // state change, a pass of its loop); a worker with a run that has not set
  // it for midipipe.stall_timeout is stalled: the supervisor sets
  // stalled_since (and logs it) until it moves again.
  TimestampTz last_progress;
  TimestampTz stalled_since;
  char current_path[MP_PATH_LEN];
};

struct MpRunSlot {
  bool in_use;        // slot holds a run (active or recently ended)
  bool finished;      // the run ended; state is final
  uint32 generation;  // bumped each time the slot is handed out
  Oid dboid;          // run's database
  Oid roleoid;        // run's role (caller of midipipe_import)
  int64 run_id;
  char root[MAXPGPATH];
  MpRunOptions options;   // as in midipipe_runs.options; options.workers: workers requested
  int workers_granted;    // -1: not processed by the supervisor yet
  int state;              // MpRunState
  bool cancel_requested;  // stop the run: the scanner finalizes it
  bool fail_requested;    // with cancel_requested: end as 'failed' with error
  bool scan_done;
  bool row_written;   // the scanner has inserted/seen the midipipe_runs row
  bool new_run;       // made by midipipe_import (not resumed): no midipipe_runs row yet
  pid_t scanner_pid;  // the run's scanner (bgworker "midipipe scanner")
  Latch* scanner_latch;
  int scanner_starts;    // scanner processes started for this run
  int64 files_found;     // manifest rows
  int64 files_done;      // live: files finished (including rolled-back batches' progress)
  int64 files_failed;    // live
  int64 bytes_read;      // live
  int64 done_committed;  // committed ok + duplicate + unchanged + failed
  int64 files_ok;        // committed (mirror of midipipe_runs)
  int64 files_duplicate;
  int64 files_unchanged;
  int64 files_failed_committed;
  TimestampTz started_at;
  TimestampTz finished_at;
  char error[MP_ERR_LEN];
};

struct MpPool {
  bool in_use;
  Oid dboid;
  int target;           // warm floor set by midipipe_pool_start/resize
  bool stopped;         // midipipe_pool_stop: no floor (not even min_workers) until pool_start
  bool trim_requested;  // supervisor: stop idle workers above the target once
  int start_failures;   // consecutive workers that never became ready
  // The supervisor looks the database up (at most every kDbCheckMs) while
  // workers fail to start in it: gone, it forgets the pool; refusing
  // connections (ALLOW_CONNECTIONS false), it says so once and waits.
  TimestampTz db_checked_at;
  bool no_connections;  // the last look found datallowconn false (logged once)
  // The pool's spare scanner: a "midipipe scanner" process that the
  // supervisor starts while the pool is warm, connected to dboid ahead of any
  // run, so that a run on a warm pool does not wait for a process to start.
  // The supervisor hands it a run (spare_assigned, spare_run); it takes the
  // run (clearing spare_assigned, spare_pid and spare_latch) and from then on
  // is that run's scanner. See supervisor.cpp and scanner.cpp.
  uint32 spare_generation;  // bumped for each spare the supervisor starts
  pid_t spare_pid;          // 0 until the spare attached, and once it took its run
  Latch* spare_latch;
  bool spare_assigned;  // spare_run is handed to the spare and not taken yet
  int spare_run;        // run slot (with spare_assigned)
  uint32 spare_run_generation;
};

constexpr int MP_MAX_YIELD_TOKENS = 64;

// A database the pool must leave alone for a while: DROP DATABASE and ALTER
// DATABASE ... RENAME (which fail while other sessions are connected) hold it
// from the ProcessUtility hook (dbhold.cpp). The supervisor stops every pool
// process connected to it, starts none, and sets `quiet` once none is left.
// After a DROP (`gone`) it forgets the database's pool and runs.
constexpr int MP_MAX_HELD_DBS = 8;

struct MpHeldDb {
  Oid dboid;     // InvalidOid = free entry
  pid_t holder;  // the backend running the command; 0 once it finished
  bool quiet;    // set by the supervisor: no pool process is connected to dboid
  bool gone;     // the database was dropped: forget it
};

struct MpYieldToken {
  int holder;           // worker slot index, -1 when free
  uint32 holder_gen;    // that slot's generation when it took the token
  TimestampTz free_at;  // a released token may be taken again from then on
};

struct MpShared {
  LWLock* lock;
  pid_t supervisor_pid;
  Latch* supervisor_latch;
  int nworkers;  // number of worker slots (max_worker_processes)
  uint32 next_generation;
  MpPool pools[MP_MAX_POOLS];
  MpRunSlot runs[MP_MAX_RUNS];
  // Broadcast when runs[i] is granted workers or ends, so that the backends
  // waiting for it (midipipe_import, midipipe_wait) wake at once. Kept apart
  // from runs[] because a run slot is reset with memset when it is reused,
  // which must never touch a condition variable someone sleeps on.
  ConditionVariable run_cv[MP_MAX_RUNS];
  // Broadcast when a worker becomes ready or leaves (midipipe_pool_* wait on it).
  ConditionVariable pool_cv;
  // While workers yield to client sessions (yield.cpp), a worker works only
  // while it holds one of these; a released token rests before it is free.
  MpYieldToken yield_tokens[MP_MAX_YIELD_TOKENS];
  MpHeldDb held[MP_MAX_HELD_DBS];
  // followed by MpWorkerSlot[nworkers]
};

extern MpShared* mp_shared;

inline MpWorkerSlot* mp_worker_slot(int i) {
  return reinterpret_cast<MpWorkerSlot*>(reinterpret_cast<char*>(mp_shared) +
                                         MAXALIGN(sizeof(MpShared))) +
         i;
}

Size mp_shmem_size();
void mp_shmem_startup();

// ERROR (with HINT) unless the library was loaded through shared_preload_libraries.
void mp_require_preload();

// Wake the supervisor (no lock needed).
void mp_wake_supervisor();

// Wake the backends waiting for run slot r (no lock needed; call it after
// releasing mp_shared->lock).
void mp_run_changed(int run_slot);

// Helpers, called with mp_shared->lock held.
MpPool* mp_pool_find_locked(Oid dboid, bool create);
int mp_pool_floor_locked(Oid dboid);  // workers the pool keeps warm in dboid
int mp_workers_in_db_locked(Oid dboid, bool count_stopping);
int mp_run_workers_locked(int run_slot);  // workers assigned to a run
MpRunSlot* mp_run_find_locked(Oid dboid, int64 run_id);
bool mp_db_held_locked(Oid dboid);  // DROP/RENAME DATABASE in progress (or dropped)
int mp_run_alloc_locked();          // -1 when all slots hold active runs

const char* mp_run_state_name(int state);
const char* mp_worker_state_name(int state);

// Background worker entry points (bgw_function_name).
extern "C" {
PGDLLEXPORT void midipipe_supervisor_main(Datum arg);
PGDLLEXPORT void midipipe_worker_main(Datum arg);
PGDLLEXPORT void midipipe_scanner_main(Datum arg);
PGDLLEXPORT void midipipe_spare_main(Datum arg);
PGDLLEXPORT void midipipe_resume_main(Datum arg);
}

// Registers the static supervisor (from _PG_init, postmaster only).
void mp_register_supervisor();

// dbhold.cpp: installs the ProcessUtility hook (DROP DATABASE, ALTER DATABASE RENAME).
void mp_install_utility_hook();

// yield.cpp: called by a busy worker after each file; rests while client
// sessions are busy (midipipe.yield_share, midipipe.yield_tps)
void mp_yield_point(int slot);
// gives back the CPU token a worker holds, if any (end of a batch, exit)
void mp_yield_release();

// A process's own transaction (a background worker between its tasks):
// started, SPI connected, a snapshot pushed. mp_end_spi_tx() undoes the three
// and commits, or aborts when commit is false.
void mp_begin_spi_tx();
void mp_end_spi_tx(bool commit);

// Catalog helpers (need an open transaction).
Oid mp_extension_schema();  // InvalidOid when the extension is not installed here
// The extension's schema, or ERROR when the extension is not installed here.
Oid mp_require_extension_schema();
// SPI_execute_with_args of fmt (every %s the schema nspoid, see
// mp_with_schema) with one bigint parameter $1 = id; returns SPI's code.
int mp_spi_exec_id(Oid nspoid, const char* fmt, int64 id, bool read_only, long count);
// The extension's SQL from C++ resolves nothing through a schema others may
// create in (README "Threat model"): search_path is pg_catalog, pg_temp (no
// function or operator is ever looked up in pg_temp) and every extension
// object is named with its schema (mp_with_schema).
// SET LOCAL search_path = pg_catalog, pg_temp (for SPI in a worker's own
// transaction; nspoid is unused, kept for the callers).
void mp_set_local_search_path(Oid nspoid);
// The same for SPI inside a caller's transaction: until mp_pop_search_path
// (or the end of the (sub)transaction), then the caller's value again.
int mp_push_search_path();
void mp_pop_search_path(int nest_level);
// fmt with every "%s" replaced by the quoted name of schema nspoid (palloc'd).
char* mp_with_schema(Oid nspoid, const char* fmt);
// The same with the schema's name already quoted (quote_identifier).
char* mp_with_quoted_schema(const char* quoted, const char* fmt);
// The owner of the extension's tables: the extension's own rows (runs and
// their manifest) are written as this role, never as the importing role.
Oid mp_tables_owner(Oid nspoid);
