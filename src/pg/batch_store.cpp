// midipipe: the writes of a batch: its midipipe_files rows (one set-based
// upsert, then one for the duplicates of the batch's own new contents), and
// the midipipe_analysis, midipipe_tracks and midipipe_chords rows of the new
// contents.
#include "batch_internal.hpp"

extern "C" {
#include "utils/timestamp.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/typcache.h"
}

namespace mp_batch {
namespace {

// The rows of one insert as an array of the table's row type (the plan's one
// parameter, see insert_rows_sql() in batch_plans.cpp): n composite values,
// each made by fill(i, values, nulls) over file_id and `cols` in that order
// (over `cols` alone without with_file_id).
// The table's columns are found by name in its row type as it is now, and
// must have the types the batch makes; any other column is NULL in the value
// (the insert names only the batch's columns).
template <class Fill>
Datum rows_array(PlanId id, const ColSpec* cols, int ncols, int n, Fill fill,
                 bool with_file_id = true) {
  const Oid rowtype = insert_rowtype(id);
  TupleDesc td = lookup_rowtype_tupdesc_copy(rowtype, -1);
  const int natts = td->natts;
  const int first = with_file_id ? 0 : 1;                               // the first field
  int* slot_of = static_cast<int*>(palloc(sizeof(int) * (ncols + 1)));  // field -> attribute
  for (int c = first; c <= ncols; ++c) {
    const char* name = c == 0 ? "file_id" : cols[c - 1].name;
    const Oid want = c == 0 ? INT8OID : cols[c - 1].column_type;
    slot_of[c] = -1;
    for (int a = 0; a < natts && slot_of[c] < 0; ++a) {
      const Form_pg_attribute att = TupleDescAttr(td, a);
      if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0) slot_of[c] = a;
    }
    if (slot_of[c] < 0 || TupleDescAttr(td, slot_of[c])->atttypid != want)
      ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                      errmsg("midipipe: the table's column %s is missing or not of type %s", name,
                             format_type_be(want))));
  }
  Datum* fv = static_cast<Datum*>(palloc(sizeof(Datum) * (ncols + 1)));
  bool* fn = static_cast<bool*>(palloc(sizeof(bool) * (ncols + 1)));
  Datum* values = static_cast<Datum*>(palloc(sizeof(Datum) * natts));
  bool* nulls = static_cast<bool*>(palloc(sizeof(bool) * natts));
  Datum* rows = static_cast<Datum*>(palloc(sizeof(Datum) * (n > 0 ? n : 1)));
  for (int i = 0; i < n; ++i) {
    for (int a = 0; a < natts; ++a) nulls[a] = true;
    fill(i, fv + first, fn + first);
    for (int c = first; c <= ncols; ++c) {
      values[slot_of[c]] = fv[c];
      nulls[slot_of[c]] = fn[c];
    }
    HeapTuple tup = heap_form_tuple(td, values, nulls);
    rows[i] = heap_copy_tuple_as_datum(tup, td);
    heap_freetuple(tup);
  }
  const Datum arr = simple_array(rows, nullptr, n, rowtype);
  for (int i = 0; i < n; ++i) pfree(DatumGetPointer(rows[i]));
  pfree(rows);
  FreeTupleDesc(td);
  return arr;
}

// midipipe_files.status of a file written (never FS_UNCHANGED: not written).
const char* status_text(FileState s) {
  return s == FS_OK ? "ok" : s == FS_DUPLICATE ? "duplicate" : "error";
}

// Upserts the rows recs[idx[0..k)] into midipipe_files and records their file_ids.
void upsert_files(Batch* b, int64 run_id, const int* idx, int k) {
  if (k == 0) return;
  Datum values[1] = {rows_array(
      P_UPSERT, file_cols(), kNFileCols, k,
      [&](int i, Datum* fv, bool* fn) {
        const FileRec* r = &b->f[idx[i]];
        for (int c = 0; c < kNFileCols; ++c) fn[c] = false;
        fv[0] = r->path_text;
        fv[1] = Int64GetDatum(r->size);
        fn[1] = !r->have_stat;
        fv[2] = TimestampTzGetDatum(r->mtime);
        fn[2] = !r->have_stat;
        if (r->have_sha)
          fv[3] = bytea_datum(r->sha, 32);
        else
          fn[3] = true;
        fv[4] = CStringGetTextDatum(status_text(r->state));
        fv[5] = Int64GetDatum(r->dup_of);
        fn[5] = r->state != FS_DUPLICATE;
        if (r->state == FS_ERROR) {
          fv[6] = CStringGetTextDatum(r->err_code);
          fv[7] = CStringGetTextDatum(r->err_msg != nullptr ? r->err_msg : r->err_code);
          fv[8] = Int64GetDatum(r->err_offset);
          fn[8] = r->err_offset < 0;
        } else {
          fn[6] = fn[7] = fn[8] = true;
        }
        fv[9] = Int64GetDatum(run_id);
      },
      false)};
  exec_plan(P_UPSERT, values, nullptr, SPI_OK_INSERT_RETURNING);
  if (SPI_processed != static_cast<uint64>(k))
    elog(ERROR, "midipipe: upsert returned " UINT64_FORMAT " rows for %d paths", SPI_processed, k);
  for (uint64 i = 0; i < SPI_processed; ++i) {
    HeapTuple tup = SPI_tuptable->vals[i];
    bool isnull;
    const int64 id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
    char* path = TextDatumGetCString(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
    // RETURNING follows the input order; search only if it does not
    int r = idx[i];
    if (strcmp(b->f[r].path, path) != 0) r = find_path(b, path);
    if (r < 0) elog(ERROR, "midipipe: upsert returned an unknown path \"%s\"", path);
    b->f[r].file_id = id;
    pfree(path);
  }
  SPI_freetuptable(SPI_tuptable);
}

}  // namespace

void write_files(Batch* b, int64 run_id) {
  // new contents (in sha256 order, so that concurrent workers take the
  // content index's locks in the same order), errors and duplicates of
  // stored contents; then the batch's own duplicates
  int* idx = static_cast<int*>(palloc(sizeof(int) * b->n));
  int k = 0;
  for (int i = 0; i < b->noks; ++i)
    if (b->f[b->oks[i]].state == FS_OK) idx[k++] = b->oks[i];
  for (int i = 0; i < b->n; ++i) {
    const FileRec* r = &b->f[i];
    if (r->state == FS_ERROR || (r->state == FS_DUPLICATE && r->dup_of_rec < 0)) idx[k++] = i;
  }
  upsert_files(b, run_id, idx, k);
  k = 0;
  for (int i = 0; i < b->n; ++i) {
    FileRec* r = &b->f[i];
    if (r->state == FS_DUPLICATE && r->dup_of_rec >= 0) {
      r->dup_of = b->f[r->dup_of_rec].file_id;
      if (r->dup_of < 0) elog(ERROR, "midipipe: duplicate target without a row");
      idx[k++] = i;
    }
  }
  upsert_files(b, run_id, idx, k);
}

namespace {

// Inserts n rows of a table keyed by file: row i is the file id ids[i] and
// the value at rows[i] of each of the batch's ncols column buffers.
void insert_file_rows(PlanId id, const ColSpec* spec, const Col* cols, int ncols, const Datum* ids,
                      const int* rows, int n) {
  Datum v[1] = {rows_array(id, spec, ncols, n, [&](int i, Datum* fv, bool* fn) {
    fv[0] = ids[i];
    fn[0] = false;
    for (int c = 0; c < ncols; ++c) {
      fv[c + 1] = cols[c].v[rows[i]];
      fn[c + 1] = cols[c].isnull[rows[i]];
    }
  })};
  exec_plan(id, v, nullptr, SPI_OK_INSERT);
}

}  // namespace

void write_analysis(Batch* b, MpBatchOutcome* out) {
  int nre = 0;
  Datum* re = static_cast<Datum*>(palloc(sizeof(Datum) * b->n));
  for (int i = 0; i < b->n; ++i)
    if (b->f[i].state == FS_OK && b->f[i].reanalyse) re[nre++] = Int64GetDatum(b->f[i].file_id);
  if (nre > 0) {
    Datum v[1] = {simple_array(re, nullptr, nre, INT8OID)};
    exec_scans(P_DEL_ANALYSIS, v, nullptr, SPI_OK_DELETE, {"enable_seqscan"});
  }
  int* arows = static_cast<int*>(palloc(sizeof(int) * (b->nanalysis + 1)));
  Datum* aids = static_cast<Datum*>(palloc(sizeof(Datum) * (b->nanalysis + 1)));
  int na = 0;
  const int ntr = b->t[0].n;
  int* trows = static_cast<int*>(palloc(sizeof(int) * (ntr + 1)));
  Datum* tids = static_cast<Datum*>(palloc(sizeof(Datum) * (ntr + 1)));
  int nt = 0;
  for (int i = 0; i < b->noks; ++i) {
    const FileRec* r = &b->f[b->oks[i]];
    if (r->state != FS_OK) continue;
    arows[na] = r->analysis_row;
    aids[na++] = Int64GetDatum(r->file_id);
    for (int j = 0; j < r->track_count; ++j) {
      trows[nt] = r->track_first + j;
      tids[nt++] = Int64GetDatum(r->file_id);
    }
  }
  out->ok = na;
  int ncols = 0;  // (b->na and b->nt are the counts of the same lists)
  if (na > 0) insert_file_rows(P_INS_ANALYSIS, analysis_cols(&ncols), b->a, b->na, aids, arows, na);
  if (nt > 0) {
    insert_file_rows(P_INS_TRACKS, track_cols(&ncols), b->t, b->nt, tids, trows, nt);
    if (b->any_smf) {
      Datum dv[1] = {simple_array(aids, nullptr, na, INT8OID)};
      exec_scans(P_DEDUP_SMF, dv, nullptr, SPI_OK_UPDATE, {"enable_seqscan"});
    }
  }
  // the chord progressions of the batch: one insert
  int* crows = static_cast<int*>(palloc(sizeof(int) * (b->noks + 1)));
  int nc = 0;
  for (int i = 0; i < b->noks; ++i) {
    const FileRec* r = &b->f[b->oks[i]];
    if (r->state == FS_OK && r->chords != nullptr) crows[nc++] = b->oks[i];
  }
  if (nc > 0) {
    Datum v[1] = {rows_array(P_INS_CHORDS, chord_cols(), kNChordParams - 1, nc,
                             [&](int i, Datum* fv, bool* fn) {
                               const FileRec* r = &b->f[crows[i]];
                               fv[0] = Int64GetDatum(r->file_id);
                               fn[0] = false;
                               for (int c = 1; c < kNChordParams; ++c) {
                                 fv[c] = r->chords[c - 1];
                                 fn[c] = r->chord_nulls[c - 1] == 'n';
                               }
                             })};
    exec_plan(P_INS_CHORDS, v, nullptr, SPI_OK_INSERT);
  }
}

}  // namespace mp_batch
