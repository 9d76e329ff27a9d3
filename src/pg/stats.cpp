// midipipe: midipipe_stats() (one row per pool worker) and midipipe_run_live()
// (live counters of this database's runs), read from shared memory.
#include "pool_internal.hpp"

extern "C" {
#include "catalog/pg_authid.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

PGDLLEXPORT Datum midipipe_stats(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum midipipe_run_live(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(midipipe_stats);
PG_FUNCTION_INFO_V1(midipipe_run_live);
}

Datum midipipe_stats(PG_FUNCTION_ARGS) {
  mp_require_preload();
  InitMaterializedSRF(fcinfo, 0);
  ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
  bool see_paths = superuser() || has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);

  int n = mp_shared->nworkers;
  MpWorkerSlot* copy = static_cast<MpWorkerSlot*>(palloc(sizeof(MpWorkerSlot) * n));
  int* ids = static_cast<int*>(palloc(sizeof(int) * n));
  int count = 0;
  LWLockAcquire(mp_shared->lock, LW_SHARED);
  for (int i = 0; i < n; i++) {
    MpWorkerSlot* w = mp_worker_slot(i);
    if (w->state == MP_W_FREE) continue;
    copy[count] = *w;
    if (w->run_slot >= 0) {
      MpRunSlot* r = &mp_shared->runs[w->run_slot];
      if (!(r->in_use && r->generation == w->run_generation && !r->finished))
        copy[count].run_slot = -1;
    }
    ids[count++] = i;
  }
  LWLockRelease(mp_shared->lock);

  // 13 columns up to extension version 0.3, 15 from 0.4 (last_progress,
  // stalled_since): the library serves both until ALTER EXTENSION UPDATE.
  const int natts = rsinfo->setDesc->natts;
  if (natts != 13 && natts != 15)
    ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                    errmsg("midipipe_stats() is declared with %d columns; the library knows "
                           "13 or 15",
                           natts),
                    errhint("ALTER EXTENSION midipipe UPDATE")));
  for (int k = 0; k < count; k++) {
    const MpWorkerSlot* w = &copy[k];
    Datum values[15];
    bool nulls[15];
    memset(nulls, 0, sizeof(nulls));
    values[0] = Int32GetDatum(ids[k]);
    values[1] = Int32GetDatum(w->pid);
    nulls[1] = w->pid == 0;
    char* dbname = get_database_name(w->dboid);
    if (dbname != nullptr)
      values[2] = DirectFunctionCall1(namein, CStringGetDatum(dbname));
    else
      nulls[2] = true;
    const bool stalled =
        w->stalled_since != 0 && (w->state == MP_W_BUSY || w->state == MP_W_CHECKOUT);
    values[3] = CStringGetTextDatum(stalled ? "stalled" : mp_worker_state_name(w->state));
    values[4] = Int64GetDatum(w->run_id);
    nulls[4] = w->run_slot < 0;
    values[5] = Int64GetDatum(w->files_done);
    values[6] = Int64GetDatum(w->bytes_read);
    values[7] = Int64GetDatum(w->errors);
    if (see_paths && w->current_path[0] != '\0')
      values[8] = CStringGetTextDatum(w->current_path);
    else
      nulls[8] = true;
    values[9] = TimestampTzGetDatum(w->started_at);
    nulls[9] = w->started_at == 0;
    values[10] = TimestampTzGetDatum(w->last_checkout);
    nulls[10] = w->last_checkout == 0;
    values[11] = Int64GetDatum(w->checkouts);
    values[12] = Int64GetDatum(w->checks_failed);
    values[13] = TimestampTzGetDatum(w->last_progress);
    nulls[13] = w->last_progress == 0;
    values[14] = TimestampTzGetDatum(w->stalled_since);
    nulls[14] = !stalled;
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  return (Datum)0;
}

Datum midipipe_run_live(PG_FUNCTION_ARGS) {
  mp_require_preload();
  InitMaterializedSRF(fcinfo, 0);
  ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);

  struct Row {
    int64 run_id;
    int state;
    int64 done, failed, bytes;
    int workers;
    bool scan_done;
    TimestampTz started_at;
    Oid roleoid;
  };
  Row rows[MP_MAX_RUNS];
  int count = 0;
  LWLockAcquire(mp_shared->lock, LW_SHARED);
  for (int i = 0; i < MP_MAX_RUNS; i++) {
    MpRunSlot* r = &mp_shared->runs[i];
    if (!r->in_use || r->dboid != MyDatabaseId) continue;
    rows[count] = {r->run_id,       r->state,      r->files_done,
                   r->files_failed, r->bytes_read, mp_run_workers_locked(i),
                   r->scan_done,    r->started_at, r->roleoid};
    if (r->finished) rows[count].workers = 0;
    count++;
  }
  LWLockRelease(mp_shared->lock);

  // A run's counts are shown to its role (and roles with its privileges),
  // superusers and members of pg_read_all_stats or pg_read_server_files; its
  // existence and state to everyone (README "Threat model").
  const Oid me = GetUserId();
  const bool see_all = superuser() || has_privs_of_role(me, ROLE_PG_READ_ALL_STATS) ||
                       has_privs_of_role(me, ROLE_PG_READ_SERVER_FILES);
  for (int k = 0; k < count; k++) {
    const bool see = see_all || has_privs_of_role(me, rows[k].roleoid);
    Datum values[8];
    bool nulls[8];
    memset(nulls, 0, sizeof(nulls));
    values[0] = Int64GetDatum(rows[k].run_id);
    values[1] = CStringGetTextDatum(mp_run_state_name(rows[k].state));
    values[2] = Int64GetDatum(rows[k].done);
    values[3] = Int64GetDatum(rows[k].failed);
    values[4] = Int64GetDatum(rows[k].bytes);
    nulls[2] = nulls[3] = nulls[4] = !see;
    values[5] = Int32GetDatum(rows[k].workers);
    values[6] = BoolGetDatum(rows[k].scan_done);
    values[7] = TimestampTzGetDatum(rows[k].started_at);
    nulls[7] = rows[k].started_at == 0;
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  return (Datum)0;
}
