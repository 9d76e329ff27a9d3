// midipipe: the claim side of a batch: the run's options, claiming unfinished
// paths from midipipe_queue (FOR UPDATE SKIP LOCKED, from this process's claim
// cursor), and at the end marking the claimed rows done and appending the
// batch's counts to midipipe_run_counts (the scanner folds them into the run's
// midipipe_runs row).
#include "batch_internal.hpp"

extern "C" {
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
}

namespace mp_batch {
namespace {

// The claim cursor: the last path this process claimed, in run
// g_cursor_run (in TopMemoryContext). A claim takes the first unclaimed paths
// after it, and starts again from the first path of the run when there are
// none: rows before the cursor that are not done (paths the scanner queued
// later, another worker's batch that was rolled back) are claimed then.
int64 g_cursor_run = 0;
char* g_cursor = nullptr;

// Sets the cursor to `path` (copied), or to the run's start (nullptr).
void set_cursor(const char* path) {
  if (g_cursor != nullptr) pfree(g_cursor);
  g_cursor = path != nullptr ? MemoryContextStrdup(TopMemoryContext, path) : nullptr;
}

// Claims up to n paths of the run (P_CLAIM); the rows are in SPI_tuptable.
void claim(int64 run_id, int n) {
  if (g_cursor_run != run_id) set_cursor(nullptr);
  g_cursor_run = run_id;
  for (;;) {
    const bool from_start = g_cursor == nullptr;
    Datum v[3] = {Int64GetDatum(run_id), Int32GetDatum(n),
                  CStringGetTextDatum(from_start ? "" : g_cursor)};
    // an index scan from the cursor, in path order (not a bitmap scan and a
    // sort of every row left, nor a sequential scan)
    exec_scans(P_CLAIM, v, nullptr, SPI_OK_SELECT,
               {"enable_seqscan", "enable_bitmapscan", "enable_sort"});
    if (SPI_processed > 0) {
      bool isnull;
      char* last = TextDatumGetCString(
          SPI_getbinval(SPI_tuptable->vals[SPI_processed - 1], SPI_tuptable->tupdesc, 1, &isnull));
      set_cursor(last);
      pfree(last);
      return;
    }
    if (from_start) return;
    SPI_freetuptable(SPI_tuptable);
    set_cursor(nullptr);
  }
}

}  // namespace

void reset_claim_cursor() { set_cursor(nullptr); }

void read_run_options(Batch* b, int64 run_id) {
  Datum v[1] = {Int64GetDatum(run_id)};
  exec_plan(P_RUN, v, nullptr, SPI_OK_SELECT);
  if (SPI_processed != 1)
    ereport(ERROR, (errcode(ERRCODE_NO_DATA_FOUND),
                    errmsg("midipipe: run " INT64_FORMAT " does not exist", run_id)));
  bool isnull;
  const Datum options = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
  b->options = mp_run_options_from_jsonb(options, isnull);
  SPI_freetuptable(SPI_tuptable);
}

void claim_files(Batch* b, int64 run_id, int n) {
  claim(run_id, std::max(n, 1));
  b->n = static_cast<int>(SPI_processed);
  b->f = static_cast<FileRec*>(palloc0(sizeof(FileRec) * (b->n > 0 ? b->n : 1)));
  for (int i = 0; i < b->n; ++i) {
    bool isnull;
    Datum d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
    FileRec* r = &b->f[i];
    r->path = TextDatumGetCString(d);
    d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
    ItemPointerCopy(reinterpret_cast<ItemPointer>(DatumGetPointer(d)), &r->queue_ctid);
    r->path_text = CStringGetTextDatum(r->path);
    r->err_offset = -1;
    r->analysis_row = -1;
    r->dup_of = -1;
    r->dup_of_rec = -1;
    r->file_id = -1;
  }
  SPI_freetuptable(SPI_tuptable);
  b->path_order = static_cast<int*>(palloc(sizeof(int) * (b->n > 0 ? b->n : 1)));
  for (int i = 0; i < b->n; ++i) b->path_order[i] = i;
  std::sort(b->path_order, b->path_order + b->n,
            [b](int x, int y) { return strcmp(b->f[x].path, b->f[y].path) < 0; });
}

int find_path(const Batch* b, const char* path) {
  const int* order = b->path_order;
  int lo = 0, hi = b->n - 1;
  while (lo <= hi) {
    const int mid = (lo + hi) / 2;
    const int c = strcmp(b->f[order[mid]].path, path);
    if (c == 0) return order[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return -1;
}

void finish_claim(const Batch* b, int64 run_id, const MpBatchOutcome& out) {
  Datum* tids = static_cast<Datum*>(palloc(sizeof(Datum) * b->n));
  for (int i = 0; i < b->n; ++i) tids[i] = PointerGetDatum(&b->f[i].queue_ctid);
  Datum v[2] = {Int64GetDatum(run_id), simple_array(tids, nullptr, b->n, TIDOID)};
  exec_scans(P_QUEUE_DONE, v, nullptr, SPI_OK_UPDATE,
             {"enable_seqscan", "enable_indexscan", "enable_bitmapscan"});  // a TID scan
  if (SPI_processed != static_cast<uint64>(b->n))
    elog(ERROR, "midipipe: marked " UINT64_FORMAT " of %d claimed manifest rows done",
         SPI_processed, b->n);
  Datum c[6] = {Int64GetDatum(run_id),        Int64GetDatum(out.ok),
                Int64GetDatum(out.duplicate), Int64GetDatum(out.unchanged),
                Int64GetDatum(out.failed),    Int64GetDatum(out.bytes_read)};
  exec_plan(P_RUN_COUNTS, c, nullptr, run_counts_appended() ? SPI_OK_INSERT : SPI_OK_UPDATE);
}

}  // namespace mp_batch
