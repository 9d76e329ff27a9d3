// Key detection accuracy on the labelled Nottingham tunes (ctest key_accuracy).
//
//   key_accuracy LABELLED_DIR [--table] [--floor F] [--lieder DIR --lieder-floor F]
//                [--cv --cv-floor F]
//
// Reads LABELLED_DIR/labels.csv (file,key,mode,...) and
// LABELLED_DIR/labels_detail.csv (key_changes column), loads every
// nottingham/*.mid, and removes its key signatures before the analysis: every
// FF 59 meta event gets the type byte 7F (sequencer-specific) in an in-memory
// copy, so the file keeps its layout but has no key signature left. That the
// removal worked is checked on every file (key_signature must come out NULL).
//
// Prints the accuracy (exact tonic and mode) of the default options and of the
// one-histogram correlation the default replaced (key_sections off), each with
// its errors by kind (relative, parallel, fifth-related, other) and by label;
// with --table that of every profile x weighting. Fails when the default
// accuracy on all tunes is below the floor (default 0.85), when a file does not
// parse, or when confidence does not separate right from wrong answers (the
// mean confidence of the right answers must exceed that of the wrong ones).
//
// --lieder DIR: also the 48 songs of chords-labelled/ (DIR), labelled with the
// key their Roman-numeral analysis starts in (the key column of the first row
// of each .chords.csv), key signatures removed the same way; fails below
// --lieder-floor (default 0).
//
// --cv: 10-fold cross-validation of the parameters of the key sections
// (KeySectionParams) over a grid: tune i is in fold i % 10 (the order of
// labels.csv); for each fold the grid point with the best accuracy on the
// other nine folds (the first of equals in grid order) is scored on the fold.
// Prints the held-out accuracy and each fold's choice; fails when the
// held-out accuracy is below --cv-floor (default 0).
//
// --params beats,weight,change[,major] scores other KeySectionParams as the
// default. Environment: KEY_ACCURACY_GRID=1 prints every grid point's
// accuracy on all tunes, KEY_ACCURACY_WRONG=1 every wrong file.
#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "analysis.hpp"
#include "analyze.hpp"
#include "key.hpp"

using namespace midipipe;

namespace {

struct Tune {
  std::string file;
  int tonic = -1;
  bool minor = false;
  bool key_changes = false;
  std::vector<uint8_t> bytes;  // key signatures removed
};

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool q = false;
  for (char c : line) {
    if (c == '\r') continue;  // CRLF files (chords-labelled)
    if (c == '"') {
      q = !q;
    } else if (c == ',' && !q) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(cur);
  return out;
}

int tonic_of(const std::string& k) {
  static const std::map<std::string, int> m = {
      {"C", 0},  {"C#", 1}, {"Db", 1},  {"D", 2},   {"D#", 3}, {"Eb", 3},  {"E", 4},
      {"Fb", 4}, {"F", 5},  {"E#", 5},  {"F#", 6},  {"Gb", 6}, {"G", 7},   {"G#", 8},
      {"Ab", 8}, {"A", 9},  {"A#", 10}, {"Bb", 10}, {"B", 11}, {"Cb", 11}, {"B#", 0}};
  const auto it = m.find(k);
  return it == m.end() ? -1 : it->second;
}

bool read_file(const std::string& path, std::vector<uint8_t>& out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return true;
}

// Replaces the type byte of every FF 59 with 7F; returns how many.
int strip_key_signatures(std::vector<uint8_t>& bytes) {
  const Smf smf = read_smf(bytes);
  int n = 0;
  for (const Track& t : smf.tracks) {
    for (const Event& e : t.events) {
      if (e.status != 0xFF || e.meta_type != 0x59) continue;
      // FF 59 <len vlq> <data>: with len < 128 the type byte is at offset - 2.
      if (e.length < 128 && e.offset >= 2 && bytes[e.offset - 2] == 0x59 &&
          bytes[e.offset - 1] == e.length) {
        bytes[e.offset - 2] = 0x7F;
        ++n;
      } else {
        return -1;
      }
    }
  }
  return n;
}

// relative (same signature, other mode), parallel (same tonic, other mode),
// fifth (same mode, tonic a fifth up or down), other.
const char* error_kind(int t, bool minor, int dt, bool dminor) {
  if (minor != dminor) {
    if (t == dt) return "parallel";
    if ((!minor && dt == (t + 9) % 12) || (minor && dt == (t + 3) % 12)) return "relative";
    return "other";
  }
  if ((dt - t + 12) % 12 == 5 || (dt - t + 12) % 12 == 7) return "fifth";
  return "other";
}

struct Score {
  std::map<std::string, int> kinds;  // error_kind of the wrong ones
  std::vector<bool> ok;              // per tune
  int right = 0, total = 0, right_stable = 0, total_stable = 0;
  double conf_right = 0, conf_wrong = 0;
  int parse_errors = 0, not_stripped = 0, no_key = 0;
  std::map<std::string, int> confusion;  // "label -> detected" for the wrong ones
};

Score run(const std::vector<Tune>& tunes, const AnalyzeOptions& opt) {
  Score s;
  for (const Tune& t : tunes) {
    const AnalyzeResult r = analyze_with(t.bytes, Limits{}, opt);
    if (!r.status.ok()) {
      s.ok.push_back(false);
      ++s.parse_errors;
      continue;
    }
    const Analysis& a = r.analysis;
    if (a.key_signature) ++s.not_stripped;
    if (!a.key_tonic || !a.key_mode) {
      s.ok.push_back(false);
      ++s.kinds["none"];
      ++s.no_key;
      ++s.total;
      if (!t.key_changes) ++s.total_stable;
      continue;
    }
    const bool ok = *a.key_tonic == t.tonic && (*a.key_mode == "minor") == t.minor;
    s.ok.push_back(ok);
    ++s.total;
    if (!t.key_changes) ++s.total_stable;
    if (ok) {
      ++s.right;
      if (!t.key_changes) ++s.right_stable;
      s.conf_right += a.key_confidence.value_or(0);
    } else {
      s.conf_wrong += a.key_confidence.value_or(0);
      ++s.kinds[error_kind(t.tonic, t.minor, *a.key_tonic, *a.key_mode == "minor")];
      std::string lab(key_name(t.tonic, t.minor));
      ++s.confusion[lab + " -> " + a.key.value_or("NULL")];
      if (std::getenv("KEY_ACCURACY_WRONG")) {
        std::printf("  wrong: %s %s -> %s\n", t.file.c_str(), lab.c_str(), a.key->c_str());
      }
    }
  }
  if (s.right) s.conf_right /= s.right;
  if (s.total - s.right) s.conf_wrong /= (s.total - s.right);
  return s;
}

const char* weight_name(KeyWeight w) {
  switch (w) {
    case KeyWeight::seconds:
      return "seconds";
    case KeyWeight::ticks:
      return "ticks";
    case KeyWeight::count:
      return "count";
  }
  return "?";
}

// "B- major" (music21 spelling) -> tonic; false when not a major/minor key.
bool parse_music21_key(const std::string& k, int& tonic, bool& minor) {
  const size_t sp = k.find(' ');
  if (sp == std::string::npos || sp == 0) return false;
  const std::string mode = k.substr(sp + 1);
  if (mode != "major" && mode != "minor") return false;
  static const int kBase[7] = {9, 11, 0, 2, 4, 5, 7};  // A..G
  const char r = static_cast<char>(k[0] & ~0x20);
  if (r < 'A' || r > 'G') return false;
  int t = kBase[r - 'A'];
  for (size_t i = 1; i < sp; ++i) {
    if (k[i] == '#') {
      ++t;
    } else if (k[i] == '-') {
      --t;
    } else {
      return false;
    }
  }
  tonic = ((t % 12) + 12) % 12;
  minor = mode == "minor";
  return true;
}

// The .mid files of DIR with a .chords.csv beside them, sorted by name.
bool load_lieder(const std::string& dir, std::vector<Tune>& out) {
  namespace fs = std::filesystem;
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.size() > 4 && n.compare(n.size() - 4, 4, ".mid") == 0) names.push_back(n);
  }
  if (ec) return false;
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    const std::string stem = n.substr(0, n.size() - 4);
    std::ifstream f(dir + "/" + stem + ".chords.csv");
    std::string line;
    if (!f || !std::getline(f, line)) continue;
    const auto head = split_csv(line);
    size_t kc = head.size();
    for (size_t i = 0; i < head.size(); ++i) {
      if (head[i] == "key") kc = i;
    }
    if (kc == head.size() || !std::getline(f, line)) return false;
    const auto c = split_csv(line);
    Tune t;
    t.file = n;
    if (c.size() <= kc || !parse_music21_key(c[kc], t.tonic, t.minor)) {
      std::fprintf(stderr, "%s: bad key label\n", n.c_str());
      return false;
    }
    if (!read_file(dir + "/" + n, t.bytes) || strip_key_signatures(t.bytes) < 0) {
      std::fprintf(stderr, "cannot read or strip %s\n", n.c_str());
      return false;
    }
    out.push_back(std::move(t));
  }
  return !out.empty();
}

void print_score(const char* name, const Score& s) {
  std::printf("%-34s %3d/%3d = %6.2f%%  errors: relative %d, parallel %d, fifth %d, other %d", name,
              s.right, s.total, 100.0 * s.right / s.total,
              s.kinds.count("relative") ? s.kinds.at("relative") : 0,
              s.kinds.count("parallel") ? s.kinds.at("parallel") : 0,
              s.kinds.count("fifth") ? s.kinds.at("fifth") : 0,
              s.kinds.count("other") ? s.kinds.at("other") : 0);
  if (s.kinds.count("none")) std::printf(", no key %d", s.kinds.at("none"));
  std::printf("\n");
}

// 10-fold cross-validation of KeySectionParams (see the header comment).
double cross_validate(const std::vector<Tune>& tunes) {
  std::vector<KeySectionParams> grid;
  for (double beats : {1.0, 2.0, 4.0}) {
    for (double weight : {0.5, 1.0, 2.0, 4.0}) {
      for (double change : {0.3, 0.1, 0.01}) {
        for (double major : {0.5, 0.75, 0.9}) grid.push_back({beats, weight, change, major});
      }
    }
  }
  std::vector<std::vector<bool>> ok;
  for (const KeySectionParams& g : grid) {
    AnalyzeOptions o = default_analyze_options();
    o.key_section_params = g;
    ok.push_back(run(tunes, o).ok);
    if (std::getenv("KEY_ACCURACY_GRID")) {
      std::printf("  grid %.0f %.2f %.3f %.2f: %d\n", g.beats_per_segment, g.weight,
                  g.change_probability, g.major_probability,
                  static_cast<int>(std::count(ok.back().begin(), ok.back().end(), true)));
    }
  }
  constexpr int kFolds = 10;
  int right = 0;
  std::printf("cross-validation (%d folds, %zu grid points):\n", kFolds, grid.size());
  for (int f = 0; f < kFolds; ++f) {
    size_t best = 0;
    int best_train = -1;
    for (size_t g = 0; g < grid.size(); ++g) {
      int train = 0;
      for (size_t i = 0; i < tunes.size(); ++i)
        train += (static_cast<int>(i % kFolds) != f) && ok[g][i];
      if (train > best_train) {
        best_train = train;
        best = g;
      }
    }
    int test = 0, n = 0;
    for (size_t i = f; i < tunes.size(); i += kFolds) {
      test += ok[best][i];
      ++n;
    }
    right += test;
    std::printf(
        "  fold %d: beats %.0f, weight %.2f, change %.3f, major %.2f: train %d, held out "
        "%d/%d\n",
        f, grid[best].beats_per_segment, grid[best].weight, grid[best].change_probability,
        grid[best].major_probability, best_train, test, n);
  }
  const double acc = static_cast<double>(right) / static_cast<double>(tunes.size());
  std::printf("cross-validated accuracy: %d/%zu = %.2f%%\n", right, tunes.size(), 100.0 * acc);
  return acc;
}

}  // namespace

// Argument parsing, loading and the report in one sequence (one screen each).
int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: key_accuracy LABELLED_DIR [--table] [--floor F] [--lieder DIR "
                 "--lieder-floor F] [--cv --cv-floor F]\n");
    return 2;
  }
  const std::string dir = argv[1];
  bool table = false, cv = false;
  double floor = 0.85, lieder_floor = 0, cv_floor = 0;
  std::string lieder_dir;
  KeySectionParams params = default_analyze_options().key_section_params;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--table") table = true;
    if (a == "--cv") cv = true;
    if (a == "--floor" && i + 1 < argc) floor = std::atof(argv[++i]);
    if (a == "--lieder" && i + 1 < argc) lieder_dir = argv[++i];
    if (a == "--lieder-floor" && i + 1 < argc) lieder_floor = std::atof(argv[++i]);
    if (a == "--cv-floor" && i + 1 < argc) cv_floor = std::atof(argv[++i]);
    if (a == "--params" && i + 1 < argc) {
      KeySectionParams& q = params;
      if (std::sscanf(argv[++i], "%lf,%lf,%lf,%lf", &q.beats_per_segment, &q.weight,
                      &q.change_probability, &q.major_probability) < 3) {
        std::fprintf(stderr, "--params beats,weight,change[,major]\n");
        return 2;
      }
    }
  }
  std::map<std::string, bool> changes;
  {
    std::ifstream f(dir + "/labels_detail.csv");
    std::string line;
    std::getline(f, line);
    const auto head = split_csv(line);
    size_t kc = 0;
    for (size_t i = 0; i < head.size(); ++i) {
      if (head[i] == "key_changes") kc = i;
    }
    while (std::getline(f, line)) {
      const auto c = split_csv(line);
      if (kc && c.size() > kc) changes[c[0]] = !c[kc].empty();
    }
  }

  std::vector<Tune> tunes;
  std::ifstream f(dir + "/labels.csv");
  if (!f) {
    std::fprintf(stderr, "cannot read %s/labels.csv\n", dir.c_str());
    return 1;
  }
  std::string line;
  std::getline(f, line);
  int stripped = 0;
  while (std::getline(f, line)) {
    const auto c = split_csv(line);
    if (c.size() < 3 || c[0].rfind("nottingham/", 0) != 0) continue;
    Tune t;
    t.file = c[0];
    t.tonic = tonic_of(c[1]);
    t.minor = c[2] == "minor";
    t.key_changes = changes[c[0]];
    if (t.tonic < 0 || (c[2] != "major" && c[2] != "minor")) {
      std::fprintf(stderr, "bad label: %s\n", line.c_str());
      return 1;
    }
    if (!read_file(dir + "/" + t.file, t.bytes)) {
      std::fprintf(stderr, "cannot read %s\n", t.file.c_str());
      return 1;
    }
    const int n = strip_key_signatures(t.bytes);
    if (n < 0) {
      std::fprintf(stderr, "%s: a key signature could not be removed\n", t.file.c_str());
      return 1;
    }
    stripped += n;
    tunes.push_back(std::move(t));
  }
  std::printf("%zu Nottingham tunes, %d key signature events removed\n", tunes.size(), stripped);
  if (tunes.size() < 100) {
    std::fprintf(stderr, "too few tunes found\n");
    return 1;
  }

  if (table) {
    std::printf("one histogram (key_sections off):\n");
    std::printf("%-24s %-8s %5s %5s  %8s  %8s\n", "profile", "weight", "bass", "final", "all",
                "stable-key");
    for (int p = 0; p < static_cast<int>(KeyProfile::count_); ++p) {
      for (KeyWeight w : {KeyWeight::seconds, KeyWeight::count}) {
        for (double bass : {0.0, 0.5}) {
          for (double fin : {0.0, 0.25, 0.5, 1.0}) {
            AnalyzeOptions o;
            o.key_sections = false;
            o.key_final_weight = fin;
            o.key_profile = static_cast<KeyProfile>(p);
            o.key_weight = w;
            o.key_bass_weight = bass;
            const Score s = run(tunes, o);
            std::printf("%-24s %-8s %5.2f %5.2f  %7.2f%%  %7.2f%%\n",
                        std::string(key_profile_name(o.key_profile)).c_str(), weight_name(w), bass,
                        fin, 100.0 * s.right / s.total, 100.0 * s.right_stable / s.total_stable);
          }
        }
      }
    }
    std::printf("key sections (default parameters), by profile:\n");
    for (int p = 0; p < static_cast<int>(KeyProfile::count_); ++p) {
      AnalyzeOptions o;
      o.key_profile = static_cast<KeyProfile>(p);
      const Score s = run(tunes, o);
      std::printf("%-24s %7.2f%%  %7.2f%%\n", std::string(key_profile_name(o.key_profile)).c_str(),
                  100.0 * s.right / s.total, 100.0 * s.right_stable / s.total_stable);
    }
  }

  AnalyzeOptions def = default_analyze_options();
  def.key_section_params = params;
  const Score s = run(tunes, def);
  AnalyzeOptions one = def;
  one.key_sections = false;
  const Score before = run(tunes, one);
  print_score("one histogram (key_sections off):", before);
  print_score("key sections (default):", s);
  const double acc = static_cast<double>(s.right) / s.total;
  std::printf(
      "default (%s, key sections, %.0f beat segments, weight %.2f, change %.3f, major %.2f): %d/%d "
      "= %.2f%% exact tonic and mode; "
      "%d/%d = %.2f%% on the tunes without a key change\n",
      std::string(key_profile_name(def.key_profile)).c_str(),
      def.key_section_params.beats_per_segment, def.key_section_params.weight,
      def.key_section_params.change_probability, def.key_section_params.major_probability, s.right,
      s.total, 100.0 * acc, s.right_stable, s.total_stable,
      100.0 * s.right_stable / s.total_stable);
  std::printf("mean confidence: right %.3f, wrong %.3f\n", s.conf_right, s.conf_wrong);
  std::printf("errors by kind:\n");
  for (const auto& [k, n] : s.confusion) std::printf("  %3d  %s\n", n, k.c_str());

  int rc = 0;
  if (!lieder_dir.empty()) {
    std::vector<Tune> lieder;
    if (!load_lieder(lieder_dir, lieder)) {
      std::printf("FAIL: cannot load the lieder of %s\n", lieder_dir.c_str());
      return 1;
    }
    std::printf("%zu lieder (chords-labelled, the key the analysis starts in):\n", lieder.size());
    const Score lb = run(lieder, one);
    const Score la = run(lieder, def);
    print_score("  one histogram (key_sections off):", lb);
    print_score("  key sections (default):", la);
    for (const auto& [k, n] : la.confusion) std::printf("  %3d  %s\n", n, k.c_str());
    if (la.parse_errors || la.not_stripped) {
      std::printf("FAIL: lieder: %d did not parse, %d still report a key signature\n",
                  la.parse_errors, la.not_stripped);
      rc = 1;
    }
    const double lacc = static_cast<double>(la.right) / la.total;
    if (lacc < lieder_floor) {
      std::printf("FAIL: lieder accuracy %.4f below the floor %.4f\n", lacc, lieder_floor);
      rc = 1;
    }
  }
  if (cv) {
    const double cacc = cross_validate(tunes);
    if (cacc < cv_floor) {
      std::printf("FAIL: cross-validated accuracy %.4f below the floor %.4f\n", cacc, cv_floor);
      rc = 1;
    }
  }
  if (s.parse_errors) {
    std::printf("FAIL: %d files did not parse\n", s.parse_errors);
    rc = 1;
  }
  if (s.not_stripped) {
    std::printf("FAIL: %d files still report a key signature\n", s.not_stripped);
    rc = 1;
  }
  if (acc < floor) {
    std::printf("FAIL: accuracy %.4f below the floor %.4f\n", acc, floor);
    rc = 1;
  }
  if (s.right < s.total && !(s.conf_right > s.conf_wrong)) {
    std::printf("FAIL: confidence does not separate right from wrong answers\n");
    rc = 1;
  }
  if (rc == 0) std::printf("PASS\n");
  return rc;
}
