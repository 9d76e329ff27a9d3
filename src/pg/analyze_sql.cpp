// midipipe: midipipe_analyze(bytea) -> jsonb, in the calling backend.
//
// The engine (analyze + to_json) runs inside the C++ guard: no C++ object is
// alive when PostgreSQL reports an error, and no exception reaches PostgreSQL.
#include <string>

#include "analysis.hpp"
#include "guard.hpp"
#include "analyze.hpp"
#include "pool_internal.hpp"
#include "stop.hpp"

extern "C" {
#include "fmgr.h"
#include "miscadmin.h"
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
  bool stopped = false;  // cancel, statement_timeout, terminate: reported below
  bool too_many = false;
  uint64 too_many_at = 0;
  MP_GUARD_BEGIN
  // IMMUTABLE: no dependence on midipipe.max_file_size; the bytes are already
  // in memory (a bytea holds at most 1 GB). The event limit (midipipe.max_events)
  // bounds the memory: a file above it raises an error rather than returning
  // a result that depends on a setting.
  midipipe::Limits limits;
  limits.max_file_size = MaxAllocSize;
  limits.max_events = static_cast<uint64_t>(mp_max_events);
  limits.stop = mp_engine_stop_check();
  midipipe::JsonOptions options;
  options.depth = true;  // the midipipe_analysis depth columns and "chords", as the tables hold
  options.stop = limits.stop;
  const midipipe::AnalyzeResult r =
      midipipe::analyze_with({bytes, len}, limits, midipipe::default_analyze_options());
  if (r.status.code == midipipe::Code::cancelled) {
    stopped = true;
  } else if (r.status.code == midipipe::Code::too_many_events) {
    too_many = true;
    too_many_at = r.status.offset;
  } else {
    const std::string out = midipipe::to_json(r, std::string_view(), options);
    if (out.empty()) {
      stopped = true;
    } else {
      json = mp_pg_call([&]() { return pnstrdup(out.data(), out.size()); });
    }
  }
  MP_GUARD_END
  // (No C++ object of the engine is alive from here on.)
  if (stopped) mp_engine_stopped();
  if (too_many)
    ereport(
        ERROR,
        (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
         errmsg("midipipe: the file has more than %d events (midipipe.max_events)", mp_max_events),
         errdetail("too_many_events at byte offset " UINT64_FORMAT ".", too_many_at),
         errhint("A superuser may raise midipipe.max_events (postgresql.conf); memory grows "
                 "with it.")));
  CHECK_FOR_INTERRUPTS();

  Datum result = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
  pfree(json);
  PG_FREE_IF_COPY(data, 0);
  PG_RETURN_DATUM(result);
}
