// Key detection accuracy on the labelled Nottingham tunes (ctest key_accuracy).
//
//   key_accuracy LABELLED_DIR [--table] [--floor F]
//
// Reads LABELLED_DIR/labels.csv (file,key,mode,...) and
// LABELLED_DIR/labels_detail.csv (key_changes column), loads every
// nottingham/*.mid, and removes its key signatures before the analysis: every
// FF 59 meta event gets the type byte 7F (sequencer-specific) in an in-memory
// copy, so the file keeps its layout but has no key signature left. That the
// removal worked is checked on every file (key_signature must come out NULL).
//
// Prints the accuracy (exact tonic and mode) of the default options, and with
// --table that of every profile x weighting. Fails when the default accuracy
// on all tunes is below the floor (default 0.85), when a file does not parse,
// or when confidence does not separate right from wrong answers (the mean
// confidence of the right answers must exceed that of the wrong ones).
#include <cstdio>
#include <cstdlib>
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

struct Score {
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
      ++s.parse_errors;
      continue;
    }
    const Analysis& a = r.analysis;
    if (a.key_signature) ++s.not_stripped;
    if (!a.key_tonic || !a.key_mode) {
      ++s.no_key;
      ++s.total;
      if (!t.key_changes) ++s.total_stable;
      continue;
    }
    const bool ok = *a.key_tonic == t.tonic && (*a.key_mode == "minor") == t.minor;
    ++s.total;
    if (!t.key_changes) ++s.total_stable;
    if (ok) {
      ++s.right;
      if (!t.key_changes) ++s.right_stable;
      s.conf_right += a.key_confidence.value_or(0);
    } else {
      s.conf_wrong += a.key_confidence.value_or(0);
      std::string lab(key_name(t.tonic, t.minor));
      ++s.confusion[lab + " -> " + a.key.value_or("NULL")];
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

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: key_accuracy LABELLED_DIR [--table] [--floor F]\n");
    return 2;
  }
  const std::string dir = argv[1];
  bool table = false;
  double floor = 0.85;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--table") table = true;
    if (a == "--floor" && i + 1 < argc) floor = std::atof(argv[++i]);
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
    std::printf("%-24s %-8s %5s %5s  %8s  %8s\n", "profile", "weight", "bass", "final", "all",
                "stable-key");
    for (int p = 0; p < static_cast<int>(KeyProfile::count_); ++p) {
      for (KeyWeight w : {KeyWeight::seconds, KeyWeight::count}) {
        for (double bass : {0.0, 0.5}) {
          for (double fin : {0.0, 0.25, 0.5, 1.0}) {
            AnalyzeOptions o;
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
  }

  const AnalyzeOptions def = default_analyze_options();
  const Score s = run(tunes, def);
  const double acc = static_cast<double>(s.right) / s.total;
  std::printf(
      "default (%s, %s, bass %.2f, final %.2f): %d/%d = %.2f%% exact tonic and mode; "
      "%d/%d = %.2f%% on the tunes without a key change\n",
      std::string(key_profile_name(def.key_profile)).c_str(), weight_name(def.key_weight),
      def.key_bass_weight, def.key_final_weight, s.right, s.total, 100.0 * acc, s.right_stable,
      s.total_stable, 100.0 * s.right_stable / s.total_stable);
  std::printf("mean confidence: right %.3f, wrong %.3f\n", s.conf_right, s.conf_wrong);
  std::printf("errors by kind:\n");
  for (const auto& [k, n] : s.confusion) std::printf("  %3d  %s\n", n, k.c_str());

  int rc = 0;
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
