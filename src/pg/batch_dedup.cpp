// midipipe: what a batch makes of the rows already stored: the existing row
// of each claimed path (load_existing), which files are unchanged and not read
// again (is_unchanged), which 'ok' rows release their content
// (release_changed), and which new contents are duplicates of stored ones or
// of another file of the batch (find_duplicates).
#include "batch_internal.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

namespace mp_batch {
namespace {

// Error codes that describe the file system rather than the content: such a
// row is re-read even when size and mtime did not change.
bool is_io_code(const char* code) {
  return strcmp(code, "io_error") == 0 || strcmp(code, "not_regular_file") == 0 ||
         strcmp(code, "file_too_large") == 0 || strcmp(code, "out_of_memory") == 0 ||
         strcmp(code, "too_many_events") == 0;  // midipipe.max_events may have changed
}

// The stored contents among the batch's new ones: a file whose content is
// stored under another path becomes its duplicate; one whose own path holds
// it already (stored by another run since load_existing()) is unchanged.
void find_stored(Batch* b, const int* oks, int noks, MpBatchOutcome* out) {
  Datum* shas = static_cast<Datum*>(palloc(sizeof(Datum) * noks));
  int nshas = 0;
  for (int i = 0; i < noks; ++i)
    if (i == 0 || cmp_sha(b->f[oks[i]].sha, b->f[oks[i - 1]].sha) != 0)
      shas[nshas++] = bytea_datum(b->f[oks[i]].sha, 32);
  Datum v[1] = {simple_array(shas, nullptr, nshas, BYTEAOID)};
  exec_scans(P_BY_SHA, v, nullptr, SPI_OK_SELECT, {"enable_seqscan"});
  TupleDesc td = SPI_tuptable->tupdesc;
  for (uint64 j = 0; j < SPI_processed; ++j) {
    bool isnull;
    bytea* sha = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[j], td, 1, &isnull));
    const int64 id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[j], td, 2, &isnull));
    const char* stored_path = SPI_getvalue(SPI_tuptable->vals[j], td, 3);
    if (VARSIZE_ANY_EXHDR(sha) != 32) continue;
    const uint8* s = reinterpret_cast<const uint8*>(VARDATA_ANY(sha));
    for (int i = 0; i < noks; ++i) {
      FileRec* r = &b->f[oks[i]];
      if (r->state != FS_OK || cmp_sha(r->sha, s) != 0) continue;
      if (r->reanalyse && r->old_id == id) continue;  // its own row
      if (stored_path != nullptr && strcmp(stored_path, r->path) == 0) {
        // Another run (on an overlapping tree) stored this very path with
        // this content since this batch looked: nothing left to write, and
        // never a duplicate of itself.
        r->state = FS_UNCHANGED;
        r->reanalyse = false;
        ++out->unchanged;
        continue;
      }
      r->state = FS_DUPLICATE;
      r->dup_of = id;
      r->reanalyse = false;
    }
  }
  SPI_freetuptable(SPI_tuptable);
}

// Within the batch: one file holds each new content (the path that already
// held it when it is re-read, else the first path), the others repeat it.
void find_repeated(Batch* b, const int* oks, int noks) {
  for (int i = 0; i < noks;) {
    int j = i;
    while (j < noks && cmp_sha(b->f[oks[j]].sha, b->f[oks[i]].sha) == 0) ++j;
    int holder = -1;
    for (int g = i; g < j; ++g)
      if (b->f[oks[g]].state == FS_OK && b->f[oks[g]].reanalyse) holder = oks[g];
    for (int g = i; g < j && holder < 0; ++g)
      if (b->f[oks[g]].state == FS_OK) holder = oks[g];
    for (int g = i; g < j; ++g) {
      FileRec* d = &b->f[oks[g]];
      if (d->state != FS_OK || oks[g] == holder) continue;
      d->state = FS_DUPLICATE;
      d->dup_of_rec = holder;
      d->reanalyse = false;
    }
    i = j;
  }
}

}  // namespace

void load_existing(Batch* b) {
  Datum* paths = static_cast<Datum*>(palloc(sizeof(Datum) * b->n));
  for (int i = 0; i < b->n; ++i) paths[i] = b->f[i].path_text;
  Datum v[1] = {simple_array(paths, nullptr, b->n, TEXTOID)};
  exec_scans(P_EXISTING, v, nullptr, SPI_OK_SELECT, {"enable_seqscan"});
  TupleDesc td = SPI_tuptable->tupdesc;
  for (uint64 i = 0; i < SPI_processed; ++i) {
    HeapTuple tup = SPI_tuptable->vals[i];
    bool isnull;
    char* path = TextDatumGetCString(SPI_getbinval(tup, td, 1, &isnull));
    const int k = find_path(b, path);
    pfree(path);
    if (k < 0) continue;
    FileRec* r = &b->f[k];
    r->exists = true;
    r->old_id = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));
    Datum d = SPI_getbinval(tup, td, 3, &isnull);
    const int64 size = isnull ? -1 : DatumGetInt64(d);
    d = SPI_getbinval(tup, td, 4, &isnull);
    const bool mtime_null = isnull;
    const TimestampTz mtime = isnull ? 0 : DatumGetTimestampTz(d);
    char* status = TextDatumGetCString(SPI_getbinval(tup, td, 5, &isnull));
    r->old_status = status[0];
    d = SPI_getbinval(tup, td, 6, &isnull);
    if (!isnull) {
      bytea* sha = DatumGetByteaPP(d);
      if (VARSIZE_ANY_EXHDR(sha) == 32) {
        r->old_has_sha = true;
        memcpy(r->old_sha, VARDATA_ANY(sha), 32);
      }
    }
    d = SPI_getbinval(tup, td, 7, &isnull);
    if (!isnull) {
      char* code = TextDatumGetCString(d);
      r->old_io_error = is_io_code(code);
    }
    // keep the recorded size/mtime in the fields used below
    r->size = size;
    r->mtime = mtime;
    r->have_stat = !mtime_null && size >= 0;
  }
  SPI_freetuptable(SPI_tuptable);
}

bool is_unchanged(const FileRec* r, bool had, int64 old_size, TimestampTz old_mtime) {
  return had && old_size == r->size && old_mtime == r->mtime && !r->old_io_error &&
         (r->old_status == 'o' || r->old_status == 'd' || r->old_status == 'e');
}

void release_changed(Batch* b) {
  int nrel = 0, nbusy = 0;
  Datum* rel = static_cast<Datum*>(palloc(sizeof(Datum) * b->n));
  Datum* busy = static_cast<Datum*>(palloc(sizeof(Datum) * b->n));
  for (int k = 0; k < b->n; ++k) {
    FileRec* r = &b->f[k];
    if (r->state == FS_UNCHANGED) continue;
    busy[nbusy++] = r->path_text;
    if (!r->exists || r->old_status != 'o') continue;
    const bool same = r->state == FS_OK && r->old_has_sha && cmp_sha(r->sha, r->old_sha) == 0;
    if (same)
      r->reanalyse = true;
    else
      rel[nrel++] = Int64GetDatum(r->old_id);
  }
  if (nrel > 0) {
    Datum v[2] = {simple_array(rel, nullptr, nrel, INT8OID),
                  simple_array(busy, nullptr, nbusy, TEXTOID)};
    exec(P_RELEASE, v, nullptr, SPI_OK_SELECT);
    SPI_freetuptable(SPI_tuptable);
  }
}

void find_duplicates(Batch* b, MpBatchOutcome* out) {
  b->oks = static_cast<int*>(palloc(sizeof(int) * b->n));
  b->noks = 0;
  for (int k = 0; k < b->n; ++k)
    if (b->f[k].state == FS_OK) b->oks[b->noks++] = k;
  std::sort(b->oks, b->oks + b->noks, [b](int x, int y) {
    const int c = cmp_sha(b->f[x].sha, b->f[y].sha);
    return c != 0 ? c < 0 : strcmp(b->f[x].path, b->f[y].path) < 0;
  });
  if (b->noks == 0) return;
  find_stored(b, b->oks, b->noks, out);
  find_repeated(b, b->oks, b->noks);
}

}  // namespace mp_batch
