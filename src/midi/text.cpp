// midipipe: text sanitising (UTF-8 validation, Latin-1 fallback).
#include "analysis_internal.hpp"

namespace midipipe {

bool is_valid_utf8(std::span<const uint8_t> s) noexcept {
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const uint8_t c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return false;  // continuation byte, C0/C1 (overlong) or F5..FF
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      const uint8_t b = s[i + k];
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return false;
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;
    i += len;
  }
  return true;
}

std::string sanitize_text(std::span<const uint8_t> data, size_t max_bytes) {
  std::string out;
  out.reserve(data.size() < max_bytes ? data.size() : max_bytes);
  if (is_valid_utf8(data)) {
    for (size_t i = 0; i < data.size();) {
      const uint8_t c = data[i];
      const size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
      if (c == 0) {
        ++i;
        continue;
      }
      if (out.size() + len > max_bytes) break;
      out.append(reinterpret_cast<const char*>(data.data() + i), len);
      i += len;
    }
  } else {
    for (const uint8_t c : data) {
      if (c == 0) continue;
      if (c < 0x80) {
        if (out.size() + 1 > max_bytes) break;
        out.push_back(static_cast<char>(c));
      } else {
        if (out.size() + 2 > max_bytes) break;
        out.push_back(static_cast<char>(0xC0 | (c >> 6)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
      }
    }
  }
  return out;
}

}  // namespace midipipe
