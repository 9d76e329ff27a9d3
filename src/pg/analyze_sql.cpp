// midipipe: midipipe_analyze(bytea) -> jsonb, in the calling backend.
//
// The engine (analyze + to_json) runs inside the C++ guard: no C++ object is
// alive when PostgreSQL reports an error, and no exception reaches PostgreSQL.
#include <string>

#include "analysis.hpp"
#include "guard.hpp"
#include "shmem.hpp"

extern "C" {
#include "fmgr.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

PGDLLEXPORT Datum midipipe_analyze(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(midipipe_analyze);
}

Datum midipipe_analyze(PG_FUNCTION_ARGS) {
  mp_require_preload();
  bytea* data = PG_GETARG_BYTEA_PP(0);
  const auto* bytes = reinterpret_cast<const uint8_t*>(VARDATA_ANY(data));
  const size_t len = VARSIZE_ANY_EXHDR(data);

  // The JSON text is copied into palloc'd memory inside the guard, so the
  // std::string is gone before jsonb_in (which may ERROR) runs.
  char* json = nullptr;
  MP_GUARD_BEGIN
  // IMMUTABLE: no dependence on midipipe.max_file_size; the bytes are already
  // in memory (a bytea holds at most 1 GB), the event limit still applies.
  midipipe::Limits limits;
  limits.max_file_size = MaxAllocSize;
  midipipe::JsonOptions options;
  options.depth = true;  // the midipipe_analysis depth columns and "chords", as the tables hold
  const std::string out =
      midipipe::to_json(midipipe::analyze({bytes, len}, limits), std::string_view(), options);
  json = mp_pg_call([&]() { return pnstrdup(out.data(), out.size()); });
  MP_GUARD_END

  Datum result = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
  pfree(json);
  PG_FREE_IF_COPY(data, 0);
  PG_RETURN_DATUM(result);
}
