// midipipe: key estimation from a pitch-class histogram, and key names. The
// analysis's choice of estimator (AnalyzeOptions) is in analyze.hpp.
//
// Plain C++20; never includes postgres.h; nothing here throws.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace midipipe {

// Key profiles (major and minor weights, tonic first). The values are the
// published ones, as tabulated by music21 (analysis/discrete.py).
enum class KeyProfile : uint8_t {
  krumhansl_kessler,       // Krumhansl & Kessler 1982 (probe-tone ratings)
  temperley_kostka_payne,  // Temperley 2007, Kostka-Payne corpus
  temperley_1999,          // Temperley 1999 (revised Krumhansl-Kessler)
  albrecht_shanahan,       // Albrecht & Shanahan 2013
  aarden_essen,            // Aarden 2003, Essen folk song collection
  bellman_budge,           // Bellman 2005 / Budge 1943
  count_
};
std::string_view key_profile_name(KeyProfile p) noexcept;

// What the pitch-class histogram of the notes is weighted by.
enum class KeyWeight : uint8_t {
  seconds,  // the time each pitch class sounds, in seconds (through the tempo map)
  ticks,    // the same in ticks
  count,    // one per note
};

struct KeyEstimate {
  bool found = false;  // false when the histogram is empty (no pitched notes)
  int tonic = 0;       // 0 = C
  bool minor = false;
  double correlation = 0;  // Pearson r of the best of the 24 keys
  double second = 0;       // r of the runner-up
  double confidence = 0;   // 0..1, see key.cpp
};

// Correlates `hist` (12 pitch classes, C first) with the 24 rotations of the
// profile's major and minor vectors and returns the best key.
KeyEstimate estimate_key(std::span<const double, 12> hist, KeyProfile profile) noexcept;

// The key in force at the start of the piece, from the notes over time.
//
// The timeline is cut into segments of a fixed number of ticks (two beats by
// default); each segment holds the time each pitch class sounds in it, in
// segment units. estimate() decodes the most probable sequence of keys over
// the segments (a hidden Markov model: the notes of a segment are drawn from
// the key's profile, read as pitch-class probabilities; the key stays from one
// segment to the next with probability 1 - change_probability, else becomes
// any of the 23 others) and returns the key of its first segment that has
// notes: the key the piece starts in, with later sections in other keys
// (a B part in the dominant, a modulation) not pulling it away. key.cpp says
// how the parameters were chosen.
struct KeySectionParams {
  double beats_per_segment = 2;      // segment length in quarter notes
  double weight = 2;                 // scale of a segment's log-likelihood
  double change_probability = 0.01;  // per segment
  double major_probability = 0.9;    // prior of a major key at the start
};

class KeyTimeline {
 public:
  // ppq: ticks per quarter note (MIDI division); ticks_per_second for SMPTE
  // divisions (ppq 0): half a second per beat of beats_per_segment. Neither:
  // unused (active() false).
  void start(uint32_t ppq, double ticks_per_second, const KeySectionParams& params) noexcept;
  bool active() const noexcept { return seg_ticks_ != 0; }
  // A non-drum note sounding from `start` to `end` (ticks). O(1) amortised;
  // the memory is at most kMaxSegments segments (longer timelines merge
  // neighbouring segments: the segments get longer, the result stays defined).
  // May throw std::bad_alloc.
  void add(uint64_t start, uint64_t end, uint8_t pitch);
  // `global`: the piece's pitch-class histogram (for the correlation and the
  // confidence of the returned key, as estimate_key reports them).
  // Consumes the timeline (its memory is freed).
  KeyEstimate estimate(KeyProfile profile, std::span<const double, 12> global);

  static constexpr size_t kMaxSegments = 1024;

 private:
  void grow(size_t segments);
  void fold();
  void set_limit() noexcept;
  uint64_t seg_ticks_ = 0;
  uint64_t first_seg_ticks_ = 0;  // before any fold
  uint64_t limit_ = 0;            // end ticks beyond it fold the segments
  double inv_seg_ = 0;
  size_t used_ = 0;          // segments holding notes (0 .. kMaxSegments)
  bool have_whole_ = false;  // whole_ has an entry
  KeySectionParams params_;
  // 12 per segment: time a pitch class sounds in segments it only partly
  // covers (segment units), and a difference array of the segments it covers
  // whole (+1 at the first, -1 after the last).
  std::vector<float> part_;
  std::vector<int32_t> whole_;
};

// The local key of every segment: the most probable key sequence of
// KeyTimeline's hidden Markov model (same emissions and transitions; the
// first key's prior from params.major_probability) over `n` segments of 12
// values each in `seg` (the time each pitch class sounds in the segment, in
// segment units; a segment without notes keeps the key around it). Writes
// `n` keys to `out`: 0-11 major tonics, 12-23 minor tonics (C first). Per
// segment 24 multiply-adds per sounding pitch class and 24 for the
// transition, and 5 bytes of back-pointers. May throw std::bad_alloc.
void decode_key_path(const float* seg, size_t n, KeyProfile profile, const KeySectionParams& params,
                     uint8_t* out);

// "C major", "F# minor", "Bb major". Spelling: of the two enharmonic names,
// the one whose key signature has fewer accidentals (Db major, not C# major;
// G# minor, not Ab minor); the six-accidental ties are F# major and Eb minor.
std::string_view key_name(int tonic, bool minor) noexcept;

// Name of a key signature meta event (FF 59 sf mi), spelled as the signature
// says ("Gb major" for 6 flats, "C# major" for 7 sharps). nullopt when sf is
// outside -7..7 or mi is not 0 or 1.
std::optional<std::string_view> key_signature_name(int sf, int mi) noexcept;

}  // namespace midipipe
