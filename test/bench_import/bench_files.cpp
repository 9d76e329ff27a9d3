// bench_files: the engine alone over a file list, with N processes.
//
// What an import worker does to a file, minus the database: open and read it
// whole, SHA-256, parse and analyse. The list is split round-robin over N
// forked processes (as the import splits files over N workers); the parent
// reports wall-clock files/s and MB/s, and the CPU time the processes used. The import benchmark
// (scripts/bench-import.sh) runs this and the real import on the same tree and
// prints their ratio.
//
// usage: bench_files PROCS LISTFILE [depth|depth-nocontent]
//   LISTFILE: one path per line; `depth`: analyse as midipipe.analysis_depth = on
//   (the default) does (chords, drums, performance traits), else as it does off;
//   `depth-nocontent`: depth without the content search columns (docs/content.md).
//   Both read the file name's metadata, as the import does.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "analysis.hpp"
#include "analyze.hpp"
#include "filename_meta.hpp"
#include "sha256.hpp"

namespace {

struct Totals {
  uint64_t files = 0, bytes = 0, notes = 0, failed = 0;
};

bool read_file(const std::string& path, std::vector<uint8_t>& buf) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW);
  if (fd < 0) return false;
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return false;
  }
  buf.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  buf.resize(got);
  ::close(fd);
  return true;
}

bool g_no_content = false;  // depth-nocontent: AnalyzeOptions::content off

Totals run(const std::vector<std::string>& paths, size_t first, size_t step, bool depth) {
  Totals t;
  std::vector<uint8_t> buf;
  buf.reserve(1 << 20);
  for (size_t i = first; i < paths.size(); i += step) {
    ++t.files;
    if (!read_file(paths[i], buf)) {
      ++t.failed;
      continue;
    }
    t.bytes += buf.size();
    auto digest = midipipe::sha256(buf);
    // as the import does with midipipe.analysis_depth on (the default) or off
    midipipe::AnalyzeOptions options = midipipe::default_analyze_options();
    options.depth = depth;
    options.content = !g_no_content;
    auto r = midipipe::analyze_with(buf, {}, options);
    if (!r.status.ok()) ++t.failed;
    // as the import does for every analysed file (the filename_* columns)
    if (r.status.ok()) t.notes += midipipe::filename_meta(paths[i], &r.analysis).genres.size();
    t.notes += r.analysis.note_count + digest[0];  // keep both results live
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  g_no_content = argc == 4 && std::string(argv[3]) == "depth-nocontent";
  const bool depth = argc == 4 && (std::string(argv[3]) == "depth" || g_no_content);
  if (argc != 3 && !depth) {
    std::fprintf(stderr, "usage: %s PROCS LISTFILE [depth|depth-nocontent]\n", argv[0]);
    return 2;
  }
  int procs = std::atoi(argv[1]);
  if (procs < 1 || procs > 256) {
    std::fprintf(stderr, "PROCS must be 1..256\n");
    return 2;
  }
  std::vector<std::string> paths;
  std::ifstream in(argv[2]);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) paths.push_back(line);
  if (paths.empty()) {
    std::fprintf(stderr, "no paths in %s\n", argv[2]);
    return 2;
  }

  auto start = std::chrono::steady_clock::now();
  std::vector<int> pipes;
  std::vector<pid_t> kids;
  for (int p = 0; p < procs; ++p) {
    int fds[2];
    if (pipe(fds) != 0) return 1;
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
      close(fds[0]);
      Totals t = run(paths, static_cast<size_t>(p), static_cast<size_t>(procs), depth);
      ssize_t w = write(fds[1], &t, sizeof t);
      _exit(w == static_cast<ssize_t>(sizeof t) ? 0 : 1);
    }
    close(fds[1]);
    pipes.push_back(fds[0]);
    kids.push_back(pid);
  }
  Totals all;
  bool ok = true;
  for (size_t k = 0; k < kids.size(); ++k) {
    Totals t;
    if (read(pipes[k], &t, sizeof t) != static_cast<ssize_t>(sizeof t)) ok = false;
    close(pipes[k]);
    int status = 0;
    waitpid(kids[k], &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ok = false;
    all.files += t.files;
    all.bytes += t.bytes;
    all.failed += t.failed;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "engine alone%s: %d procs, %llu files (%llu failed), %.1f MB in %.3f s: %.0f files/s, %.1f "
      "MB/s\n",
      depth ? " (depth on)" : "", procs, static_cast<unsigned long long>(all.files),
      static_cast<unsigned long long>(all.failed), static_cast<double>(all.bytes) / 1e6, secs,
      static_cast<double>(all.files) / secs, static_cast<double>(all.bytes) / 1e6 / secs);
  std::printf("engine_files_per_sec=%.1f\n", static_cast<double>(all.files) / secs);
  // CPU time of the worker processes: unlike files/s, barely affected by other
  // load on a shared machine (scripts/bench-import.sh compares it per file).
  struct rusage ru;
  if (getrusage(RUSAGE_CHILDREN, &ru) == 0) {
    double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                 static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    std::printf("engine_cpu_seconds=%.3f\n", cpu);
  }
  return ok ? 0 : 1;
}
