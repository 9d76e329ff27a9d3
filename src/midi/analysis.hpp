// midipipe: the musical analysis of one MIDI file.
//
// Every field of midipipe_analysis and midipipe_tracks (../shared/SPEC.md),
// with SPEC's definitions. Linear (or n log n) in the number of events; memory
// bounded by the event count. Never throws on any input: errors are values.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "content.hpp"
#include "depth.hpp"
#include "smf.hpp"

namespace midipipe {

struct TrackAnalysis {
  uint32_t track_no = 0;                  // 0-based chunk index
  std::optional<std::string> name;        // first FF 03 in the track
  std::vector<int16_t> channels;          // 0-based channels with channel messages, sorted
  std::optional<int16_t> program;         // first program change (0..127)
  std::optional<std::string> instrument;  // GM name of `program` ("Acoustic Grand Piano")
  uint64_t note_count = 0;
  std::optional<int16_t> pitch_min, pitch_max;  // over all notes of the track
  bool is_drum = false;                         // notes only on channel index 9
  uint64_t duration_ticks = 0;                  // end tick of the track
};

// Every string here is valid UTF-8 without NUL bytes: meta text that is not
// valid UTF-8 is decoded as Latin-1, NULs are dropped, and each is cut to at
// most 1,024 bytes (lists to at most 256 entries).
struct Analysis {
  // header
  uint16_t format = 0;
  uint32_t ntracks = 0;        // MTrk chunks actually read
  std::optional<int32_t> ppq;  // NULL for SMPTE
  std::optional<int16_t> smpte_fps;
  std::optional<int16_t> smpte_ticks_per_frame;
  // time
  uint64_t duration_ticks = 0;
  double duration_seconds = 0;
  // tempo
  double tempo_bpm = 120;       // tempo at tick 0
  double tempo_mean_bpm = 120;  // time-weighted over the piece
  double tempo_min_bpm = 120, tempo_max_bpm = 120;
  uint32_t tempo_changes = 0;          // Set Tempo events after the first effective one
  std::string time_signature = "4/4";  // at tick 0
  uint32_t time_signature_changes = 0;
  std::optional<std::string> key_signature;  // from FF 59 at the earliest tick, e.g. "G major"
  // key detected from the notes (drum channel excluded)
  std::optional<std::string> key;        // "A minor"
  std::optional<int16_t> key_tonic;      // 0 = C
  std::optional<std::string> key_mode;   // "major" / "minor"
  std::optional<double> key_confidence;  // 0..1
  // notes
  uint64_t note_count = 0;      // every note-on with velocity > 0
  uint32_t unique_pitches = 0;  // non-drum
  std::optional<int16_t> pitch_min, pitch_max;
  std::optional<double> pitch_mean;
  std::optional<int16_t> velocity_min, velocity_max;  // all notes
  std::optional<double> velocity_mean, velocity_stddev;
  double note_density = 0;  // notes per second (0 when duration is 0)
  uint32_t polyphony_max = 0;
  double polyphony_mean = 0;                     // time-weighted over the sounding time
  std::vector<int16_t> channels;                 // 0-based, sorted
  std::vector<int16_t> programs;                 // sorted, distinct
  std::vector<std::string> instrument_families;  // GM families of `programs`, sorted, distinct
  bool has_drums = false;
  uint64_t drum_note_count = 0;
  uint64_t cc_count = 0, pitch_bend_count = 0, sysex_count = 0;
  // text
  std::optional<std::string> title;      // first FF 03 of the first track
  std::optional<std::string> copyright;  // first FF 02
  std::vector<std::string> track_names;  // FF 03 of every track, in order
  std::vector<std::string> markers;      // FF 06
  bool has_lyrics = false;               // FF 05 present (or .kar-style FF 01 @ text)
  std::vector<TrackAnalysis> tracks;
  // chords, drums, performance traits, structure (AnalyzeOptions::depth)
  std::optional<Depth> depth;
  // fingerprints, melodies, progression (AnalyzeOptions::content, with depth;
  // docs/content.md)
  std::optional<Content> content;
};

struct AnalyzeResult {
  ParseStatus status;  // status.ok() == false: `analysis` is not meaningful
  Analysis analysis;
};

AnalyzeResult analyze(std::span<const uint8_t> bytes, const Limits& limits = {});

// GM program (0..127) name and family ("Piano", "Chromatic Percussion", ...).
std::string_view gm_program_name(int program) noexcept;
std::string_view gm_family_name(int program) noexcept;

// One JSON object, keys named as the SQL columns (and "tracks": [ ... ]).
// With a fatal error: {"path"?, "error_code", "error_message", "error_offset"}.
// `path` may be empty (then no "path" key). Text from the file that is not
// valid UTF-8 is decoded as Latin-1; control characters are escaped.
std::string to_json(const AnalyzeResult& r, std::string_view path = {});

// What to_json adds beyond the midipipe_analysis columns (all off: the output
// above). depth: the Analysis::depth fields (flat keys, "chords": [...]);
// filename_meta: the filename_* keys parsed from `path` (filename_meta.hpp);
// splits: "splits": [{track_no, note_count, smf_size, smf_sha256}] (split.hpp),
// or "split_error" when splitting failed. docs/analysis-depth.md lists them.
struct SplitResult;
// stop: polled while writing (chords, tracks); when it asks to stop, to_json
// returns an empty string.
struct JsonOptions {
  bool depth = false;
  bool filename_meta = false;
  const SplitResult* splits = nullptr;
  StopCheck stop;
};
std::string to_json(const AnalyzeResult& r, std::string_view path, const JsonOptions& options);

}  // namespace midipipe
