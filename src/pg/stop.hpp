// midipipe: how the engine learns that it must stop (cancel, statement_timeout,
// pg_terminate_backend, midipipe_cancel), and how the glue then reports it.
//
// The engine (src/midi) never includes server headers and never sees a
// longjmp: it polls a midipipe::StopCheck (Limits::stop) every few thousand
// units of work and, when told to stop, unwinds by returning or throwing
// inside C++ (status Code::cancelled). The glue, outside every C++ frame of
// the engine, then calls mp_engine_stopped(), which runs CHECK_FOR_INTERRUPTS
// (the usual "canceling statement due to ..." or FATAL for a terminate) and,
// when that returns (a pool run cancelled by midipipe_cancel, or an interrupt
// held off), raises a query_canceled ERROR itself.
#pragma once

extern "C" {
#include "postgres.h"
}

#include "smf.hpp"

// The StopCheck for this process: a pending query cancel (pg_cancel_backend,
// statement_timeout, lock_timeout) or termination (pg_terminate_backend,
// postmaster shutdown), or the run being watched (mp_stop_watch_run) being
// cancelled or gone. Reads flags only: safe at any point of the engine.
midipipe::StopCheck mp_engine_stop_check();

// A pool worker watches its run while it processes a batch (slot -1: none).
void mp_stop_watch_run(int run_slot, uint32 generation);
// True when the last mp_engine_stopped() was for the watched run's cancel.
bool mp_stop_was_run_cancel();

// Reports a stop the engine obeyed. Never returns.
[[noreturn]] void mp_engine_stopped();

// midipipe.max_events (the engine's Limits::max_events).
extern int mp_max_events;
