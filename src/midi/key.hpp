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

}  // namespace midipipe
