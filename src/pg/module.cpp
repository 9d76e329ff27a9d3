// midipipe: module initialisation: GUCs, shared memory hooks, the supervisor's
// registration, and the shared_preload_libraries check every function makes.
#include "guard.hpp"
#include "metrics.hpp"
#include "pool_internal.hpp"
#include "stop.hpp"

extern "C" {
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void);
PGDLLEXPORT Datum midipipe_check_preload(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(midipipe_check_preload);
}

int mp_max_workers = 8;
int mp_min_workers = 0;
char* mp_database = nullptr;
int mp_acquire_timeout_ms = 30000;
int mp_idle_timeout_s = -1;
int mp_max_lifetime_s = -1;
bool mp_test_on_checkout = true;
int mp_batch_size = 500;
int mp_max_file_size_kb = 64 * 1024;
int mp_worker_nice = 10;
double mp_yield_share = 0.25;
int mp_yield_tps = 50;
bool mp_analysis_depth = true;
bool mp_content_search = true;  // read by the workers (batch_engine.cpp), docs/content.md
int mp_stall_timeout_s = 60;

static bool mp_preloaded = false;
static shmem_request_hook_type prev_shmem_request_hook = nullptr;
static shmem_startup_hook_type prev_shmem_startup_hook = nullptr;

static void mp_shmem_request() {
  if (prev_shmem_request_hook) prev_shmem_request_hook();
  RequestAddinShmemSpace(mp_shmem_size());
  RequestAddinShmemSpace(mp_metrics_shmem_size());
  RequestNamedLWLockTranche("midipipe", 1);
}

static void mp_shmem_startup_hook() {
  if (prev_shmem_startup_hook) prev_shmem_startup_hook();
  mp_shmem_startup();
  mp_metrics_shmem_startup();
}

void mp_warn_if_workers_do_not_fit() {
  if (mp_max_workers + 2 > max_worker_processes)
    ereport(WARNING,
            (errmsg("midipipe: midipipe.max_workers (%d) + 2 utility processes do not fit in "
                    "max_worker_processes (%d)",
                    mp_max_workers, max_worker_processes),
             errhint("Raise max_worker_processes to at least %d (parallel query and logical "
                     "replication need slots of their own), or lower midipipe.max_workers.",
                     mp_max_workers + 2)));
}

void mp_require_preload() {
  if (!mp_preloaded || mp_shared == nullptr)
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("midipipe must be loaded via shared_preload_libraries"),
             errhint("Add midipipe to shared_preload_libraries in postgresql.conf and restart the "
                     "server.")));
}

static void mp_define_gucs() {
  DefineCustomIntVariable("midipipe.max_workers",
                          "Maximum number of midipipe analysis workers (the supervisor and the "
                          "directory scanner come on top).",
                          nullptr, &mp_max_workers, 8, 1, 1024, PGC_SIGHUP, 0, nullptr, nullptr,
                          nullptr);
  DefineCustomIntVariable("midipipe.min_workers",
                          "Number of midipipe workers kept warm in a database that uses the pool.",
                          nullptr, &mp_min_workers, 0, 0, 1024, PGC_SIGHUP, 0, nullptr, nullptr,
                          nullptr);
  DefineCustomStringVariable("midipipe.database",
                             "Database the warm pool connects to at server start ('' = start on "
                             "first use).",
                             nullptr, &mp_database, "", PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("midipipe.acquire_timeout",
                          "How long midipipe_import waits for workers before it fails.", nullptr,
                          &mp_acquire_timeout_ms, 30000, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS,
                          nullptr, nullptr, nullptr);
  DefineCustomIntVariable("midipipe.idle_timeout",
                          "An idle worker above min_workers exits after this (-1 = never).",
                          nullptr, &mp_idle_timeout_s, -1, -1, INT_MAX, PGC_SIGHUP, GUC_UNIT_S,
                          nullptr, nullptr, nullptr);
  DefineCustomIntVariable("midipipe.max_lifetime",
                          "A worker is recycled after this much time (-1 = never; checked "
                          "between batches).",
                          nullptr, &mp_max_lifetime_s, -1, -1, INT_MAX, PGC_SIGHUP, GUC_UNIT_S,
                          nullptr, nullptr, nullptr);
  DefineCustomBoolVariable("midipipe.test_on_checkout",
                           "Workers run SELECT 1 through SPI before each batch.", nullptr,
                           &mp_test_on_checkout, true, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("midipipe.batch_size", "Files per worker transaction.", nullptr,
                          &mp_batch_size, 500, 1, 100000, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("midipipe.max_file_size", "Larger files get an error row, unread.",
                          nullptr, &mp_max_file_size_kb, 64 * 1024, 1, 1024 * 1024, PGC_SIGHUP,
                          GUC_UNIT_KB, nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "midipipe.max_events",
      "Files with more events get an error row (too_many_events); midipipe_analyze() raises "
      "an error.",
      "Events are channel, meta and sysex events of all tracks. The memory of one analysis "
      "(in a pool worker or in midipipe_analyze) is proportional to this limit plus the file.",
      &mp_max_events, static_cast<int>(midipipe::Limits::kDefaultMaxEvents), 1000, INT_MAX,
      PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("midipipe.worker_nice",
                          "CPU niceness of the analysis workers (0 = as the server; 19 = "
                          "yield the most to other backends).",
                          "A worker raises its niceness when it starts and on reload; lowering "
                          "it again takes effect in workers started afterwards.",
                          &mp_worker_nice, 10, 0, 19, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomRealVariable(
      "midipipe.yield_share",
      "Share of the CPUs the analysis workers use, together, while client sessions are busy.",
      "Workers rest between files to keep to it while regular backends run at least "
      "midipipe.yield_tps transactions per second; 1 turns yielding off.",
      &mp_yield_share, 0.25, 0.01, 1.0, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("midipipe.yield_tps",
                          "Client transactions per second from which the workers yield.",
                          "Counted over all regular backends of the server (not background "
                          "workers or autovacuum), sampled every 50 ms.",
                          &mp_yield_tps, 50, 1, INT_MAX, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomBoolVariable("midipipe.analysis_depth",
                           "Imports also analyse chords, drums, performance traits and structure.",
                           "Read when midipipe_import is called and kept with the run. On by "
                           "default; off leaves those columns NULL, for a lighter import.",
                           &mp_analysis_depth, true, PGC_USERSET, 0, nullptr, nullptr, nullptr);
  DefineCustomBoolVariable("midipipe.content_search",
                           "Imports with analysis depth also write the content search columns.",
                           "Fingerprints, melodic lines and Roman-numeral progressions "
                           "(docs/content.md). Read by the pool workers at each batch: off "
                           "leaves those columns NULL.",
                           &mp_content_search, true, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("midipipe.stall_timeout",
                          "A worker busy with a run that makes no progress for this long is "
                          "shown as stalled and logged (0 = never).",
                          "Progress is any file started or finished, or a pass of the worker's "
                          "loop; the worker goes on as before, nothing is stopped.",
                          &mp_stall_timeout_s, 60, 0, INT_MAX / 1000, PGC_SIGHUP, GUC_UNIT_S,
                          nullptr, nullptr, nullptr);
  MarkGUCPrefixReserved("midipipe");
}

void _PG_init(void) {
  mp_define_gucs();
  if (!process_shared_preload_libraries_in_progress) return;
  mp_preloaded = true;

  prev_shmem_request_hook = shmem_request_hook;
  shmem_request_hook = mp_shmem_request;
  prev_shmem_startup_hook = shmem_startup_hook;
  shmem_startup_hook = mp_shmem_startup_hook;

  mp_warn_if_workers_do_not_fit();

  mp_register_supervisor();
  mp_install_utility_hook();
}

Datum midipipe_check_preload(PG_FUNCTION_ARGS) {
  mp_require_preload();
  PG_RETURN_VOID();
}
