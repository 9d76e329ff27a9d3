// midipipe test helper: build Standard MIDI File bytes by hand.
//
// SHARED TEST HELPER (reader tests, analysis tests, fuzz seeds): include it as
// "smf_builder.hpp" (add test/common to the target's include directories) and
// build a file in one expression, e.g.
//
//   using namespace midipipe::testing;
//   Bytes f = header(1, 2, 96) +
//             track(meta(0, 0x51, {0x07, 0xA1, 0x20}) + eot(0)) +
//             track(ev(0, {0x90, 60, 100}) + ev(96, {0x80, 60, 0}) + eot(0));
//   midipipe::Smf smf = midipipe::read_smf(f);
//
// Everything is literal bytes: nothing is validated, so malformed files are as
// easy to write as good ones (wrong lengths, missing End of Track, ...).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace midipipe::testing {

using Bytes = std::vector<uint8_t>;

inline Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
inline Bytes& operator+=(Bytes& a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

inline Bytes raw(std::initializer_list<uint8_t> b) { return Bytes(b); }
inline Bytes str(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Minimal variable-length quantity (up to 0x0FFFFFFF: 4 bytes).
inline Bytes vlq(uint32_t v) {
  Bytes out;
  uint8_t tmp[5];
  int n = 0;
  tmp[n++] = static_cast<uint8_t>(v & 0x7F);
  while ((v >>= 7) != 0) tmp[n++] = static_cast<uint8_t>(0x80 | (v & 0x7F));
  while (n > 0) out.push_back(tmp[--n]);
  return out;
}
inline Bytes be16(uint16_t v) { return {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)}; }
inline Bytes be32(uint32_t v) {
  return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
          static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}
inline Bytes le32(uint32_t v) {
  return {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v >> 16),
          static_cast<uint8_t>(v >> 24)};
}

// Any chunk: 4-character id, big-endian length (the body's size unless
// `declared` is given), body.
inline Bytes chunk(std::string_view id, const Bytes& body, int64_t declared = -1) {
  return str(id) + be32(static_cast<uint32_t>(declared < 0 ? body.size() : declared)) + body;
}

// MThd. `division` as stored (0x8000 bit = SMPTE, see smpte()). `length` > 6
// pads the chunk with zero bytes.
inline Bytes header(uint16_t format, uint16_t ntracks, uint16_t division, uint32_t length = 6) {
  Bytes body = be16(format) + be16(ntracks) + be16(division);
  body.resize(length < 6 ? 6 : length, 0);
  Bytes h = chunk("MThd", body);
  if (length < 6) {  // a short header: keep the declared length, cut the body
    h = str("MThd") + be32(length) + Bytes(body.begin(), body.begin() + length);
  }
  return h;
}
// SMPTE division word: -fps in the high byte, ticks per frame in the low one.
inline uint16_t smpte(int fps, int ticks_per_frame) {
  return static_cast<uint16_t>((static_cast<uint8_t>(static_cast<int8_t>(-fps)) << 8) |
                               (ticks_per_frame & 0xFF));
}

// MTrk around a body of events (its real length unless `declared` is given).
inline Bytes track(const Bytes& events, int64_t declared = -1) {
  return chunk("MTrk", events, declared);
}

// One event: delta time + the given bytes (status and data, or data only for
// running status).
inline Bytes ev(uint32_t delta, std::initializer_list<uint8_t> b) { return vlq(delta) + Bytes(b); }
inline Bytes note_on(uint32_t delta, int ch, int key, int vel) {
  return ev(delta, {static_cast<uint8_t>(0x90 | ch), static_cast<uint8_t>(key),
                    static_cast<uint8_t>(vel)});
}
inline Bytes note_off(uint32_t delta, int ch, int key, int vel = 0) {
  return ev(delta, {static_cast<uint8_t>(0x80 | ch), static_cast<uint8_t>(key),
                    static_cast<uint8_t>(vel)});
}
// Meta event FF type len data.
inline Bytes meta(uint32_t delta, uint8_t type, const Bytes& data) {
  return vlq(delta) + raw({0xFF, type}) + vlq(static_cast<uint32_t>(data.size())) + data;
}
inline Bytes meta_text(uint32_t delta, uint8_t type, std::string_view text) {
  return meta(delta, type, str(text));
}
// Set Tempo in microseconds per quarter note.
inline Bytes tempo(uint32_t delta, uint32_t usec_per_quarter) {
  return meta(
      delta, 0x51,
      {static_cast<uint8_t>(usec_per_quarter >> 16), static_cast<uint8_t>(usec_per_quarter >> 8),
       static_cast<uint8_t>(usec_per_quarter)});
}
inline Bytes eot(uint32_t delta) { return meta(delta, 0x2F, {}); }
// SysEx (F0) or escape (F7) packet: status, VLQ length, data.
inline Bytes sysex(uint32_t delta, uint8_t status, const Bytes& data) {
  return vlq(delta) + raw({status}) + vlq(static_cast<uint32_t>(data.size())) + data;
}

// RIFF RMID wrapper around an SMF, optionally with other chunks before the
// "data" chunk (each chunk padded to an even length, as RIFF wants).
inline Bytes riff_chunk(std::string_view id, const Bytes& body) {
  Bytes c = str(id) + le32(static_cast<uint32_t>(body.size())) + body;
  if (body.size() & 1) c.push_back(0);
  return c;
}
inline Bytes rmid(const Bytes& smf, const Bytes& before = {}, const Bytes& after = {}) {
  Bytes inner = str("RMID") + before + riff_chunk("data", smf) + after;
  return str("RIFF") + le32(static_cast<uint32_t>(inner.size())) + inner;
}

}  // namespace midipipe::testing
