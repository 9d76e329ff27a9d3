// bench_engine [CORPUS_DIR] [REPEATS]: the engine against libsmf, in one
// process, on every MIDI file of the corpus loaded into memory once.
//   (a) parse_smf with a no-op visitor
//   (b) analyze() (built when src/midi/analysis.cpp exists)
//   (c) libsmf: smf_load_from_memory + smf_get_next_event over every event,
//       on the files libsmf loads without crashing (each file is first tried
//       in a forked child, so a libsmf abort cannot kill the benchmark).
// Each measurement is repeated REPEATS times (default 5); the median and the
// best are printed. Ratios compare the same files (those libsmf loads).
// Targets (issue): parse >= 100 M events/s; analyse >= 50x libsmf.
#include <glib.h>  // before smf.h, which includes glib inside extern "C"
#include <smf.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "smf.hpp"
#ifdef MIDIPIPE_HAVE_ANALYSIS
#include "analysis.hpp"
#include "analyze.hpp"
#endif

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct File {
  std::string path;
  std::vector<uint8_t> bytes;
  uint64_t events = 0;  // our event count
};

struct Result {
  double median_s, best_s;
};

Result measure(int repeats, const std::function<uint64_t()>& body, uint64_t& check) {
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    const auto a = Clock::now();
    check = body();
    t.push_back(std::chrono::duration<double>(Clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t.front()};
}

double D(uint64_t v) { return static_cast<double>(v); }

void print(const char* name, const Result& r, uint64_t events, size_t files, uint64_t bytes) {
  std::printf("  %-34s median %8.3f ms (best %8.3f): %9.2f M events/s %9.0f files/s %8.1f MB/s\n",
              name, r.median_s * 1e3, r.best_s * 1e3, D(events) / r.median_s / 1e6,
              D(files) / r.median_s, D(bytes) / r.median_s / 1e6);
}

void quiet_log(const gchar*, GLogLevelFlags, const gchar*, gpointer) {}

uint64_t libsmf_run(const std::vector<uint8_t>& b) {
  smf_t* smf = smf_load_from_memory(b.data(), static_cast<int>(b.size()));
  if (smf == nullptr) return 0;
  uint64_t n = 0;
  smf_event_t* e;
  while ((e = smf_get_next_event(smf)) != nullptr)
    n += static_cast<uint64_t>(e->midi_buffer_length);
  smf_delete(smf);
  return n + 1;
}

// true when libsmf loads and walks the file in a child process without
// crashing, failing or hanging.
bool libsmf_survives(const std::vector<uint8_t>& b) {
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    alarm(10);
    _exit(libsmf_run(b) != 0 ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool is_midi_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext == ".mid" || ext == ".midi" || ext == ".kar" || ext == ".rmi" || ext == ".smf";
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path root = argc > 1 && *argv[1] ? fs::path(argv[1]) : fs::path(MIDIPIPE_CORPUS_DIR);
  const int repeats = argc > 2 ? std::max(1, std::atoi(argv[2])) : 5;
  g_log_set_handler("libsmf", static_cast<GLogLevelFlags>(G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL),
                    quiet_log, nullptr);

  std::vector<File> all;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file() || !is_midi_name(it->path())) continue;
    std::ifstream in(it->path(), std::ios::binary);
    File f{it->path().string(), std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                                                     std::istreambuf_iterator<char>())};
    midipipe::NullVisitor v;
    f.events = midipipe::parse_smf(f.bytes, v).events;
    all.push_back(std::move(f));
  }
  if (all.empty()) {
    std::fprintf(stderr, "bench_engine: no MIDI files under %s\n", root.c_str());
    return 1;
  }
  std::vector<const File*> smf_ok;
  for (const File& f : all) {
    if (libsmf_survives(f.bytes)) smf_ok.push_back(&f);
  }
  auto totals = [](const std::vector<const File*>& fs_) {
    uint64_t e = 0, b = 0;
    for (const File* f : fs_) e += f->events, b += f->bytes.size();
    return std::pair{e, b};
  };
  std::vector<const File*> every;
  for (const File& f : all) every.push_back(&f);
  const auto [ev_all, by_all] = totals(every);
  const auto [ev_ok, by_ok] = totals(smf_ok);

  std::printf("bench_engine: %zu files, %.1f MB, %llu events (%d repeats, median reported)\n",
              all.size(), D(by_all) / 1e6, static_cast<unsigned long long>(ev_all), repeats);
  std::printf("libsmf loads %zu of them (%llu events, %.1f MB); ratios use those files\n",
              smf_ok.size(), static_cast<unsigned long long>(ev_ok), D(by_ok) / 1e6);

  uint64_t check = 0;
  auto parse = [](const std::vector<const File*>& fs_) {
    return [&fs_]() {
      uint64_t n = 0;
      for (const File* f : fs_) {
        midipipe::NullVisitor v;
        n += midipipe::parse_smf(f->bytes, v).events;
      }
      return n;
    };
  };
  std::printf("all files:\n");
  const Result p_all = measure(repeats, parse(every), check);
  print("midipipe parse_smf (no-op visitor)", p_all, ev_all, every.size(), by_all);
#ifdef MIDIPIPE_HAVE_ANALYSIS
  auto analyse = [](const std::vector<const File*>& fs_) {
    return [&fs_]() {
      uint64_t n = 0;
      for (const File* f : fs_) n += midipipe::analyze(f->bytes).analysis.note_count;
      return n;
    };
  };
  const Result a_all = measure(repeats, analyse(every), check);
  print("midipipe analyze()", a_all, ev_all, every.size(), by_all);
  // Analysis depth (chords, drums, performance, structure) off and on.
  auto analyse_depth = [](const std::vector<const File*>& fs_, bool depth) {
    return [&fs_, depth]() {
      midipipe::AnalyzeOptions o = midipipe::default_analyze_options();
      o.depth = depth;
      uint64_t n = 0;
      for (const File* f : fs_) n += midipipe::analyze_with(f->bytes, {}, o).analysis.note_count;
      return n;
    };
  };
  const Result d_off = measure(repeats, analyse_depth(every, false), check);
  print("midipipe analyze(), depth off", d_off, ev_all, every.size(), by_all);
  const Result d_on = measure(repeats, analyse_depth(every, true), check);
  print("midipipe analyze(), depth on", d_on, ev_all, every.size(), by_all);
#endif
  std::printf("files libsmf loads:\n");
  const Result p_ok = measure(repeats, parse(smf_ok), check);
  print("midipipe parse_smf (no-op visitor)", p_ok, ev_ok, smf_ok.size(), by_ok);
#ifdef MIDIPIPE_HAVE_ANALYSIS
  // The engine issue's analysis (the SPEC fields of midipipe_analysis and
  // midipipe_tracks) is analyze() with depth off; depth (issue 6) comes on top.
  const Result a_ok = measure(repeats, analyse_depth(smf_ok, false), check);
  print("midipipe analyze(), depth off", a_ok, ev_ok, smf_ok.size(), by_ok);
  const Result a_ok_depth = measure(repeats, analyse_depth(smf_ok, true), check);
  print("midipipe analyze(), depth on", a_ok_depth, ev_ok, smf_ok.size(), by_ok);
#endif
  const Result l_ok = measure(
      std::max(1, repeats / 2),
      [&]() {
        uint64_t n = 0;
        for (const File* f : smf_ok) n += libsmf_run(f->bytes);
        return n;
      },
      check);
  print("libsmf load + get_next_event", l_ok, ev_ok, smf_ok.size(), by_ok);

  const double parse_eps = D(ev_all) / p_all.median_s;
  std::printf("\nRESULT parse: %.1f M events/s (target >= 100): %s\n", parse_eps / 1e6,
              parse_eps >= 100e6 ? "MET" : "NOT MET");
  std::printf("RESULT parse / libsmf: %.1fx\n", l_ok.median_s / p_ok.median_s);
#ifdef MIDIPIPE_HAVE_ANALYSIS
  const double ratio = l_ok.median_s / a_ok.median_s;
  std::printf("RESULT analyse (SPEC fields, depth off) / libsmf: %.1fx (target >= 50x): %s\n",
              ratio, ratio >= 50 ? "MET" : "NOT MET");
  std::printf("RESULT analyse with depth / libsmf: %.1fx\n", l_ok.median_s / a_ok_depth.median_s);
  const double depth_ratio = d_off.median_s / d_on.median_s;
  std::printf(
      "RESULT analyse depth on / off: %.2f M events/s / %.2f M events/s = %.2fx of the speed "
      "(target >= 0.6x): %s\n",
      D(ev_all) / d_on.median_s / 1e6, D(ev_all) / d_off.median_s / 1e6, depth_ratio,
      depth_ratio >= 0.6 ? "MET" : "NOT MET");
#else
  std::printf("RESULT analyse: not built (no src/midi/analysis.cpp)\n");
#endif
  return 0;
}
