// midipipe: code names, the cold helpers of parse_smf and the materialising
// reader read_smf. Plain C++20 (no postgres.h).
#include "smf.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

namespace midipipe {

std::string_view code_name(Code c) noexcept {
  switch (c) {
    case Code::ok:
      return "ok";
    case Code::empty_file:
      return "empty_file";
    case Code::file_too_large:
      return "file_too_large";
    case Code::not_midi:
      return "not_midi";
    case Code::bad_riff:
      return "bad_riff";
    case Code::truncated_header:
      return "truncated_header";
    case Code::bad_format:
      return "bad_format";
    case Code::bad_division:
      return "bad_division";
    case Code::no_tracks:
      return "no_tracks";
    case Code::too_many_events:
      return "too_many_events";
    case Code::too_many_tracks:
      return "too_many_tracks";
    case Code::missing_end_of_track:
      return "missing_end_of_track";
    case Code::track_count_mismatch:
      return "track_count_mismatch";
    case Code::trailing_garbage:
      return "trailing_garbage";
    case Code::unknown_chunk:
      return "unknown_chunk";
    case Code::truncated_track:
      return "truncated_track";
    case Code::running_status_without_status:
      return "running_status_without_status";
    case Code::truncated_event:
      return "truncated_event";
    case Code::bad_vlq:
      return "bad_vlq";
    case Code::long_header:
      return "long_header";
    case Code::undefined_status:
      return "undefined_status";
    case Code::bad_meta_length:
      return "bad_meta_length";
    case Code::bad_data_byte:
      return "bad_data_byte";
    case Code::system_message:
      return "system_message";
    case Code::out_of_memory:
      return "out_of_memory";
    case Code::cancelled:
      return "cancelled";
    case Code::code_count_:
      break;
  }
  return "unknown";
}

bool code_is_fatal(Code c) noexcept {
  return (c >= Code::empty_file && c <= Code::too_many_tracks) || c == Code::out_of_memory ||
         c == Code::cancelled;
}

namespace detail {

void set_fatal(ParseStatus& st, Code code, uint64_t offset, const char* fmt, ...) {
  st.code = code;
  st.offset = offset;
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) {
    st.message.assign(code_name(code));
  } else {
    st.message.assign(
        buf, static_cast<size_t>(n) < sizeof buf ? static_cast<size_t>(n) : sizeof buf - 1);
  }
}

void add_warning(ParseStatus& st, Code code, uint64_t offset, uint32_t max_kept) {
  if (st.warnings.size() < max_kept) st.warnings.push_back(Warning{code, offset});
  if (st.warning_count != UINT32_MAX) ++st.warning_count;
}

bool checkpoint(ParseCtx& ctx, uint32_t track, uint64_t events, uint64_t& next_check,
                const uint8_t* at) {
  const uint64_t max_events = ctx.limits.max_events;
  if (events > max_events) {
    // Fatal: the whole file is refused, not the track.
    set_fatal(ctx.st, Code::too_many_events, ctx.off(at),
              "track %u: more than %llu events (limit); event at offset %llu", track,
              static_cast<unsigned long long>(max_events),
              static_cast<unsigned long long>(ctx.off(at)));
    return false;
  }
  ctx.idle = 0;
  if (ctx.limits.stop.requested()) {
    set_fatal(ctx.st, Code::cancelled, ctx.off(at), "cancelled at offset %llu",
              static_cast<unsigned long long>(ctx.off(at)));
    return false;
  }
  next_check = max_events - events > kStopEvery ? events + kStopEvery : max_events;
  return true;
}

bool idle_poll(ParseCtx& ctx, const uint8_t* at) {
  ctx.idle = 0;
  if (!ctx.limits.stop.requested()) return true;
  set_fatal(ctx.st, Code::cancelled, ctx.off(at), "cancelled at offset %llu",
            static_cast<unsigned long long>(ctx.off(at)));
  return false;
}

}  // namespace detail

namespace {

// Materialises every event into Smf::tracks.
struct Collector {
  Smf& smf;
  const uint8_t* base;
  uint64_t size;
  Track* cur = nullptr;

  static uint32_t clamp32(uint64_t v) {
    return v > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(v);
  }

  void on_header(const Header& h) { smf.header = h; }
  void on_track_begin(uint32_t /*track*/, uint64_t offset) {
    smf.tracks.emplace_back();
    cur = &smf.tracks.back();
    // Room for the chunk's events (an event takes 3 bytes or more but for
    // program and pressure changes in running status), so that they are not
    // copied as the vector grows; capped, the length is the file's word.
    if (offset <= size && size - offset >= 8) {
      const uint8_t* p = base + offset + 4;
      uint64_t len = uint64_t{p[0]} << 24 | uint64_t{p[1]} << 16 | uint64_t{p[2]} << 8 | p[3];
      len = std::min<uint64_t>(len, size - offset - 8);
      cur->events.reserve(static_cast<size_t>(std::min<uint64_t>(len / 3 + 1, 1u << 20)));
    }
  }
  void on_channel(uint64_t tick, uint8_t status, uint8_t d1, uint8_t d2) {
    cur->events.push_back(Event{tick, 0, 0, status, 0, d1, d2});
  }
  void on_sysex(uint64_t tick, uint8_t status, std::span<const uint8_t> data) {
    cur->events.push_back(Event{tick, clamp32(static_cast<uint64_t>(data.data() - base)),
                                clamp32(data.size()), status, 0, 0, 0});
  }
  void on_meta(uint64_t tick, uint8_t type, std::span<const uint8_t> data) {
    cur->events.push_back(Event{tick, clamp32(static_cast<uint64_t>(data.data() - base)),
                                clamp32(data.size()), 0xFF, type, 0, 0});
  }
  void on_track_end(uint32_t /*track*/, uint64_t end_tick, bool had_end_of_track) {
    cur->end_tick = end_tick;
    cur->had_end_of_track = had_end_of_track;
  }
};

}  // namespace

Smf read_smf(std::span<const uint8_t> bytes, const Limits& limits) {
  Smf smf;
  Collector c{smf, bytes.data(), bytes.size()};
  smf.status = parse_smf(bytes, c, limits);
  return smf;
}

}  // namespace midipipe
