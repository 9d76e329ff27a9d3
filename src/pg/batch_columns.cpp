// midipipe: the analysis and track columns as the plans need them, from the
// engine's visitors (columns.hpp): each field's C++ type gives its column's.
#include "batch_columns.hpp"

#include <array>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "columns.hpp"

extern "C" {
#include "catalog/pg_type.h"
}

namespace mp_batch {
namespace {

template <class T>
struct Unopt {
  using type = T;
};
template <class T>
struct Unopt<std::optional<T>> {
  using type = T;
};

// The column type of a field of type T.
template <class T>
ColSpec describe(const char* name) {
  using U = typename Unopt<T>::type;
  if constexpr (std::is_same_v<U, bool>) {
    return {name, BOOLOID, BOOLOID};
  } else if constexpr (std::is_integral_v<U>) {
    static_assert(sizeof(U) == 2 || sizeof(U) == 4 || sizeof(U) == 8, "an integer column");
    const Oid t = sizeof(U) == 2 ? INT2OID : sizeof(U) == 4 ? INT4OID : INT8OID;
    return {name, t, t};
  } else if constexpr (std::is_same_v<U, double>) {
    return {name, FLOAT8OID, FLOAT8OID};
  } else if constexpr (std::is_same_v<U, std::string>) {
    return {name, TEXTOID, TEXTOID};
  } else if constexpr (std::is_same_v<U, std::vector<std::string>>) {
    return {name, TEXTARRAYOID, TEXTARRAYOID};
  } else if constexpr (std::is_same_v<U, std::vector<int16_t>>) {
    return {name, INT2ARRAYOID, INT2ARRAYOID};
  } else if constexpr (std::is_same_v<U, std::vector<int64_t>>) {
    return {name, INT8ARRAYOID, INT8ARRAYOID};
  } else {
    static_assert(std::is_same_v<U, std::array<uint64_t, midipipe::kDrumClasses>>,
                  "a column type batch_rows.cpp knows");
    return {name, JSONBOID, JSONBOID};
  }
}

struct Describe {
  ColSpec* cols;
  int* n;
  template <class T>
  void operator()(const char* name, const T&) const {
    if (*n < kMaxCols) cols[*n] = describe<T>(name);
    ++*n;  // more than kMaxCols: reported by the caller
  }
};

ColSpec g_analysis[kMaxCols];
int g_nanalysis = -1;
ColSpec g_tracks[kMaxCols];
int g_ntracks = -1;

void check_count(const char* table, int n) {
  if (n > kMaxCols)
    elog(ERROR, "midipipe: %d columns of %s, more than the %d a batch can write", n, table,
         kMaxCols);
}

}  // namespace

const ColSpec* analysis_cols(int* n) {
  if (g_nanalysis < 0) {
    int k = 0;
    const Describe d{g_analysis, &k};
    midipipe::visit_analysis_columns(midipipe::Analysis{}, d);
    midipipe::visit_depth_columns(midipipe::Depth{}, d);
    midipipe::visit_filename_columns(midipipe::FilenameMeta{}, d);
    midipipe::visit_content_columns(midipipe::Content{}, d);  // 0.4
    check_count("midipipe_analysis", k);
    g_nanalysis = k;
  }
  *n = g_nanalysis;
  return g_analysis;
}

const ColSpec* track_cols(int* n) {
  if (g_ntracks < 0) {
    int k = 0;
    midipipe::visit_track_columns(midipipe::TrackAnalysis{}, Describe{g_tracks, &k});
    check_count("midipipe_tracks", k + 2);
    g_tracks[k++] = {"smf", BYTEAOID, BYTEAOID};         // 0.2: the track split to a format-0 file
    g_tracks[k++] = {"smf_sha256", BYTEAOID, BYTEAOID};  // (NULL unless the run splits)
    midipipe::visit_track_content_columns(midipipe::TrackMelody{},
                                          Describe{g_tracks, &k});  // 0.4: the melodic line
    check_count("midipipe_tracks", k);
    g_ntracks = k;
  }
  *n = g_ntracks;
  return g_tracks;
}

const ColSpec* chord_cols() {
  static const ColSpec cols[kNChordParams - 1] = {{"resolution", TEXTOID, TEXTOID},
                                                  {"ticks", INT8ARRAYOID, INT8ARRAYOID},
                                                  {"seconds", FLOAT8ARRAYOID, FLOAT8ARRAYOID},
                                                  {"roots", INT2ARRAYOID, INT2ARRAYOID},
                                                  {"qualities", TEXTARRAYOID, TEXTARRAYOID},
                                                  {"names", TEXTARRAYOID, TEXTARRAYOID}};
  return cols;
}

const ColSpec* file_cols() {
  static const ColSpec cols[kNFileCols] = {{"path", TEXTOID, TEXTOID},
                                           {"size", INT8OID, INT8OID},
                                           {"mtime", TIMESTAMPTZOID, TIMESTAMPTZOID},
                                           {"sha256", BYTEAOID, BYTEAOID},
                                           {"status", TEXTOID, TEXTOID},
                                           {"duplicate_of", INT8OID, INT8OID},
                                           {"error_code", TEXTOID, TEXTOID},
                                           {"error_message", TEXTOID, TEXTOID},
                                           {"error_offset", INT8OID, INT8OID},
                                           {"run_id", INT8OID, INT8OID}};
  return cols;
}

}  // namespace mp_batch
