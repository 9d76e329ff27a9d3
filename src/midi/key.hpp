// midipipe: key estimation from a pitch-class histogram, key names, and the
// analysis options used to measure the estimators (test/analysis/key_accuracy).
//
// Plain C++20; never includes postgres.h; nothing here throws.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "analysis.hpp"

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

// "C major", "F# minor", "Bb major". Spelling: of the two enharmonic names,
// the one whose key signature has fewer accidentals (Db major, not C# major;
// G# minor, not Ab minor); the six-accidental ties are F# major and Eb minor.
std::string_view key_name(int tonic, bool minor) noexcept;

// Name of a key signature meta event (FF 59 sf mi), spelled as the signature
// says ("Gb major" for 6 flats, "C# major" for 7 sharps). nullopt when sf is
// outside -7..7 or mi is not 0 or 1.
std::optional<std::string_view> key_signature_name(int sf, int mi) noexcept;

// Options of the analysis that only the measurements change.
//
// The default key estimator was chosen on the labelled Nottingham tunes (516
// folk tunes, key signature events removed; exact tonic and mode; "stable" =
// the 481 tunes without a key change), measured by test/analysis/key_accuracy:
//
//   profile                 by seconds  by count  +bass 0.5 (seconds)  stable (seconds)
//   krumhansl_kessler          83.72%     82.75%      89.73%              86.49%
//   temperley_kostka_payne     91.09%     91.09%      91.28%              94.39%
//   temperley_1999             88.95%     89.15%      90.50%              92.10%
//   albrecht_shanahan          91.28%     91.09%      91.28%              94.39%   <- default
//   aarden_essen               91.28%     89.53%      88.37%              94.59%
//   bellman_budge              92.05%     92.05%      85.08%              95.22%
//
// Weighting by ticks gives exactly the seconds figures here (no tune has a
// tempo change). Mixing in the pitch classes of the final onset (weights
// 0.25..1) lowered every profile except temperley_1999 (91.47% at 0.25).
// The top four are within 4 tunes (one standard error, ~1.2%) of each other;
// Albrecht-Shanahan is chosen because it stays at 91-92% under every
// weighting variant measured, while Bellman-Budge and Aarden-Essen drop by
// 3-7 points as soon as the histogram shape changes (a sign of a narrow fit).
struct AnalyzeOptions {
  KeyProfile key_profile = KeyProfile::albrecht_shanahan;
  KeyWeight key_weight = KeyWeight::seconds;
  // Extra histograms mixed into the (sum-normalised) main one, each normalised
  // to sum 1 and scaled by its weight (0 = unused):
  double key_bass_weight = 0;   // the lowest sounding pitch class over time (seconds)
  double key_final_weight = 0;  // the pitch classes of the last onset (the final chord)
  // Analysis depth (Analysis::depth: chords, drums, performance, structure;
  // docs/analysis-depth.md). Off: Analysis::depth stays empty.
  bool depth = true;
  // Content search columns (Analysis::content: fingerprints, melodies,
  // progression; docs/content.md), computed only with depth.
  bool content = true;
};
AnalyzeOptions default_analyze_options() noexcept;

AnalyzeResult analyze_with(std::span<const uint8_t> bytes, const Limits& limits,
                           const AnalyzeOptions& options);

}  // namespace midipipe
