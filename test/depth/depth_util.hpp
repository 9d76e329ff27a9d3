// Helpers of the depth tests: files written as absolute-time events.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "analysis.hpp"
#include "analyze.hpp"
#include "key.hpp"
#include "smf_builder.hpp"

namespace depth_test {

using namespace midipipe::testing;

// Events at absolute ticks, turned into one MTrk (stable by tick).
struct Timeline {
  struct E {
    uint64_t tick;
    Bytes data;  // without the delta
  };
  std::vector<E> ev;

  Timeline& note(uint64_t at, uint64_t len, int ch, int pitch, int vel = 100) {
    ev.push_back({at,
                  {static_cast<uint8_t>(0x90 | ch), static_cast<uint8_t>(pitch),
                   static_cast<uint8_t>(vel)}});
    ev.push_back({at + len, {static_cast<uint8_t>(0x80 | ch), static_cast<uint8_t>(pitch), 0}});
    return *this;
  }
  Timeline& chord(uint64_t at, uint64_t len, std::initializer_list<int> pitches, int ch = 0) {
    for (int p : pitches) note(at, len, ch, p);
    return *this;
  }
  Timeline& cc(uint64_t at, int ch, int num, int val) {
    ev.push_back(
        {at,
         {static_cast<uint8_t>(0xB0 | ch), static_cast<uint8_t>(num), static_cast<uint8_t>(val)}});
    return *this;
  }
  Timeline& tempo(uint64_t at, uint32_t us) {
    ev.push_back({at,
                  {0xFF, 0x51, 3, static_cast<uint8_t>(us >> 16), static_cast<uint8_t>(us >> 8),
                   static_cast<uint8_t>(us)}});
    return *this;
  }
  Timeline& time_sig(uint64_t at, int nn, int dd) {
    ev.push_back({at, {0xFF, 0x58, 4, static_cast<uint8_t>(nn), static_cast<uint8_t>(dd), 24, 8}});
    return *this;
  }
  Bytes track() const {
    std::vector<E> s = ev;
    // note-offs before note-ons at the same tick
    std::stable_sort(s.begin(), s.end(), [](const E& a, const E& b) {
      if (a.tick != b.tick) return a.tick < b.tick;
      const bool aoff = (a.data[0] & 0xF0) == 0x80, boff = (b.data[0] & 0xF0) == 0x80;
      return aoff && !boff;
    });
    Bytes body;
    uint64_t now = 0;
    for (const E& e : s) {
      body += midipipe::testing::vlq(static_cast<uint32_t>(e.tick - now)) + e.data;
      now = e.tick;
    }
    body += midipipe::testing::eot(0);
    return midipipe::testing::track(body);
  }
};

inline Bytes file0(const Timeline& t, uint16_t ppq = 96) {
  return midipipe::testing::header(0, 1, ppq) + t.track();
}

inline midipipe::Analysis analyse(const Bytes& f) {
  const midipipe::AnalyzeResult r = midipipe::analyze(f);
  EXPECT_TRUE(r.status.ok()) << r.status.message;
  EXPECT_TRUE(r.analysis.depth.has_value());
  return r.analysis;
}

inline std::vector<std::string> chord_names(const midipipe::Analysis& a) {
  std::vector<std::string> v;
  if (a.depth) {
    for (const auto& c : a.depth->chords) v.push_back(c.name);
  }
  return v;
}

}  // namespace depth_test
