// midipipe: the JSON form of an analysis (the CLI's output, midipipe_analyze()).
//
// Strict JSON in valid UTF-8, so that PostgreSQL's jsonb accepts it: strings
// that are not valid UTF-8 are decoded as Latin-1, NUL is dropped (jsonb
// rejects \u0000), other control characters are escaped; doubles are written
// in their shortest round-trip form and NaN/Inf become null.
#include <charconv>
#include <cmath>

#include "analysis.hpp"
#include "analysis_internal.hpp"
#include "filename_meta.hpp"
#include "split.hpp"
#include "stop.hpp"

namespace midipipe {
namespace {

void put_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto* b = reinterpret_cast<const uint8_t*>(s.data());
  const bool utf8 = is_valid_utf8(std::span<const uint8_t>(b, s.size()));
  out.push_back('"');
  for (size_t i = 0; i < s.size(); ++i) {
    const uint8_t c = b[i];
    switch (c) {
      case 0:
        break;
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else if (c < 0x80 || utf8) {
          out.push_back(static_cast<char>(c));
        } else {  // Latin-1
          out.push_back(static_cast<char>(0xC0 | (c >> 6)));
          out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        }
    }
  }
  out.push_back('"');
}

void put_double(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

template <class T>
void put_int(std::string& out, T v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// An object being written: key() adds the comma and the key.
class Obj {
 public:
  explicit Obj(std::string& out) : out_(out) { out_.push_back('{'); }
  void close() { out_.push_back('}'); }

  std::string& key(std::string_view k) {
    if (!first_) out_.push_back(',');
    first_ = false;
    put_string(out_, k);
    out_.push_back(':');
    return out_;
  }
  void str(std::string_view k, std::string_view v) { put_string(key(k), v); }
  void str(std::string_view k, const std::string& v) { put_string(key(k), v); }
  void str(std::string_view k, const char* v) { put_string(key(k), v); }
  void str(std::string_view k, const std::optional<std::string>& v) {
    if (v) {
      str(k, *v);
    } else {
      key(k) += "null";
    }
  }
  template <class T>
  void integer(std::string_view k, T v) {
    put_int(key(k), v);
  }
  template <class T>
  void integer(std::string_view k, const std::optional<T>& v) {
    if (v) {
      put_int(key(k), *v);
    } else {
      key(k) += "null";
    }
  }
  void number(std::string_view k, double v) { put_double(key(k), v); }
  void number(std::string_view k, const std::optional<double>& v) {
    if (v) {
      put_double(key(k), *v);
    } else {
      key(k) += "null";
    }
  }
  void boolean(std::string_view k, bool v) { key(k) += v ? "true" : "false"; }
  void int_array(std::string_view k, const std::vector<int16_t>& v) {
    std::string& o = key(k);
    o.push_back('[');
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) o.push_back(',');
      put_int(o, v[i]);
    }
    o.push_back(']');
  }
  template <class T>
  void num_array(std::string_view k, const std::vector<T>& v) {
    std::string& o = key(k);
    o.push_back('[');
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) o.push_back(',');
      put_int(o, v[i]);
    }
    o.push_back(']');
  }
  void opt_bool(std::string_view k, const std::optional<bool>& v) {
    key(k) += v ? (*v ? "true" : "false") : "null";
  }
  void str_array(std::string_view k, const std::vector<std::string>& v) {
    std::string& o = key(k);
    o.push_back('[');
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) o.push_back(',');
      put_string(o, v[i]);
    }
    o.push_back(']');
  }

 private:
  std::string& out_;
  bool first_ = true;
};

void put_warnings(Obj& o, const ParseStatus& st) {
  std::string& out = o.key("warnings");
  out.push_back('[');
  for (size_t i = 0; i < st.warnings.size(); ++i) {
    if (i) out.push_back(',');
    std::string w(code_name(st.warnings[i].code));
    w.push_back('@');
    put_int(w, st.warnings[i].offset);
    put_string(out, w);
  }
  out.push_back(']');
}

void put_track(std::string& out, const TrackAnalysis& t) {
  Obj o(out);
  o.integer("track_no", t.track_no);
  o.str("name", t.name);
  o.int_array("channels", t.channels);
  o.integer("program", t.program);
  o.str("instrument", t.instrument);
  o.integer("note_count", t.note_count);
  o.integer("pitch_min", t.pitch_min);
  o.integer("pitch_max", t.pitch_max);
  o.boolean("is_drum", t.is_drum);
  o.integer("duration_ticks", t.duration_ticks);
  o.close();
}

void put_depth(Obj& o, const Depth& d, Poller& poller) {
  o.str("chord_resolution", d.chord_resolution);
  o.integer("distinct_chords", d.distinct_chords);
  o.number("chord_changes_per_bar", d.chord_changes_per_bar);
  o.boolean("has_sevenths", d.has_sevenths);
  o.boolean("has_extended", d.has_extended);
  o.number("harmonic_complexity", d.harmonic_complexity);
  {
    // one object, as the jsonb column midipipe_analysis.drum_counts holds it
    std::string& dc = o.key("drum_counts");
    Obj e(dc);
    for (int c = 0; c < kDrumClasses; ++c) e.integer(drum_class_name(c), d.drum_counts[c]);
    e.close();
  }
  o.integer("ghost_notes", d.ghost_notes);
  o.integer("flams", d.flams);
  o.boolean("double_bass", d.double_bass);
  o.integer("double_bass_runs", d.double_bass_runs);
  o.number("swing_ratio", d.swing_ratio);
  o.str("drum_feel", d.drum_feel);
  o.integer("drum_pattern_bars", d.drum_pattern_bars);
  o.boolean("drum_loops", d.drum_loops);
  o.int_array("cc_numbers", d.cc_numbers);
  o.num_array("cc_counts", d.cc_counts);
  o.integer("sustain_pedal_presses", d.sustain_pedal_presses);
  o.boolean("has_sustain", d.has_sustain);
  o.number("note_length_mean_beats", d.note_length_mean_beats);
  o.number("note_length_median_beats", d.note_length_median_beats);
  o.number("legato_share", d.legato_share);
  o.number("staccato_share", d.staccato_share);
  o.number("timing_dev_ticks", d.timing_dev_ticks);
  o.number("timing_dev_ms", d.timing_dev_ms);
  o.number("on_grid_share", d.on_grid_share);
  o.opt_bool("timing_humanised", d.timing_humanised);
  o.integer("bar_count", d.bar_count);
  o.integer("distinct_bars", d.distinct_bars);
  o.number("repeated_share", d.repeated_share);
  std::string& out = o.key("chords");
  out.push_back('[');
  for (size_t i = 0; i < d.chords.size(); ++i) {
    poller.step();
    if (i) out.push_back(',');
    const ChordEvent& c = d.chords[i];
    Obj e(out);
    e.integer("tick", c.tick);
    e.number("seconds", c.seconds);
    e.integer("root", c.root);
    e.str("quality", c.quality);
    e.str("name", c.name);
    e.close();
  }
  out.push_back(']');
}

void put_filename_meta(Obj& o, const FilenameMeta& m) {
  o.number("filename_bpm", m.bpm);
  o.str("filename_key", m.key);
  o.integer("filename_key_tonic", m.key_tonic);
  o.str("filename_key_mode", m.key_mode);
  o.str_array("filename_genres", m.genres);
  o.opt_bool("filename_bpm_agrees", m.bpm_agrees);
  o.opt_bool("filename_key_agrees", m.key_agrees);
}

void put_splits(Obj& o, const SplitResult& s) {
  if (!s.status.ok()) {
    o.str("split_error", code_name(s.status.code));
    return;
  }
  std::string& out = o.key("splits");
  out.push_back('[');
  for (size_t i = 0; i < s.tracks.size(); ++i) {
    if (i) out.push_back(',');
    const SplitTrack& t = s.tracks[i];
    Obj e(out);
    e.integer("track_no", t.track_no);
    e.integer("note_count", t.note_count);
    e.integer("smf_size", t.smf.size());
    e.str("smf_sha256", sha256_hex(t.sha256));
    e.close();
  }
  out.push_back(']');
}

void put_error(std::string& out, std::string_view path, std::string_view code,
               std::string_view message, uint64_t offset) {
  Obj o(out);
  if (!path.empty()) o.str("path", path);
  o.str("error_code", code);
  o.str("error_message", message);
  o.integer("error_offset", offset);
  o.close();
}

}  // namespace

std::string error_json(std::string_view path, std::string_view code, std::string_view message,
                       uint64_t offset) {
  std::string out;
  put_error(out, path, code, message, offset);
  return out;
}

namespace {
std::string to_json_text(const AnalyzeResult& r, std::string_view path, const JsonOptions& options);
}  // namespace

std::string to_json(const AnalyzeResult& r, std::string_view path) {
  return to_json(r, path, JsonOptions{});
}

std::string to_json(const AnalyzeResult& r, std::string_view path, const JsonOptions& options) {
  try {
    return to_json_text(r, path, options);
  } catch (const Cancelled&) {
    return std::string();  // JsonOptions::stop asked to stop
  }
}

namespace {

// to_json; throws Cancelled when options.stop asks it to stop.
std::string to_json_text(const AnalyzeResult& r, std::string_view path,
                         const JsonOptions& options) {
  Poller poller(options.stop);
  std::string out;
  if (!r.status.ok()) {
    put_error(out, path, code_name(r.status.code), r.status.message, r.status.offset);
    return out;
  }
  const Analysis& a = r.analysis;
  out.reserve(1024 + 160 * a.tracks.size());
  Obj o(out);
  if (!path.empty()) o.str("path", path);
  // The columns of midipipe_analysis, in table order.
  o.integer("format", a.format);
  o.integer("ntracks", a.ntracks);
  o.integer("ppq", a.ppq);
  o.integer("smpte_fps", a.smpte_fps);
  o.integer("smpte_ticks_per_frame", a.smpte_ticks_per_frame);
  o.integer("duration_ticks", a.duration_ticks);
  o.number("duration_seconds", a.duration_seconds);
  o.number("tempo_bpm", a.tempo_bpm);
  o.number("tempo_mean_bpm", a.tempo_mean_bpm);
  o.number("tempo_min_bpm", a.tempo_min_bpm);
  o.number("tempo_max_bpm", a.tempo_max_bpm);
  o.integer("tempo_changes", a.tempo_changes);
  o.str("time_signature", a.time_signature);
  o.integer("time_signature_changes", a.time_signature_changes);
  o.str("key_signature", a.key_signature);
  o.str("key", a.key);
  o.integer("key_tonic", a.key_tonic);
  o.str("key_mode", a.key_mode);
  o.number("key_confidence", a.key_confidence);
  o.integer("note_count", a.note_count);
  o.integer("unique_pitches", a.unique_pitches);
  o.integer("pitch_min", a.pitch_min);
  o.integer("pitch_max", a.pitch_max);
  o.number("pitch_mean", a.pitch_mean);
  o.integer("velocity_min", a.velocity_min);
  o.integer("velocity_max", a.velocity_max);
  o.number("velocity_mean", a.velocity_mean);
  o.number("velocity_stddev", a.velocity_stddev);
  o.number("note_density", a.note_density);
  o.integer("polyphony_max", a.polyphony_max);
  o.number("polyphony_mean", a.polyphony_mean);
  o.int_array("channels", a.channels);
  o.int_array("programs", a.programs);
  o.str_array("instrument_families", a.instrument_families);
  o.boolean("has_drums", a.has_drums);
  o.integer("drum_note_count", a.drum_note_count);
  o.integer("cc_count", a.cc_count);
  o.integer("pitch_bend_count", a.pitch_bend_count);
  o.integer("sysex_count", a.sysex_count);
  o.str("title", a.title);
  o.str("copyright", a.copyright);
  o.str_array("track_names", a.track_names);
  o.str_array("markers", a.markers);
  o.boolean("has_lyrics", a.has_lyrics);
  if (options.depth && a.depth) put_depth(o, *a.depth, poller);
  if (options.filename_meta && !path.empty()) put_filename_meta(o, filename_meta(path, &a));
  if (options.splits != nullptr) put_splits(o, *options.splits);
  {
    std::string& t = o.key("tracks");
    t.push_back('[');
    for (size_t i = 0; i < a.tracks.size(); ++i) {
      poller.step();
      if (i) t.push_back(',');
      put_track(t, a.tracks[i]);
    }
    t.push_back(']');
  }
  put_warnings(o, r.status);
  o.close();
  return out;
}

}  // namespace

}  // namespace midipipe
