// key_cost CORPUS_DIR on|off|both|diff: analyze_with (default options) over every
// MIDI file under CORPUS_DIR, with the key sections (KeyTimeline) on or off,
// to measure what the key finding costs. Run it under
//   valgrind --tool=callgrind --toggle-collect='*analyze_with*' key_cost DIR on
// (and off) and compare the instructions; "both" prints the time of each
// (median of 5 passes) and their ratio. Prints a checksum of the detected keys.
// "diff" lists the files whose detected key the key sections change.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "analysis.hpp"
#include "analyze.hpp"
#include "key.hpp"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: key_cost CORPUS_DIR on|off|both\n");
    return 2;
  }
  std::vector<std::string> paths;
  for (const auto& e : fs::recursive_directory_iterator(argv[1])) {
    if (!e.is_regular_file()) continue;
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (ext == ".mid" || ext == ".midi" || ext == ".kar") paths.push_back(e.path().string());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::vector<uint8_t>> files;
  for (const std::string& p : paths) {
    std::ifstream f(p, std::ios::binary);
    files.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  auto pass = [&](bool on) {
    midipipe::AnalyzeOptions o = midipipe::default_analyze_options();
    o.key_sections = on;
    unsigned long sum = 0;
    for (const auto& b : files) {
      const midipipe::AnalyzeResult r = midipipe::analyze_with(b, midipipe::Limits{}, o);
      if (r.analysis.key_tonic) {
        sum = sum * 31 + static_cast<unsigned long>(*r.analysis.key_tonic + 1);
      }
    }
    return sum;
  };
  const std::string mode = argv[2];
  if (mode == "diff") {  // the files whose detected key the key sections change
    midipipe::AnalyzeOptions on = midipipe::default_analyze_options(), off = on;
    off.key_sections = false;
    for (size_t i = 0; i < files.size(); ++i) {
      const auto a = midipipe::analyze_with(files[i], midipipe::Limits{}, off).analysis.key;
      const auto b = midipipe::analyze_with(files[i], midipipe::Limits{}, on).analysis.key;
      if (a != b) {
        std::printf("%s: %s -> %s\n", paths[i].c_str(), a.value_or("NULL").c_str(),
                    b.value_or("NULL").c_str());
      }
    }
    return 0;
  }
  if (mode == "on" || mode == "off") {
    std::printf("%zu files, key sections %s, checksum %lu\n", files.size(), mode.c_str(),
                pass(mode == "on"));
    return 0;
  }
  double t[2];
  for (int on = 0; on < 2; ++on) {
    std::vector<double> v;
    for (int i = 0; i < 5; ++i) {
      const auto a = std::chrono::steady_clock::now();
      pass(on != 0);
      v.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
    }
    std::sort(v.begin(), v.end());
    t[on] = v[2];
  }
  std::printf("%zu files: off %.3f s, on %.3f s, on/off %.3f\n", files.size(), t[0], t[1],
              t[1] / t[0]);
  return 0;
}
