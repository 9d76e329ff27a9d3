// midipipe: content fingerprints, near-match signature, melodic lines and
// Roman-numeral progressions (content.hpp; definitions in docs/content.md).
#include "content.hpp"

#include <algorithm>
#include <cmath>

#include "analysis.hpp"
#include "depth_internal.hpp"
#include "stop.hpp"

namespace midipipe {

namespace {

using content_detail::Quantiser;
using depth_detail::Clock;
using depth_detail::kDrumChannel;
using depth_detail::Meter;

constexpr uint64_t kGrid = content_detail::kGrid;

inline uint64_t mix(uint64_t x) noexcept {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBULL;
  x ^= x >> 31;
  return x;
}

// An order-independent hash of a multiset of 64-bit elements: the sums of
// h and of h^2 (mod 2^64, h a mix of the element) and the count, as 32 hex
// digits. One mix per element: the fingerprints cost two per note boundary.
struct MultisetHash {
  uint64_t a = 0, b = 0, n = 0;
  void add(uint64_t x) noexcept {
    const uint64_t h = mix(x ^ 0x243F6A8885A308D3ULL);
    a += h;
    b += h * (h | 1);
    ++n;
  }
  std::string hex() const {
    static const char* d = "0123456789abcdef";
    const uint64_t v[2] = {mix(a ^ mix(n)), mix(b + n * 0x9E3779B97F4A7C15ULL)};
    std::string s(32, '0');
    for (int w = 0; w < 2; ++w)
      for (int i = 0; i < 16; ++i) s[w * 16 + i] = d[(v[w] >> (60 - 4 * i)) & 15];
    return s;
  }
};

void fingerprints(const DepthInput& in, Content& c, Poller& poller) {
  const Quantiser quantise(in.ppq);
  uint64_t o0 = UINT64_MAX, d0 = UINT64_MAX;
  int pmin = 128;
  for (const DepthNote& n : in.notes) {
    if (n.channel == kDrumChannel) {
      d0 = std::min(d0, n.start);
    } else {
      o0 = std::min(o0, n.start);
      pmin = std::min<int>(pmin, n.pitch);
    }
  }
  poller.step(in.notes.size());
  if (o0 != UINT64_MAX) {
    const uint64_t q0 = quantise(o0);
    MultisetHash exact, moved;
    for (const DepthNote& n : in.notes) {
      if (n.channel == kDrumChannel) continue;
      // onsets and ends as separate elements: independent of how note-ons
      // and note-offs of one pitch pair up (format 0 vs 1, channels merged)
      const uint64_t s = (quantise(n.start) - q0) << 9 | 1u << 8;
      const uint64_t e = (quantise(n.end) - q0) << 9;
      exact.add(s | n.pitch);
      exact.add(e | n.pitch);
      moved.add(s | static_cast<uint64_t>(n.pitch - pmin));
      moved.add(e | static_cast<uint64_t>(n.pitch - pmin));
    }
    c.notes_fingerprint = exact.hex();
    c.notes_fingerprint_transposed = moved.hex();
  }
  if (d0 != UINT64_MAX) {
    const uint64_t q0 = quantise(d0);
    MultisetHash drums;
    for (const DepthNote& n : in.notes)
      if (n.channel == kDrumChannel) drums.add((quantise(n.start) - q0) << 8 | n.pitch);
    c.drums_fingerprint = drums.hex();
  }
  poller.step(in.notes.size());
}

// Sorts keys whose high bits (onset << 7) come from notes sorted by start:
// only the runs of one onset need sorting (by pitch), the whole vector when
// the notes were not in onset order. The result is std::sort's.
void sort_by_onset_runs(std::vector<uint64_t>& keys) {
  size_t run = 0;
  for (size_t i = 1; i <= keys.size(); ++i) {
    if (i < keys.size() && keys[i] >> 7 == keys[run] >> 7) continue;
    if (i < keys.size() && keys[i] >> 7 < keys[run] >> 7) {
      std::sort(keys.begin(), keys.end());
      return;
    }
    if (i - run > 1)
      std::sort(keys.begin() + static_cast<ptrdiff_t>(run),
                keys.begin() + static_cast<ptrdiff_t>(i));
    run = i;
  }
}

// One-permutation MinHash of the 4-grams of (pitch step, onset step) tokens
// of the non-drum notes in (onset, pitch) order, densified by rotation.
void minhash(const DepthInput& in, Content& c, Poller& poller) {
  const Quantiser quantise(in.ppq);
  std::vector<uint64_t> keys;
  keys.reserve(in.notes.size());
  for (const DepthNote& n : in.notes)
    if (n.channel != kDrumChannel) keys.push_back(quantise(n.start) << 7 | n.pitch);
  if (keys.size() < 5) return;
  sort_by_onset_runs(keys);
  poller.step(keys.size());
  constexpr uint64_t kEmpty = UINT64_MAX;
  uint64_t bins[kMinhashBins];
  std::fill(bins, bins + kMinhashBins, kEmpty);
  uint64_t gram = 0;
  for (size_t i = 1; i < keys.size(); ++i) {
    const int dp =
        std::clamp(static_cast<int>(keys[i] & 127) - static_cast<int>(keys[i - 1] & 127), -64, 63) +
        64;
    const uint64_t dq = std::min<uint64_t>((keys[i] >> 7) - (keys[i - 1] >> 7), 8 * kGrid);
    const uint64_t token = static_cast<uint64_t>(dp) << 7 | (dq + 2) / 4;  // 1/12 beat
    gram = (gram << 14 | token) & ((uint64_t{1} << 56) - 1);
    if (i < 4) continue;
    const uint64_t h = mix(gram ^ 0x5851F42D4C957F2DULL);
    const int bin = static_cast<int>(h >> 58);
    const uint64_t v = h & ((uint64_t{1} << 58) - 1);
    if (v < bins[bin] || bins[bin] == kEmpty) bins[bin] = v;
  }
  poller.step(keys.size());
  std::vector<int64_t>& sig = c.notes_minhash.emplace(kMinhashBins);
  for (int j = 0; j < kMinhashBins; ++j) {
    uint64_t v = bins[j];
    for (int d = 1; v == kEmpty && d < kMinhashBins; ++d) {
      const uint64_t o = bins[(j + d) % kMinhashBins];
      if (o != kEmpty) v = mix(o + static_cast<uint64_t>(d)) >> 6;
    }
    sig[j] = static_cast<int64_t>(v);
  }
  std::vector<int64_t>& bands = c.notes_bands.emplace(kMinhashBands);
  for (int b = 0; b < kMinhashBands; ++b) {
    uint64_t h = static_cast<uint64_t>(b) << 58;
    for (int r = 0; r < kMinhashBandRows; ++r)
      h = mix(h ^ static_cast<uint64_t>(sig[b * kMinhashBandRows + r]));
    bands[b] = static_cast<int64_t>(h);
  }
}

int64_t melody_gram(const int16_t* d) noexcept {
  int64_t g = 0;
  for (int i = 0; i < kMelodyGram; ++i) g = g << 8 | (std::clamp<int>(d[i], -127, 127) + 128);
  return g;
}

// The winnowed 4-grams of a line (Schleimer, Wilkerson and Aiken's
// winnowing, windows of kMelodyWindow consecutive grams): in every window,
// the grams of the smallest hash. An occurrence of a query holds the query's
// windows, so the line's set holds every gram the query's own windows select
// (a query of at least kMelodyGram + kMelodyWindow notes has a window), and
// the index keeps about 2 / (kMelodyWindow + 1) of the distinct grams.
// Distinct, ascending; empty for a line of fewer than kMinMelodyNotes notes.
std::vector<int64_t> melody_grams(const std::vector<int16_t>& iv) {
  std::vector<int64_t> g;
  constexpr size_t kSpan = kMelodyGram + kMelodyWindow - 1;  // intervals of one window
  if (iv.size() < kSpan) return g;
  const size_t n = iv.size() - kMelodyGram + 1;
  std::vector<int64_t> all(n);
  std::vector<uint64_t> h(n);
  for (size_t i = 0; i < n; ++i) {
    all[i] = melody_gram(&iv[i]);
    h[i] = mix(static_cast<uint64_t>(all[i]) ^ 0x3C6EF372FE94F82BULL);
  }
  g.reserve(n);
  for (size_t i = 0; i + kMelodyWindow <= n; ++i) {
    uint64_t m = h[i];
    for (size_t k = 1; k < kMelodyWindow; ++k) m = std::min(m, h[i + k]);
    for (size_t k = 0; k < kMelodyWindow; ++k)
      if (h[i + k] == m && (g.empty() || g.back() != all[i + k])) g.push_back(all[i + k]);
  }
  std::sort(g.begin(), g.end());
  g.erase(std::unique(g.begin(), g.end()), g.end());
  return g;
}

// The skyline of each track: its non-drum notes clustered by onset (a note
// within 1/24 beat of the cluster's first onset joins it), the highest pitch
// of each cluster.
void melodies(const DepthInput& in, Analysis& a, Content& c, Poller& poller) {
  const size_t ntracks = a.tracks.size();
  c.tracks.resize(ntracks);
  std::vector<std::vector<uint32_t>> by_track(ntracks);  // indexes into in.notes
  for (uint32_t i = 0; i < in.notes.size(); ++i) {
    const DepthNote& n = in.notes[i];
    if (n.channel != kDrumChannel && n.track < ntracks) by_track[n.track].push_back(i);
  }
  const uint64_t window = in.ppq / 24;
  Clock clock(in);
  for (size_t t = 0; t < ntracks; ++t) {
    const std::vector<uint32_t>& idx = by_track[t];
    poller.step(idx.size() + 1);
    if (idx.empty()) continue;
    std::vector<int16_t> pitches;
    std::vector<int64_t>& onsets = c.tracks[t].melody_onsets_ms.emplace();
    uint64_t first = 0;
    for (size_t k = 0; k < idx.size(); ++k) {
      const DepthNote& n = in.notes[idx[k]];
      if (k == 0 || n.start > first + window) {
        first = n.start;
        pitches.push_back(n.pitch);
        onsets.push_back(std::llround(clock.at(n.start) * 1000.0));
      } else if (n.pitch > pitches.back()) {
        pitches.back() = n.pitch;
      }
    }
    std::vector<int16_t>& iv = c.tracks[t].melody_intervals.emplace(pitches.size() - 1);
    for (size_t k = 1; k < pitches.size(); ++k)
      iv[k - 1] = static_cast<int16_t>(pitches[k] - pitches[k - 1]);
    c.tracks[t].melody_ngrams = melody_grams(iv);
  }
}

void progression(DepthInput& in, Analysis& a, Content& c, Poller& poller) {
  if (!a.key_tonic.has_value() || !a.key_mode.has_value() || !a.depth.has_value()) return;
  std::vector<std::string>& names = c.progression.emplace();
  std::vector<int16_t>& codes = c.progression_codes.emplace();
  std::vector<int64_t>& onsets = c.progression_onsets_ms.emplace();
  std::vector<int64_t>& bars = c.progression_bars.emplace();
  std::vector<int64_t>& grams = c.progression_ngrams.emplace();
  const int tonic = *a.key_tonic;
  Meter meter(in);
  int16_t last = -1;
  for (const ChordEvent& e : a.depth->chords) {
    poller.step();
    if (!e.root.has_value()) continue;  // "N": skipped, the chords around it join
    const int family = chord_family(e.quality);
    if (family < 0) continue;
    // An augmented sixth is named after its raised fourth (F#aug6 in C: Ab C
    // Eb F#); its numeral stands on its bass, the lowered sixth, two semitones
    // above that root (bVI+6).
    const int root = family == kAugSixth ? *e.root + 2 : *e.root;
    const int degree = ((root - tonic) % 12 + 12) % 12;
    const int16_t code = static_cast<int16_t>(degree * 8 + family + 1);
    if (code == last) continue;  // the same numeral again (a seventh added, an N between)
    last = code;
    names.push_back(roman_numeral(degree, family));
    codes.push_back(code);
    onsets.push_back(std::isfinite(e.seconds) ? std::llround(e.seconds * 1000.0) : 0);
    double pos = 0;
    bars.push_back(in.ppq ? static_cast<int64_t>(meter.bar_of(e.tick, pos)) + 1 : 0);
  }
  const std::vector<int16_t>& k = codes;
  for (size_t i = 0; i + 1 < k.size(); ++i) {
    grams.push_back(int64_t{2} << 24 | int64_t{k[i]} << 8 | k[i + 1]);
    if (i + 2 < k.size())
      grams.push_back(int64_t{3} << 24 | int64_t{k[i]} << 16 | int64_t{k[i + 1]} << 8 | k[i + 2]);
  }
  std::sort(grams.begin(), grams.end());
  grams.erase(std::unique(grams.begin(), grams.end()), grams.end());
}

}  // namespace

int chord_family(std::string_view quality) noexcept {
  struct F {
    std::string_view name;
    int family;
  };
  static constexpr F kTable[] = {{"maj", 0},  {"6", 0},    {"7", 0},     {"maj7", 0}, {"add9", 0},
                                 {"9", 0},    {"maj9", 0}, {"min", 1},   {"m6", 1},   {"m7", 1},
                                 {"m9", 1},   {"dim", 2},  {"m7b5", 2},  {"dim7", 2}, {"aug", 3},
                                 {"sus2", 4}, {"sus4", 4}, {"7sus4", 4}, {"aug6", 5}};
  for (const F& f : kTable)
    if (f.name == quality) return f.family;
  return -1;
}

std::string roman_numeral(int degree, int family) {
  static const char* kUpper[12] = {"I",   "bII", "II",  "bIII", "III",  "IV",
                                   "#IV", "V",   "bVI", "VI",   "bVII", "VII"};
  std::string s = kUpper[((degree % 12) + 12) % 12];
  if (family == 1 || family == 2)
    for (char& ch : s)
      if (ch == 'I' || ch == 'V') ch = static_cast<char>(ch - 'A' + 'a');
  if (family == 2) s += "o";
  if (family == 3) s += "+";
  if (family == 4) s += "sus";
  if (family == kAugSixth) s += "+6";
  return s;
}

void compute_content(DepthInput& in, Analysis& a) {
  Poller poller(in.stop);
  Content c;
  if (in.ppq != 0) {
    fingerprints(in, c, poller);
    minhash(in, c, poller);
  }
  melodies(in, a, c, poller);
  progression(in, a, c, poller);
  a.content = std::move(c);
}

MelodyQuery melody_query(std::span<const int32_t> pitches) {
  MelodyQuery q;
  if (pitches.size() < static_cast<size_t>(kMinMelodyNotes) ||
      pitches.size() > static_cast<size_t>(kMaxQueryNotes)) {
    q.error = "a melody needs " + std::to_string(kMinMelodyNotes) + " to " +
              std::to_string(kMaxQueryNotes) + " pitches, not " + std::to_string(pitches.size());
    return q;
  }
  for (size_t i = 0; i < pitches.size(); ++i) {
    if (pitches[i] < 0 || pitches[i] > 127) {
      q.error = "pitch " + std::to_string(i + 1) + " (" + std::to_string(pitches[i]) +
                ") is not a MIDI note number 0..127";
      return q;
    }
    if (i > 0) q.intervals.push_back(static_cast<int16_t>(pitches[i] - pitches[i - 1]));
  }
  q.ngrams = melody_grams(q.intervals);
  return q;
}

namespace {

// Parses one numeral at s[i..]; returns its code or -1 with the error set.
// `pos(i)` maps a byte index to a 1-based character position.
struct ProgressionParser {
  std::string_view s;
  size_t i = 0;
  ProgressionQuery& q;

  int chars_before(size_t byte) const {
    int n = 0;
    for (size_t k = 0; k < byte && k < s.size(); ++k)
      if ((static_cast<unsigned char>(s[k]) & 0xC0) != 0x80) ++n;
    return n + 1;
  }
  void fail(size_t at, std::string msg) {
    if (q.error_pos != 0) return;
    q.error_pos = chars_before(at);
    q.error = std::move(msg);
  }
  bool eat(std::string_view w) {
    if (s.substr(i, w.size()) == w) {
      i += w.size();
      return true;
    }
    return false;
  }
  static bool separator(char ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '-' || ch == ',' ||
           ch == '|';
  }
  // The augmented sixths by their names (Italian, German, French): all three
  // are bVI+6 here (the chord finder has one augmented sixth, aug6), with an
  // optional figure (+6, 6, 65, 43).
  int named_sixth() {
    if (!(eat("Ger") || eat("It") || eat("Fr"))) return -1;
    if (!(eat("+6") || eat("65") || eat("43"))) eat("6");
    return 8 * 8 + kAugSixth + 1;
  }
  int numeral() {
    const size_t start = i;
    if (const int code = named_sixth(); code >= 0) {
      if (i < s.size() && !separator(s[i])) {
        fail(i, "unknown suffix after an augmented sixth's name (known: +6, 6, 65, 43)");
        return -1;
      }
      return code;
    }
    int shift = 0;
    while (i < s.size()) {
      if (eat("b") || eat("\xE2\x99\xAD")) {
        --shift;
      } else if (eat("#") || eat("\xE2\x99\xAF")) {
        ++shift;
      } else {
        break;
      }
      if (shift < -2 || shift > 2) {
        fail(start, "too many accidentals");
        return -1;
      }
    }
    const size_t rs = i;
    while (i < s.size() && (s[i] == 'I' || s[i] == 'V' || s[i] == 'i' || s[i] == 'v')) ++i;
    const std::string_view r = s.substr(rs, i - rs);
    if (r.empty()) {
      fail(rs, "expected a Roman numeral (I to VII, upper case major, lower case minor)");
      return -1;
    }
    bool upper = true, lower = true;
    std::string u;
    for (const char ch : r) {
      upper = upper && (ch == 'I' || ch == 'V');
      lower = lower && (ch == 'i' || ch == 'v');
      u.push_back(ch == 'i' ? 'I' : ch == 'v' ? 'V' : ch);
    }
    if (!upper && !lower) {
      fail(rs, "mixed case in \"" + std::string(r) + "\" (upper case is major, lower case minor)");
      return -1;
    }
    static const char* kRoman[7] = {"I", "II", "III", "IV", "V", "VI", "VII"};
    static const int kSemis[7] = {0, 2, 4, 5, 7, 9, 11};
    int degree = -1;
    for (int k = 0; k < 7; ++k)
      if (u == kRoman[k]) degree = kSemis[k];
    if (degree < 0) {
      fail(rs, "\"" + std::string(r) + "\" is not a Roman numeral from I to VII");
      return -1;
    }
    int family = upper ? 0 : 1;
    // suffixes: a family marker, then extensions (ignored: sevenths are not distinguished)
    while (i < s.size() && !separator(s[i])) {
      const size_t at = i;
      if (eat("o") || eat("\xC2\xB0") || eat("\xC3\xB8") || eat("/o") || eat("dim")) {
        family = 2;
      } else if (eat("+6")) {
        family = kAugSixth;
      } else if (eat("+") || eat("aug")) {
        family = 3;
      } else if (eat("sus2") || eat("sus4") || eat("sus")) {
        family = 4;
      } else if (eat("maj7") || eat("maj9") || eat("M7") || eat("M9") || eat("add9") || eat("b5") ||
                 eat("11") || eat("13") || eat("7") || eat("9") || eat("6")) {
      } else {
        fail(at, "unknown chord suffix \"" + std::string(s.substr(at, 8)).substr(0, 8) +
                     "\" (known: o, °, ø, /o, +, +6, sus, sus2, sus4, 6, 7, 9, 11, 13, maj7, M7, "
                     "add9)");
        return -1;
      }
    }
    degree = ((degree + shift) % 12 + 12) % 12;
    return degree * 8 + family + 1;
  }
};

}  // namespace

ProgressionQuery parse_progression(std::string_view text) {
  ProgressionQuery q;
  if (text.size() > 4096) {
    q.error_pos = 4097;
    q.error = "a progression is at most 4096 bytes long";
    return q;
  }
  ProgressionParser p{text, 0, q};
  while (true) {
    while (p.i < text.size() && ProgressionParser::separator(text[p.i])) ++p.i;
    if (p.i >= text.size()) break;
    if (q.codes.size() >= static_cast<size_t>(kMaxQueryNotes)) {
      p.fail(p.i, "more than " + std::to_string(kMaxQueryNotes) + " chords");
      break;
    }
    const int code = p.numeral();
    if (code < 0) break;
    q.codes.push_back(static_cast<int16_t>(code));
  }
  if (q.error_pos == 0 && q.codes.size() < 2) {
    q.error_pos = p.chars_before(text.size());
    q.error = "a progression needs at least two chords";
  }
  if (q.error_pos != 0) {
    q.codes.clear();
    return q;
  }
  // Searched for in the family-level sequence, where a chord never follows itself.
  for (size_t k = 1; k < q.codes.size(); ++k) {
    if (q.codes[k] == q.codes[k - 1]) {
      q.error_pos = 1;
      q.error = "the same chord twice in a row (chord " + std::to_string(k + 1) +
                "): repeated chords are merged in the stored progressions";
      q.codes.clear();
      return q;
    }
  }
  const std::vector<int16_t>& k = q.codes;
  if (k.size() == 2) {
    q.ngrams.push_back(int64_t{2} << 24 | int64_t{k[0]} << 8 | k[1]);
  } else {
    for (size_t i = 0; i + 2 < k.size(); ++i)
      q.ngrams.push_back(int64_t{3} << 24 | int64_t{k[i]} << 16 | int64_t{k[i + 1]} << 8 |
                         k[i + 2]);
  }
  std::sort(q.ngrams.begin(), q.ngrams.end());
  q.ngrams.erase(std::unique(q.ngrams.begin(), q.ngrams.end()), q.ngrams.end());
  return q;
}

std::vector<int32_t> find_positions(std::span<const int16_t> haystack,
                                    std::span<const int16_t> needle) {
  std::vector<int32_t> out;
  if (needle.empty() || needle.size() > haystack.size()) return out;
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (std::equal(needle.begin(), needle.end(), haystack.begin() + static_cast<ptrdiff_t>(i)))
      out.push_back(static_cast<int32_t>(i));
  }
  return out;
}

}  // namespace midipipe
