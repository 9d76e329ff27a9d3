// midipipe: one batch of a run, the unit of work of a pool worker.
//
// The contract between the pool (worker.cpp, which owns processes, signals,
// transactions and shared memory) and the data side (batch.cpp, which owns
// reading files and writing rows).
#pragma once

extern "C" {
#include "postgres.h"
}

#include <cstdint>

// Called twice per file while a batch runs, so the pool can publish live
// progress (midipipe_stats.current_path, files_done, bytes_read, errors) and
// check for interrupts: before the file is read with bytes_read = -1 (the file
// the worker is on), and after it with what was read. `path` is NUL-terminated
// and valid only during the call.
typedef void (*mp_file_callback)(void* arg, const char* path, int64 bytes_read, bool failed);

struct MpBatchOutcome {
  int64 claimed;    // manifest rows claimed (0: nothing left to claim right now)
  int64 ok;         // new content, analysed
  int64 duplicate;  // content already stored under another path
  int64 unchanged;  // path, size and mtime already recorded: not read
  int64 failed;     // error rows written
  int64 bytes_read;
};

// Claims up to batch_size unfinished paths of run_id from midipipe_queue
// (FOR UPDATE SKIP LOCKED), reads, hashes and analyses each file, writes the
// midipipe_files / midipipe_analysis / midipipe_tracks rows through SPI with
// prepared plans, marks the claimed queue rows done, and adds the counts to
// the run's midipipe_runs row.
//
// Preconditions: a transaction is open, SPI is connected, an active snapshot
// is pushed, and the current user is the run's role (rows are written with the
// caller's privileges). Everything happens in that transaction: the caller
// commits, or aborts and the claimed paths return to the queue.
// Errors about one file never escape: they become that file's error row.
// Errors about the batch as a whole (SPI, constraint) are ereport(ERROR).
MpBatchOutcome mp_process_batch(int64 run_id, int batch_size, uint64 max_file_size,
                                mp_file_callback on_file, void* arg);

// Forgets where this process's last claim ended, so that its next claim starts
// at the run's first unclaimed path: after a batch that was rolled back, it
// retries the same paths at once instead of at the end of the run.
void mp_reset_claim_cursor(void);
