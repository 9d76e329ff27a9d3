// midipipe: one batch of a run (see batch.hpp): claim paths, read, hash and
// analyse the files, write the rows with a handful of set-based statements.
// This file is the driver: mp_process_batch() is the list of the phases,
// each in a batch_*.cpp file (batch_internal.hpp lists them).
//
// Memory and errors: everything here is palloc'd in a per-batch memory
// context, and PostgreSQL errors propagate as usual (the worker aborts the
// transaction and the claimed paths go back to the queue). The only C++
// objects with destructors are the engine's results, which live in
// engine_file() on guard.hpp, so an ERROR while converting them still frees
// them; no C++ exception leaves the engine call.
#include "batch_internal.hpp"
#include "file_read.hpp"
#include "pool_internal.hpp"

extern "C" {
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/memutils.h"

PGDLLEXPORT Datum midipipe__process_batch(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(midipipe__process_batch);
}

using namespace mp_batch;

namespace {

Batch* batch_create(uint64 max_file_size) {
  Batch* b = static_cast<Batch*>(palloc0(sizeof(Batch)));
  b->max_file_size = max_file_size;
  const ColSpec* a = analysis_cols(&b->na);
  for (int c = 0; c < b->na; ++c) col_init(&b->a[c], a[c].type);
  const ColSpec* t = track_cols(&b->nt);
  for (int c = 0; c < b->nt; ++c) col_init(&b->t[c], t[c].type);
  return b;
}

// The files of the batch: new contents, duplicates, unchanged, errors.
void run_batch(Batch* b, int64 run_id, MpBatchOutcome* out, mp_file_callback on_file, void* arg) {
  load_existing(b);                  // the rows already stored for these paths
  read_files(b, out, on_file, arg);  // stat; read and analyse all but the unchanged
  release_changed(b);                // 'ok' rows whose content is going away
  find_duplicates(b, out);           // contents stored already, or twice in the batch
  write_files(b, run_id);            // midipipe_files
  write_analysis(b, out);            // midipipe_analysis, _tracks, _chords
  for (int i = 0; i < b->n; ++i)
    if (b->f[i].state == FS_DUPLICATE) ++out->duplicate;
  finish_claim(b, run_id, *out);  // the queue rows done, the run's counts
}

}  // namespace

void mp_reset_claim_cursor(void) { reset_claim_cursor(); }

MpBatchOutcome mp_process_batch(int64 run_id, int batch_size, uint64 max_file_size,
                                mp_file_callback on_file, void* arg) {
  MpBatchOutcome out = {0, 0, 0, 0, 0, 0};
  check_plans();
  g_owner = mp_tables_owner(mp_extension_schema());
  text_setup();
  MemoryContext batch_cxt =
      AllocSetContextCreate(CurrentMemoryContext, "midipipe batch", ALLOCSET_DEFAULT_SIZES);
  MemoryContext old_cxt = MemoryContextSwitchTo(batch_cxt);

  Batch* b = batch_create(max_file_size);
  read_run_options(b, run_id);
  claim_files(b, run_id, batch_size);
  out.claimed = b->n;
  if (b->n > 0) run_batch(b, run_id, &out, on_file, arg);

  MemoryContextSwitchTo(old_cxt);
  MemoryContextDelete(batch_cxt);
  return out;
}

// ------------------------------------------------------------------ SQL helper

// midipipe__process_batch(run_id, batch_size, max_file_size): one batch in
// this backend, as the current user (internal; tests and debugging).
Datum midipipe__process_batch(PG_FUNCTION_ARGS) {
  mp_require_preload();
  mp_require_read_server_files();
  if (PG_ARGISNULL(0))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("run_id must not be NULL")));
  const int64 run_id = PG_GETARG_INT64(0);
  const int batch_size = PG_ARGISNULL(1) ? mp_batch_size : PG_GETARG_INT32(1);
  uint64 max_size = static_cast<uint64>(mp_max_file_size_kb) * 1024;
  if (!PG_ARGISNULL(2)) max_size = static_cast<uint64>(std::max<int64>(PG_GETARG_INT64(2), 0));

  TupleDesc td;
  if (get_call_result_type(fcinfo, nullptr, &td) != TYPEFUNC_COMPOSITE)
    elog(ERROR, "midipipe: return type must be a row type");
  td = BlessTupleDesc(td);

  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "midipipe: SPI_connect failed");
  const int guc_level = mp_push_search_path();  // as the pool's workers run it
  const MpBatchOutcome o = mp_process_batch(run_id, batch_size, max_size, nullptr, nullptr);
  mp_pop_search_path(guc_level);
  SPI_finish();

  Datum values[6] = {Int64GetDatum(o.claimed),   Int64GetDatum(o.ok),
                     Int64GetDatum(o.duplicate), Int64GetDatum(o.unchanged),
                     Int64GetDatum(o.failed),    Int64GetDatum(o.bytes_read)};
  bool nulls[6] = {false, false, false, false, false, false};
  PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(td, values, nulls)));
}
