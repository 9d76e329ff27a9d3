// midipipe: metadata from a file's path (see filename_meta.hpp and
// docs/analysis-depth.md, "File-name metadata", which is the definition).
//
// The path is cut into tokens: runs of letters, digits, '#' and '&'; every
// other character separates (so "_", "-", " ", ".", "/" do). The extension of
// the last component is dropped. A token is "in a phrase" when a space touches
// it (titles: "House of the Rising Sun"); sample packs join words with '_' or
// '-' ("HOUSE_128_Gmin_bass"). Words that are also ordinary English ("house",
// "trap", "Am") count in a phrase only when the file name has other musical
// metadata. Rules, conservative on purpose (a miss costs less than a wrong tag):
//   * bpm, marked: "<n>bpm", "bpm<n>", or a number token next to a "bpm" token
//     ("95 BPM", "bpm_120"), n a 2-3 digit number in 30..300. The last match in
//     the path wins (the file name over its folders).
//   * bpm, bare: only when no marked bpm exists: a 2-3 digit number without a
//     leading zero, in 60..200, in the file name (the last component), whose
//     file name also holds a genre or a key, that does not open the file name
//     ("78_jazz-fast_290_beat": a list number) and does not follow a counting
//     word ("Track 120", "No 40", "op 27", "Juno 106") or a '.'.
//   * key: a root A-G with an optional '#'/'b' (or a "sharp"/"flat" token),
//     then "min"/"minor"/"maj"/"major" in the same token ("Fmin", "Ebmaj") or
//     as the next token ("Bb major", "C_minor", "A-flat_major"); in a phrase the
//     mode word must end the component unless the path has a bpm or a genre
//     ("A Minor Problem" is no key, "Pad G Major (90 BPM)" is G major). A lower-
//     case root counts in these forms too ("gmin", "c_minor"). "m" in the same
//     token ("Fm", "F#m", upper-case root only) counts outside a phrase, or in
//     one when the file name has a bpm or a genre ("Am I Blue" is no key).
//     Chord symbols are not keys ("Cmaj7", "Dm7"). The last match wins.
//   * genres: tokens or adjacent token pairs/triples of the file path in the
//     vocabulary below (case-insensitive, a token's trailing digits dropped:
//     "rock1"), mapped to a canonical word; some add their parent genre
//     ("deep house" gives deephouse and house).
//   * bpm_agrees: the analysed tempo_bpm or tempo_mean_bpm, or half or double
//     either, is within 2% of the bpm. key_agrees: the key (tonic and mode)
//     equals the detected key or the key signature.
#include "filename_meta.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "key.hpp"

namespace midipipe {
namespace {

// One entry of the genre vocabulary: the token sequence (lower case, 1-3
// tokens; a single token may also be a joined spelling), the canonical word,
// an optional parent, and whether the word is ordinary English (then it needs
// other metadata when it stands in a space-separated phrase).
struct GenreWord {
  std::string_view words[3];
  std::string_view canon;
  std::string_view parent;
  bool common_word;
};

constexpr GenreWord kGenreWords[] = {
    // the original list (each word is its own canonical form)
    {{"afrobeat"}, "afrobeat", {}, false},
    {{"afrobeats"}, "afrobeat", {}, false},
    {{"ambient"}, "ambient", {}, false},
    {{"ballad"}, "ballad", {}, false},
    {{"blues"}, "blues", {}, false},
    {{"boogie"}, "boogie", {}, false},
    {{"bossa"}, "bossa", {}, false},
    {{"bossanova"}, "bossa", {}, false},
    {{"bossa", "nova"}, "bossa", {}, false},
    {{"breakbeat"}, "breakbeat", {}, false},
    {{"classical"}, "classical", {}, false},
    {{"country"}, "country", {}, false},
    {{"disco"}, "disco", {}, false},
    {{"dnb"}, "dnb", {}, false},
    {{"d&b"}, "dnb", {}, false},
    {{"drum&bass"}, "dnb", {}, false},
    {{"drumnbass"}, "dnb", {}, false},
    {{"drumandbass"}, "dnb", {}, false},
    {{"drum", "n", "bass"}, "dnb", {}, false},
    {{"drum", "and", "bass"}, "dnb", {}, false},
    {{"drum", "&", "bass"}, "dnb", {}, false},
    {{"dubstep"}, "dubstep", {}, false},
    {{"edm"}, "edm", {}, false},
    {{"electro"}, "electro", {}, false},
    {{"electronica"}, "electro", {}, false},
    {{"folk"}, "folk", {}, false},
    {{"funk"}, "funk", {}, false},
    {{"fusion"}, "fusion", {}, false},
    {{"gospel"}, "gospel", {}, false},
    {{"hiphop"}, "hiphop", {}, false},
    {{"hip", "hop"}, "hiphop", {}, false},
    {{"jazz"}, "jazz", {}, false},
    {{"latin"}, "latin", {}, false},
    {{"lofi"}, "lofi", {}, false},
    {{"lo", "fi"}, "lofi", {}, false},
    {{"metal"}, "metal", {}, false},
    {{"polka"}, "polka", {}, false},
    {{"pop"}, "pop", {}, false},
    {{"punk"}, "punk", {}, false},
    {{"ragtime"}, "ragtime", {}, false},
    {{"rap"}, "rap", {}, false},
    {{"reggae"}, "reggae", {}, false},
    {{"rnb"}, "rnb", {}, false},
    {{"r&b"}, "rnb", {}, false},
    {{"randb"}, "rnb", {}, false},
    {{"r", "n", "b"}, "rnb", {}, false},
    {{"rock"}, "rock", {}, false},
    {{"salsa"}, "salsa", {}, false},
    {{"samba"}, "samba", {}, false},
    {{"shuffle"}, "shuffle", {}, false},
    {{"ska"}, "ska", {}, false},
    {{"soul"}, "soul", {}, false},
    {{"swing"}, "swing", {}, false},
    {{"tango"}, "tango", {}, false},
    {{"techno"}, "techno", {}, false},
    {{"trance"}, "trance", {}, false},
    {{"waltz"}, "waltz", {}, false},
    // electronic
    {{"house"}, "house", {}, true},
    {{"deephouse"}, "deephouse", "house", false},
    {{"deep", "house"}, "deephouse", "house", false},
    {{"techhouse"}, "techhouse", "house", false},
    {{"tech", "house"}, "techhouse", "house", false},
    {{"progressive", "house"}, "progressivehouse", "house", false},
    {{"electro", "house"}, "electrohouse", "house", false},
    {{"afrohouse"}, "afrohouse", "house", false},
    {{"afro", "house"}, "afrohouse", "house", false},
    {{"bigroom"}, "bigroom", "house", false},
    {{"big", "room"}, "bigroom", "house", false},
    {{"futurebass"}, "futurebass", {}, false},
    {{"future", "bass"}, "futurebass", {}, false},
    {{"trap"}, "trap", {}, true},
    {{"drill"}, "drill", {}, true},
    {{"grime"}, "grime", {}, true},
    {{"garage"}, "garage", {}, true},
    {{"ukg"}, "garage", {}, false},
    {{"uk", "garage"}, "garage", {}, false},
    {{"2step"}, "garage", {}, false},
    {{"jungle"}, "jungle", {}, true},
    {{"dub"}, "dub", {}, true},
    {{"hardstyle"}, "hardstyle", {}, false},
    {{"psytrance"}, "psytrance", "trance", false},
    {{"psy", "trance"}, "psytrance", "trance", false},
    {{"synthwave"}, "synthwave", {}, false},
    {{"retrowave"}, "synthwave", {}, false},
    {{"chillout"}, "chillout", {}, false},
    {{"downtempo"}, "downtempo", {}, false},
    {{"triphop"}, "triphop", {}, false},
    {{"trip", "hop"}, "triphop", {}, false},
    {{"idm"}, "idm", {}, false},
    {{"nudisco"}, "nudisco", "disco", false},
    {{"nu", "disco"}, "nudisco", "disco", false},
    {{"phonk"}, "phonk", {}, false},
    // urban, world
    {{"boombap"}, "boombap", "hiphop", false},
    {{"boom", "bap"}, "boombap", "hiphop", false},
    {{"neosoul"}, "neosoul", "soul", false},
    {{"neo", "soul"}, "neosoul", "soul", false},
    {{"reggaeton"}, "reggaeton", {}, false},
    {{"regueton"}, "reggaeton", {}, false},
    {{"dancehall"}, "dancehall", {}, false},
    {{"moombahton"}, "moombahton", {}, false},
    {{"amapiano"}, "amapiano", {}, false},
    {{"kpop"}, "kpop", "pop", false},
    {{"k", "pop"}, "kpop", "pop", false},
    {{"jpop"}, "jpop", "pop", false},
    {{"j", "pop"}, "jpop", "pop", false},
    {{"citypop"}, "citypop", "pop", false},
    {{"city", "pop"}, "citypop", "pop", false},
    {{"cumbia"}, "cumbia", {}, false},
    {{"bachata"}, "bachata", {}, false},
    {{"merengue"}, "merengue", {}, false},
    {{"flamenco"}, "flamenco", {}, false},
    {{"rumba"}, "rumba", {}, false},
    {{"mambo"}, "mambo", {}, false},
    {{"bolero"}, "bolero", {}, false},
    {{"soca"}, "soca", {}, false},
    {{"calypso"}, "calypso", {}, false},
    {{"zouk"}, "zouk", {}, false},
    {{"highlife"}, "highlife", {}, false},
    {{"celtic"}, "celtic", {}, false},
    {{"klezmer"}, "klezmer", {}, false},
    // jazz, rock and the rest
    {{"bebop"}, "bebop", "jazz", false},
    {{"bluegrass"}, "bluegrass", {}, false},
    {{"rockabilly"}, "rockabilly", {}, false},
    {{"grunge"}, "grunge", {}, false},
    {{"indie"}, "indie", {}, false},
    {{"emo"}, "emo", {}, true},
    {{"hardcore"}, "hardcore", {}, false},
    {{"doowop"}, "doowop", {}, false},
    {{"doo", "wop"}, "doowop", {}, false},
    {{"motown"}, "motown", "soul", false},
    {{"cinematic"}, "cinematic", {}, false},
    {{"orchestral"}, "orchestral", {}, false},
};

// Words after which a number counts something rather than a tempo.
constexpr std::string_view kCounters[] = {
    "track", "trk",     "tr",        "no",      "nr",      "num",   "number",   "op",     "opus",
    "take",  "part",    "pt",        "vol",     "volume",  "ch",    "chapter",  "disc",   "cd",
    "bar",   "bars",    "measure",   "verse",   "version", "ver",   "v",        "mix",    "k",
    "kv",    "bwv",     "d",         "hob",     "woo",     "rv",    "hwv",      "sz",     "l",
    "etude", "lesson",  "exercise",  "ex",      "page",    "p",     "pattern",  "patch",  "preset",
    "kit",   "level",   "stage",     "episode", "ep",      "song",  "symphony", "sonata", "psalm",
    "hymn",  "top",     "juno",      "jupiter", "jx",      "jv",    "xv",       "mpc",    "sp",
    "tb",    "mc",      "ob",        "prophet", "cs",      "dx",    "ms",       "sh",     "figure",
    "fig",   "example", "variation", "var",     "act",     "scene", "room",     "day",    "week"};

struct Token {
  std::string_view text;
  std::string lower;
  char pre, post;  // separator before / after ('\0' at the ends of the path)
  size_t component;
  bool last_in_component;
  bool in_phrase() const noexcept { return pre == ' ' || post == ' '; }
};

bool tok_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '#' ||
         c == '&';
}

bool all_digits(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int small_number(std::string_view s) noexcept {  // 2-3 digits, else -1
  if (s.size() < 2 || s.size() > 3 || !all_digits(s)) return -1;
  int v = 0;
  for (const char c : s) v = v * 10 + (c - '0');
  return v;
}

std::optional<double> bpm_number(std::string_view s) {
  const int v = small_number(s);
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

// Pitch class of a root spelled at s[0..]: letter A-G (upper case, or lower
// case when `lower_ok`) and an optional '#' or 'b'; `used` = characters read.
// -1 when none.
int parse_root(std::string_view s, size_t& used, bool lower_ok) noexcept {
  static constexpr int kLetter[7] = {9, 11, 0, 2, 4, 5, 7};  // A..G
  if (s.empty()) return -1;
  char c = s[0];
  if (lower_ok && c >= 'a' && c <= 'g') c = static_cast<char>(c - 'a' + 'A');
  if (c < 'A' || c > 'G') return -1;
  int pc = kLetter[c - 'A'];
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

bool same_component(const std::vector<Token>& t, size_t i, size_t n) noexcept {
  return i + n <= t.size() && t[i + n - 1].component == t[i].component;
}

constexpr size_t kNumGenreWords = std::size(kGenreWords);

constexpr size_t word_count(const GenreWord& g) noexcept {
  size_t n = 0;
  while (n < 3 && !g.words[n].empty()) ++n;
  return n;
}

// The vocabulary's entries ordered by their first word, for binary search.
constexpr std::array<uint16_t, kNumGenreWords> kByFirstWord = [] {
  std::array<uint16_t, kNumGenreWords> t{};
  for (size_t i = 0; i < kNumGenreWords; ++i) t[i] = static_cast<uint16_t>(i);
  std::sort(t.begin(), t.end(), [](uint16_t x, uint16_t y) {
    return kGenreWords[x].words[0] < kGenreWords[y].words[0];
  });
  return t;
}();

// A vocabulary entry found in the path: the component it is in, and whether
// it is an ordinary English word standing in a phrase (then it counts only
// beside other metadata).
struct GenreHit {
  uint16_t entry;
  size_t component;
  bool conditional;
};

// Every vocabulary entry in the path, found once.
std::vector<GenreHit> match_genres(const std::vector<Token>& toks) {
  std::vector<GenreHit> hits;
  for (size_t i = 0; i < toks.size(); ++i) {
    std::string_view stripped = toks[i].lower;  // a lone token may carry a number: "rock1"
    while (!stripped.empty() && stripped.back() >= '0' && stripped.back() <= '9') {
      stripped.remove_suffix(1);
    }
    for (const bool lone : {true, false}) {
      const std::string_view key = lone ? stripped : std::string_view(toks[i].lower);
      const auto* it = std::lower_bound(
          kByFirstWord.begin(), kByFirstWord.end(), key,
          [](uint16_t e, std::string_view k) { return kGenreWords[e].words[0] < k; });
      for (; it != kByFirstWord.end() && kGenreWords[*it].words[0] == key; ++it) {
        const GenreWord& g = kGenreWords[*it];
        const size_t n = word_count(g);
        if ((n == 1) != lone || !same_component(toks, i, n)) continue;
        bool match = true;
        for (size_t k = 1; k < n && match; ++k) match = toks[i + k].lower == g.words[k];
        if (!match) continue;
        hits.push_back(
            GenreHit{*it, toks[i].component, g.common_word && n == 1 && toks[i].in_phrase()});
      }
    }
  }
  return hits;
}

// The genre words of `hits` (of one component only when `component` is set):
// the conditional ones only with `context`. Sorted, distinct.
std::vector<std::string> genres_of(const std::vector<GenreHit>& hits, bool context,
                                   std::optional<size_t> component = std::nullopt) {
  std::vector<std::string> out;
  auto add = [&out](std::string_view g) {
    if (!g.empty() && std::find(out.begin(), out.end(), g) == out.end()) out.emplace_back(g);
  };
  for (const GenreHit& h : hits) {
    if ((h.conditional && !context) || (component && h.component != *component)) continue;
    add(kGenreWords[h.entry].canon);
    add(kGenreWords[h.entry].parent);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Key from the tokens from `first` on: sets tonic and minor (1) / major (0).
// The weak form "Am" inside a phrase needs `context`.
void find_key(const std::vector<Token>& toks, bool context, int& tonic, int& minor,
              size_t first = 0) {
  tonic = minor = -1;
  for (size_t i = first; i < toks.size(); ++i) {
    const Token& t = toks[i];
    size_t used = 0;
    int pc = parse_root(t.text, used, true);
    if (pc < 0) continue;
    const bool upper = t.text[0] >= 'A' && t.text[0] <= 'G';
    const std::string_view rest = std::string_view(t.lower).substr(used);
    const std::string_view rest_raw = t.text.substr(used);
    if (rest.empty()) {
      size_t m = i + 1;  // the mode word's token, after an optional sharp/flat
      if (used == 1 && same_component(toks, i, 2) &&
          (toks[m].lower == "sharp" || toks[m].lower == "flat")) {
        pc = (pc + (toks[m].lower == "sharp" ? 1 : 11)) % 12;
        ++m;
      }
      if (!same_component(toks, i, m - i + 1)) continue;
      const int mw = mode_word(toks[m].lower);
      if (mw < 0) continue;
      const bool phrase = t.post == ' ';
      if (phrase && !toks[m].last_in_component && toks[m].post == ' ' && !context) continue;
      tonic = pc;
      minor = mw;
    } else if (rest_raw == "m" && upper) {
      if (t.in_phrase() && !context) continue;
      tonic = pc;
      minor = 1;
    } else if (mode_word(rest) >= 0) {
      tonic = pc;
      minor = mode_word(rest);
    }
  }
}

bool is_counter(std::string_view lower) noexcept {
  return std::find(std::begin(kCounters), std::end(kCounters), lower) != std::end(kCounters);
}

// The marked bpm ("95bpm", "bpm 95"), the last in the path.
std::optional<double> marked_bpm(const std::vector<Token>& toks) {
  std::optional<double> bpm;
  for (size_t i = 0; i < toks.size(); ++i) {
    const std::string& l = toks[i].lower;
    std::optional<double> v;
    if (l.size() > 3 && l.ends_with("bpm")) {
      v = bpm_number(std::string_view(l).substr(0, l.size() - 3));
    } else if (l.size() > 3 && l.starts_with("bpm")) {
      v = bpm_number(std::string_view(l).substr(3));
    } else if (l == "bpm") {
      if (same_component(toks, i, 2)) v = bpm_number(toks[i + 1].lower);
      if (!v && i > 0 && toks[i - 1].component == toks[i].component)
        v = bpm_number(toks[i - 1].lower);
    }
    if (v) bpm = v;
  }
  return bpm;
}

// A bare number of the file name read as a tempo (see the header comment).
std::optional<double> bare_bpm(const std::vector<Token>& toks) {
  std::optional<double> bpm;
  if (toks.empty()) return bpm;
  const size_t last = toks.back().component;
  for (size_t i = 0; i < toks.size(); ++i) {
    const Token& t = toks[i];
    if (t.component != last || t.text[0] == '0' || t.pre == '.' || t.pre == '#') continue;
    const int v = small_number(t.text);
    if (v < 60 || v > 200) continue;
    if (i == 0 || toks[i - 1].component != last) continue;  // a list number: "03 - Title"
    if (is_counter(toks[i - 1].lower)) continue;
    bpm = static_cast<double>(v);
  }
  return bpm;
}

}  // namespace

std::vector<std::string_view> filename_genre_words() {
  std::vector<std::string_view> out;
  for (const GenreWord& g : kGenreWords) {
    if (std::find(out.begin(), out.end(), g.canon) == out.end()) out.push_back(g.canon);
  }
  std::sort(out.begin(), out.end());
  return out;
}

FilenameMeta filename_meta(std::string_view path, const Analysis* a) {
  FilenameMeta m;
  const std::vector<Token> toks = tokenize(path);

  // The path's own signals first, then the words that need them.
  m.bpm = marked_bpm(toks);
  const std::vector<GenreHit> hits = match_genres(toks);
  const bool strong_genre =
      std::any_of(hits.begin(), hits.end(), [](const GenreHit& h) { return !h.conditional; });
  int tonic = -1, minor = -1;
  find_key(toks, m.bpm.has_value() || strong_genre, tonic, minor);
  m.genres = genres_of(hits, m.bpm.has_value() || tonic >= 0 || strong_genre);
  if (tonic < 0) find_key(toks, m.bpm.has_value() || !m.genres.empty(), tonic, minor);
  if (!m.bpm && !toks.empty()) {
    // context for a bare number: a genre or a key in the file name itself
    const size_t last = toks.back().component;
    size_t first = toks.size();
    while (first > 0 && toks[first - 1].component == last) --first;
    const std::vector<std::string> name_genres = genres_of(hits, tonic >= 0, last);
    int name_tonic = -1, name_minor = -1;
    find_key(toks, !name_genres.empty(), name_tonic, name_minor, first);
    if (!name_genres.empty() || name_tonic >= 0) m.bpm = bare_bpm(toks);
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
        const int ks = parse_root(*a->key_signature, used, false);
        const bool ks_minor = a->key_signature->ends_with("minor");
        if (ks == tonic && ks_minor == (minor == 1)) agree = true;
      }
      m.key_agrees = agree;
    }
  }
  return m;
}

}  // namespace midipipe
