// midipipe: analysis depth: chords, drums, performance traits, bar structure
// (docs/analysis-depth.md has every field's definition).
//
// Plain C++20; never includes postgres.h. compute_depth() is linear (or
// n log n) in the notes it is given and allocates only in proportion to them;
// the only exception it can throw is std::bad_alloc, which analyze_with()
// catches. The analysis fills a DepthInput during its one pass over the events
// (AnalyzeOptions::depth) and stores the result in Analysis::depth.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "smf.hpp"  // StopCheck

namespace midipipe {

// One paired note (zero-length notes included: drums count by onset).
struct DepthNote {
  uint64_t start, end;  // absolute ticks (per track for format 2)
  // Order among the notes with the same start (their note-off order: the
  // order the notes were completed in); compute_depth sorts by (start, seq).
  uint32_t seq;
  uint32_t track;
  uint8_t channel, pitch, velocity;
};

struct DepthInput {
  uint16_t ppq = 0;                   // 0: SMPTE division (beat-based fields stay empty)
  double smpte_seconds_per_tick = 0;  // SMPTE only
  uint64_t duration_ticks = 0;
  std::vector<DepthNote> notes;
  // The boundaries of the notes that have a length (end > start), drum notes
  // included, as integers tick << 9 | is_start << 8 | is_drum << 7 | pitch,
  // sorted, ticks clamped to 2^55 - 1: the analysis sorts them for its own
  // sweep and passes them on when they cover the whole file on one time line
  // (formats 0 and 1), so that the chord pass need not sort again. Without
  // them (have_boundaries false) compute_depth builds its own from `notes`.
  std::vector<uint64_t> boundaries;
  bool have_boundaries = false;
  // True when no drum note was read, so that `boundaries` holds no drum
  // boundary (the chord pass then need not look for one); false says nothing.
  bool boundaries_without_drums = false;
  // (tick, value), each sorted by tick with ties in file order (the last wins)
  std::vector<std::pair<uint64_t, uint32_t>> tempos;     // us per quarter, > 0
  std::vector<std::pair<uint64_t, uint32_t>> time_sigs;  // nn << 8 | dd
  std::array<uint64_t, 128> cc_counts{};                 // control changes by number
  uint64_t sustain_presses = 0;                          // CC64 going from < 64 to >= 64
  StopCheck stop;  // polled in every pass (Limits::stop); compute_depth then throws Cancelled
};

// One entry of the chord progression (equal consecutive chords merged).
struct ChordEvent {
  uint64_t tick;
  double seconds;
  std::optional<int16_t> root;  // 0 = C; empty for "N" (no chord)
  std::string quality;          // "maj", "min", ..., or "none"
  std::string name;             // "C", "Am", "G7", "Bdim", ..., or "N"
};

// The GM drum classes counted on channel index 9, in this order.
inline constexpr int kDrumClasses = 14;
// "kick", "snare", "side_stick", "clap", "hihat_closed", "hihat_pedal",
// "hihat_open", "toms", "crash", "ride", "ride_bell", "china", "splash",
// "percussion".
std::string_view drum_class_name(int cls) noexcept;
// The class of a GM drum key (any 0..127 key; unknown keys are "percussion").
int drum_class_of(int key) noexcept;

// The chord qualities, simplest first (the index is the tie-break order).
inline constexpr int kChordQualities = 19;
std::string_view chord_quality_name(int q) noexcept;  // "maj", "min", "dim", ...
std::string_view chord_suffix(int q) noexcept;        // "", "m", "dim", ...

struct Depth {
  // chords (non-drum notes)
  std::optional<std::string> chord_resolution;  // "beat", "half_bar" or "bar"
  std::vector<ChordEvent> chords;
  uint32_t distinct_chords = 0;
  std::optional<double> chord_changes_per_bar;
  bool has_sevenths = false, has_extended = false;
  std::optional<double> harmonic_complexity;  // 0..1
  // drums (channel index 9 only)
  std::array<uint64_t, kDrumClasses> drum_counts{};
  uint64_t ghost_notes = 0;
  uint64_t flams = 0;
  uint32_t double_bass_runs = 0;
  bool double_bass = false;
  std::optional<double> swing_ratio;
  std::optional<std::string> drum_feel;  // "straight", "swung", "shuffled"
  std::optional<uint32_t> drum_pattern_bars;
  bool drum_loops = false;
  // performance
  std::vector<int16_t> cc_numbers;  // controllers used, ascending
  std::vector<int64_t> cc_counts;   // parallel to cc_numbers
  uint64_t sustain_pedal_presses = 0;
  bool has_sustain = false;
  std::optional<double> note_length_mean_beats, note_length_median_beats;
  std::optional<double> legato_share, staccato_share;
  std::optional<double> timing_dev_ticks, timing_dev_ms;  // mean absolute
  std::optional<double> on_grid_share;
  std::optional<bool> timing_humanised;
  // structure
  uint32_t bar_count = 0;  // bars holding at least one note onset
  uint32_t distinct_bars = 0;
  std::optional<double> repeated_share;
};

// Throws only std::bad_alloc, and Cancelled (stop.hpp) when in.stop asks it
// to stop. `in.notes` is reordered (by start, then seq).
Depth compute_depth(DepthInput& in);

}  // namespace midipipe
