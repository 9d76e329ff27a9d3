// midipipe: a run's options, in one struct: what midipipe_import was asked
// (workers, recursive, wait, follow_symlinks, split_tracks) and the
// midipipe.analysis_depth it was asked under. Parsed once from the call,
// kept in the run slot (MpRunSlot::options) and in midipipe_runs.options
// (jsonb, built with the server's jsonb functions), and read back from there
// by name (the resume worker, each batch). The root has a column of its own.
#pragma once

extern "C" {
#include "postgres.h"

#include "fmgr.h"
}

struct MpRunOptions {
  int workers;           // requested; in a run slot always >= 1
  bool recursive;        // descend into subdirectories
  bool wait;             // the caller waits for the run (recorded only)
  bool follow_symlinks;  // follow symbolic links (files and directories)
  bool split_tracks;     // also split each track into a format-0 file (midipipe_tracks.smf)
  bool analysis_depth;   // chords, drums, performance, structure (midipipe.analysis_depth)
};

// The options of a midipipe_import call: arguments 1 to 5 (0 is the root);
// workers is -1 for NULL (the caller checks it and resolves it), and
// analysis_depth is the session's midipipe.analysis_depth.
MpRunOptions mp_run_options_from_call(FunctionCallInfo fcinfo);

// The jsonb value of midipipe_runs.options.
Datum mp_run_options_to_jsonb(const MpRunOptions& o);

// From midipipe_runs.options, each option by its name; one that is missing
// (or the whole value NULL) takes its default (workers 0, recursive, and
// analysis_depth on: a run recorded before that option existed).
MpRunOptions mp_run_options_from_jsonb(Datum options, bool isnull);
