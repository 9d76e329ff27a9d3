// midipipe: the JSON form of an analysis (the CLI's output, midipipe_analyze()).
//
// Strict JSON in valid UTF-8, so that PostgreSQL's jsonb accepts it: strings
// that are not valid UTF-8 are decoded as Latin-1, NUL is dropped (jsonb
// rejects \u0000), other control characters are escaped; doubles are written
// in their shortest round-trip form and NaN/Inf become null.
#include <charconv>
#include <cmath>
#include <type_traits>

#include "analysis.hpp"
#include "analysis_internal.hpp"
#include "columns.hpp"
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

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {
  using type = T;
};
template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {
  using type = T;
};

template <class T>
struct is_opt_vector : std::false_type {};
template <class T>
struct is_opt_vector<std::optional<std::vector<T>>> : std::true_type {};

// One column (columns.hpp) as a key of `o`, written as its C++ type says.
struct JsonColumn {
  Obj& o;
  template <class T>
  void operator()(std::string_view k, const T& v) const {
    if constexpr (std::is_same_v<T, bool>) {
      o.boolean(k, v);
    } else if constexpr (std::is_same_v<T, std::optional<bool>>) {
      o.opt_bool(k, v);
    } else if constexpr (std::is_integral_v<T>) {
      o.integer(k, v);
    } else if constexpr (std::is_same_v<T, double> || std::is_same_v<T, std::optional<double>>) {
      o.number(k, v);
    } else if constexpr (std::is_same_v<T, std::string> ||
                         std::is_same_v<T, std::optional<std::string>>) {
      o.str(k, v);
    } else if constexpr (is_opt_vector<T>::value) {
      if (v.has_value())
        (*this)(k, *v);
      else
        o.key(k).append("null");  // a NULL array (content columns)
    } else if constexpr (is_optional<T>::value) {
      o.integer(k, v);
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      o.str_array(k, v);
    } else if constexpr (is_vector<T>::value) {
      o.num_array(k, v);
    } else {
      static_assert(std::is_same_v<T, std::array<uint64_t, kDrumClasses>>, "a column type");
      // one object, as the jsonb column midipipe_analysis.drum_counts holds it
      Obj e(o.key(k));
      for (int c = 0; c < kDrumClasses; ++c) e.integer(drum_class_name(c), v[c]);
      e.close();
    }
  }
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

void put_track(std::string& out, const TrackAnalysis& t, const TrackMelody* m) {
  Obj o(out);
  visit_track_columns(t, JsonColumn{o});
  if (m != nullptr) visit_track_content_columns(*m, JsonColumn{o});
  o.close();
}

void put_depth(Obj& o, const Depth& d, Poller& poller) {
  visit_depth_columns(d, JsonColumn{o});
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

void put_filename_meta(Obj& o, const FilenameMeta& m) { visit_filename_columns(m, JsonColumn{o}); }

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
  visit_analysis_columns(a, JsonColumn{o});  // midipipe_analysis, in table order
  if (options.depth && a.depth) put_depth(o, *a.depth, poller);
  const bool content = options.depth && a.content.has_value();
  if (content) visit_content_columns(*a.content, JsonColumn{o});
  if (options.filename_meta && !path.empty()) put_filename_meta(o, filename_meta(path, &a));
  if (options.splits != nullptr) put_splits(o, *options.splits);
  {
    std::string& t = o.key("tracks");
    t.push_back('[');
    for (size_t i = 0; i < a.tracks.size(); ++i) {
      poller.step();
      if (i) t.push_back(',');
      put_track(t, a.tracks[i],
                content && i < a.content->tracks.size() ? &a.content->tracks[i] : nullptr);
    }
    t.push_back(']');
  }
  put_warnings(o, r.status);
  o.close();
  return out;
}

}  // namespace

}  // namespace midipipe
