// A main() for the fuzz targets in ordinary (non-libFuzzer) builds: runs
// LLVMFuzzerTestOneInput once on every file named on the command line (or on
// every regular file under a directory argument). With MIDIPIPE_SANITIZE=ON
// (gcc or clang) this replays the saved regressions and the corpus under
// ASan+UBSan; any finding aborts the process and fails the test.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {
int run_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot open %s\n", p.c_str());
    return 1;
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  unsigned long n = 0;
  int bad = 0;
  for (int i = 1; i < argc; ++i) {
    std::error_code ec;
    const fs::path arg(argv[i]);
    if (fs::is_directory(arg, ec)) {
      for (auto it = fs::recursive_directory_iterator(arg, ec); !ec && it != fs::end(it);
           it.increment(ec)) {
        if (it->is_regular_file(ec)) {
          bad += run_file(it->path());
          ++n;
        }
      }
    } else {
      bad += run_file(arg);
      ++n;
    }
  }
  const std::string name = argc > 0 ? fs::path(argv[0]).filename().string() : "replay";
  std::printf("%s: replayed %lu inputs, %d unreadable\n", name.c_str(), n, bad);
  return (n == 0 || bad != 0) ? 1 : 0;
}
