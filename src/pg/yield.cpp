// midipipe: workers yield the CPU to client sessions.
//
// Niceness is not enough: on a small machine (measured on the 2-core
// development VM, kernel 6.x) two CPU-bound processes at nice 10, or even
// SCHED_IDLE, cut a 2-client pgbench to a fifth of its throughput, because a
// latency-bound session waits for a CPU at every step of its round trips.
// Only leaving the CPUs idle helps. So, while client sessions are busy, the
// workers together use at most midipipe.yield_share of the CPUs this server
// may run on, and never more CPUs at once than that share rounds down to (at
// least one): a worker works only while it holds one of K = max(1,
// floor(share * cpus)) CPU tokens, gives its token back after a quantum of
// work, and a token given back rests so that it is held a fraction
// share * cpus / K of the time. On 2 cores with the default 0.25: one worker
// at a time, working half the time, so a client always finds a CPU free.
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

#include "pool_internal.hpp"

extern "C" {
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
}

namespace {

constexpr long kSampleMs = 50;       // how often a worker counts client transactions
constexpr long kWindowMs = 500;      // the rate is judged over this long (a burst is not traffic)
constexpr long kHoldMs = 1000;       // yield this long after the last busy window
constexpr long kRememberMs = 10000;  // after a pause, traffic this recent still counts
constexpr long kQuantumMs = 20;      // work stretch between two rests
constexpr long kMaxRestMs = 500;     // one rest at most (then work a quantum again)

struct Seen {
  int pid;
  LocalTransactionId lxid;
};

Seen* seen = nullptr;  // one per PGPROC of a regular backend, MaxBackends of them
TimestampTz last_sample = 0;
TimestampTz window_start = 0;
int64 window_n = 0;
TimestampTz yield_until = 0;
TimestampTz last_busy = 0;  // end of the last window with client traffic
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

// Client transactions started since the previous sample. A backend's lxid is
// 0 between its transactions (PGPROC holds it only while one runs), so each
// backend's last nonzero value is kept, and a backend counts from the second
// time it is seen inside a transaction.
int64 count_client_transactions() {
  int64 n = 0;
  for (int i = 0; i < MaxBackends; i++) {
    const volatile PGPROC* p = &ProcGlobal->allProcs[i];
    const int pid = p->pid;
    const LocalTransactionId lxid = p->lxid;
    const bool client = pid != 0 && !p->isBackgroundWorker &&
                        (p->statusFlags & PROC_IS_AUTOVACUUM) == 0 && pid != MyProcPid;
    if (!client) {
      seen[i].pid = 0;
      continue;
    }
    if (seen[i].pid != pid) {  // a new session in this slot
      seen[i].pid = pid;
      seen[i].lxid = lxid;
      continue;
    }
    if (lxid == InvalidLocalTransactionId) continue;  // between transactions
    if (seen[i].lxid != InvalidLocalTransactionId) {
      const uint32 d = static_cast<uint32>(lxid - seen[i].lxid);
      if (d < (1U << 30)) n += d;  // (a torn read is not a billion transactions)
    }
    seen[i].lxid = lxid;
  }
  return n;
}

// The tokens (in shared memory, under mp_shared->lock). A token whose holder
// slot was freed or handed out again is free: a worker that died holding one
// does not keep it.
bool holder_alive_locked(const MpYieldToken& t) {
  if (t.holder < 0 || t.holder >= mp_shared->nworkers) return false;
  const MpWorkerSlot* w = mp_worker_slot(t.holder);
  return w->state != MP_W_FREE && w->generation == t.holder_gen;
}

int my_token = -1;
int my_slot_idx = -1;

// Takes a free, rested token among the first k; else returns how long to wait (ms).
long try_take(int slot, int k, TimestampTz now) {
  long wait_ms = kQuantumMs;
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  const uint32 gen = mp_worker_slot(slot)->generation;
  for (int i = 0; i < k && my_token < 0; i++) {
    MpYieldToken& t = mp_shared->yield_tokens[i];
    if (holder_alive_locked(t)) continue;
    if (now >= t.free_at) {
      t.holder = slot;
      t.holder_gen = gen;
      my_token = i;
    } else {
      wait_ms = std::min(wait_ms, static_cast<long>((t.free_at - now) / 1000) + 1);
    }
  }
  LWLockRelease(mp_shared->lock);
  return my_token >= 0 ? 0 : wait_ms;
}

void give_back(TimestampTz free_at) {
  if (my_token < 0) return;
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  MpYieldToken& t = mp_shared->yield_tokens[my_token];
  if (t.holder == my_slot_idx) {
    t.holder = -1;
    t.free_at = free_at;
  }
  LWLockRelease(mp_shared->lock);
  my_token = -1;
}

void set_state(int slot, int state) {
  LWLockAcquire(mp_shared->lock, LW_EXCLUSIVE);
  MpWorkerSlot* w = mp_worker_slot(slot);
  if (w->state == MP_W_BUSY || w->state == MP_W_YIELDING) w->state = state;
  w->last_progress = GetCurrentTimestamp();  // resting is not a stall
  LWLockRelease(mp_shared->lock);
}

void rest(int slot, long ms) {
  set_state(slot, MP_W_YIELDING);
  (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, std::max(ms, 1L),
                  PG_WAIT_EXTENSION);
  ResetLatch(MyLatch);
  set_state(slot, MP_W_BUSY);
  CHECK_FOR_INTERRUPTS();
}

// The share of the time a token is held (its duty cycle), and how many tokens.
double token_duty(int* k) {
  const double allowed = mp_yield_share * cpus;  // CPUs the workers may use together
  *k = std::clamp(static_cast<int>(allowed), 1, MP_MAX_YIELD_TOKENS);
  return std::min(1.0, allowed / *k);
}

// When a token is given back after worked_ms of work, it rests this long.
long rest_after(long worked_ms, double duty) {
  return std::min(kMaxRestMs,
                  static_cast<long>(static_cast<double>(worked_ms) * (1.0 - duty) / duty));
}

}  // namespace

// At the end of a batch: the token rests for the batch's writes too, which
// ran after the last file's yield point.
void mp_yield_release() {
  if (my_token < 0) return;
  const TimestampTz now = GetCurrentTimestamp();
  int k;
  const double duty = token_duty(&k);
  const long worked_ms = static_cast<long>((now - stretch_start) / 1000);
  give_back(now < yield_until ? TimestampTzPlusMilliseconds(now, rest_after(worked_ms, duty))
                              : now);
}

void mp_yield_point(int slot) {
  my_slot_idx = slot;
  if (mp_yield_share >= 1.0) {
    mp_yield_release();
    return;
  }
  if (seen == nullptr) {
    seen = static_cast<Seen*>(MemoryContextAllocZero(TopMemoryContext, sizeof(Seen) * MaxBackends));
    cpus = usable_cpus();
  }
  TimestampTz now = GetCurrentTimestamp();
  if (TimestampDifferenceExceeds(last_sample, now, kSampleMs)) {
    // a long pause between samples (a worker between runs) would dilute the rate:
    // such a sample only starts a new window
    const bool restart = last_sample == 0 || TimestampDifferenceExceeds(last_sample, now, 1000);
    const int64 n = count_client_transactions();
    last_sample = now;
    if (restart) {
      // traffic seen shortly before this pause (between two runs, say) is
      // assumed to go on until a window says otherwise
      if (last_busy != 0 && !TimestampDifferenceExceeds(last_busy, now, kRememberMs))
        yield_until = TimestampTzPlusMilliseconds(now, kWindowMs);
      window_start = now;
      window_n = 0;
    } else {
      window_n += n;
      if (TimestampDifferenceExceeds(window_start, now, kWindowMs)) {
        const double secs = static_cast<double>(now - window_start) / USECS_PER_SEC;
        if (static_cast<double>(window_n) >= mp_yield_tps * secs) {
          yield_until = TimestampTzPlusMilliseconds(now, kHoldMs);
          last_busy = now;
        }
        window_start = now;
        window_n = 0;
      }
    }
  }
  if (now >= yield_until) {
    mp_yield_release();
    return;
  }
  int k;
  const double duty = token_duty(&k);
  if (my_token >= 0) {
    const long worked_ms = static_cast<long>((now - stretch_start) / 1000);
    if (worked_ms < kQuantumMs) return;
    give_back(TimestampTzPlusMilliseconds(now, rest_after(worked_ms, duty)));
  }
  // wait for a token (the one just given back rests first)
  for (;;) {
    const long wait_ms = try_take(slot, k, now);
    if (wait_ms == 0) break;
    rest(slot, wait_ms);
    now = GetCurrentTimestamp();
  }
  stretch_start = GetCurrentTimestamp();
}
