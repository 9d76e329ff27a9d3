// midipipe: track splitting: one format-0 Standard MIDI File per track that
// has notes (docs/analysis-depth.md, "Track splitting").
//
// Plain C++20; never includes postgres.h; never throws (std::bad_alloc is
// caught and reported as out_of_memory). Linear in the events plus a sort per
// split track; the output is bounded (kMaxSplitOutput).
//
//   * format 1: every track with at least one note (note-on, velocity > 0),
//     conductor track included, gives a format-0 file holding all its own
//     events (its End of Track excepted) merged in tick order with the Set
//     Tempo (FF 51), Time Signature (FF 58) and Key Signature (FF 59) events
//     of every other track at their true absolute ticks (those up to the
//     track's end), with the same division; ties at one tick keep the file's
//     track order, so the tempo in force is the one the original plays (the
//     last at a tick wins). End of Track at the track's own end tick.
//   * format 2: each track with notes is independent: its own events only.
//   * format 0: nothing (the file already is one track; splitting by channel
//     is not done).
// Channel messages are written with explicit status bytes (no running status).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "sha256.hpp"
#include "smf.hpp"

namespace midipipe {

struct SplitTrack {
  uint32_t track_no = 0;     // 0-based chunk index in the original
  uint64_t note_count = 0;   // note-ons with velocity > 0
  std::vector<uint8_t> smf;  // the format-0 file
  Sha256Digest sha256{};     // of `smf`
};

struct SplitResult {
  ParseStatus status;  // the original's parse status (or out_of_memory / file_too_large)
  std::vector<SplitTrack> tracks;
};

// Most bytes all split files of one input may take together: 16 x the input
// plus 1 MiB (a conductor track copied into 65,535 tracks must not exhaust
// memory). Beyond it: status file_too_large, no tracks.
uint64_t split_output_limit(uint64_t input_size) noexcept;
// What split_tracks applies: also at most the file + 16 bytes per event of
// Limits::max_events (+ 1 MiB), so that the output is bounded by the cost
// model (Limits) as well as by the input.
uint64_t split_output_limit(uint64_t input_size, uint64_t max_events) noexcept;

SplitResult split_tracks(std::span<const uint8_t> bytes, const Limits& limits = {});

}  // namespace midipipe
