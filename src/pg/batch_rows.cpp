// midipipe: the engine's result for one file as row values: one row of the
// analysis columns (walking the engine's columns.hpp), one row of the track
// columns per track, and the midipipe_chords parameters. Runs under
// mp_pg_call() (batch_engine.cpp): an ERROR here frees the engine's result.
#include <type_traits>

#include "batch_internal.hpp"
#include "columns.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/memutils.h"
}

namespace mp_batch {

namespace {

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

// An integer into its column (int2, int4 or int8 by the field's size, as
// batch_columns.cpp describes it).
template <class T>
void push_int(Col* c, T v) {
  if constexpr (sizeof(T) == 2)
    push_i2(c, static_cast<int>(v));
  else if constexpr (sizeof(T) == 4)
    push_i4(c, static_cast<int64>(v));
  else
    push_i8(c, static_cast<uint64_t>(v));
}

// The value of each column (columns.hpp) pushed into the next column buffer:
// NULL for an empty optional, a NaN or infinite double, a string that the
// database encoding cannot hold, and every column when `null` is set.
struct RowValue {
  Col* cols;
  int* i;
  bool null;
  template <class T>
  void operator()(const char*, const T& v) const {
    Col* c = &cols[(*i)++];
    if constexpr (is_optional<T>::value) {
      if (null || !v.has_value())
        col_push(c, 0, true);
      else
        (*this).push(c, *v);
    } else if (null) {
      col_push(c, 0, true);
    } else {
      push(c, v);
    }
  }
  template <class T>
  void push(Col* c, const T& v) const {
    if constexpr (std::is_same_v<T, bool>)
      push_bool(c, v);
    else if constexpr (std::is_integral_v<T>)
      push_int(c, v);
    else if constexpr (std::is_same_v<T, double>)
      push_f8(c, v);
    else if constexpr (std::is_same_v<T, std::string>)
      push_str(c, v);
    else if constexpr (std::is_same_v<T, std::vector<std::string>>)
      push_text_list(c, v);
    else if constexpr (std::is_same_v<T, std::vector<int16_t>>)
      push_i2_list(c, v);
    else if constexpr (std::is_same_v<T, std::vector<int64_t>>)
      push_i8_list(c, v);
    else
      col_push(c, drum_counts_jsonb(v), false);
  }
};

// One row of the analysis columns, in analysis_cols() order.
void analysis_row(Batch* b, const EngineOut& eo) {
  const midipipe::Analysis& an = eo.result.analysis;
  static const midipipe::Depth kNoDepth{};
  int i = 0;
  midipipe::visit_analysis_columns(an, RowValue{b->a, &i, false});
  // analysis depth: NULL throughout when it was not computed
  midipipe::visit_depth_columns(an.depth.has_value() ? *an.depth : kNoDepth,
                                RowValue{b->a, &i, !an.depth.has_value()});
  // file-name metadata (of the path of the file that brought this content)
  midipipe::visit_filename_columns(eo.name, RowValue{b->a, &i, false});
  // content search columns (0.4): NULL throughout when they were not computed
  static const midipipe::Content kNoContent{};
  midipipe::visit_content_columns(an.content.has_value() ? *an.content : kNoContent,
                                  RowValue{b->a, &i, !an.content.has_value()});
  if (i != b->na) elog(ERROR, "midipipe: analysis columns out of step (%d)", i);
}

// One row of the track columns per track, with its split file if any.
void track_rows(Batch* b, FileRec* r, const EngineOut& eo) {
  Col* t = b->t;
  r->track_first = t[0].n;
  r->track_count = 0;
  const std::optional<midipipe::Content>& content = eo.result.analysis.content;
  static const midipipe::TrackMelody kNoMelody{};
  size_t ti = 0;
  for (const auto& tr : eo.result.analysis.tracks) {
    int j = 0;
    midipipe::visit_track_columns(tr, RowValue{t, &j, false});
    const midipipe::SplitTrack* st = nullptr;
    for (const auto& sp : eo.split.tracks)
      if (sp.track_no == tr.track_no) st = &sp;
    if (st != nullptr) {
      push_bytea(&t[j++], st->smf.data(), st->smf.size());
      push_bytea(&t[j++], st->sha256.data(), st->sha256.size());
      b->any_smf = true;
    } else {
      col_push(&t[j++], 0, true);
      col_push(&t[j++], 0, true);
    }
    // the melodic line (0.4): NULL when the content columns were not computed
    const bool melody = content.has_value() && ti < content->tracks.size();
    midipipe::visit_track_content_columns(melody ? content->tracks[ti] : kNoMelody,
                                          RowValue{t, &j, !melody});
    ++ti;
    if (j != b->nt) elog(ERROR, "midipipe: track columns out of step (%d)", j);
    ++r->track_count;
  }
}

// The midipipe_chords parameters after file_id, built in binary (null: no chords).
void chord_params(FileRec* r, const midipipe::Analysis& an) {
  r->chords = nullptr;
  if (an.depth.has_value() && !an.depth->chords.empty()) {
    const midipipe::Depth& d = *an.depth;
    const std::vector<midipipe::ChordEvent>& ch = d.chords;
    const int n = static_cast<int>(std::min<size_t>(ch.size(), MaxAllocSize / sizeof(Datum) / 2));
    Datum* v = static_cast<Datum*>(palloc(sizeof(Datum) * n));
    bool* nulls = static_cast<bool*>(palloc0(sizeof(bool) * n));
    r->chords = static_cast<Datum*>(palloc(sizeof(Datum) * (kNChordParams - 1)));
    r->chord_nulls = static_cast<char*>(palloc(kNChordParams - 1));
    memset(r->chord_nulls, ' ', kNChordParams - 1);
    int k = 0;
    if (d.chord_resolution.has_value()) {
      const bool ok =
          utf8_text(d.chord_resolution->data(), d.chord_resolution->size(), &r->chords[k]);
      if (!ok) r->chord_nulls[k] = 'n';
    } else {
      r->chords[k] = 0;
      r->chord_nulls[k] = 'n';
    }
    ++k;
    for (int e = 0; e < n; ++e) v[e] = Int64GetDatum(static_cast<int64>(ch[e].tick));
    r->chords[k++] = simple_array(v, nullptr, n, INT8OID);
    for (int e = 0; e < n; ++e)
      v[e] = Float8GetDatum(std::isfinite(ch[e].seconds) ? ch[e].seconds : 0.0);
    r->chords[k++] = simple_array(v, nullptr, n, FLOAT8OID);
    bool any_null = false;
    for (int e = 0; e < n; ++e) {
      nulls[e] = !ch[e].root.has_value();
      any_null = any_null || nulls[e];
      v[e] = Int16GetDatum(nulls[e] ? 0 : static_cast<int16>(*ch[e].root));
    }
    r->chords[k++] = simple_array(v, any_null ? nulls : nullptr, n, INT2OID);
    for (int which = 0; which < 2; ++which) {
      any_null = false;
      for (int e = 0; e < n; ++e) {
        const std::string& str = which == 0 ? ch[e].quality : ch[e].name;
        nulls[e] = !chord_text(str, &v[e]);
        any_null = any_null || nulls[e];
      }
      r->chords[k++] = simple_array(v, any_null ? nulls : nullptr, n, TEXTOID);
    }
    if (k != kNChordParams - 1) elog(ERROR, "midipipe: chord columns out of step (%d)", k);
  }
}

}  // namespace

void push_analysis(Batch* b, FileRec* r, const EngineOut& eo) {
  analysis_row(b, eo);
  r->analysis_row = b->nanalysis++;
  track_rows(b, r, eo);
  chord_params(r, eo.result.analysis);
}

}  // namespace mp_batch
