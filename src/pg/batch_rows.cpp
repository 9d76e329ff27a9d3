// midipipe: the engine's result for one file as row values: one row of the
// analysis columns (batch_columns.hpp, in that order), one row of the track
// columns per track, and the midipipe_chords parameters. Runs under
// mp_pg_call() (batch_engine.cpp): an ERROR here frees the engine's result.
#include "batch_internal.hpp"

extern "C" {
#include "utils/memutils.h"
}

namespace mp_batch {

namespace {

// One row of the analysis columns, in kAnalysisCols order: one push per
// column, so as long as the column list (a loop would hide the pairing).
void analysis_row(Batch* b, const EngineOut& eo) {
  const midipipe::Analysis& an = eo.result.analysis;
  Col* a = b->a;
  int i = 0;
  push_i2(&a[i++], an.format);
  push_i4(&a[i++], an.ntracks);
  if (an.ppq.has_value())
    push_i4(&a[i++], *an.ppq);
  else
    col_push(&a[i++], 0, true);
  push_opt_i2(&a[i++], an.smpte_fps);
  push_opt_i2(&a[i++], an.smpte_ticks_per_frame);
  push_i8(&a[i++], an.duration_ticks);
  push_f8(&a[i++], an.duration_seconds);
  push_f8(&a[i++], an.tempo_bpm);
  push_f8(&a[i++], an.tempo_mean_bpm);
  push_f8(&a[i++], an.tempo_min_bpm);
  push_f8(&a[i++], an.tempo_max_bpm);
  push_i4(&a[i++], an.tempo_changes);
  push_str(&a[i++], an.time_signature);
  push_i4(&a[i++], an.time_signature_changes);
  push_opt_str(&a[i++], an.key_signature);
  push_opt_str(&a[i++], an.key);
  push_opt_i2(&a[i++], an.key_tonic);
  push_opt_str(&a[i++], an.key_mode);
  push_opt_f8(&a[i++], an.key_confidence);
  push_i8(&a[i++], an.note_count);
  push_i4(&a[i++], an.unique_pitches);
  push_opt_i2(&a[i++], an.pitch_min);
  push_opt_i2(&a[i++], an.pitch_max);
  push_opt_f8(&a[i++], an.pitch_mean);
  push_opt_i2(&a[i++], an.velocity_min);
  push_opt_i2(&a[i++], an.velocity_max);
  push_opt_f8(&a[i++], an.velocity_mean);
  push_opt_f8(&a[i++], an.velocity_stddev);
  push_f8(&a[i++], an.note_density);
  push_i4(&a[i++], an.polyphony_max);
  push_f8(&a[i++], an.polyphony_mean);
  push_i2_list(&a[i++], an.channels);
  push_i2_list(&a[i++], an.programs);
  push_text_list(&a[i++], an.instrument_families);
  push_bool(&a[i++], an.has_drums);
  push_i8(&a[i++], an.drum_note_count);
  push_i8(&a[i++], an.cc_count);
  push_i8(&a[i++], an.pitch_bend_count);
  push_i8(&a[i++], an.sysex_count);
  push_opt_str(&a[i++], an.title);
  push_opt_str(&a[i++], an.copyright);
  push_text_list(&a[i++], an.track_names);
  push_text_list(&a[i++], an.markers);
  push_bool(&a[i++], an.has_lyrics);
  // analysis depth: NULL throughout when it was not computed
  static const midipipe::Depth kNoDepth{};
  const midipipe::Depth& d = an.depth.has_value() ? *an.depth : kNoDepth;
  const bool hd = an.depth.has_value();
  auto opt_b = [&](bool v) { col_push(&a[i++], BoolGetDatum(v), !hd); };
  auto opt_i4 = [&](int64 v) { col_push(&a[i++], Int32GetDatum(static_cast<int32>(v)), !hd); };
  auto opt_i8 = [&](uint64_t v) {
    col_push(&a[i++], Int64GetDatum(static_cast<int64>(std::min<uint64_t>(v, PG_INT64_MAX))), !hd);
  };
  push_opt_str(&a[i++], d.chord_resolution);
  opt_i4(d.distinct_chords);
  push_opt_f8(&a[i++], d.chord_changes_per_bar);
  opt_b(d.has_sevenths);
  opt_b(d.has_extended);
  push_opt_f8(&a[i++], d.harmonic_complexity);
  if (hd) {
    col_push(&a[i++], drum_counts_jsonb(d.drum_counts), false);
  } else {
    col_push(&a[i++], 0, true);
  }
  opt_i8(d.ghost_notes);
  opt_i8(d.flams);
  opt_b(d.double_bass);
  opt_i4(d.double_bass_runs);
  push_opt_f8(&a[i++], d.swing_ratio);
  push_opt_str(&a[i++], d.drum_feel);
  if (d.drum_pattern_bars.has_value())
    push_i4(&a[i++], *d.drum_pattern_bars);
  else
    col_push(&a[i++], 0, true);
  opt_b(d.drum_loops);
  if (hd) {
    push_i2_list(&a[i++], d.cc_numbers);
    push_i8_list(&a[i++], d.cc_counts);
  } else {
    col_push(&a[i++], 0, true);
    col_push(&a[i++], 0, true);
  }
  opt_i8(d.sustain_pedal_presses);
  opt_b(d.has_sustain);
  push_opt_f8(&a[i++], d.note_length_mean_beats);
  push_opt_f8(&a[i++], d.note_length_median_beats);
  push_opt_f8(&a[i++], d.legato_share);
  push_opt_f8(&a[i++], d.staccato_share);
  push_opt_f8(&a[i++], d.timing_dev_ticks);
  push_opt_f8(&a[i++], d.timing_dev_ms);
  push_opt_f8(&a[i++], d.on_grid_share);
  if (d.timing_humanised.has_value())
    push_bool(&a[i++], *d.timing_humanised);
  else
    col_push(&a[i++], 0, true);
  opt_i4(d.bar_count);
  opt_i4(d.distinct_bars);
  push_opt_f8(&a[i++], d.repeated_share);
  // file-name metadata (of the path of the file that brought this content)
  const midipipe::FilenameMeta& fm = eo.name;
  push_opt_f8(&a[i++], fm.bpm);
  push_opt_str(&a[i++], fm.key);
  push_opt_i2(&a[i++], fm.key_tonic);
  push_opt_str(&a[i++], fm.key_mode);
  push_text_list(&a[i++], fm.genres);
  if (fm.bpm_agrees.has_value())
    push_bool(&a[i++], *fm.bpm_agrees);
  else
    col_push(&a[i++], 0, true);
  if (fm.key_agrees.has_value())
    push_bool(&a[i++], *fm.key_agrees);
  else
    col_push(&a[i++], 0, true);
  if (i != kNAnalysis) elog(ERROR, "midipipe: analysis columns out of step (%d)", i);
}

// One row of the track columns per track, with its split file if any.
void track_rows(Batch* b, FileRec* r, const EngineOut& eo) {
  const midipipe::Analysis& an = eo.result.analysis;
  Col* t = b->t;
  r->track_first = t[0].n;
  r->track_count = 0;
  for (const auto& tr : an.tracks) {
    int j = 0;
    push_i4(&t[j++], tr.track_no);
    push_opt_str(&t[j++], tr.name);
    push_i2_list(&t[j++], tr.channels);
    push_opt_i2(&t[j++], tr.program);
    push_opt_str(&t[j++], tr.instrument);
    push_i8(&t[j++], tr.note_count);
    push_opt_i2(&t[j++], tr.pitch_min);
    push_opt_i2(&t[j++], tr.pitch_max);
    push_bool(&t[j++], tr.is_drum);
    push_i8(&t[j++], tr.duration_ticks);
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
    if (j != kNTracks) elog(ERROR, "midipipe: track columns out of step (%d)", j);
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
