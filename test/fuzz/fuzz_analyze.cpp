// libFuzzer target: analyze() and to_json() on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "analysis.hpp"

namespace {
// to_json must produce valid UTF-8 with no raw control characters.
bool valid_json_text(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20) return false;
    int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (n < 0 || i + static_cast<size_t>(n) >= s.size()) return false;
    for (int k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + static_cast<size_t>(k)]) >> 6) != 2) return false;
    }
    i += static_cast<size_t>(n) + 1;
  }
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const midipipe::AnalyzeResult r = midipipe::analyze(std::span<const uint8_t>(data, size));
  const std::string j = midipipe::to_json(r, "fuzz.mid");
  if (j.empty() || j.front() != '{' || j.back() != '}') std::abort();
  if (!valid_json_text(j)) std::abort();
  return 0;
}
