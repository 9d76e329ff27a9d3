// midipipe: find music by its content (issue 18): fingerprints of the notes,
// a near-match signature, the melodic line of each track and the chord
// progression as key-relative Roman numerals, each in an indexable form
// (docs/content.md has every definition and what it does and does not catch).
//
// Plain C++20; never includes postgres.h. compute_content() runs in the
// analysis pass after compute_depth() (it reads the same paired notes), is
// O(n log n) in the notes and allocates in proportion to them; it throws only
// std::bad_alloc and Cancelled (in.stop), which analyze_with() catches. The
// query helpers (melody_query, parse_progression, find_positions) never throw
// anything but std::bad_alloc and bound their input.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "depth.hpp"

namespace midipipe {

// The melodic line of one track (the skyline of its non-drum notes); NULL
// columns (empty optionals) for a track without non-drum notes.
struct TrackMelody {
  std::optional<std::vector<int16_t>> melody_intervals;  // pitch steps between line notes
  std::optional<std::vector<int64_t>> melody_onsets_ms;  // onset of each line note (ms)
  std::optional<std::vector<int64_t>> melody_ngrams;     // winnowed interval 4-grams, ascending
};

// The content columns of one distinct content (midipipe_analysis); an empty
// optional is NULL.
struct Content {
  // fingerprints, 32 hex digits: of the non-drum notes, exact and under any
  // transposition; of the drum notes (channel index 9)
  std::optional<std::string> notes_fingerprint;
  std::optional<std::string> notes_fingerprint_transposed;
  std::optional<std::string> drums_fingerprint;
  // near match: one-permutation MinHash of the note 4-grams, and its LSH bands
  std::optional<std::vector<int64_t>> notes_minhash;  // kMinhashBins values
  std::optional<std::vector<int64_t>> notes_bands;    // kMinhashBands values
  // progression: family-level Roman numerals of the chords in the detected
  // key (NULL without a key or without the chords)
  std::optional<std::vector<std::string>> progression;        // "I", "V", "vi", "viio", ...
  std::optional<std::vector<int16_t>> progression_codes;      // degree * 8 + family + 1
  std::optional<std::vector<int64_t>> progression_onsets_ms;  // where each starts
  std::optional<std::vector<int64_t>> progression_bars;       // 1-based bar of each
  std::optional<std::vector<int64_t>> progression_ngrams;     // distinct 2- and 3-grams
  // one per Analysis::tracks entry
  std::vector<TrackMelody> tracks;
};

inline constexpr int kMinhashBins = 64;
inline constexpr int kMinhashBandRows = 3;
inline constexpr int kMinhashBands = kMinhashBins / kMinhashBandRows;  // 21 (bin 63 unbanded)
inline constexpr int kMelodyGram = 4;    // intervals per melody n-gram (5 notes)
inline constexpr int kMelodyWindow = 2;  // winnowing window, in n-grams (melody_grams)
inline constexpr int kMinMelodyNotes = kMelodyGram + kMelodyWindow;  // a query's least (6)
inline constexpr int kMaxQueryNotes = 64;  // melody and progression queries

// The chord families of the progression (index = family code).
// major: maj 6 7 maj7 add9 9 maj9; minor: min m6 m7 m9; diminished: dim
// m7b5 dim7; augmented: aug; suspended: sus2 sus4 7sus4; augmented sixth:
// aug6 (written on its bass, the lowered sixth: "bVI+6").
inline constexpr int kChordFamilies = 6;
inline constexpr int kAugSixth = 5;                   // the augmented sixth's family
int chord_family(std::string_view quality) noexcept;  // -1 for "none"/unknown
// "I", "bIII", "#iv", "viio", "III+", "Vsus", "bVI+6": degree 0..11 semitones above the tonic.
std::string roman_numeral(int degree, int family);

namespace content_detail {

inline constexpr uint64_t kGrid = 48;  // onsets and ends on a grid of 1/48 beat
__extension__ typedef unsigned __int128 U128;

// round(t * kGrid / ppq), halves up, for t < 2^56 (no overflow: 2 kGrid t <
// 2^63): floor((2 kGrid t + ppq) / (2 ppq)). One file's notes all divide by
// the same 2 ppq, so the division is a multiplication by its reciprocal m =
// floor(2^64 / d) + 1, exact while x (d m - 2^64) < 2^64, i.e. x <= 2^64 / d
// (d m - 2^64 <= d); past that (ticks beyond about 2^40) a division.
class Quantiser {
 public:
  explicit Quantiser(uint64_t ppq) noexcept
      : d_(2 * std::max<uint64_t>(ppq, 1)),
        half_(d_ / 2),
        m_(UINT64_MAX / d_ + 1),
        lim_(UINT64_MAX / d_) {}
  uint64_t operator()(uint64_t t) const noexcept {
    const uint64_t x = 2 * kGrid * t + half_;
    return x <= lim_ ? static_cast<uint64_t>((static_cast<U128>(x) * m_) >> 64) : x / d_;
  }

 private:
  uint64_t d_, half_, m_, lim_;
};

}  // namespace content_detail

struct Analysis;
// Fills Analysis::content from the notes the depth pass sorted (by start,
// then seq), the tempo map and meter of `in`, a.key_* and a.depth->chords.
// Throws only std::bad_alloc and Cancelled.
void compute_content(DepthInput& in, Analysis& a);

// A melody query: at least kMinMelodyNotes and at most kMaxQueryNotes pitches
// (0..127). error: empty when good, else a message.
struct MelodyQuery {
  std::vector<int16_t> intervals;
  std::vector<int64_t> ngrams;  // the query's winnowed n-grams (distinct, ascending)
  std::string error;
};
MelodyQuery melody_query(std::span<const int32_t> pitches);

// A progression query ("ii V I", "I-V-vi-IV", "i bVII bVI V7"): 2 to
// kMaxQueryNotes numerals. error_pos: 1-based character of the error, 0 when good.
struct ProgressionQuery {
  std::vector<int16_t> codes;
  std::vector<int64_t> ngrams;  // the 3-grams (the 2-gram for two numerals)
  int error_pos = 0;
  std::string error;
};
ProgressionQuery parse_progression(std::string_view text);

// The 0-based positions where `needle` occurs in `haystack` (overlapping
// occurrences each count). Empty needle: none.
std::vector<int32_t> find_positions(std::span<const int16_t> haystack,
                                    std::span<const int16_t> needle);

}  // namespace midipipe
