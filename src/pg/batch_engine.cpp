// midipipe: the engine call of a batch: hash one file's bytes, analyse them,
// read its file name, split its tracks when the run asks for it, and turn the
// result into row values (batch_rows.cpp) or an error row.
//
// The engine's results are the only C++ objects with destructors in a batch.
// They are built and read inside mp_guard_input() (guard.hpp): std::bad_alloc
// becomes the file's "out_of_memory" error row, and a PostgreSQL ERROR while
// converting them (through mp_pg_call) frees them before it propagates.
#include <memory>

#include "batch_internal.hpp"
#include "guard.hpp"
#include "analyze.hpp"
#include "sha256.hpp"
#include "stop.hpp"

extern "C" {
#include "utils/builtins.h"
}

// midipipe.content_search (module.cpp; docs/content.md), a server-wide setting.
extern bool mp_content_search;

namespace mp_batch {
namespace {

// The engine's error as the file's error row.
void engine_error(FileRec* r, const midipipe::ParseStatus& status) {
  const std::string_view name = midipipe::code_name(status.code);
  set_error(r, pnstrdup(name.data(), name.size()), nullptr,
            static_cast<int64>(std::min<uint64_t>(status.offset, PG_INT64_MAX)));
  Datum msg;
  if (utf8_text(status.message.data(), status.message.size(), &msg))
    r->err_msg = text_to_cstring(DatumGetTextPP(msg));
  else
    r->err_msg = pstrdup(r->err_code);
}

}  // namespace

void engine_file(Batch* b, FileRec* r, const uint8_t* data, size_t len) {
  const midipipe::Sha256Digest digest = midipipe::sha256({data, len});
  memcpy(r->sha, digest.data(), 32);
  r->have_sha = true;

  bool stopped = false;  // cancel, terminate, midipipe_cancel: the engine gave up the file
  const bool ran = mp_guard_input([&]() {
    midipipe::Limits limits;
    limits.max_file_size = b->max_file_size;
    limits.max_events = static_cast<uint64_t>(mp_max_events);
    limits.stop = mp_engine_stop_check();  // stop.hpp
    std::unique_ptr<EngineOut> eo(new EngineOut);
    midipipe::AnalyzeOptions options = midipipe::default_analyze_options();
    options.depth = b->options.analysis_depth;
    options.content = mp_content_search;  // midipipe.content_search (module.cpp)
    eo->result = midipipe::analyze_with({data, len}, limits, options);
    if (eo->result.status.ok()) {
      eo->name = midipipe::filename_meta(r->path, &eo->result.analysis);
      if (b->options.split_tracks) eo->split = midipipe::split_tracks({data, len}, limits);
    }
    const EngineOut& out = *eo;
    if (out.result.status.code == midipipe::Code::cancelled ||
        out.split.status.code == midipipe::Code::cancelled) {
      stopped = true;
      return;
    }
    mp_pg_call([&]() {
      if (!out.result.status.ok()) {
        engine_error(r, out.result.status);
      } else {
        r->state = FS_OK;
        push_analysis(b, r, out);
      }
    });
  });
  // Outside the engine's frames (its objects are gone): CHECK_FOR_INTERRUPTS, then ERROR.
  if (stopped) mp_engine_stopped();
  if (!ran) set_error(r, "out_of_memory", pstrdup("out of memory analysing the file"), -1);
}

}  // namespace mp_batch
