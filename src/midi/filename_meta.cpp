// midipipe: metadata from a file's path (see filename_meta.hpp).
//
// The path is cut into tokens: runs of letters, digits, '#' and '&'; every
// other character separates (so "_", "-", " ", ".", "/" do). The extension of
// the last component is dropped. Rules, conservative on purpose:
//   * bpm: a token "<n>bpm" or "bpm<n>", or a number token next to a "bpm"
//     token ("95 BPM", "bpm_120"), case-insensitive, n a 2-3 digit number in
//     30..300. A bare number ("Track 120", "_95_") is never a tempo. The last
//     match in the path wins (the file name over its folders).
//   * key: a root A-G (upper case) with an optional '#' or 'b', then
//       - "min"/"minor"/"maj"/"major" in the same token ("Fmin", "Cmajor") or
//         as the next token ("Bb major", "C_minor"); in a phrase of words
//         separated by spaces the mode word must end the component ("A Minor
//         Problem" is not a key, "Sonata in C minor" is);
//       - "m" in the same token ("Fm", "F#m", "Bbm") when the token is not part
//         of a space-separated phrase ("Funk_95bpm_Fm_loop"), or when the path
//         also has a bpm or a genre word ("Am I Blue" is not A minor).
//     The last match wins.
//   * genres: tokens equal (case-insensitive, trailing digits dropped, e.g.
//     "rock1") to a word of the fixed list, plus "hip hop", "r&b", "lo fi",
//     "drum&bass"/"drumnbass" and "bossanova".
//   * bpm_agrees: the analysed tempo_bpm or tempo_mean_bpm, or half or double
//     either, is within 2% of the bpm. key_agrees: the key (tonic and mode)
//     equals the detected key or the key signature.
#include "filename_meta.hpp"

#include <algorithm>
#include <cmath>

#include "key.hpp"

namespace midipipe {
namespace {

constexpr std::string_view kGenres[] = {
    "afrobeat",  "ambient", "ballad", "blues",  "boogie",  "bossa",   "breakbeat",
    "classical", "country", "disco",  "dnb",    "dubstep", "edm",     "electro",
    "folk",      "funk",    "fusion", "gospel", "hiphop",  "jazz",    "latin",
    "lofi",      "metal",   "polka",  "pop",    "punk",    "ragtime", "rap",
    "reggae",    "rnb",     "rock",   "salsa",  "samba",   "shuffle", "ska",
    "soul",      "swing",   "tango",  "techno", "trance",  "waltz"};

struct Token {
  std::string_view text;
  std::string lower;
  char pre, post;  // separator before / after ('\0' at the ends of the path)
  size_t component;
  bool last_in_component;
};

bool tok_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '#' ||
         c == '&';
}

bool all_digits(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<double> bpm_number(std::string_view s) {
  if (s.size() < 2 || s.size() > 3 || !all_digits(s)) return std::nullopt;
  int v = 0;
  for (const char c : s) v = v * 10 + (c - '0');
  if (v < 30 || v > 300) return std::nullopt;
  return static_cast<double>(v);
}

std::vector<Token> tokenize(std::string_view path) {
  // drop the extension of the last component
  const size_t slash = path.rfind('/');
  const size_t dot = path.rfind('.');
  if (dot != std::string_view::npos && (slash == std::string_view::npos || dot > slash) &&
      path.size() - dot <= 6) {
    path = path.substr(0, dot);
  }
  std::vector<Token> out;
  size_t component = 0;
  for (size_t i = 0; i < path.size();) {
    if (!tok_char(path[i])) {
      if (path[i] == '/') ++component;
      ++i;
      continue;
    }
    size_t j = i;
    while (j < path.size() && tok_char(path[j])) ++j;
    Token t;
    t.text = path.substr(i, j - i);
    t.lower.assign(t.text);
    for (char& c : t.lower) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    t.pre = i > 0 ? path[i - 1] : '\0';
    t.post = j < path.size() ? path[j] : '\0';
    t.component = component;
    t.last_in_component = false;
    out.push_back(std::move(t));
    i = j;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].last_in_component = i + 1 == out.size() || out[i + 1].component != out[i].component;
  }
  return out;
}

// Pitch class of a root spelled at s[0..]: letter A-G (upper case) and an
// optional '#' or 'b'; `used` = characters read. -1 when none.
int parse_root(std::string_view s, size_t& used) noexcept {
  static constexpr int kLetter[7] = {9, 11, 0, 2, 4, 5, 7};  // A..G
  if (s.empty() || s[0] < 'A' || s[0] > 'G') return -1;
  int pc = kLetter[s[0] - 'A'];
  used = 1;
  if (s.size() > 1 && s[1] == '#') {
    pc = (pc + 1) % 12;
    used = 2;
  } else if (s.size() > 1 && s[1] == 'b') {
    pc = (pc + 11) % 12;
    used = 2;
  }
  return pc;
}

int mode_word(std::string_view lower) noexcept {  // 1 minor, 0 major, -1 none
  if (lower == "min" || lower == "minor") return 1;
  if (lower == "maj" || lower == "major") return 0;
  return -1;
}

}  // namespace

std::vector<std::string_view> filename_genre_words() {
  return std::vector<std::string_view>(std::begin(kGenres), std::end(kGenres));
}

FilenameMeta filename_meta(std::string_view path, const Analysis* a) {
  FilenameMeta m;
  const std::vector<Token> toks = tokenize(path);

  // bpm
  for (size_t i = 0; i < toks.size(); ++i) {
    const std::string& l = toks[i].lower;
    std::optional<double> v;
    if (l.size() > 3 && l.ends_with("bpm")) {
      v = bpm_number(std::string_view(l).substr(0, l.size() - 3));
    } else if (l.size() > 3 && l.starts_with("bpm")) {
      v = bpm_number(std::string_view(l).substr(3));
    } else if (l == "bpm") {
      if (i + 1 < toks.size() && toks[i + 1].component == toks[i].component) {
        v = bpm_number(toks[i + 1].lower);
      }
      if (!v && i > 0 && toks[i - 1].component == toks[i].component)
        v = bpm_number(toks[i - 1].lower);
    }
    if (v) m.bpm = v;
  }

  // genres
  for (size_t i = 0; i < toks.size(); ++i) {
    std::string w = toks[i].lower;
    while (!w.empty() && w.back() >= '0' && w.back() <= '9') w.pop_back();
    const bool next_same = i + 1 < toks.size() && toks[i + 1].component == toks[i].component;
    if (w == "hip" && next_same && toks[i + 1].lower == "hop") w = "hiphop";
    if (w == "lo" && next_same && toks[i + 1].lower == "fi") w = "lofi";
    if (w == "r&b") w = "rnb";
    if (w == "drum&bass" || w == "drumnbass") w = "dnb";
    if (w == "bossanova") w = "bossa";
    if (std::find(std::begin(kGenres), std::end(kGenres), w) != std::end(kGenres) &&
        std::find(m.genres.begin(), m.genres.end(), w) == m.genres.end()) {
      m.genres.push_back(w);
    }
  }
  std::sort(m.genres.begin(), m.genres.end());

  // key
  const bool other_meta = m.bpm.has_value() || !m.genres.empty();
  int tonic = -1, minor = -1;
  for (size_t i = 0; i < toks.size(); ++i) {
    const Token& t = toks[i];
    size_t used = 0;
    const int pc = parse_root(t.text, used);
    if (pc < 0) continue;
    const std::string_view rest = std::string_view(t.lower).substr(used);
    const std::string_view rest_raw = t.text.substr(used);
    if (rest.empty()) {
      if (i + 1 >= toks.size() || toks[i + 1].component != t.component) continue;
      const int mw = mode_word(toks[i + 1].lower);
      if (mw < 0) continue;
      const bool phrase = t.post == ' ';
      if (phrase && !toks[i + 1].last_in_component && toks[i + 1].post == ' ') continue;
      tonic = pc;
      minor = mw;
    } else if (rest_raw == "m") {
      const bool phrase = t.pre == ' ' || t.post == ' ';
      if (phrase && !other_meta) continue;
      tonic = pc;
      minor = 1;
    } else if (mode_word(rest) >= 0) {
      tonic = pc;
      minor = mode_word(rest);
    }
  }
  if (tonic >= 0) {
    m.key = std::string(key_name(tonic, minor == 1));
    m.key_tonic = static_cast<int16_t>(tonic);
    m.key_mode = minor == 1 ? "minor" : "major";
  }

  if (a != nullptr) {
    if (m.bpm) {
      bool agree = false;
      for (const double t : {a->tempo_bpm, a->tempo_mean_bpm}) {
        for (const double f : {1.0, 0.5, 2.0}) {
          if (std::fabs(t * f - *m.bpm) <= 0.02 * *m.bpm) agree = true;
        }
      }
      m.bpm_agrees = agree;
    }
    if (m.key) {
      bool agree = a->key_tonic && a->key_mode && *a->key_tonic == tonic &&
                   (*a->key_mode == "minor") == (minor == 1);
      if (a->key_signature) {
        size_t used = 0;
        const int ks = parse_root(*a->key_signature, used);
        const bool ks_minor = a->key_signature->ends_with("minor");
        if (ks == tonic && ks_minor == (minor == 1)) agree = true;
      }
      m.key_agrees = agree;
    }
  }
  return m;
}

}  // namespace midipipe
