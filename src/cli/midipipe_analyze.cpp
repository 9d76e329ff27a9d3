// midipipe-analyze: analyse MIDI files and print one JSON object per file.
//
//   midipipe-analyze [--max-file-size N] [--no-depth] [--split] FILE_OR_DIR...
//
// Directories are walked recursively (entries in byte order of their names,
// symbolic links to directories not followed) and only files whose names end
// in .mid .midi .kar .rmi or .smf (any case) are read; a file named on the
// command line is always read. Each file gives one line on stdout: the
// analysis (the columns of midipipe_analysis plus "path", "tracks" and
// "warnings") or an error object {"path", "error_code", "error_message",
// "error_offset"}; a file or directory that cannot be read gives error_code
// "io_error", and a fifo, socket or device "not_regular_file" (opened
// without blocking, never read). The exit status is 0 whenever the program ran, whatever the files
// held; 2 for a usage error.
//
// Beyond the midipipe_analysis columns each analysis carries the analysis
// depth fields (chords, drums, performance, structure) and the filename_*
// fields parsed from the path (docs/analysis-depth.md); --no-depth leaves the
// depth out (and does not compute it). --split adds "splits": one entry per
// track split into a format-0 file (track_no, note_count, smf_size,
// smf_sha256), or "split_error".
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "analysis.hpp"
#include "analysis_internal.hpp"
#include "analyze.hpp"
#include "split.hpp"

namespace fs = std::filesystem;
using namespace midipipe;

namespace {

struct Flags {
  bool depth = true;
  bool split = false;
};
Flags g_flags;

bool has_midi_extension(std::string_view name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos) return false;
  std::string ext(name.substr(dot + 1));
  for (char& c : ext) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return ext == "mid" || ext == "midi" || ext == "kar" || ext == "rmi" || ext == "smf";
}

void emit(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
}

void io_error(const std::string& path, const std::string& what, int err) {
  emit(error_json(path, "io_error", what + ": " + std::strerror(err), 0));
}

void analyze_file(const std::string& path, const Limits& limits, std::vector<uint8_t>& buf) {
  // O_NONBLOCK: opening a fifo named *.mid must not wait for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    io_error(path, "cannot open", errno);
    return;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    const int e = errno;
    ::close(fd);
    io_error(path, "cannot stat", e);
    return;
  }
  if (S_ISDIR(sb.st_mode)) {
    ::close(fd);
    io_error(path, "cannot read", EISDIR);
    return;
  }
  if (!S_ISREG(sb.st_mode)) {
    ::close(fd);
    // As the extension: fifos, sockets and devices are never read.
    emit(error_json(path, "not_regular_file",
                    "not a regular file (fifo, socket or device): not opened", 0));
    return;
  }
  const uint64_t size = static_cast<uint64_t>(sb.st_size);
  if (size > limits.max_file_size) {
    ::close(fd);
    // Not read at all, as the extension does with midipipe.max_file_size.
    emit(error_json(path, code_name(Code::file_too_large),
                    "the file has " + std::to_string(size) + " bytes, more than the limit of " +
                        std::to_string(limits.max_file_size),
                    0));
    return;
  }
  buf.resize(static_cast<size_t>(size));
  size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      io_error(path, "read error", e);
      return;
    }
    if (n == 0) break;  // the file shrank while we read it
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  buf.resize(got);
  const std::span<const uint8_t> bytes(buf.data(), buf.size());
  AnalyzeOptions opt = default_analyze_options();
  opt.depth = g_flags.depth;
  const AnalyzeResult r = analyze_with(bytes, limits, opt);
  JsonOptions jo;
  jo.depth = g_flags.depth;
  jo.filename_meta = true;
  SplitResult split;
  if (g_flags.split && r.status.ok()) {
    split = split_tracks(bytes, limits);
    jo.splits = &split;
  }
  emit(to_json(r, path, jo));
}

void walk(const std::string& dir, const Limits& limits, std::vector<uint8_t>& buf) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    io_error(dir, "cannot open directory", ec.value());
    return;
  }
  std::vector<std::pair<std::string, bool>> entries;  // name, is directory
  for (const fs::directory_iterator end; it != end; it.increment(ec)) {
    if (ec) break;
    const fs::directory_entry& de = *it;
    std::error_code ec2;
    const bool is_link = de.is_symlink(ec2);
    const bool is_dir = !is_link && de.is_directory(ec2);
    std::string name = de.path().filename().string();
    if (is_dir || has_midi_extension(name)) entries.emplace_back(std::move(name), is_dir);
  }
  if (ec) io_error(dir, "cannot list directory", ec.value());
  std::sort(entries.begin(), entries.end());
  for (const auto& [name, is_dir] : entries) {
    const std::string path = dir + (dir.ends_with('/') ? "" : "/") + name;
    if (is_dir) {
      walk(path, limits, buf);
    } else {
      analyze_file(path, limits, buf);
    }
  }
}

bool parse_size(std::string_view s, uint64_t& out) {
  uint64_t v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr == s.data()) return false;
  std::string_view suffix(r.ptr, static_cast<size_t>(s.data() + s.size() - r.ptr));
  uint64_t mult = 1;
  if (suffix.empty() || suffix == "B") {
    mult = 1;
  } else if (suffix == "k" || suffix == "K" || suffix == "kB" || suffix == "KB") {
    mult = 1ull << 10;
  } else if (suffix == "M" || suffix == "MB") {
    mult = 1ull << 20;
  } else if (suffix == "G" || suffix == "GB") {
    mult = 1ull << 30;
  } else {
    return false;
  }
  if (v > UINT64_MAX / mult) return false;
  out = v * mult;
  return true;
}

int usage(const char* msg) {
  if (msg) std::fprintf(stderr, "midipipe-analyze: %s\n", msg);
  std::fprintf(stderr,
               "usage: midipipe-analyze [--max-file-size N[kB|MB|GB]] [--no-depth] [--split]\n"
               "                        FILE_OR_DIR...\n"
               "Prints one JSON object per MIDI file (directories are walked recursively;\n"
               "only *.mid, *.midi, *.kar, *.rmi and *.smf files are read from them).\n");
  return 2;
}

int run(int argc, char** argv) {
  Limits limits;
  std::vector<std::string> paths;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (!options_done && arg == "--") {
      options_done = true;
    } else if (!options_done && (arg == "-h" || arg == "--help")) {
      usage(nullptr);
      return 0;
    } else if (!options_done && (arg == "--max-file-size" || arg.starts_with("--max-file-size="))) {
      std::string_view value;
      if (arg == "--max-file-size") {
        if (i + 1 >= argc) return usage("--max-file-size needs a value");
        value = argv[++i];
      } else {
        value = arg.substr(std::strlen("--max-file-size="));
      }
      if (!parse_size(value, limits.max_file_size)) return usage("bad --max-file-size value");
    } else if (!options_done && arg == "--no-depth") {
      g_flags.depth = false;
    } else if (!options_done && arg == "--split") {
      g_flags.split = true;
    } else if (!options_done && arg.size() > 1 && arg[0] == '-') {
      return usage("unknown option");
    } else {
      paths.emplace_back(arg);
    }
  }
  if (paths.empty()) return usage("no file or directory given");

  std::vector<uint8_t> buf;
  for (const std::string& p : paths) {
    std::error_code ec;
    const fs::file_status st = fs::status(p, ec);
    if (!ec && fs::is_directory(st)) {
      walk(p, limits, buf);
    } else {
      analyze_file(p, limits, buf);
    }
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "midipipe-analyze: %s\n", e.what());
    return 1;
  }
}
