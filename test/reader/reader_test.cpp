// Unit tests of the Standard MIDI File reader: one small hand-made byte
// sequence per case (test/common/smf_builder.hpp), asserting events, ticks,
// warnings, error codes and offsets.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "smf.hpp"
#include "smf_builder.hpp"
#include "smf_text.hpp"

namespace midipipe {
namespace {

using namespace midipipe::testing;

// Reads and returns the event lines (smf_text.hpp format) of `f`.
std::vector<std::string> lines(const Bytes& f, Smf* out = nullptr) {
  Smf smf = read_smf(f);
  auto l = event_lines(smf, f);
  if (out) *out = std::move(smf);
  return l;
}

std::vector<Code> warning_codes(const ParseStatus& st) {
  std::vector<Code> c;
  for (const auto& w : st.warnings) c.push_back(w.code);
  return c;
}

bool has_warning(const ParseStatus& st, Code c, uint64_t offset) {
  for (const auto& w : st.warnings) {
    if (w.code == c && w.offset == offset) return true;
  }
  return false;
}

// 14-byte MThd + 8-byte MTrk header: the first event of the first track.
constexpr uint64_t kFirstEvent = 22;

TEST(Reader, Format0Basic) {
  const Bytes f = header(0, 1, 96) + track(meta_text(0, 0x03, "Piano") + note_on(0, 0, 60, 100) +
                                           note_off(96, 0, 60, 64) + eot(10));
  Smf smf;
  const auto l = lines(f, &smf);
  ASSERT_TRUE(smf.status.ok()) << smf.status.message;
  EXPECT_EQ(smf.header.format, 0);
  EXPECT_EQ(smf.header.ntracks_declared, 1);
  EXPECT_EQ(smf.header.ppq, 96);
  EXPECT_EQ(smf.header.smpte_fps, 0);
  EXPECT_EQ(smf.header.offset, 0u);
  EXPECT_EQ(l, (std::vector<std::string>{"0 0 ff 03 : 5069616e6f", "0 0 90 : 3c64",
                                         "0 96 80 : 3c40", "0 106 ff 2f : "}));
  ASSERT_EQ(smf.tracks.size(), 1u);
  EXPECT_TRUE(smf.tracks[0].had_end_of_track);
  EXPECT_EQ(smf.tracks[0].end_tick, 106u);
  EXPECT_EQ(smf.status.events, 4u);
  EXPECT_EQ(smf.status.tracks, 1u);
  EXPECT_EQ(smf.status.warning_count, 0u);
  // The text payload's offset is in file bytes: after 00 FF 03 05.
  EXPECT_EQ(smf.tracks[0].events[0].offset, kFirstEvent + 4);
  EXPECT_EQ(smf.tracks[0].events[0].length, 5u);
}

TEST(Reader, Format1And2MultiTrack) {
  for (const uint16_t fmt : {uint16_t{1}, uint16_t{2}}) {
    const Bytes f =
        header(fmt, 3, 480) + track(tempo(0, 500000) + eot(0)) +
        track(note_on(10, 1, 64, 90) + note_off(470, 1, 64) + eot(0)) +
        track(ev(5, {0xC9, 0x10}) + ev(0, {0xD2, 0x33}) + ev(1, {0xE3, 0x00, 0x40}) + eot(7));
    Smf smf;
    const auto l = lines(f, &smf);
    ASSERT_TRUE(smf.status.ok());
    EXPECT_EQ(smf.header.format, fmt);
    EXPECT_EQ(smf.tracks.size(), 3u);
    EXPECT_EQ(l, (std::vector<std::string>{"0 0 ff 51 : 07a120", "0 0 ff 2f : ", "1 10 91 : 405a",
                                           "1 480 81 : 4000", "1 480 ff 2f : ", "2 5 c9 : 10",
                                           "2 5 d2 : 33", "2 6 e3 : 0040", "2 13 ff 2f : "}));
    EXPECT_EQ(smf.tracks[2].end_tick, 13u);
    EXPECT_TRUE(smf.status.warnings.empty());
  }
}

TEST(Reader, TrackCallbacksCarryIndicesAndOffsets) {
  struct V : NullVisitor {
    std::vector<std::string> log;
    void on_track_begin(uint32_t t, uint64_t off) {
      log.push_back("begin " + std::to_string(t) + " @" + std::to_string(off));
    }
    void on_track_end(uint32_t t, uint64_t end, bool eot) {
      log.push_back("end " + std::to_string(t) + " " + std::to_string(end) + (eot ? " eot" : ""));
    }
  } v;
  const Bytes t0 = track(eot(3));
  const Bytes f = header(1, 2, 96) + t0 + track(note_on(4, 0, 1, 1));
  const ParseStatus st = parse_smf(f, v);
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(v.log,
            (std::vector<std::string>{"begin 0 @14", "end 0 3 eot",
                                      "begin 1 @" + std::to_string(14 + t0.size()), "end 1 4"}));
  EXPECT_EQ(warning_codes(st), std::vector<Code>{Code::missing_end_of_track});
}

TEST(Reader, SmpteDivision) {
  Smf smf = read_smf(header(1, 1, smpte(30, 120)) + track(note_on(3600, 0, 60, 1) + eot(0)));
  ASSERT_TRUE(smf.status.ok());
  EXPECT_EQ(smf.header.ppq, 0);
  EXPECT_EQ(smf.header.smpte_fps, 30);
  EXPECT_EQ(smf.header.smpte_ticks_per_frame, 120);
  EXPECT_EQ(smf.header.division_raw, 0xE278);
  EXPECT_EQ(smf.tracks[0].events[0].tick, 3600u);
  for (int fps : {24, 25, 29}) {
    Smf s = read_smf(header(0, 1, smpte(fps, 4)) + track(eot(0)));
    EXPECT_TRUE(s.status.ok()) << fps;
    EXPECT_EQ(s.header.smpte_fps, fps);
    EXPECT_EQ(s.header.smpte_ticks_per_frame, 4);
  }
}

TEST(Reader, BadDivision) {
  for (uint16_t div : {uint16_t{0}, smpte(16, 96), smpte(23, 4), smpte(30, 0), uint16_t{0x8000}}) {
    const ParseStatus st = read_smf(header(0, 1, div) + track(eot(0))).status;
    EXPECT_EQ(st.code, Code::bad_division) << div;
    EXPECT_EQ(st.offset, 12u);
    EXPECT_FALSE(st.message.empty());
  }
}

TEST(Reader, BadFormat) {
  const ParseStatus st = read_smf(header(3, 1, 96) + track(eot(0))).status;
  EXPECT_EQ(st.code, Code::bad_format);
  EXPECT_EQ(st.offset, 8u);
  EXPECT_NE(st.message.find("3"), std::string::npos);
  EXPECT_EQ(read_smf(header(0xFFFF, 1, 96) + track(eot(0))).status.code, Code::bad_format);
}

TEST(Reader, RunningStatus) {
  const Bytes f = header(0, 1, 96) + track(ev(0, {0x90, 60, 100}) + ev(96, {60, 0}) +
                                           ev(0, {62, 90}) + ev(0, {0xC1, 5}) + ev(1, {6}) +
                                           ev(0, {0xE0, 0, 0x40}) + ev(2, {0x7F, 0x7F}) + eot(0));
  Smf smf;
  EXPECT_EQ(lines(f, &smf),
            (std::vector<std::string>{"0 0 90 : 3c64", "0 96 90 : 3c00", "0 96 90 : 3e5a",
                                      "0 96 c1 : 05", "0 97 c1 : 06", "0 97 e0 : 0040",
                                      "0 99 e0 : 7f7f", "0 99 ff 2f : "}));
  EXPECT_TRUE(smf.status.warnings.empty());
}

TEST(Reader, RunningStatusCancelledByMetaRecovers) {
  // 90 3C 40, meta, then a data byte: running status was cancelled by the
  // meta event. Warning at the data byte; the last channel status is reused.
  const Bytes body =
      note_on(0, 0, 60, 64) + meta_text(0, 0x01, "x") + ev(5, {62, 70}) + ev(5, {64, 80}) + eot(0);
  const Bytes f = header(0, 1, 96) + track(body);
  Smf smf;
  const auto l = lines(f, &smf);
  ASSERT_TRUE(smf.status.ok());
  EXPECT_EQ(l, (std::vector<std::string>{"0 0 90 : 3c40", "0 0 ff 01 : 78", "0 5 90 : 3e46",
                                         "0 10 90 : 4050", "0 10 ff 2f : "}));
  // 4 (note on) + 5 (meta) + 1 (delta) = offset of the data byte.
  ASSERT_EQ(smf.status.warnings.size(), 1u);
  EXPECT_EQ(smf.status.warnings[0].code, Code::running_status_without_status);
  EXPECT_EQ(smf.status.warnings[0].offset, kFirstEvent + 10);
}

TEST(Reader, RunningStatusCancelledBySysex) {
  const Bytes f = header(0, 1, 96) + track(note_on(0, 2, 60, 64) + sysex(0, 0xF0, {0x7E, 0xF7}) +
                                           ev(1, {61, 1}) + eot(0));
  Smf smf;
  EXPECT_EQ(lines(f, &smf), (std::vector<std::string>{"0 0 92 : 3c40", "0 0 f0 : 7ef7",
                                                      "0 1 92 : 3d01", "0 1 ff 2f : "}));
  EXPECT_EQ(warning_codes(smf.status), std::vector<Code>{Code::running_status_without_status});
}

TEST(Reader, DataByteWithoutAnyStatusIsSkipped) {
  // No channel status yet in the track: the data bytes are skipped up to the
  // next status byte, which is read with the delta already consumed.
  const Bytes f = header(0, 1, 96) + track(ev(7, {0x3C, 0x40, 0x90, 0x3E, 0x41}) + eot(1));
  Smf smf;
  EXPECT_EQ(lines(f, &smf), (std::vector<std::string>{"0 7 90 : 3e41", "0 8 ff 2f : "}));
  EXPECT_TRUE(has_warning(smf.status, Code::running_status_without_status, kFirstEvent + 1));
  EXPECT_EQ(smf.status.warning_count, 1u);
  // Data bytes to the end of the track: the warning explains the end.
  Smf s2 = read_smf(header(0, 1, 96) + track(ev(0, {0x10, 0x11})));
  EXPECT_TRUE(s2.status.ok());
  EXPECT_EQ(warning_codes(s2.status), std::vector<Code>{Code::running_status_without_status});
  EXPECT_TRUE(s2.tracks[0].events.empty());
}

TEST(Reader, SysexAndEscapePackets) {
  Bytes big(200, 0x11);
  const Bytes f = header(0, 1, 96) +
                  track(sysex(0, 0xF0, {0x43, 0x12, 0x00}) + sysex(10, 0xF7, {0x43, 0xF7}) +
                        sysex(0, 0xF7, {0xF8}) + sysex(0, 0xF0, big) + sysex(0, 0xF0, {}) + eot(0));
  Smf smf;
  const auto l = lines(f, &smf);
  ASSERT_TRUE(smf.status.ok());
  ASSERT_EQ(l.size(), 6u);
  EXPECT_EQ(l[0], "0 0 f0 : 431200");
  EXPECT_EQ(l[1], "0 10 f7 : 43f7");
  EXPECT_EQ(l[2], "0 10 f7 : f8");
  EXPECT_EQ(l[3], "0 10 f0 : " + hex(big));
  EXPECT_EQ(l[4], "0 10 f0 : ");
  const auto& ev3 = smf.tracks[0].events[3];
  EXPECT_EQ(ev3.length, 200u);
  // 4 events of 6, 5, 4 bytes before it; then delta, F0, 2-byte length.
  EXPECT_EQ(ev3.offset, kFirstEvent + 6 + 5 + 4 + 1 + 1 + 2);
}

TEST(Reader, MetaEventsAndEndOfTrack) {
  const std::string long_text(300, 'a');  // 2-byte VLQ length
  const Bytes body = meta(0, 0x00, {0x00, 0x01}) + meta_text(0, 0x02, "(c)") +
                     meta_text(0, 0x05, "la") + meta(0, 0x20, {0x05}) +
                     meta(0, 0x54, {1, 2, 3, 4, 5}) + meta(0, 0x58, {4, 2, 24, 8}) +
                     meta(0, 0x59, {0xFF, 0x01}) + meta(0, 0x7F, {0x00, 0x00, 0x41}) +
                     meta_text(3, 0x06, long_text) + eot(2) + note_on(0, 0, 60, 1) +
                     eot(0);  // after End of Track: ignored
  Smf smf;
  const auto l = lines(header(0, 1, 96) + track(body), &smf);
  ASSERT_TRUE(smf.status.ok());
  ASSERT_EQ(l.size(), 10u);
  EXPECT_EQ(l[0], "0 0 ff 00 : 0001");
  EXPECT_EQ(l[6], "0 0 ff 59 : ff01");
  EXPECT_EQ(l[7], "0 0 ff 7f : 000041");
  EXPECT_EQ(smf.tracks[0].events[8].length, 300u);
  EXPECT_EQ(l[9], "0 5 ff 2f : ");
  EXPECT_EQ(smf.tracks[0].end_tick, 5u);
  EXPECT_TRUE(smf.status.warnings.empty());
  EXPECT_EQ(smf.status.events, 10u);
}

TEST(Reader, UnknownChunkSkipped) {
  const Bytes junk = chunk("Junk", str("hello world"));
  const Bytes f =
      header(1, 1, 96) + junk + track(note_on(0, 0, 60, 1) + eot(0)) + chunk("XFIH", {1, 2, 3});
  Smf smf;
  EXPECT_EQ(lines(f, &smf), (std::vector<std::string>{"0 0 90 : 3c01", "0 0 ff 2f : "}));
  EXPECT_EQ(warning_codes(smf.status),
            (std::vector<Code>{Code::unknown_chunk, Code::unknown_chunk}));
  EXPECT_EQ(smf.status.warnings[0].offset, 14u);
  // A chunk id that is no text ends the file as trailing garbage.
  Smf s2 = read_smf(header(0, 1, 96) + track(eot(0)) + raw({0, 0, 0, 0, 0, 0, 0, 1, 0}));
  EXPECT_EQ(warning_codes(s2.status), std::vector<Code>{Code::trailing_garbage});
}

TEST(Reader, RiffRmid) {
  const Bytes smf_bytes = header(0, 1, 96) + track(meta_text(0, 0x03, "T") + eot(0));
  const Bytes f = rmid(smf_bytes, riff_chunk("LIST", str("INFOabc")),
                       riff_chunk("sfbk", str("not midi at all")));
  Smf smf;
  const auto l = lines(f, &smf);
  ASSERT_TRUE(smf.status.ok()) << smf.status.message;
  EXPECT_EQ(l, (std::vector<std::string>{"0 0 ff 03 : 54", "0 0 ff 2f : "}));
  // RIFF(8) RMID(4) LIST chunk (8 + 7 + pad) data chunk header (8).
  const uint64_t mthd = 12 + 16 + 8;
  EXPECT_EQ(smf.header.offset, mthd);
  EXPECT_EQ(smf.tracks[0].events[0].offset, mthd + 22 + 4);
  EXPECT_TRUE(smf.status.warnings.empty());
}

TEST(Reader, BadRiff) {
  const Bytes smf_bytes = header(0, 1, 96) + track(eot(0));
  // No data chunk.
  ParseStatus st =
      read_smf(str("RIFF") + le32(12) + str("RMID") + riff_chunk("LIST", str("ab"))).status;
  EXPECT_EQ(st.code, Code::bad_riff);
  // Data chunk cut by the end of the file.
  Bytes cut = rmid(smf_bytes);
  cut.resize(cut.size() - 3);
  st = read_smf(cut).status;
  EXPECT_EQ(st.code, Code::bad_riff);
  EXPECT_EQ(st.offset, 12u);
  // RIFF header itself cut.
  st = read_smf(str("RIFF") + le32(100)).status;
  EXPECT_EQ(st.code, Code::bad_riff);
  // Data chunk without an SMF.
  EXPECT_EQ(read_smf(rmid(str("hello"))).status.code, Code::bad_riff);
  // A RIFF file of another form (WAVE) is not MIDI.
  EXPECT_EQ(read_smf(str("RIFF") + le32(4) + str("WAVE")).status.code, Code::not_midi);
}

TEST(Reader, LongHeader) {
  const Bytes f = header(0, 1, 96, 10) + track(note_on(0, 0, 60, 1) + eot(0));
  Smf smf;
  EXPECT_EQ(lines(f, &smf), (std::vector<std::string>{"0 0 90 : 3c01", "0 0 ff 2f : "}));
  ASSERT_TRUE(smf.status.ok());
  EXPECT_EQ(smf.header.ppq, 96);
  EXPECT_EQ(warning_codes(smf.status), std::vector<Code>{Code::long_header});
  EXPECT_EQ(smf.status.warnings[0].offset, 14u);
}

TEST(Reader, MissingEndOfTrack) {
  const Bytes t0 = track(note_on(0, 0, 60, 1) + note_off(30, 0, 60));
  const Bytes f = header(1, 2, 96) + t0 + track(eot(4));
  Smf smf = read_smf(f);
  ASSERT_TRUE(smf.status.ok());
  EXPECT_FALSE(smf.tracks[0].had_end_of_track);
  EXPECT_EQ(smf.tracks[0].end_tick, 30u);
  EXPECT_TRUE(smf.tracks[1].had_end_of_track);
  ASSERT_EQ(warning_codes(smf.status), std::vector<Code>{Code::missing_end_of_track});
  EXPECT_EQ(smf.status.warnings[0].offset, 14 + t0.size());  // end of the chunk
  // An empty MTrk (length 0).
  Smf s2 = read_smf(header(0, 1, 96) + track({}));
  EXPECT_TRUE(s2.status.ok());
  EXPECT_EQ(warning_codes(s2.status), std::vector<Code>{Code::missing_end_of_track});
  EXPECT_EQ(s2.tracks[0].end_tick, 0u);
}

TEST(Reader, TrackCountMismatch) {
  Smf fewer = read_smf(header(1, 3, 96) + track(eot(0)));
  ASSERT_TRUE(fewer.status.ok());
  EXPECT_EQ(fewer.tracks.size(), 1u);
  EXPECT_EQ(warning_codes(fewer.status), std::vector<Code>{Code::track_count_mismatch});
  EXPECT_EQ(fewer.status.warnings[0].offset, 10u);
  Smf more = read_smf(header(0, 1, 96) + track(eot(1)) + track(eot(2)));
  ASSERT_TRUE(more.status.ok());
  ASSERT_EQ(more.tracks.size(), 2u);
  EXPECT_EQ(more.tracks[1].end_tick, 2u);
  EXPECT_EQ(warning_codes(more.status), std::vector<Code>{Code::track_count_mismatch});
}

TEST(Reader, TruncatedTrackReadsToEof) {
  const Bytes body = note_on(0, 0, 60, 1) + note_off(10, 0, 60) + eot(0);
  const Bytes f = header(0, 1, 96) + track(body, 1000);
  Smf smf;
  EXPECT_EQ(lines(f, &smf),
            (std::vector<std::string>{"0 0 90 : 3c01", "0 10 80 : 3c00", "0 10 ff 2f : "}));
  ASSERT_TRUE(smf.status.ok());
  EXPECT_EQ(warning_codes(smf.status), std::vector<Code>{Code::truncated_track});
  EXPECT_EQ(smf.status.warnings[0].offset, 18u);  // the length field
  // Cut inside an event: truncated_event as well.
  Bytes cut = header(0, 1, 96) + track(body);
  cut.resize(cut.size() - 2);
  Smf s2 = read_smf(cut);
  ASSERT_TRUE(s2.status.ok());
  EXPECT_EQ(warning_codes(s2.status),
            (std::vector<Code>{Code::truncated_track, Code::truncated_event}));
  EXPECT_EQ(s2.status.warnings[1].offset, kFirstEvent + 8);  // the EOT event
  EXPECT_EQ(s2.tracks[0].events.size(), 2u);
}

TEST(Reader, TrailingGarbage) {
  Smf smf = read_smf(header(0, 1, 96) + track(eot(0)) + str("*"));
  ASSERT_TRUE(smf.status.ok());
  EXPECT_EQ(warning_codes(smf.status), std::vector<Code>{Code::trailing_garbage});
  EXPECT_EQ(smf.status.warnings[0].offset, 14u + 12u);
}

TEST(Reader, UndefinedStatusStopsTheTrack) {
  for (const int si : {0xF4, 0xF5, 0xF9, 0xFD}) {
    const auto s = static_cast<uint8_t>(si);
    const Bytes t0 = track(note_on(0, 0, 60, 1) + ev(2, {s, 0x01}) + note_on(0, 0, 61, 1) + eot(0));
    Smf smf;
    const auto l = lines(header(1, 2, 96) + t0 + track(note_on(5, 3, 1, 2) + eot(0)), &smf);
    ASSERT_TRUE(smf.status.ok());
    EXPECT_EQ(l, (std::vector<std::string>{"0 0 90 : 3c01", "1 5 93 : 0102", "1 5 ff 2f : "}));
    EXPECT_EQ(warning_codes(smf.status), std::vector<Code>{Code::undefined_status});
    EXPECT_EQ(smf.status.warnings[0].offset, kFirstEvent + 5);  // the status byte
    EXPECT_FALSE(smf.tracks[0].had_end_of_track);
  }
}

TEST(Reader, SystemMessagesAreSkippedWithTheirLength) {
  // {status, data bytes}: the defined system common and real-time messages.
  for (const auto& [si, n] : std::vector<std::pair<int, int>>{{0xF1, 1},
                                                              {0xF2, 2},
                                                              {0xF3, 1},
                                                              {0xF6, 0},
                                                              {0xF8, 0},
                                                              {0xFA, 0},
                                                              {0xFB, 0},
                                                              {0xFC, 0},
                                                              {0xFE, 0}}) {
    Bytes msg{static_cast<uint8_t>(si)};
    for (int i = 0; i < n; ++i) msg.push_back(0x05);
    const Bytes t0 = track(note_on(0, 0, 60, 1) + vlq(2) + msg + note_on(3, 0, 61, 1) + eot(0));
    Smf smf;
    const auto l = lines(header(0, 1, 96) + t0, &smf);
    ASSERT_TRUE(smf.status.ok()) << si;
    // The skipped message's delta time still counts: 2 + 3 ticks.
    EXPECT_EQ(l, (std::vector<std::string>{"0 0 90 : 3c01", "0 5 90 : 3d01", "0 5 ff 2f : "}))
        << si;
    EXPECT_EQ(warning_codes(smf.status), std::vector<Code>{Code::system_message}) << si;
    EXPECT_EQ(smf.status.warnings[0].offset, kFirstEvent + 4) << si;  // the event's delta
    EXPECT_TRUE(smf.tracks[0].had_end_of_track) << si;
  }
  // Cut by the end of the track: truncated_event stops it.
  Smf cut = read_smf(header(0, 1, 96) + track(note_on(0, 0, 60, 1) + raw({0x00, 0xF2, 0x01})));
  ASSERT_TRUE(cut.status.ok());
  EXPECT_EQ(warning_codes(cut.status), std::vector<Code>{Code::truncated_event});
  // System common cancels running status; real-time does not.
  Smf rs = read_smf(header(0, 1, 96) +
                    track(note_on(0, 0, 60, 1) + raw({0x00, 0xF8, 0x00, 0x3E, 0x01}) + eot(0)));
  ASSERT_TRUE(rs.status.ok());
  EXPECT_EQ(warning_codes(rs.status), std::vector<Code>{Code::system_message});
  ASSERT_EQ(rs.tracks[0].events.size(), 3u);
  EXPECT_EQ(rs.tracks[0].events[1].d1, 0x3E);
  Smf rc = read_smf(header(0, 1, 96) +
                    track(note_on(0, 0, 60, 1) + raw({0x00, 0xF6, 0x00, 0x3E, 0x01}) + eot(0)));
  ASSERT_TRUE(rc.status.ok());
  EXPECT_EQ(warning_codes(rc.status),
            (std::vector<Code>{Code::system_message, Code::running_status_without_status}));
}

TEST(Reader, VlqLimits) {
  // 4-byte VLQs are fine, including the largest delta; ticks are 64-bit.
  Bytes body;
  for (int i = 0; i < 20; ++i) body += ev(0x0FFFFFFF, {0x90, 60, 1});
  body += eot(0);
  Smf smf = read_smf(header(0, 1, 96) + track(body));
  ASSERT_TRUE(smf.status.ok());
  EXPECT_EQ(smf.tracks[0].end_tick, 20ull * 0x0FFFFFFF);
  EXPECT_GT(smf.tracks[0].end_tick, 0xFFFFFFFFull);
  // Non-minimal VLQ: 80 80 80 05 = 5.
  Smf nm = read_smf(header(0, 1, 96) + track(raw({0x80, 0x80, 0x80, 0x05, 0x90, 1, 2}) + eot(0)));
  EXPECT_EQ(nm.tracks[0].events[0].tick, 5u);
  // A 5-byte VLQ stops the track.
  Smf bad =
      read_smf(header(0, 1, 96) + track(note_on(0, 0, 1, 1) +
                                        raw({0x81, 0x80, 0x80, 0x80, 0x00, 0x90, 1, 2}) + eot(0)));
  ASSERT_TRUE(bad.status.ok());
  EXPECT_EQ(warning_codes(bad.status), std::vector<Code>{Code::bad_vlq});
  EXPECT_EQ(bad.status.warnings[0].offset, kFirstEvent + 4);
  EXPECT_EQ(bad.tracks[0].events.size(), 1u);
  // Also in a meta length.
  Smf badm = read_smf(header(0, 1, 96) + track(raw({0, 0xFF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F})));
  EXPECT_EQ(warning_codes(badm.status), std::vector<Code>{Code::bad_vlq});
}

TEST(Reader, TruncatedEventsAndBadMetaLength) {
  // Note-on cut after its first data byte.
  Smf a = read_smf(header(0, 1, 96) + track(note_on(0, 0, 60, 1) + raw({0x00, 0x90, 0x3C})));
  ASSERT_TRUE(a.status.ok());
  EXPECT_EQ(warning_codes(a.status), std::vector<Code>{Code::truncated_event});
  EXPECT_EQ(a.status.warnings[0].offset, kFirstEvent + 4);
  // The delta of a cut event does not count: end_tick is the last event's.
  Smf a2 = read_smf(header(0, 1, 96) + track(note_on(5, 0, 60, 1) + raw({0x40, 0x90, 0x3C})));
  EXPECT_EQ(warning_codes(a2.status), std::vector<Code>{Code::truncated_event});
  EXPECT_EQ(a2.tracks[0].end_tick, 5u);
  EXPECT_FALSE(a2.tracks[0].had_end_of_track);
  // Delta with no event.
  Smf b = read_smf(header(0, 1, 96) + track(raw({0x81})));
  EXPECT_EQ(warning_codes(b.status), std::vector<Code>{Code::truncated_event});
  // Meta length past the chunk.
  Smf c =
      read_smf(header(1, 2, 96) + track(raw({0x00, 0xFF, 0x01, 0x10, 'a', 'b'})) + track(eot(0)));
  ASSERT_TRUE(c.status.ok());
  EXPECT_EQ(warning_codes(c.status), std::vector<Code>{Code::bad_meta_length});
  EXPECT_EQ(c.status.warnings[0].offset, kFirstEvent);
  // Sysex length past the chunk.
  Smf d = read_smf(header(0, 1, 96) + track(raw({0x00, 0xF0, 0x05, 0x7E})));
  EXPECT_EQ(warning_codes(d.status), std::vector<Code>{Code::truncated_event});
}

TEST(Reader, BadDataByteDropsTheEvent) {
  const Bytes f = header(0, 1, 96) + track(ev(0, {0xB2, 0x00, 0xA8}) + ev(3, {0x92, 0x43, 0x69}) +
                                           ev(0, {0xC0, 0x80}) + eot(0));
  Smf smf;
  EXPECT_EQ(lines(f, &smf), (std::vector<std::string>{"0 3 92 : 4369", "0 3 ff 2f : "}));
  EXPECT_EQ(warning_codes(smf.status),
            (std::vector<Code>{Code::bad_data_byte, Code::bad_data_byte}));
  EXPECT_EQ(smf.status.warnings[0].offset, kFirstEvent);
  // A dropped event's delta still counts (time passes).
  Smf d = read_smf(header(0, 1, 96) + track(ev(7, {0x90, 0x80, 0x01})));
  EXPECT_TRUE(d.tracks[0].events.empty());
  EXPECT_EQ(d.tracks[0].end_tick, 7u);
}

TEST(Reader, NotMidi) {
  EXPECT_EQ(read_smf(Bytes{}).status.code, Code::empty_file);
  for (const Bytes& b : {str("M"), str("MTh"), str("hello, world"), str("MT0d") + be32(6),
                         str("SMF2CLIP"), raw({0xF0, 0x7E, 0x7F, 0xF7})}) {
    const ParseStatus st = read_smf(b).status;
    EXPECT_EQ(st.code, Code::not_midi);
    EXPECT_EQ(st.offset, 0u);
    EXPECT_TRUE(code_is_fatal(st.code));
  }
}

TEST(Reader, TruncatedHeader) {
  const Bytes good = header(0, 1, 96) + track(eot(0));
  for (size_t n : {4u, 7u, 8u, 13u}) {
    const ParseStatus st = read_smf(Bytes(good.begin(), good.begin() + n)).status;
    EXPECT_EQ(st.code, Code::truncated_header) << n;
  }
  const ParseStatus st = read_smf(header(0, 1, 96, 4) + track(eot(0))).status;
  EXPECT_EQ(st.code, Code::truncated_header);
  EXPECT_EQ(st.offset, 4u);
}

TEST(Reader, NoTracks) {
  ParseStatus st = read_smf(header(1, 2, 96)).status;
  EXPECT_EQ(st.code, Code::no_tracks);
  EXPECT_EQ(st.offset, 14u);
  st = read_smf(header(0, 1, 96) + chunk("mTrk", eot(0))).status;
  EXPECT_EQ(st.code, Code::no_tracks);
  EXPECT_EQ(warning_codes(st), std::vector<Code>{Code::unknown_chunk});
}

TEST(Reader, FileTooLargeBeforeReading) {
  Limits lim;
  lim.max_file_size = 10;
  const ParseStatus st = read_smf(header(0, 1, 96) + track(eot(0)), lim).status;
  EXPECT_EQ(st.code, Code::file_too_large);
  EXPECT_EQ(st.events, 0u);
  EXPECT_NE(st.message.find("10"), std::string::npos);
  lim.max_file_size = 26;
  EXPECT_TRUE(read_smf(header(0, 1, 96) + track(eot(0)), lim).status.ok());
}

TEST(Reader, EventAndTrackLimits) {
  Limits lim;
  lim.max_events = 2;
  const Bytes three = header(0, 1, 96) + track(note_on(0, 0, 1, 1) + note_on(0, 0, 2, 1) + eot(0));
  ParseStatus st = read_smf(three, lim).status;
  EXPECT_EQ(st.code, Code::too_many_events);
  EXPECT_EQ(st.offset, kFirstEvent + 8);
  EXPECT_NE(st.message.find("offset 30"), std::string::npos) << st.message;
  lim.max_events = 3;
  EXPECT_TRUE(read_smf(three, lim).status.ok());

  Limits tl;
  tl.max_tracks = 2;
  const Bytes t = track(eot(0));
  EXPECT_TRUE(read_smf(header(1, 2, 96) + t + t, tl).status.ok());
  st = read_smf(header(1, 3, 96) + t + t + t, tl).status;
  EXPECT_EQ(st.code, Code::too_many_tracks);
  EXPECT_EQ(st.offset, 14u + 2 * t.size());
}

TEST(Reader, WarningsAreCappedButCounted) {
  Bytes t;
  for (int i = 0; i < 40; ++i) t += chunk("Junk", {});
  const ParseStatus st = read_smf(header(0, 1, 96) + t + track(eot(0))).status;
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st.warnings.size(), 16u);
  EXPECT_EQ(st.warning_count, 40u);
  Limits lim;
  lim.max_warnings = 0;
  const ParseStatus st0 = read_smf(header(0, 1, 96) + t + track(eot(0)), lim).status;
  EXPECT_TRUE(st0.warnings.empty());
  EXPECT_EQ(st0.warning_count, 40u);
}

TEST(Reader, CodeNamesAndFatality) {
  EXPECT_EQ(code_name(Code::ok), "ok");
  EXPECT_EQ(code_name(Code::not_midi), "not_midi");
  EXPECT_EQ(code_name(Code::running_status_without_status), "running_status_without_status");
  EXPECT_EQ(code_name(Code::bad_data_byte), "bad_data_byte");
  std::vector<std::string_view> seen;
  for (int i = 0; i < static_cast<int>(Code::code_count_); ++i) {
    const Code c = static_cast<Code>(i);
    const std::string_view n = code_name(c);
    EXPECT_NE(n, "unknown") << i;
    for (auto s : seen) EXPECT_NE(s, n);
    seen.push_back(n);
    EXPECT_EQ(code_is_fatal(c), (i >= 1 && i <= static_cast<int>(Code::too_many_tracks)) ||
                                    c == Code::out_of_memory || c == Code::cancelled)
        << n;
  }
  EXPECT_FALSE(code_is_fatal(Code::ok));
  EXPECT_TRUE(code_is_fatal(Code::empty_file));
  EXPECT_FALSE(code_is_fatal(Code::missing_end_of_track));
}

TEST(Reader, ParseSmfMatchesReadSmf) {
  struct Count : NullVisitor {
    uint64_t channel = 0, meta = 0, sysex = 0;
    void on_channel(uint64_t, uint8_t, uint8_t, uint8_t) { ++channel; }
    void on_meta(uint64_t, uint8_t, std::span<const uint8_t>) { ++meta; }
    void on_sysex(uint64_t, uint8_t, std::span<const uint8_t>) { ++sysex; }
  } c;
  const Bytes f =
      header(1, 2, 96) + track(tempo(0, 400000) + eot(0)) +
      track(note_on(0, 0, 60, 1) + sysex(0, 0xF0, {1, 0xF7}) + note_off(1, 0, 60) + eot(0));
  const ParseStatus st = parse_smf(f, c);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(c.channel, 2u);
  EXPECT_EQ(c.meta, 3u);
  EXPECT_EQ(c.sysex, 1u);
  EXPECT_EQ(st.events, 6u);
  EXPECT_EQ(read_smf(f).status.events, 6u);
}

}  // namespace
}  // namespace midipipe
