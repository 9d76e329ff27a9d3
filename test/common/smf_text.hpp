// midipipe test helper: one text line per event, the format shared by the
// libsmf differential test (smf-dump-libsmf prints the same lines):
//
//   <track> <absolute tick> <status hex> [<meta type hex>] : <data hex>
//
// track is 0-based over MTrk chunks; channel messages print their one or two
// data bytes, meta events their type and payload, sysex (F0) and escape (F7)
// packets their payload (without the length).
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "smf.hpp"

namespace midipipe::testing {

inline std::string hex(std::span<const uint8_t> data) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  s.reserve(data.size() * 2);
  for (uint8_t b : data) {
    s.push_back(digits[b >> 4]);
    s.push_back(digits[b & 15]);
  }
  return s;
}

inline std::string event_line(uint32_t track, uint64_t tick, uint8_t status, uint8_t meta_type,
                              std::span<const uint8_t> data) {
  char buf[64];
  if (status == 0xFF) {
    std::snprintf(buf, sizeof buf, "%u %llu ff %02x : ", track,
                  static_cast<unsigned long long>(tick), meta_type);
  } else {
    std::snprintf(buf, sizeof buf, "%u %llu %02x : ", track, static_cast<unsigned long long>(tick),
                  status);
  }
  return buf + hex(data);
}

// Our events, one line each, in track order.
inline std::vector<std::string> event_lines(const Smf& smf, std::span<const uint8_t> file) {
  std::vector<std::string> out;
  for (uint32_t t = 0; t < smf.tracks.size(); ++t) {
    for (const Event& e : smf.tracks[t].events) {
      if (e.status < 0xF0) {
        const uint8_t d[2] = {e.d1, e.d2};
        const bool one = (e.status & 0xE0) == 0xC0;
        out.push_back(event_line(t, e.tick, e.status, 0, std::span<const uint8_t>(d, one ? 1 : 2)));
      } else {
        out.push_back(
            event_line(t, e.tick, e.status, e.meta_type, file.subspan(e.offset, e.length)));
      }
    }
  }
  return out;
}

}  // namespace midipipe::testing
