// midipipe: metadata from a file's path: tempo, key and genre words, and
// whether they agree with the analysis (docs/analysis-depth.md, "File-name
// metadata"). A pure function of the path string (and the Analysis).
//
// Plain C++20; never includes postgres.h; throws only std::bad_alloc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analysis.hpp"

namespace midipipe {

struct FilenameMeta {
  std::optional<double> bpm;            // "95bpm", "95 BPM", "bpm_120" (30..300)
  std::optional<std::string> key;       // "F minor" (key_name spelling)
  std::optional<int16_t> key_tonic;     // 0 = C
  std::optional<std::string> key_mode;  // "major" / "minor"
  std::vector<std::string> genres;      // from a fixed list, sorted, distinct
  std::optional<bool> bpm_agrees;       // NULL without a bpm (or without an analysis)
  std::optional<bool> key_agrees;       // NULL without a key (or without an analysis)
};

// `analysis` may be null: then the *_agrees fields stay NULL.
FilenameMeta filename_meta(std::string_view path, const Analysis* analysis);

// The fixed genre list (lower case), for the documentation and the tests.
std::vector<std::string_view> filename_genre_words();

}  // namespace midipipe
