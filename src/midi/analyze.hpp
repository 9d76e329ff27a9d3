// midipipe: the engine's entry point: analyze_with() analyses one Standard
// MIDI File with AnalyzeOptions (the key estimator, analysis depth), within
// Limits. analyze() in analysis.hpp is analyze_with() with the defaults.
//
// Plain C++20; never includes postgres.h; nothing here throws.
#pragma once

#include <cstdint>
#include <span>

#include "analysis.hpp"
#include "key.hpp"

namespace midipipe {

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
// That table is the one histogram (key_sections off). The default now decodes
// the key over segments (key_sections, KeyTimeline): 494/516 = 95.74%,
// cross-validated 95.16% (key.cpp, docs/analysis-depth.md); the weighting and
// the bass/final mixes below only apply to the one histogram and to the
// correlation behind key_confidence.
struct AnalyzeOptions {
  KeyProfile key_profile = KeyProfile::albrecht_shanahan;
  KeyWeight key_weight = KeyWeight::seconds;
  // Extra histograms mixed into the (sum-normalised) main one, each normalised
  // to sum 1 and scaled by its weight (0 = unused):
  double key_bass_weight = 0;   // the lowest sounding pitch class over time (seconds)
  double key_final_weight = 0;  // the pitch classes of the last onset (the final chord)
  // The key the piece starts in, decoded over segments (KeyTimeline), instead
  // of the one profile correlation of the whole histogram. Off: the latter.
  bool key_sections = true;
  KeySectionParams key_section_params;
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
