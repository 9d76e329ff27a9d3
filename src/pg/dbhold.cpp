// midipipe: DROP DATABASE and ALTER DATABASE ... RENAME with a warm pool.
//
// Both commands fail while other sessions are connected to the database
// ("being accessed by other users"); PostgreSQL stops autovacuum workers for
// them, and users expect the same of the pool. A ProcessUtility hook (chained
// to any previous one) holds the database in shared memory (MpShared::held)
// before the command runs, when the caller owns the database (anyone else
// gets the command's own permission error and leaves the pool alone): the
// supervisor stops the pool's workers, spare and scanners there, starts
// none, and says when none is left; the hook waits for that (at most
// kQuietWaitMs), then runs the command. After a DROP the supervisor forgets
// the database's pool and runs; after a RENAME, or when the command fails,
// the hold ends and the pool comes back (runs resume where they were).
// Autovacuum workers in the database are stopped too (see
// pool_or_autovacuum_in: a FORCE drop by an owner fails on them otherwise).
#include <signal.h>

#include "pool_internal.hpp"

extern "C" {
#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/condition_variable.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/timestamp.h"
}

namespace {

constexpr int kQuietWaitMs = 10000;

ProcessUtility_hook_type prev_utility_hook = nullptr;

// The database a DROP DATABASE / ALTER DATABASE RENAME by its owner is about
// to act on, or InvalidOid.
Oid target_database(Node* tree, bool* dropping) {
  const char* name = nullptr;
  *dropping = false;
  if (IsA(tree, DropdbStmt)) {
    name = castNode(DropdbStmt, tree)->dbname;
    *dropping = true;
  } else if (IsA(tree, RenameStmt) && castNode(RenameStmt, tree)->renameType == OBJECT_DATABASE) {
    name = castNode(RenameStmt, tree)->subname;
  }
  // DROP DATABASE refuses to run in a transaction block: nothing to stop
  if (name == nullptr || (*dropping && IsTransactionBlock())) return InvalidOid;
  Oid db = get_database_oid(name, true);
  // the command refuses these itself: nothing to stop
  if (!OidIsValid(db) || db == MyDatabaseId || !pg_database_ownercheck(db, GetUserId()))
    return InvalidOid;
  return db;
}

// (not inlined: its loop variable would live across the caller's setjmp)
__attribute__((noinline)) int hold(Oid db) {
  int slot = -1;
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  for (int i = 0; i < MP_MAX_HELD_DBS && slot < 0; i++) {
    if (OidIsValid(mp_shared->held[i].dboid)) continue;
    slot = i;
    mp_shared->held[i] = {db, MyProcPid, false, false};
  }
  LWLockRelease(mp_shared->lock);
  mp_wake_supervisor();
  return slot;
}

// Ends the hold: after a DROP, the supervisor forgets the database and frees
// the entry; otherwise the entry is freed at once.
void release(int slot, bool gone) {
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  MpHeldDb* h = &mp_shared->held[slot];
  if (h->holder == MyProcPid) {
    if (gone) {
      h->holder = 0;
      h->gone = true;
    } else {
      *h = {InvalidOid, 0, false, false};
    }
  }
  LWLockRelease(mp_shared->lock);
  mp_wake_supervisor();
}

// True while a process of the pool or an autovacuum worker is still in the
// database's ProcArray entries; autovacuum workers there get SIGTERM.
//  - The supervisor's verdict rests on its handles and the pids the
//    processes publish; a process clears its pid on the way out before it
//    leaves the ProcArray, so the hook also waits for these last
//    milliseconds.
//  - DROP DATABASE ... WITH (FORCE) by an owner who is not a superuser fails
//    on any process whose role it cannot signal, and neither the pool's
//    processes nor autovacuum workers have a role: PostgreSQL 15 terminates
//    autovacuum workers only later, in the check that follows FORCE. An
//    import leaves tables that autovacuum visits, so this is done here, as
//    that check does it (it sends SIGTERM to them for every DROP or RENAME
//    of a database anyway).
bool pool_or_autovacuum_in(Oid db) {
  pid_t pids[64];
  bool autovacuum[64];
  int n = 0;
  LWLockAcquire(ProcArrayLock, LW_SHARED);
  for (uint32 i = 0; i < ProcGlobal->allProcCount && n < 64; i++) {
    const PGPROC* proc = &ProcGlobal->allProcs[i];
    if (proc->pid == 0 || proc == MyProc || proc->databaseId != db) continue;
    const bool av = (proc->statusFlags & PROC_IS_AUTOVACUUM) != 0;
    if (!av && !proc->isBackgroundWorker) continue;
    autovacuum[n] = av;
    pids[n++] = proc->pid;
  }
  LWLockRelease(ProcArrayLock);
  bool found = false;
  for (int i = 0; i < n; i++) {
    if (autovacuum[i]) {
      (void)kill(pids[i], SIGTERM);
      found = true;
      continue;
    }
    const char* type = GetBackgroundWorkerTypeByPid(pids[i]);
    if (type != nullptr && strncmp(type, "midipipe ", 9) == 0) found = true;
  }
  return found;
}

// Waits until the supervisor says no pool process is connected to the held
// database and none (nor an autovacuum worker) is left in the ProcArray (or kQuietWaitMs: the
// command then reports who is still there).
void wait_quiet(int slot, Oid db) {
  TimestampTz start = GetCurrentTimestamp();
  ConditionVariablePrepareToSleep(&mp_shared->pool_cv);
  for (;;) {
    LWLockAcquire(mp_shared->lock, LW_SHARED);
    bool quiet = mp_shared->held[slot].quiet;
    bool supervisor = mp_shared->supervisor_pid != 0;
    LWLockRelease(mp_shared->lock);
    if ((quiet || !supervisor) && !pool_or_autovacuum_in(db)) break;
    if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), kQuietWaitMs)) break;
    (void)ConditionVariableTimedSleep(&mp_shared->pool_cv, 10, PG_WAIT_EXTENSION);
    CHECK_FOR_INTERRUPTS();
  }
  ConditionVariableCancelSleep();
}

void chain(PlannedStmt* pstmt, const char* query, bool read_only_tree,
           ProcessUtilityContext context, ParamListInfo params, QueryEnvironment* env,
           DestReceiver* dest, QueryCompletion* qc) {
  if (prev_utility_hook != nullptr)
    prev_utility_hook(pstmt, query, read_only_tree, context, params, env, dest, qc);
  else
    standard_ProcessUtility(pstmt, query, read_only_tree, context, params, env, dest, qc);
}

void utility_hook(PlannedStmt* pstmt, const char* query, bool read_only_tree,
                  ProcessUtilityContext context, ParamListInfo params, QueryEnvironment* env,
                  DestReceiver* dest, QueryCompletion* qc) {
  bool drop = false;
  Oid db = mp_shared != nullptr ? target_database(pstmt->utilityStmt, &drop) : InvalidOid;
  // read after a longjmp: not in registers
  const volatile int slot = OidIsValid(db) ? hold(db) : -1;
  const volatile bool dropping = drop;
  if (slot < 0) {
    chain(pstmt, query, read_only_tree, context, params, env, dest, qc);
    return;
  }
  PG_TRY();
  {
    wait_quiet(slot, db);
    chain(pstmt, query, read_only_tree, context, params, env, dest, qc);
  }
  PG_CATCH();
  {
    release(slot, false);
    PG_RE_THROW();
  }
  PG_END_TRY();
  release(slot, dropping);
}

}  // namespace

void mp_install_utility_hook() {
  prev_utility_hook = ProcessUtility_hook;
  ProcessUtility_hook = utility_hook;
}
