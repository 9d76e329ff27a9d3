// midipipe: workers yield the CPU to client sessions.
//
// Niceness is not enough: on a small machine (measured on the 2-core
// development VM, kernel 6.x) two CPU-bound processes at nice 10, or even
// SCHED_IDLE, cut a 2-client pgbench to a fifth of its throughput, because a
// latency-bound session waits for a CPU at every step of its round trips.
// Only leaving the CPUs idle helps. So, while client sessions are busy,
// the workers rest between files: together they keep their busy time to
// midipipe.yield_share of the CPUs this server may use.
//
// "Busy" is measured from the client backends' local transaction ids
// (PGPROC->lxid grows by one per transaction): a sample every kSampleMs
// counts the transactions that started since the previous one, in regular
// backends only (not background workers, autovacuum or midipipe itself), and
// the counts are judged over windows of kWindowMs. At midipipe.yield_tps
// transactions per second or more, a worker yields for the next kHoldMs. A
// session that polls midipipe_stats now and then, or a long analytic query,
// does not make the workers yield; OLTP traffic does.
//
// Reading lxid and pid without a lock is a benign race: a torn or stale value
// only makes one sample's count a little off.
#include <sched.h>
#include <unistd.h>

#include <algorithm>

#include "shmem.hpp"

extern "C" {
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
}

namespace {

constexpr long kSampleMs = 50;    // how often a worker counts client transactions
constexpr long kWindowMs = 500;   // the rate is judged over this long (a burst is not traffic)
constexpr long kHoldMs = 1000;    // yield this long after the last busy sample
constexpr long kQuantumMs = 20;   // work stretch between two rests
constexpr long kMaxRestMs = 500;  // one rest at most (then work a quantum again)

struct Seen {
  int pid;
  LocalTransactionId lxid;
};

Seen* seen = nullptr;  // one per PGPROC of a regular backend, MaxBackends of them
TimestampTz last_sample = 0;
TimestampTz window_start = 0;
int64 window_n = 0;
TimestampTz yield_until = 0;
TimestampTz stretch_start = 0;
int cpus = 0;

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

// Client transactions started since the previous sample.
int64 count_client_transactions() {
  int64 n = 0;
  for (int i = 0; i < MaxBackends; i++) {
    const volatile PGPROC* p = &ProcGlobal->allProcs[i];
    const int pid = p->pid;
    const LocalTransactionId lxid = p->lxid;
    const bool client = pid != 0 && !p->isBackgroundWorker &&
                        (p->statusFlags & PROC_IS_AUTOVACUUM) == 0 && pid != MyProcPid;
    if (client && seen[i].pid == pid && lxid != seen[i].lxid)
      n += static_cast<uint32>(lxid - seen[i].lxid);
    seen[i].pid = client ? pid : 0;
    seen[i].lxid = lxid;
  }
  return n;
}

int busy_workers() {
  int n = 0;
  LWLockAcquire(mp_shared->lock, LW_SHARED);
  for (int i = 0; i < mp_shared->nworkers; i++) {
    const int s = mp_worker_slot(i)->state;
    if (s == MP_W_BUSY || s == MP_W_CHECKOUT || s == MP_W_YIELDING) n++;
  }
  LWLockRelease(mp_shared->lock);
  return std::max(n, 1);
}

void set_state(MpWorkerSlot* w, int state) {
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  if (w->state == MP_W_BUSY || w->state == MP_W_YIELDING) w->state = state;
  LWLockRelease(mp_shared->lock);
}

}  // namespace

void mp_yield_point(MpWorkerSlot* w) {
  if (mp_yield_share >= 1.0) return;
  if (seen == nullptr) {
    seen = static_cast<Seen*>(MemoryContextAllocZero(TopMemoryContext, sizeof(Seen) * MaxBackends));
    cpus = usable_cpus();
  }
  const TimestampTz now = GetCurrentTimestamp();
  if (stretch_start == 0) stretch_start = now;
  if (TimestampDifferenceExceeds(last_sample, now, kSampleMs)) {
    // a long pause between samples (a worker between runs) would dilute the rate:
    // such a sample only starts a new window
    const bool restart = last_sample == 0 || TimestampDifferenceExceeds(last_sample, now, 1000);
    const int64 n = count_client_transactions();
    last_sample = now;
    if (restart) {
      window_start = now;
      window_n = 0;
    } else {
      window_n += n;
      if (TimestampDifferenceExceeds(window_start, now, kWindowMs)) {
        const double secs = static_cast<double>(now - window_start) / USECS_PER_SEC;
        if (window_n >= mp_yield_tps * secs)
          yield_until = TimestampTzPlusMilliseconds(now, kHoldMs);
        window_start = now;
        window_n = 0;
      }
    }
  }
  if (now >= yield_until) {
    stretch_start = now;
    return;
  }
  const long worked_ms = static_cast<long>((now - stretch_start) / 1000);
  if (worked_ms < kQuantumMs) return;
  // each worker's duty cycle: together the busy workers use yield_share of the CPUs
  const double duty = std::min(1.0, mp_yield_share * cpus / busy_workers());
  if (duty >= 1.0) {
    stretch_start = now;
    return;
  }
  const long rest_ms = std::min(kMaxRestMs, static_cast<long>(worked_ms * (1.0 - duty) / duty));
  set_state(w, MP_W_YIELDING);
  (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, rest_ms,
                  PG_WAIT_EXTENSION);
  ResetLatch(MyLatch);
  set_state(w, MP_W_BUSY);
  stretch_start = GetCurrentTimestamp();
  CHECK_FOR_INTERRUPTS();
}
