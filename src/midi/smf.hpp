// midipipe: the Standard MIDI File reader.
//
// Plain C++20; never includes postgres.h. Every read is bounds-checked and
// errors are values (never exceptions, never asserts), because this code runs
// inside the database server on untrusted bytes.
//
// Two ways to read:
//   * parse_smf(bytes, visitor, limits): streams events to a visitor, no
//     allocation per event. The analysis and the benchmarks use it.
//   * read_smf(bytes, limits): materialises every event (tests, the CLI's
//     differential checks, track splitting).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace midipipe {

// Stable identifiers: they are stored in midipipe_files.error_code and shown
// by the CLI, so never renumber or rename one; add new ones at the end.
enum class Code : uint8_t {
  ok = 0,
  // Fatal: the file cannot be read as a Standard MIDI File.
  empty_file,        // zero bytes
  file_too_large,    // larger than Limits::max_file_size
  not_midi,          // no MThd (nor RIFF RMID wrapping one) at the start
  bad_riff,          // RIFF wrapper whose data chunk is missing or cut
  truncated_header,  // MThd chunk shorter than 6 bytes or cut by EOF
  bad_format,        // format field not 0, 1 or 2
  bad_division,      // PPQ 0, or an SMPTE rate other than 24/25/29/30
  no_tracks,         // not one readable MTrk chunk
  too_many_events,   // more than Limits::max_events
  too_many_tracks,   // more than Limits::max_tracks
  // Recoverable: reported as warnings, the file is still read.
  missing_end_of_track,           // a track ends without FF 2F 00
  track_count_mismatch,           // MTrk count differs from the header's ntrks
  trailing_garbage,               // bytes after the last chunk that are no chunk
  unknown_chunk,                  // a chunk that is neither MThd nor MTrk (skipped)
  truncated_track,                // MTrk length runs past EOF; read up to EOF
  running_status_without_status,  // data byte where a status was needed (recovered)
  truncated_event,                // an event cut by the end of its track
  bad_vlq,                        // a variable-length quantity longer than 4 bytes
  long_header,                    // MThd length > 6 (extra bytes skipped)
  undefined_status,               // F4, F5, F9, FD in a track (no defined length; stops it)
  bad_meta_length,                // a meta event whose length runs past the track
  bad_data_byte,                  // a channel message with a data byte >= 0x80 (event dropped)
  system_message,                 // F1-F3, F6, F8, FA-FC, FE in a track (skipped, track goes on)
  // Fatal again (kept at the end so stored codes keep their numbers).
  out_of_memory,  // the analysis could not allocate what the file needs
  // Not about the file: the caller's StopCheck asked the engine to stop. Never
  // stored as a row (the caller reports its own cancel instead).
  cancelled,
  code_count_
};

// "empty_file", "not_midi", ... (the enum's name).
std::string_view code_name(Code c) noexcept;
// true for the fatal codes (empty_file .. too_many_tracks, out_of_memory, cancelled).
bool code_is_fatal(Code c) noexcept;

// Cooperative cancellation. When `fn` is set, the engine calls fn(arg) about
// every kStopEvery units of work (events parsed, notes or boundaries visited
// by an analysis pass, bytes written), i.e. every few tens of microseconds on
// any input, and when it returns true abandons the file: status
// Code::cancelled (parse_smf, analyze_with, split_tracks) or an empty string
// (to_json). fn must not throw or longjmp; it typically reads flags that a
// signal handler or another process sets (src/pg/stop.cpp).
struct StopCheck {
  bool (*fn)(void*) = nullptr;
  void* arg = nullptr;
  bool requested() const { return fn != nullptr && fn(arg); }
};
inline constexpr uint32_t kStopEvery = 16384;

// The cost model. A file's cost is its event count (channel + meta + sysex
// events, all tracks): every per-file allocation of the analysis, the depth
// passes (notes, boundaries, chords), the JSON text and split_tracks is
// linear in it, plus the file's own bytes (text events, track names) and a
// fixed part per track (at most max_tracks). A file with more events than
// max_events is refused (too_many_events, at the offset of the first event
// past the limit) before the analysis allocates for more, so the memory of
// one analysis is bounded by a * max_events + b * file size (README,
// "Resource bounds", has the measured a and b).
struct Limits {
  uint64_t max_file_size = 64ull << 20;  // bytes
  uint64_t max_events = kDefaultMaxEvents;
  uint32_t max_tracks = 65'535;
  uint32_t max_warnings = 16;  // warnings kept (all are counted)
  StopCheck stop;              // cancellation (none by default)
  // The default event limit: 21x the largest file of the shared corpus
  // (95,478 events: a GiantMIDI-Piano Chopin etude), so no real file of it
  // comes near; the SQL side sets it from midipipe.max_events.
  static constexpr uint64_t kDefaultMaxEvents = 2'000'000;
};

struct Warning {
  Code code;
  uint64_t offset;  // byte offset in the file
};

struct Header {
  uint16_t format = 0;
  uint16_t ntracks_declared = 0;
  uint16_t division_raw = 0;  // as stored
  uint16_t ppq = 0;           // ticks per quarter; 0 for SMPTE division
  uint8_t smpte_fps = 0;      // 24, 25, 29 (= 29.97 drop frame) or 30; 0 for PPQ
  uint8_t smpte_ticks_per_frame = 0;
  uint64_t offset = 0;  // byte offset of "MThd" (non-zero inside RIFF)
};

// Result of a parse. `code` is ok or a fatal code; `offset` is where the file
// went wrong. `message` is human-readable (English, one line).
struct ParseStatus {
  Code code = Code::ok;
  uint64_t offset = 0;
  std::string message;
  std::vector<Warning> warnings;  // the first Limits::max_warnings
  uint32_t warning_count = 0;     // all of them
  uint64_t events = 0;            // events delivered to the visitor
  uint32_t tracks = 0;            // MTrk chunks read
  bool ok() const noexcept { return code == Code::ok; }
};

// The visitor concept used by parse_smf. Every member must exist (derive from
// NullVisitor to get no-op defaults). `tick` is the absolute tick within the
// current track. Spans point into the input buffer and are valid only during
// the call.
struct NullVisitor {
  void on_header(const Header&) {}
  void on_track_begin(uint32_t /*track*/, uint64_t /*offset*/) {}
  // status 0x80..0xEF (running status already resolved); d2 is 0 for the
  // one-data-byte messages (0xC0, 0xD0). d1 and d2 are always <= 0x7F: a
  // message with a data byte >= 0x80 is dropped (warning bad_data_byte).
  void on_channel(uint64_t /*tick*/, uint8_t /*status*/, uint8_t /*d1*/, uint8_t /*d2*/) {}
  // status 0xF0 or 0xF7; data excludes the length (and the F0/F7 byte).
  void on_sysex(uint64_t /*tick*/, uint8_t /*status*/, std::span<const uint8_t> /*data*/) {}
  void on_meta(uint64_t /*tick*/, uint8_t /*type*/, std::span<const uint8_t> /*data*/) {}
  // end_tick: the tick of End of Track, or of the last event when it is missing.
  void on_track_end(uint32_t /*track*/, uint64_t /*end_tick*/, bool /*had_end_of_track*/) {}
};

// One materialised event (read_smf).
struct Event {
  uint64_t tick;      // absolute, within its track
  uint32_t offset;    // byte offset in the file of the payload (meta/sysex data)
  uint32_t length;    // payload length (meta/sysex); 0 for channel messages
  uint8_t status;     // 0x80..0xEF, 0xF0, 0xF7 or 0xFF
  uint8_t meta_type;  // for 0xFF
  uint8_t d1, d2;     // channel data bytes
};

struct Track {
  std::vector<Event> events;
  uint64_t end_tick = 0;
  bool had_end_of_track = false;
};

struct Smf {
  Header header;
  std::vector<Track> tracks;
  ParseStatus status;
};

}  // namespace midipipe

#include "smf_parse.hpp"  // template parse_smf<V>(bytes, visitor, limits)

namespace midipipe {
// Materialising reader, built on parse_smf.
Smf read_smf(std::span<const uint8_t> bytes, const Limits& limits = {});
}  // namespace midipipe
