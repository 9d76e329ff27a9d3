// midipipe: the engine's StopCheck in the server (see stop.hpp).
#include "stop.hpp"

#include "pool_internal.hpp"

extern "C" {
#include "miscadmin.h"
}

int mp_max_events = static_cast<int>(midipipe::Limits::kDefaultMaxEvents);

namespace {

int watch_slot = -1;
uint32 watch_generation = 0;
bool last_was_run_cancel = false;

bool run_cancelled() {
  if (watch_slot < 0 || mp_shared == nullptr) return false;
  // Read without the lock: two aligned words that only ever flip one way
  // during a run; a stale value delays the stop by one poll at most.
  const volatile MpRunSlot* r = &mp_shared->runs[watch_slot];
  return r->generation != watch_generation || r->cancel_requested;
}

bool should_stop(void*) {
  if (InterruptPending && (QueryCancelPending || ProcDiePending)) return true;
  return run_cancelled();
}

}  // namespace

midipipe::StopCheck mp_engine_stop_check() { return midipipe::StopCheck{should_stop, nullptr}; }

void mp_stop_watch_run(int run_slot, uint32 generation) {
  watch_slot = run_slot;
  watch_generation = generation;
  last_was_run_cancel = false;
}

bool mp_stop_was_run_cancel() { return last_was_run_cancel; }

void mp_engine_stopped() {
  CHECK_FOR_INTERRUPTS();
  // Still here: the pool run was cancelled (midipipe_cancel), or the
  // interrupt is held off for now (it stays pending; the error ends the
  // statement anyway).
  last_was_run_cancel = run_cancelled();
  if (last_was_run_cancel)
    ereport(ERROR, (errcode(ERRCODE_QUERY_CANCELED), errmsg("midipipe: run cancelled")));
  ereport(ERROR,
          (errcode(ERRCODE_QUERY_CANCELED), errmsg("canceling statement due to user request"),
           errdetail("midipipe stopped analysing a file on an interrupt.")));
}
