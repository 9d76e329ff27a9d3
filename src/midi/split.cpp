// midipipe: track splitting (see split.hpp).
#include "split.hpp"

#include <algorithm>

namespace midipipe {
namespace {

void put_vlq(std::vector<uint8_t>& out, uint32_t v) {
  uint8_t tmp[5];
  int n = 0;
  tmp[n++] = static_cast<uint8_t>(v & 0x7F);
  while ((v >>= 7) != 0) tmp[n++] = static_cast<uint8_t>(0x80 | (v & 0x7F));
  while (n > 0) out.push_back(tmp[--n]);
}

// Delta time to `tick`; deltas beyond the 4-byte VLQ range get empty text
// events (FF 01 00) as fillers (unreachable from a file the reader accepts).
void put_delta(std::vector<uint8_t>& out, uint64_t& now, uint64_t tick) {
  constexpr uint64_t kMaxDelta = 0x0FFFFFFF;
  uint64_t d = tick > now ? tick - now : 0;
  while (d > kMaxDelta) {
    put_vlq(out, static_cast<uint32_t>(kMaxDelta));
    out.insert(out.end(), {0xFF, 0x01, 0x00});
    d -= kMaxDelta;
  }
  put_vlq(out, static_cast<uint32_t>(d));
  now = tick > now ? tick : now;
}

struct Ref {
  uint64_t tick;
  uint32_t track;
  uint32_t index;
};

bool is_conductor_meta(const Event& e) noexcept {
  return e.status == 0xFF && (e.meta_type == 0x51 || e.meta_type == 0x58 || e.meta_type == 0x59);
}

}  // namespace

uint64_t split_output_limit(uint64_t input_size) noexcept {
  return input_size * 16 + (uint64_t{1} << 20);
}

SplitResult split_tracks(std::span<const uint8_t> bytes, const Limits& limits) {
  SplitResult r;
  try {
    Smf smf = read_smf(bytes, limits);
    r.status = std::move(smf.status);
    if (!r.status.ok() || smf.header.format == 0) return r;
    const bool independent = smf.header.format == 2;
    const uint64_t limit = split_output_limit(bytes.size());
    uint64_t total = 0;
    // Format 1: the conductor events of every track, sorted once by (tick,
    // track, index); each split merges them with its own events (already in
    // tick order), so a split costs its own events plus the conductor events
    // it copies, and the output limit bounds the total.
    std::vector<Ref> conductor;
    if (!independent) {
      for (uint32_t u = 0; u < smf.tracks.size(); ++u) {
        const auto& ev = smf.tracks[u].events;
        for (uint32_t i = 0; i < ev.size(); ++i) {
          if (is_conductor_meta(ev[i])) conductor.push_back(Ref{ev[i].tick, u, i});
        }
      }
      std::sort(conductor.begin(), conductor.end(), [](const Ref& a, const Ref& b) {
        if (a.tick != b.tick) return a.tick < b.tick;
        if (a.track != b.track) return a.track < b.track;
        return a.index < b.index;
      });
    }
    for (uint32_t t = 0; t < smf.tracks.size(); ++t) {
      const Track& tr = smf.tracks[t];
      uint64_t notes = 0;
      for (const Event& e : tr.events) notes += (e.status & 0xF0) == 0x90 && e.d2 != 0;
      if (notes == 0) continue;
      SplitTrack s;
      s.track_no = t;
      s.note_count = notes;
      std::vector<uint8_t>& o = s.smf;
      const uint16_t div = smf.header.division_raw;
      o.insert(o.end(), {'M',
                         'T',
                         'h',
                         'd',
                         0,
                         0,
                         0,
                         6,
                         0,
                         0,
                         0,
                         1,
                         static_cast<uint8_t>(div >> 8),
                         static_cast<uint8_t>(div),
                         'M',
                         'T',
                         'r',
                         'k',
                         0,
                         0,
                         0,
                         0});
      uint64_t now = 0;
      const auto write = [&](const Event& e) {
        if (e.status >= 0xF0 &&
            (uint64_t{e.offset} + e.length > bytes.size() || e.length == UINT32_MAX)) {
          return;  // payload not addressable (only with limits beyond 4 GiB)
        }
        put_delta(o, now, e.tick);
        if (e.status < 0xF0) {
          o.push_back(e.status);
          o.push_back(e.d1);
          if ((e.status & 0xE0) != 0xC0) o.push_back(e.d2);
        } else {
          o.push_back(e.status);
          if (e.status == 0xFF) o.push_back(e.meta_type);
          put_vlq(o, e.length);
          o.insert(o.end(), bytes.begin() + e.offset, bytes.begin() + e.offset + e.length);
        }
      };
      size_t c = 0;
      for (uint32_t i = 0; i <= tr.events.size() && total + o.size() <= limit; ++i) {
        // conductor events of other tracks that come before own event i
        const bool own = i < tr.events.size();
        while (c < conductor.size() && total + o.size() <= limit) {
          const Ref& k = conductor[c];
          if (k.tick > tr.end_tick) break;
          if (own &&
              (k.tick > tr.events[i].tick || (k.tick == tr.events[i].tick && k.track >= t))) {
            break;
          }
          if (k.track != t) write(smf.tracks[k.track].events[k.index]);
          ++c;
        }
        if (!own) break;
        const Event& e = tr.events[i];
        if (e.status == 0xFF && e.meta_type == 0x2F) continue;
        write(e);
      }
      put_delta(o, now, tr.end_tick);
      o.insert(o.end(), {0xFF, 0x2F, 0x00});
      total += o.size();
      if (total > limit) {
        r.tracks.clear();
        r.status.code = Code::file_too_large;
        r.status.offset = 0;
        r.status.message = "the split tracks would take more than " + std::to_string(limit) +
                           " bytes (16 x the file + 1 MiB)";
        return r;
      }
      const uint64_t len = o.size() - 22;
      o[18] = static_cast<uint8_t>(len >> 24);
      o[19] = static_cast<uint8_t>(len >> 16);
      o[20] = static_cast<uint8_t>(len >> 8);
      o[21] = static_cast<uint8_t>(len);
      s.sha256 = sha256(o);
      r.tracks.push_back(std::move(s));
    }
  } catch (...) {
    r.tracks.clear();
    r.status.code = Code::out_of_memory;
    r.status.offset = 0;
    try {
      r.status.message = "out of memory while splitting the file";
    } catch (...) {
    }
  }
  return r;
}

}  // namespace midipipe
