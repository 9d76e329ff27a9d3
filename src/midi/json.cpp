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

std::string to_json(const AnalyzeResult& r, std::string_view path) {
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
  {
    std::string& t = o.key("tracks");
    t.push_back('[');
    for (size_t i = 0; i < a.tracks.size(); ++i) {
      if (i) t.push_back(',');
      put_track(t, a.tracks[i]);
    }
    t.push_back(']');
  }
  put_warnings(o, r.status);
  o.close();
  return out;
}

}  // namespace midipipe
