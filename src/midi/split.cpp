// midipipe: track splitting (see split.hpp).
#include "split.hpp"

#include <algorithm>
#include <cstring>

#include "stop.hpp"

namespace midipipe {
namespace {

// The split file, written through a pointer: room for a whole event is made
// before the event is written (one check per event, not one per byte).
class Writer {
 public:
  explicit Writer(std::vector<uint8_t>& v) : v_(v) {}
  // Room for k more bytes.
  void need(size_t k) {
    if (v_.size() - n_ < k) v_.resize(std::max(v_.size() * 2, n_ + k));
  }
  // The writers below assume need() made room.
  void byte(uint8_t b) noexcept { v_[n_++] = b; }
  void bytes(const uint8_t* p, size_t k) noexcept {
    if (k != 0) std::memcpy(v_.data() + n_, p, k);
    n_ += k;
  }
  void vlq(uint32_t v) noexcept {  // at most 5 bytes
    if (v < 0x80) {
      v_[n_++] = static_cast<uint8_t>(v);
      return;
    }
    uint8_t tmp[5];
    int n = 0;
    tmp[n++] = static_cast<uint8_t>(v & 0x7F);
    while ((v >>= 7) != 0) tmp[n++] = static_cast<uint8_t>(0x80 | (v & 0x7F));
    while (n > 0) v_[n_++] = tmp[--n];
  }
  // Delta time to `tick`; makes its own room (what follows needs need()).
  void delta(uint64_t& now, uint64_t tick) {
    const uint64_t d = tick > now ? tick - now : 0;
    now = tick > now ? tick : now;
    if (d <= kMaxDelta) {
      need(4);
      vlq(static_cast<uint32_t>(d));
    } else {
      long_delta(d);
    }
  }
  size_t size() const noexcept { return n_; }
  uint8_t& at(size_t i) noexcept { return v_[i]; }
  void finish() { v_.resize(n_); }

 private:
  static constexpr uint64_t kMaxDelta = 0x0FFFFFFF;  // the 4-byte VLQ range

  // Deltas beyond the 4-byte VLQ range get empty text events (FF 01 00) as
  // fillers (unreachable from a file the reader accepts).
  [[gnu::noinline]] void long_delta(uint64_t d) {
    while (d > kMaxDelta) {
      need(7);
      vlq(static_cast<uint32_t>(kMaxDelta));
      byte(0xFF);
      byte(0x01);
      byte(0x00);
      d -= kMaxDelta;
    }
    need(4);
    vlq(static_cast<uint32_t>(d));
  }

  std::vector<uint8_t>& v_;
  size_t n_ = 0;
};

// Most bytes an event takes in a split file after its delta: status, meta
// type, length (5) and payload, or status and two data bytes.
inline uint64_t max_event_bytes(const Event& e) noexcept {
  return e.status >= 0xF0 ? 7 + uint64_t{e.length} : 3;
}
// What it usually takes (a 1-byte delta): the first size of a split file.
inline uint64_t usual_event_bytes(const Event& e) noexcept {
  return e.status >= 0xF0 ? 4 + uint64_t{e.length} : 4;
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

uint64_t split_output_limit(uint64_t input_size, uint64_t max_events) noexcept {
  const uint64_t by_events = max_events > (UINT64_MAX >> 6) ? UINT64_MAX : 16 * max_events;
  return std::min(input_size * 16, input_size + by_events) + (uint64_t{1} << 20);
}

SplitResult split_tracks(std::span<const uint8_t> bytes, const Limits& limits) {
  SplitResult r;
  try {
    Poller poller(limits.stop);
    Smf smf = read_smf(bytes, limits);
    r.status = std::move(smf.status);
    if (!r.status.ok() || smf.header.format == 0) return r;
    const bool independent = smf.header.format == 2;
    const uint64_t limit = split_output_limit(bytes.size(), limits.max_events);
    uint64_t total = 0;
    // Format 1: the conductor events of every track, sorted once by (tick,
    // track, index); each split merges them with its own events (already in
    // tick order), so a split costs its own events plus the conductor events
    // it copies, and the output limit bounds the total.
    std::vector<Ref> conductor;
    uint64_t conductor_bytes = 0;  // their usual bytes in a split file
    if (!independent) {
      for (uint32_t u = 0; u < smf.tracks.size(); ++u) {
        const auto& ev = smf.tracks[u].events;
        poller.step(ev.size() + 1);
        for (uint32_t i = 0; i < ev.size(); ++i) {
          if (is_conductor_meta(ev[i])) conductor.push_back(Ref{ev[i].tick, u, i});
        }
      }
      for (const Ref& k : conductor) {
        conductor_bytes += usual_event_bytes(smf.tracks[k.track].events[k.index]);
      }
      poller.step(conductor.size());
      std::sort(conductor.begin(), conductor.end(), [](const Ref& a, const Ref& b) {
        if (a.tick != b.tick) return a.tick < b.tick;
        if (a.track != b.track) return a.track < b.track;
        return a.index < b.index;
      });
    }
    for (uint32_t t = 0; t < smf.tracks.size(); ++t) {
      const Track& tr = smf.tracks[t];
      poller.step(tr.events.size() + 1);
      uint64_t notes = 0, own_bytes = 0;
      for (const Event& e : tr.events) {
        notes += (e.status & 0xF0) == 0x90 && e.d2 != 0;
        own_bytes += usual_event_bytes(e);
      }
      if (notes == 0) continue;
      SplitTrack s;
      s.track_no = t;
      s.note_count = notes;
      // Room for what the file usually takes, within the output limit (the
      // writer grows it for longer deltas and the like).
      const uint64_t room = 22 + own_bytes + conductor_bytes + 8;
      const uint64_t left = limit > total ? limit - total : 0;
      s.smf.resize(static_cast<size_t>(std::min(room, left + 64)));
      Writer o(s.smf);
      const uint16_t div = smf.header.division_raw;
      const uint8_t head[22] = {'M',
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
                                0};
      o.need(sizeof head);
      o.bytes(head, sizeof head);
      uint64_t now = 0;
      const auto write = [&](const Event& e) {
        if (e.status >= 0xF0 &&
            (uint64_t{e.offset} + e.length > bytes.size() || e.length == UINT32_MAX)) {
          return;  // payload not addressable (only with limits beyond 4 GiB)
        }
        poller.step();
        o.delta(now, e.tick);
        o.need(static_cast<size_t>(max_event_bytes(e)));
        if (e.status < 0xF0) {
          o.byte(e.status);
          o.byte(e.d1);
          if ((e.status & 0xE0) != 0xC0) o.byte(e.d2);
        } else {
          o.byte(e.status);
          if (e.status == 0xFF) o.byte(e.meta_type);
          o.vlq(e.length);
          o.bytes(bytes.data() + e.offset, e.length);
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
      o.delta(now, tr.end_tick);
      o.need(3);
      o.byte(0xFF);
      o.byte(0x2F);
      o.byte(0x00);
      o.finish();
      total += o.size();
      if (total > limit) {
        r.tracks.clear();
        r.status.code = Code::file_too_large;
        r.status.offset = 0;
        r.status.message = "the split tracks would take more than " + std::to_string(limit) +
                           " bytes (16 x the file, at most the file + 16 x max_events, + 1 MiB)";
        return r;
      }
      const uint64_t len = o.size() - 22;
      o.at(18) = static_cast<uint8_t>(len >> 24);
      o.at(19) = static_cast<uint8_t>(len >> 16);
      o.at(20) = static_cast<uint8_t>(len >> 8);
      o.at(21) = static_cast<uint8_t>(len);
      poller.step(s.smf.size() / 64);  // (sha256: ~64 bytes cost what one event does)
      s.sha256 = sha256(s.smf);
      r.tracks.push_back(std::move(s));
    }
  } catch (const Cancelled&) {
    r.tracks.clear();
    r.status.code = Code::cancelled;
    r.status.offset = 0;
    r.status.message.clear();
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
