// midipipe: the streaming Standard MIDI File parser (included by smf.hpp).
//
// parse_smf(bytes, visitor, limits) walks a Standard MIDI File (or a RIFF RMID
// wrapper around one) and hands every event to `visitor` (see NullVisitor in
// smf.hpp). Everything is bounds-checked against the input span; nothing is
// allocated per event; the visitor is a template parameter, so its calls are
// inlined. Errors are values: a fatal problem ends the parse with
// ParseStatus::code != ok (the visitor has then seen a prefix of the file),
// a recoverable one is recorded as a Warning and the parse goes on.
//
// Recovery rules (what lenient readers such as mido, midly and players do):
//   * MThd length > 6: the extra bytes are skipped (long_header).
//   * A chunk that is neither MThd nor MTrk and whose id is 4 printable ASCII
//     characters is skipped (unknown_chunk); anything else after the last
//     chunk ends the file (trailing_garbage).
//   * An MTrk whose length runs past the end of the file is read up to the end
//     of the file (truncated_track).
//   * Running status is cancelled by meta and sysex events, as the SMF spec
//     says. A data byte where a status byte is needed is a
//     running_status_without_status warning; the reader then recovers with the
//     last channel status of the track (what mido and players do with files
//     that continue running status across a meta/sysex event), or, when the
//     track has had no channel status yet, skips the data bytes up to the next
//     status byte and reads the event from there.
//   * A channel message with a data byte >= 0x80 is consumed with its normal
//     length but not delivered (bad_data_byte), so d1/d2 are always <= 0x7F.
//   * These stop the current track (the next chunk is read normally):
//     truncated_event (an event cut by the end of the chunk), bad_vlq (a
//     variable-length quantity longer than 4 bytes), bad_meta_length (a meta
//     length past the end of the chunk) and undefined_status (F4, F5, F9,
//     FD: they have no defined length).
//   * The defined system common and real-time messages (F1-F3, F6, F8, FA-FC,
//     FE) are skipped with their fixed length (system_message).
//   * A track that ends without End of Track gets missing_end_of_track unless
//     one of the warnings above already explains why it stopped. Bytes after
//     End of Track inside the chunk are ignored.
//   * A different number of MTrk chunks than the header declares:
//     track_count_mismatch; every MTrk present is read.
#pragma once

#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <span>

// (included from smf.hpp, after the declarations of Code, Limits, ParseStatus...)

namespace midipipe {
namespace detail {

// Out-of-line, cold helpers (smf.cpp): keep the hot loop small.
[[gnu::cold]] void set_fatal(ParseStatus& st, Code code, uint64_t offset, const char* fmt, ...)
    __attribute__((format(printf, 4, 5)));
[[gnu::cold]] void add_warning(ParseStatus& st, Code code, uint64_t offset, uint32_t max_kept);

// Data bytes after a system common or real-time status byte (F1-FE, not F7),
// or -1 for the undefined ones (F4, F5, F9, FD).
inline ptrdiff_t system_message_length(uint8_t s) noexcept {
  switch (s) {
    case 0xF1:
    case 0xF3:
      return 1;
    case 0xF2:
      return 2;
    case 0xF6:
    case 0xF8:
    case 0xFA:
    case 0xFB:
    case 0xFC:
    case 0xFE:
      return 0;
    default:
      return -1;
  }
}

inline uint32_t be32(const uint8_t* p) noexcept {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
inline uint16_t be16(const uint8_t* p) noexcept {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
inline uint32_t le32(const uint8_t* p) noexcept {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
inline bool id_is(const uint8_t* p, const char (&id)[5]) noexcept {
  return p[0] == static_cast<uint8_t>(id[0]) && p[1] == static_cast<uint8_t>(id[1]) &&
         p[2] == static_cast<uint8_t>(id[2]) && p[3] == static_cast<uint8_t>(id[3]);
}
inline bool id_printable(const uint8_t* p) noexcept {
  for (int i = 0; i < 4; ++i) {
    if (p[i] < 0x20 || p[i] > 0x7E) return false;
  }
  return true;
}

enum class VlqResult : uint8_t { ok, truncated, too_long };

// Reads a variable-length quantity of at most 4 bytes starting at p (< end).
// On success p is advanced past it.
[[gnu::always_inline]] inline VlqResult read_vlq(const uint8_t*& p, const uint8_t* end,
                                                 uint32_t& out) noexcept {
  const uint8_t* q = p;
  if (q >= end) return VlqResult::truncated;
  uint32_t v = *q++;
  if (v < 0x80) {
    out = v;
    p = q;
    return VlqResult::ok;
  }
  v &= 0x7F;
  for (int n = 1;; ++n) {
    if (q >= end) return VlqResult::truncated;
    const uint8_t b = *q++;
    v = (v << 7) | (b & 0x7Fu);
    if (b < 0x80) break;
    if (n == 3) return VlqResult::too_long;  // a 4th byte that still continues
  }
  out = v;
  p = q;
  return VlqResult::ok;
}

struct ParseCtx {
  const uint8_t* file;  // start of the whole input (offsets are relative to it)
  ParseStatus& st;
  const Limits& limits;
  // The event count past which checkpoint() runs: the event limit, or the
  // next poll of Limits::stop when there is one, whichever comes first. So
  // the hot loop has one comparison per event for both.
  uint64_t next_check;
  uint32_t idle = 0;  // loop steps that delivered no event since the last poll
  ParseCtx(const uint8_t* f, ParseStatus& s, const Limits& l) noexcept
      : file(f), st(s), limits(l), next_check(first_check(l)) {}
  static uint64_t first_check(const Limits& l) noexcept {
    return l.stop.fn != nullptr && l.max_events > kStopEvery ? kStopEvery : l.max_events;
  }
  uint64_t off(const uint8_t* p) const noexcept { return static_cast<uint64_t>(p - file); }
};

// `events` passed ctx.next_check: too_many_events past Limits::max_events,
// cancelled when Limits::stop says so (both fatal: false), else the next
// checkpoint is set.
[[gnu::cold]] bool checkpoint(ParseCtx& ctx, uint32_t track, uint64_t events, uint64_t& next_check,
                              const uint8_t* at);
[[gnu::cold]] bool idle_poll(ParseCtx& ctx, const uint8_t* at);

// A loop step that delivers no event (a skipped message, a chunk): polls
// Limits::stop every kStopEvery of them, so that a file made only of such
// steps is cancellable too. false: cancelled (fatal already recorded).
inline bool idle_step(ParseCtx& ctx, const uint8_t* at) {
  if (++ctx.idle < kStopEvery) [[likely]]
    return true;
  return idle_poll(ctx, at);
}

// Parses one MTrk body [p, end). Returns false after a fatal error (already
// recorded in ctx.st).
template <class V>
bool parse_track(ParseCtx& ctx, uint32_t track, const uint8_t* p, const uint8_t* const end, V& v) {
  ParseStatus& st = ctx.st;
  const uint32_t max_kept = ctx.limits.max_warnings;
  uint64_t next_check = ctx.next_check;
  uint64_t events = st.events;
  uint64_t tick = 0;
  uint8_t running = 0;       // running status in force (0: none)
  uint8_t last_channel = 0;  // last channel status, survives cancellation (recovery)
  bool had_eot = false;
  bool stopped = false;  // stopped early with a warning that explains it

  const auto stop = [&](Code code, const uint8_t* at) {
    add_warning(st, code, ctx.off(at), max_kept);
    stopped = true;
  };

  while (p < end) {
    const uint8_t* const ev = p;
    uint32_t delta;
    if (*p < 0x80) {
      delta = *p++;
    } else {
      const VlqResult r = read_vlq(p, end, delta);
      if (r != VlqResult::ok) {
        stop(r == VlqResult::too_long ? Code::bad_vlq : Code::truncated_event, ev);
        break;
      }
    }
    if (p >= end) {
      stop(Code::truncated_event, ev);
      break;
    }
    const uint64_t now = tick + delta;  // committed once the event is complete
    uint8_t s = *p;
    if (s >= 0x80) {
      ++p;
    } else if (running != 0) {
      s = running;
    } else {
      add_warning(st, Code::running_status_without_status, ctx.off(p), max_kept);
      if (last_channel != 0) {
        s = last_channel;
      } else {
        while (p < end && *p < 0x80) ++p;
        if (p >= end) {
          stopped = true;  // the warning above explains the end of the track
          break;
        }
        s = *p++;
      }
    }

    if (s < 0xF0) {
      running = s;
      last_channel = s;
      const ptrdiff_t need = ((s & 0xE0) == 0xC0) ? 1 : 2;  // Cx, Dx: one data byte
      if (end - p < need) {
        stop(Code::truncated_event, ev);
        break;
      }
      const uint8_t d1 = p[0];
      const uint8_t d2 = need == 2 ? p[1] : 0;
      p += need;
      tick = now;
      if (((d1 | d2) & 0x80) != 0) [[unlikely]] {
        add_warning(st, Code::bad_data_byte, ctx.off(ev), max_kept);
        if (!idle_step(ctx, ev)) return false;
        continue;
      }
      if (++events > next_check) [[unlikely]] {
        if (!checkpoint(ctx, track, events, next_check, ev)) return false;
      }
      v.on_channel(now, s, d1, d2);
    } else if (s == 0xFF) {
      running = 0;
      if (p >= end) {
        stop(Code::truncated_event, ev);
        break;
      }
      const uint8_t type = *p++;
      uint32_t len;
      const VlqResult r = read_vlq(p, end, len);
      if (r != VlqResult::ok) {
        stop(r == VlqResult::too_long ? Code::bad_vlq : Code::truncated_event, ev);
        break;
      }
      if (len > static_cast<uint64_t>(end - p)) {
        stop(Code::bad_meta_length, ev);
        break;
      }
      if (++events > next_check) [[unlikely]] {
        if (!checkpoint(ctx, track, events, next_check, ev)) return false;
      }
      tick = now;
      v.on_meta(now, type, std::span<const uint8_t>(p, len));
      p += len;
      if (type == 0x2F) {
        had_eot = true;
        break;  // End of Track: anything after it in the chunk is ignored
      }
    } else if (s == 0xF0 || s == 0xF7) {
      running = 0;
      uint32_t len;
      const VlqResult r = read_vlq(p, end, len);
      if (r != VlqResult::ok) {
        stop(r == VlqResult::too_long ? Code::bad_vlq : Code::truncated_event, ev);
        break;
      }
      if (len > static_cast<uint64_t>(end - p)) {
        stop(Code::truncated_event, ev);
        break;
      }
      if (++events > next_check) [[unlikely]] {
        if (!checkpoint(ctx, track, events, next_check, ev)) return false;
      }
      tick = now;
      v.on_sysex(now, s, std::span<const uint8_t>(p, len));
      p += len;
    } else {
      // System common and real-time messages have no place in a file, but
      // the defined ones have a fixed length (F1 and F3: one data byte, F2:
      // two, F6, F8, FA-FC, FE: none), so they are skipped and the track
      // goes on, as mido and players do. F4, F5, F9 and FD are undefined:
      // the rest of the track cannot be framed, so it stops there.
      const ptrdiff_t need = system_message_length(s);
      if (need < 0) {
        stop(Code::undefined_status, p - 1);
        break;
      }
      if (end - p < need) {
        stop(Code::truncated_event, ev);
        break;
      }
      p += need;
      tick = now;
      if (s < 0xF8) running = 0;  // system common cancels running status
      add_warning(st, Code::system_message, ctx.off(ev), max_kept);
      if (!idle_step(ctx, ev)) return false;
    }
  }
  if (!had_eot && !stopped) add_warning(st, Code::missing_end_of_track, ctx.off(end), max_kept);
  st.events = events;
  ctx.next_check = next_check;
  v.on_track_end(track, tick, had_eot);
  return true;
}

}  // namespace detail

template <class V>
ParseStatus parse_smf(std::span<const uint8_t> bytes, V& visitor, const Limits& limits = {}) {
  using detail::be16;
  using detail::be32;
  using detail::id_is;
  using detail::set_fatal;
  ParseStatus st;
  const uint64_t size = bytes.size();
  if (size == 0) {
    set_fatal(st, Code::empty_file, 0, "the file is empty");
    return st;
  }
  if (size > limits.max_file_size) {
    set_fatal(st, Code::file_too_large, 0, "the file has %llu bytes, more than the limit of %llu",
              static_cast<unsigned long long>(size),
              static_cast<unsigned long long>(limits.max_file_size));
    return st;
  }
  const uint8_t* const file = bytes.data();
  detail::ParseCtx ctx(file, st, limits);

  // The SMF proper: [b, e) of the file.
  uint64_t b = 0;
  uint64_t e = size;
  if (size >= 4 && id_is(file, "RIFF")) {
    if (size < 12) {
      set_fatal(st, Code::bad_riff, size, "RIFF header cut at offset %llu",
                static_cast<unsigned long long>(size));
      return st;
    }
    if (!id_is(file + 8, "RMID")) {
      set_fatal(st, Code::not_midi, 8, "RIFF file of another form (not RMID)");
      return st;
    }
    uint64_t pos = 12;
    bool found = false;
    while (size - pos >= 8) {
      const uint64_t len = detail::le32(file + pos + 4);
      if (id_is(file + pos, "data")) {
        if (len > size - pos - 8) {
          set_fatal(st, Code::bad_riff, pos,
                    "RIFF data chunk at offset %llu declares %llu bytes, only %llu present",
                    static_cast<unsigned long long>(pos), static_cast<unsigned long long>(len),
                    static_cast<unsigned long long>(size - pos - 8));
          return st;
        }
        b = pos + 8;
        e = b + len;
        found = true;
        break;
      }
      pos += 8 + len + (len & 1);
      if (pos > size) break;
    }
    if (!found) {
      set_fatal(st, Code::bad_riff, pos < size ? pos : size, "RIFF RMID file without a data chunk");
      return st;
    }
    if (e - b < 4 || !id_is(file + b, "MThd")) {
      set_fatal(st, Code::bad_riff, b, "RIFF data chunk at offset %llu does not hold an MThd",
                static_cast<unsigned long long>(b - 8));
      return st;
    }
  } else if (size < 4 || !id_is(file, "MThd")) {
    set_fatal(st, Code::not_midi, 0, "no MThd header at the start of the file");
    return st;
  }

  // MThd
  Header h;
  h.offset = b;
  if (e - b < 8) {
    set_fatal(st, Code::truncated_header, e, "MThd chunk cut by the end of the file at offset %llu",
              static_cast<unsigned long long>(e));
    return st;
  }
  const uint32_t hlen = be32(file + b + 4);
  if (hlen < 6) {
    set_fatal(st, Code::truncated_header, b + 4, "MThd length is %u, less than 6",
              static_cast<unsigned>(hlen));
    return st;
  }
  if (e - b < 14) {
    set_fatal(st, Code::truncated_header, e, "MThd chunk cut by the end of the file at offset %llu",
              static_cast<unsigned long long>(e));
    return st;
  }
  h.format = be16(file + b + 8);
  h.ntracks_declared = be16(file + b + 10);
  h.division_raw = be16(file + b + 12);
  if (h.format > 2) {
    set_fatal(st, Code::bad_format, b + 8, "MThd format is %u; only 0, 1 and 2 exist",
              static_cast<unsigned>(h.format));
    return st;
  }
  if (h.division_raw & 0x8000u) {
    const int fps = -static_cast<int>(static_cast<int8_t>(h.division_raw >> 8));
    const unsigned tpf = h.division_raw & 0xFFu;
    if (fps != 24 && fps != 25 && fps != 29 && fps != 30) {
      set_fatal(st, Code::bad_division, b + 12,
                "SMPTE division with %d frames per second; only 24, 25, 29 and 30 exist", fps);
      return st;
    }
    if (tpf == 0) {
      set_fatal(st, Code::bad_division, b + 12, "SMPTE division with 0 ticks per frame");
      return st;
    }
    h.smpte_fps = static_cast<uint8_t>(fps);
    h.smpte_ticks_per_frame = static_cast<uint8_t>(tpf);
  } else {
    if (h.division_raw == 0) {
      set_fatal(st, Code::bad_division, b + 12, "division is 0 ticks per quarter note");
      return st;
    }
    h.ppq = h.division_raw;
  }
  const uint32_t max_kept = limits.max_warnings;
  if (hlen > 6) detail::add_warning(st, Code::long_header, b + 14, max_kept);
  visitor.on_header(h);

  // Chunks
  uint64_t pos = b + 8 + static_cast<uint64_t>(hlen);
  const uint64_t first_chunk = pos;
  while (pos < e) {
    if (!detail::idle_step(ctx, file + pos)) return st;
    if (e - pos < 8) {
      detail::add_warning(st, Code::trailing_garbage, pos, max_kept);
      break;
    }
    const uint8_t* c = file + pos;
    const uint64_t len = be32(c + 4);
    if (id_is(c, "MTrk")) {
      if (st.tracks >= limits.max_tracks) {
        set_fatal(st, Code::too_many_tracks, pos,
                  "more than %u MTrk chunks (limit); chunk at offset %llu",
                  static_cast<unsigned>(limits.max_tracks), static_cast<unsigned long long>(pos));
        return st;
      }
      uint64_t body_end = pos + 8 + len;
      if (len > e - pos - 8) {
        detail::add_warning(st, Code::truncated_track, pos + 4, max_kept);
        body_end = e;
      }
      const uint32_t track = st.tracks++;
      visitor.on_track_begin(track, pos);
      if (!detail::parse_track(ctx, track, c + 8, file + body_end, visitor)) return st;
    } else if (detail::id_printable(c)) {
      detail::add_warning(st, Code::unknown_chunk, pos, max_kept);
    } else {
      detail::add_warning(st, Code::trailing_garbage, pos, max_kept);
      break;
    }
    if (len > e - pos - 8) break;
    pos += 8 + len;
  }
  if (st.tracks == 0) {
    set_fatal(st, Code::no_tracks, first_chunk < e ? first_chunk : e,
              "no readable MTrk chunk (the header declares %u)",
              static_cast<unsigned>(h.ntracks_declared));
    return st;
  }
  if (st.tracks != h.ntracks_declared) {
    detail::add_warning(st, Code::track_count_mismatch, b + 10, max_kept);
  }
  return st;
}

}  // namespace midipipe
