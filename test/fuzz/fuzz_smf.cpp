// libFuzzer target: the streaming parser (with a visitor that touches every
// byte it is given) and the materialising reader, with tight limits so that
// the limit paths are exercised too. Checks the reader's own invariants.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "smf.hpp"

namespace {

struct TouchVisitor {
  uint64_t sum = 0;
  uint64_t last_tick = 0;
  bool in_track = false;
  void on_header(const midipipe::Header& h) { sum += h.format + h.ppq + h.smpte_fps; }
  void on_track_begin(uint32_t, uint64_t off) {
    if (in_track) std::abort();
    in_track = true;
    last_tick = 0;
    sum += off;
  }
  void tick(uint64_t t) {
    if (!in_track || t < last_tick) std::abort();  // ticks never go backwards
    last_tick = t;
  }
  void on_channel(uint64_t t, uint8_t s, uint8_t d1, uint8_t d2) {
    tick(t);
    if (s < 0x80 || s >= 0xF0 || d1 > 0x7F || d2 > 0x7F) std::abort();
    sum += s + d1 + d2;
  }
  void on_sysex(uint64_t t, uint8_t s, std::span<const uint8_t> d) {
    tick(t);
    if (s != 0xF0 && s != 0xF7) std::abort();
    for (uint8_t b : d) sum += b;  // ASan checks the span is inside the input
  }
  void on_meta(uint64_t t, uint8_t type, std::span<const uint8_t> d) {
    tick(t);
    sum += type;
    for (uint8_t b : d) sum += b;
  }
  void on_track_end(uint32_t, uint64_t end_tick, bool) {
    if (!in_track || end_tick < last_tick) std::abort();
    in_track = false;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  TouchVisitor v;
  const midipipe::ParseStatus st = midipipe::parse_smf(bytes, v);
  if (st.ok() == midipipe::code_is_fatal(st.code)) std::abort();
  if (st.warnings.size() > 16 || st.warnings.size() > st.warning_count) std::abort();
  if (st.offset > size) std::abort();
  for (const auto& w : st.warnings) {
    if (w.offset > size || midipipe::code_is_fatal(w.code)) std::abort();
  }

  const midipipe::Smf smf = midipipe::read_smf(bytes);
  if (smf.status.code != st.code || smf.status.events != st.events) std::abort();
  uint64_t n = 0;
  for (const auto& t : smf.tracks) {
    for (const auto& e : t.events) {
      if (e.status >= 0xF0 && uint64_t{e.offset} + e.length > size) std::abort();
    }
    n += t.events.size();
  }
  if (st.ok() && n != st.events) std::abort();

  midipipe::Limits tight;
  tight.max_events = 7;
  tight.max_tracks = 2;
  tight.max_warnings = 1;
  tight.max_file_size = 4096;
  midipipe::NullVisitor nv;
  const midipipe::ParseStatus t2 = midipipe::parse_smf(bytes, nv, tight);
  if (t2.events > 7 || t2.tracks > 2 || t2.warnings.size() > 1) std::abort();
  return 0;
}
