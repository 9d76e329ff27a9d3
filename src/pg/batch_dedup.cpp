// midipipe: the SPI side of what a batch makes of the rows already stored:
// the existing row of each claimed path (load_existing), which 'ok' rows
// release their content (release_changed), and which new contents are
// duplicates of stored ones or of another file of the batch
// (find_duplicates). The decisions are dedup.hpp's (plain C++, unit-tested);
// this file feeds them the rows and carries them out.
#include "batch_internal.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

namespace mp_batch {
namespace {

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
      switch (mp_dedup::match_stored(r->reanalyse, r->old.id, r->path, id,
                                     stored_path != nullptr ? stored_path : "")) {
        case mp_dedup::Stored::own_row:
          break;
        case mp_dedup::Stored::same_path:
          // nothing left to write
          r->state = FS_UNCHANGED;
          r->reanalyse = false;
          ++out->unchanged;
          break;
        case mp_dedup::Stored::duplicate:
          r->state = FS_DUPLICATE;
          r->dup_of = id;
          r->reanalyse = false;
          break;
      }
    }
  }
  SPI_freetuptable(SPI_tuptable);
}

// Within the batch: one file holds each new content (the path that already
// held it when it is re-read, else the first path), the others repeat it.
void find_repeated(Batch* b, const int* oks, int noks) {
  mp_dedup::Candidate* group =
      static_cast<mp_dedup::Candidate*>(palloc(sizeof(mp_dedup::Candidate) * noks));
  for (int i = 0; i < noks;) {
    int j = i;
    while (j < noks && cmp_sha(b->f[oks[j]].sha, b->f[oks[i]].sha) == 0) ++j;
    for (int g = i; g < j; ++g)
      group[g - i] = {b->f[oks[g]].state == FS_OK, b->f[oks[g]].reanalyse};
    const int h = mp_dedup::holder({group, static_cast<size_t>(j - i)});
    const int holder = h < 0 ? -1 : oks[i + h];
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
    mp_dedup::Recorded& old = r->old;
    old.exists = true;
    old.id = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));
    Datum d = SPI_getbinval(tup, td, 3, &isnull);
    old.size = isnull ? -1 : DatumGetInt64(d);
    d = SPI_getbinval(tup, td, 4, &isnull);
    old.have_stat = !isnull && old.size >= 0;
    old.mtime = isnull ? 0 : DatumGetTimestampTz(d);
    char* status = TextDatumGetCString(SPI_getbinval(tup, td, 5, &isnull));
    old.status = status[0];
    d = SPI_getbinval(tup, td, 6, &isnull);
    if (!isnull) {
      bytea* sha = DatumGetByteaPP(d);
      if (VARSIZE_ANY_EXHDR(sha) == 32) {
        old.has_sha = true;
        memcpy(old.sha, VARDATA_ANY(sha), 32);
      }
    }
    d = SPI_getbinval(tup, td, 7, &isnull);
    if (!isnull) old.io_error = mp_dedup::is_io_code(TextDatumGetCString(d));
  }
  SPI_freetuptable(SPI_tuptable);
}

void release_changed(Batch* b) {
  int nrel = 0, nbusy = 0;
  Datum* rel = static_cast<Datum*>(palloc(sizeof(Datum) * b->n));
  Datum* busy = static_cast<Datum*>(palloc(sizeof(Datum) * b->n));
  for (int k = 0; k < b->n; ++k) {
    FileRec* r = &b->f[k];
    if (r->state == FS_UNCHANGED) continue;
    busy[nbusy++] = r->path_text;
    switch (mp_dedup::old_ok_row(r->old, r->state == FS_OK, r->sha)) {
      case mp_dedup::OldRow::none:
        break;
      case mp_dedup::OldRow::reanalyse:
        r->reanalyse = true;
        break;
      case mp_dedup::OldRow::release:
        rel[nrel++] = Int64GetDatum(r->old.id);
        break;
    }
  }
  if (nrel > 0) {
    Datum v[2] = {simple_array(rel, nullptr, nrel, INT8OID),
                  simple_array(busy, nullptr, nbusy, TEXTOID)};
    exec_plan(P_RELEASE, v, nullptr, SPI_OK_SELECT);
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
