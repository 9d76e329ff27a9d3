// midipipe: shared memory layout and the small helpers that read it, and the
// catalog and SPI helpers (declared in pool_internal.hpp).
#include "pool_internal.hpp"

extern "C" {
#include "access/genam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/snapmgr.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
}

MpShared* mp_shared = nullptr;

Size mp_shmem_size() {
  Size size = MAXALIGN(sizeof(MpShared));
  size = add_size(size, mul_size(sizeof(MpWorkerSlot), (Size)max_worker_processes));
  return size;
}

void mp_shmem_startup() {
  bool found = false;
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  mp_shared = static_cast<MpShared*>(ShmemInitStruct("midipipe", mp_shmem_size(), &found));
  if (!found) {
    memset(static_cast<void*>(mp_shared), 0, mp_shmem_size());
    mp_shared->lock = &(GetNamedLWLockTranche("midipipe"))->lock;
    mp_shared->nworkers = max_worker_processes;
    mp_shared->next_generation = 1;
    for (int i = 0; i < mp_shared->nworkers; i++) {
      MpWorkerSlot* w = mp_worker_slot(i);
      w->state = MP_W_FREE;
      w->run_slot = -1;
    }
    for (int i = 0; i < MP_MAX_RUNS; i++) ConditionVariableInit(&mp_shared->run_cv[i]);
    ConditionVariableInit(&mp_shared->pool_cv);
    for (int i = 0; i < MP_MAX_YIELD_TOKENS; i++) mp_shared->yield_tokens[i].holder = -1;
  }
  LWLockRelease(AddinShmemInitLock);
}

void mp_wake_supervisor() {
  if (mp_shared == nullptr) return;
  Latch* latch = mp_shared->supervisor_latch;
  if (latch != nullptr) SetLatch(latch);
}

void mp_run_changed(int run_slot) {
  if (mp_shared == nullptr || run_slot < 0 || run_slot >= MP_MAX_RUNS) return;
  ConditionVariableBroadcast(&mp_shared->run_cv[run_slot]);
}

MpPool* mp_pool_find_locked(Oid dboid, bool create) {
  MpPool* free_entry = nullptr;
  for (int i = 0; i < MP_MAX_POOLS; i++) {
    MpPool* p = &mp_shared->pools[i];
    if (p->in_use && p->dboid == dboid) return p;
    if (!p->in_use && free_entry == nullptr) free_entry = p;
  }
  if (!create || free_entry == nullptr) return nullptr;
  memset(free_entry, 0, sizeof(*free_entry));
  free_entry->in_use = true;
  free_entry->dboid = dboid;
  return free_entry;
}

bool mp_db_held_locked(Oid dboid) {
  for (const MpHeldDb& h : mp_shared->held)
    if (h.dboid == dboid && OidIsValid(dboid)) return true;
  return false;
}

int mp_pool_floor_locked(Oid dboid) {
  MpPool* p = mp_pool_find_locked(dboid, false);
  if (p == nullptr || p->stopped) return 0;
  int floor = p->target > mp_min_workers ? p->target : mp_min_workers;
  return floor > mp_max_workers ? mp_max_workers : floor;
}

int mp_workers_in_db_locked(Oid dboid, bool count_stopping) {
  int n = 0;
  for (int i = 0; i < mp_shared->nworkers; i++) {
    MpWorkerSlot* w = mp_worker_slot(i);
    if (w->state == MP_W_FREE || w->dboid != dboid) continue;
    if (!count_stopping && (w->state == MP_W_STOPPING || w->stop_requested)) continue;
    n++;
  }
  return n;
}

int mp_run_workers_locked(int run_slot) {
  const MpRunSlot* r = &mp_shared->runs[run_slot];
  int n = 0;
  for (int i = 0; i < mp_shared->nworkers; i++) {
    MpWorkerSlot* w = mp_worker_slot(i);
    if (w->state == MP_W_FREE || w->state == MP_W_STOPPING) continue;
    if (w->run_slot == run_slot && w->run_generation == r->generation) n++;
  }
  return n;
}

MpRunSlot* mp_run_find_locked(Oid dboid, int64 run_id) {
  for (int i = 0; i < MP_MAX_RUNS; i++) {
    MpRunSlot* r = &mp_shared->runs[i];
    if (r->in_use && r->dboid == dboid && r->run_id == run_id) return r;
  }
  return nullptr;
}

int mp_run_alloc_locked() {
  int best = -1;
  for (int i = 0; i < MP_MAX_RUNS; i++) {
    MpRunSlot* r = &mp_shared->runs[i];
    if (!r->in_use) {
      best = i;
      break;
    }
    // A finished run's slot may be reused once no worker or scanner refers to it.
    if (r->finished && r->scanner_pid == 0 && mp_run_workers_locked(i) == 0 &&
        (best < 0 || r->finished_at < mp_shared->runs[best].finished_at))
      best = i;
  }
  if (best < 0) return -1;
  MpRunSlot* r = &mp_shared->runs[best];
  uint32 gen = r->generation + 1;
  memset(r, 0, sizeof(*r));
  r->generation = gen;
  r->in_use = true;
  r->workers_granted = -1;
  return best;
}

const char* mp_run_state_name(int state) {
  switch (state) {
    case MP_R_QUEUED:
      return "queued";
    case MP_R_SCANNING:
      return "scanning";
    case MP_R_RUNNING:
      return "running";
    case MP_R_COMPLETED:
      return "completed";
    case MP_R_CANCELLED:
      return "cancelled";
    case MP_R_FAILED:
      return "failed";
    default:
      return "unknown";
  }
}

const char* mp_worker_state_name(int state) {
  switch (state) {
    case MP_W_STARTING:
      return "starting";
    case MP_W_IDLE:
      return "idle";
    case MP_W_CHECKOUT:
      return "checkout";
    case MP_W_BUSY:
      return "busy";
    case MP_W_STOPPING:
      return "stopping";
    case MP_W_YIELDING:
      return "yielding";
    default:
      return "free";
  }
}

Oid mp_extension_schema() {
  Oid result = InvalidOid;
  Relation rel = table_open(ExtensionRelationId, AccessShareLock);
  ScanKeyData key[1];
  ScanKeyInit(&key[0], Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
              CStringGetDatum("midipipe"));
  SysScanDesc scan = systable_beginscan(rel, ExtensionNameIndexId, true, nullptr, 1, key);
  HeapTuple tuple = systable_getnext(scan);
  if (HeapTupleIsValid(tuple))
    result = reinterpret_cast<Form_pg_extension>(GETSTRUCT(tuple))->extnamespace;
  systable_endscan(scan);
  table_close(rel, AccessShareLock);
  return result;
}

Oid mp_require_extension_schema() {
  const Oid nsp = mp_extension_schema();
  if (!OidIsValid(nsp))
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                    errmsg("extension \"midipipe\" is not installed in this database")));
  return nsp;
}

void mp_begin_spi_tx() {
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "midipipe: SPI_connect failed");
  PushActiveSnapshot(GetTransactionSnapshot());
}

void mp_end_spi_tx(bool commit) {
  SPI_finish();
  PopActiveSnapshot();
  if (commit)
    CommitTransactionCommand();
  else
    AbortCurrentTransaction();
}

int mp_spi_exec_id(Oid nspoid, const char* fmt, int64 id, bool read_only, long count) {
  Oid types[1] = {INT8OID};
  Datum values[1] = {Int64GetDatum(id)};
  return SPI_execute_with_args(mp_with_schema(nspoid, fmt), 1, types, values, nullptr, read_only,
                               count);
}

void mp_set_local_search_path(Oid nspoid) {
  (void)nspoid;
  (void)set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
                          GUC_ACTION_LOCAL, true, 0, false);
}

int mp_push_search_path() {
  int level = NewGUCNestLevel();
  (void)set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
                          GUC_ACTION_SAVE, true, 0, false);
  return level;
}

void mp_pop_search_path(int nest_level) { AtEOXact_GUC(true, nest_level); }

char* mp_with_schema(Oid nspoid, const char* fmt) {
  char* nspname = get_namespace_name(nspoid);
  if (nspname == nullptr) elog(ERROR, "midipipe: the extension's schema is missing");
  return mp_with_quoted_schema(quote_identifier(nspname), fmt);
}

char* mp_with_quoted_schema(const char* quoted, const char* fmt) {
  StringInfoData s;
  initStringInfo(&s);
  for (const char* p = fmt; *p != '\0'; ++p) {
    if (p[0] == '%' && p[1] == 's') {
      appendStringInfoString(&s, quoted);
      ++p;
    } else {
      appendStringInfoChar(&s, *p);
    }
  }
  return s.data;
}

Oid mp_tables_owner(Oid nspoid) {
  Oid rel = get_relname_relid("midipipe_runs", nspoid);
  if (!OidIsValid(rel)) elog(ERROR, "midipipe: table midipipe_runs is missing");
  HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(rel));
  if (!HeapTupleIsValid(tup)) elog(ERROR, "midipipe: cache lookup failed for relation %u", rel);
  Oid owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(tup))->relowner;
  ReleaseSysCache(tup);
  return owner;
}
