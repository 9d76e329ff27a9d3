// midipipe: midipipe_split(file_id), in the calling backend.
//
// Reads the imported file again (the caller needs the same privilege as for
// midipipe_import: it reads a server file), checks that its content is still
// the one imported (SHA-256), splits its tracks into format-0 files with the
// engine, and stores them in midipipe_tracks.smf / smf_sha256 of the content's
// ok row. Returns the number of tracks split. A file that changed since the
// import is an error (re-import it first); nothing is written then.
#include <cerrno>
#include <cstring>

#include "file_read.hpp"
#include "guard.hpp"
#include "sha256.hpp"
#include "pool_internal.hpp"
#include "split.hpp"
#include "stop.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

PGDLLEXPORT Datum midipipe_split(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(midipipe_split);
}

namespace {

// The file's bytes in palloc'd memory (at most max_bytes), or an ERROR.
uint8* read_server_file(const char* path, uint64 max_bytes, size_t* len) {
  MpReadBuffer buf;
  const MpFileRead rd = mp_read_file(path, false, max_bytes, &buf);
  switch (rd.fail) {
    case MpReadFail::none:
      break;
    case MpReadFail::open:
      errno = rd.err;
      ereport(ERROR, (errcode_for_file_access(), errmsg("could not open \"%s\": %m", path)));
      break;
    case MpReadFail::stat:
    case MpReadFail::not_regular:
      ereport(ERROR,
              (errcode(ERRCODE_WRONG_OBJECT_TYPE), errmsg("\"%s\" is not a regular file", path)));
      break;
    case MpReadFail::too_large:
      ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                      errmsg("\"%s\" is larger than midipipe.max_file_size", path)));
      break;
    case MpReadFail::no_memory:
      ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
      break;
    case MpReadFail::read:
      errno = rd.err;
      ereport(ERROR, (errcode_for_file_access(), errmsg("could not read \"%s\": %m", path)));
      break;
  }
  *len = rd.len;
  return reinterpret_cast<uint8*>(buf.data);
}

}  // namespace

Datum midipipe_split(PG_FUNCTION_ARGS) {
  mp_require_preload();
  const int64 file_id = PG_GETARG_INT64(0);
  mp_require_read_server_files();

  const Oid nsp = mp_require_extension_schema();
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "midipipe: SPI_connect failed");
  const int guc_level = mp_push_search_path();  // README "Threat model"
  // The file, and the ok row that holds its content's analysis.
  if (mp_spi_exec_id(nsp,
                     "SELECT f.path, f.sha256, coalesce(f.duplicate_of, f.file_id), f.status "
                     "FROM %s.midipipe_files f WHERE f.file_id = $1",
                     file_id, true, 1) != SPI_OK_SELECT)
    elog(ERROR, "midipipe: could not read midipipe_files");
  if (SPI_processed != 1)
    ereport(ERROR, (errcode(ERRCODE_NO_DATA_FOUND),
                    errmsg("midipipe_files has no file_id " INT64_FORMAT, file_id)));
  HeapTuple tup = SPI_tuptable->vals[0];
  TupleDesc td = SPI_tuptable->tupdesc;
  char* path = SPI_getvalue(tup, td, 1);
  bool sha_null = false, isnull = false;
  Datum sha_d = SPI_getbinval(tup, td, 2, &sha_null);
  const int64 content_id = DatumGetInt64(SPI_getbinval(tup, td, 3, &isnull));
  char* status = SPI_getvalue(tup, td, 4);
  if (status == nullptr || strcmp(status, "error") == 0 || sha_null || path == nullptr)
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("file " INT64_FORMAT " was not imported successfully (status %s)",
                           file_id, status != nullptr ? status : "?")));
  bytea* stored = DatumGetByteaPP(sha_d);
  uint8 stored_sha[32];
  if (VARSIZE_ANY_EXHDR(stored) != 32) elog(ERROR, "midipipe: bad sha256 in midipipe_files");
  memcpy(stored_sha, VARDATA_ANY(stored), 32);

  size_t len = 0;
  uint8* data = read_server_file(path, static_cast<uint64>(mp_max_file_size_kb) * 1024, &len);
  const midipipe::Sha256Digest now = midipipe::sha256({data, len});
  if (memcmp(now.data(), stored_sha, 32) != 0)
    ereport(ERROR,
            (errcode(ERRCODE_DATA_CORRUPTED), errmsg("\"%s\" changed since it was imported", path),
             errhint("Import it again (midipipe_import), then split it.")));

  // The engine's output, copied into palloc'd memory inside the guard.
  int ntracks = 0;
  int32* track_nos = nullptr;
  bytea** smfs = nullptr;
  bytea** shas = nullptr;
  char* split_error = nullptr;
  bool stopped = false;
  MP_GUARD_BEGIN
  midipipe::Limits limits;
  limits.max_file_size = static_cast<uint64_t>(mp_max_file_size_kb) * 1024;
  limits.max_events = static_cast<uint64_t>(mp_max_events);
  limits.stop = mp_engine_stop_check();
  const midipipe::SplitResult sr = midipipe::split_tracks({data, len}, limits);
  stopped = sr.status.code == midipipe::Code::cancelled;
  mp_pg_call([&]() {
    if (stopped) return;
    if (!sr.status.ok()) {
      split_error = pstrdup(sr.status.message.c_str());
      return;
    }
    ntracks = static_cast<int>(sr.tracks.size());
    track_nos = static_cast<int32*>(palloc(sizeof(int32) * (ntracks + 1)));
    smfs = static_cast<bytea**>(palloc(sizeof(bytea*) * (ntracks + 1)));
    shas = static_cast<bytea**>(palloc(sizeof(bytea*) * (ntracks + 1)));
    for (int i = 0; i < ntracks; ++i) {
      const midipipe::SplitTrack& st = sr.tracks[i];
      track_nos[i] = static_cast<int32>(st.track_no);
      smfs[i] = static_cast<bytea*>(palloc(VARHDRSZ + st.smf.size()));
      SET_VARSIZE(smfs[i], VARHDRSZ + st.smf.size());
      memcpy(VARDATA(smfs[i]), st.smf.data(), st.smf.size());
      shas[i] = static_cast<bytea*>(palloc(VARHDRSZ + 32));
      SET_VARSIZE(shas[i], VARHDRSZ + 32);
      memcpy(VARDATA(shas[i]), st.sha256.data(), 32);
    }
  });
  MP_GUARD_END
  if (stopped) mp_engine_stopped();
  if (split_error != nullptr)
    ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                    errmsg("could not split \"%s\": %s", path, split_error)));

  int stored_count = 0;
  for (int i = 0; i < ntracks; ++i) {
    Oid t[4] = {INT8OID, INT4OID, BYTEAOID, BYTEAOID};
    Datum v[4] = {Int64GetDatum(content_id), Int32GetDatum(track_nos[i]), PointerGetDatum(smfs[i]),
                  PointerGetDatum(shas[i])};
    // the bytes are stored once: NULL when another track row holds them
    if (SPI_execute_with_args(
            mp_with_schema(
                nsp,
                "UPDATE %s.midipipe_tracks t SET smf_sha256 = $4, smf = CASE WHEN EXISTS ("
                "SELECT 1 FROM %s.midipipe_tracks o WHERE o.smf_sha256 = $4 AND o.smf IS NOT NULL "
                "AND (o.file_id, o.track_no) <> (t.file_id, t.track_no)) THEN NULL ELSE $3 END "
                "WHERE t.file_id = $1 AND t.track_no = $2"),
            4, t, v, nullptr, false, 0) != SPI_OK_UPDATE)
      elog(ERROR, "midipipe: could not update midipipe_tracks");
    stored_count += static_cast<int>(SPI_processed);
  }
  mp_pop_search_path(guc_level);
  SPI_finish();
  PG_RETURN_INT32(stored_count);
}
