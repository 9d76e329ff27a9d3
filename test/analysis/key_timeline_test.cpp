// KeyTimeline (src/midi/key.cpp): the key the piece starts in, decoded over
// segments.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

#include "key.hpp"

using namespace midipipe;

namespace {

constexpr uint32_t kPpq = 480;
const std::array<double, 12> kFlat = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

// Eight bars (32 beats) of a scale and its tonic triad in `tonic` major,
// from tick `at`; returns the tick after them.
uint64_t major_passage(KeyTimeline& t, int tonic, uint64_t at) {
  static constexpr int kScale[8] = {0, 2, 4, 5, 7, 9, 11, 12};
  for (int bar = 0; bar < 8; ++bar) {
    const uint64_t b = at + static_cast<uint64_t>(bar) * 4 * kPpq;
    for (int i = 0; i < 4; ++i) {  // melody: four notes of the scale
      const int degree = kScale[(bar * 4 + i) % 8];
      t.add(b + i * kPpq, b + (i + 1) * kPpq, static_cast<uint8_t>(60 + tonic + degree));
    }
    for (const int n : {0, 4, 7}) {  // a held tonic triad under it
      t.add(b, b + 4 * kPpq, static_cast<uint8_t>(48 + tonic + n));
    }
  }
  return at + 32 * kPpq;
}

TEST(KeyTimeline, ReportsTheKeyThePieceStartsIn) {
  {
    KeyTimeline t;
    t.start(kPpq, 0, KeySectionParams{});
    ASSERT_TRUE(t.active());
    major_passage(t, 7, major_passage(t, 0, 0));  // C major, then G major
    const KeyEstimate k = t.estimate(KeyProfile::albrecht_shanahan, kFlat);
    ASSERT_TRUE(k.found);
    EXPECT_EQ(k.tonic, 0);
    EXPECT_FALSE(k.minor);
  }
  {
    KeyTimeline t;
    t.start(kPpq, 0, KeySectionParams{});
    major_passage(t, 0, major_passage(t, 7, 0));  // G major, then C major
    const KeyEstimate k = t.estimate(KeyProfile::albrecht_shanahan, kFlat);
    ASSERT_TRUE(k.found);
    EXPECT_EQ(k.tonic, 7);
    EXPECT_FALSE(k.minor);
  }
}

TEST(KeyTimeline, EmptyOrUnusedFindsNothing) {
  KeyTimeline unused;
  unused.start(0, 0, KeySectionParams{});
  EXPECT_FALSE(unused.active());
  unused.add(0, 100, 60);  // ignored
  EXPECT_FALSE(unused.estimate(KeyProfile::albrecht_shanahan, kFlat).found);

  KeyTimeline empty;
  empty.start(kPpq, 0, KeySectionParams{});
  empty.add(10, 10, 60);  // zero length: no sounding time
  EXPECT_FALSE(empty.estimate(KeyProfile::albrecht_shanahan, kFlat).found);
}

// A note far beyond kMaxSegments segments merges neighbouring segments
// (bounded memory) and the opening still decides; notes covering many whole
// segments (the difference array) count like the same notes cut per segment.
TEST(KeyTimeline, FoldsLongTimelinesAndLongNotes) {
  KeyTimeline t;
  t.start(kPpq, 0, KeySectionParams{});
  const uint64_t end = major_passage(t, 2, 0);  // D major
  t.add(uint64_t{1} << 54, (uint64_t{1} << 54) + kPpq, 62);
  const KeyEstimate k = t.estimate(KeyProfile::albrecht_shanahan, kFlat);
  ASSERT_TRUE(k.found);
  EXPECT_EQ(k.tonic, 2);
  EXPECT_FALSE(k.minor);

  KeyTimeline whole, cut;
  whole.start(kPpq, 0, KeySectionParams{});
  cut.start(kPpq, 0, KeySectionParams{});
  for (const int n : {57, 60, 64}) {  // A minor triad held for 32 beats
    whole.add(kPpq / 2, kPpq / 2 + 32 * kPpq, static_cast<uint8_t>(n));
    for (uint64_t s = kPpq / 2; s < kPpq / 2 + 32 * kPpq; s += kPpq) {
      cut.add(s, s + kPpq, static_cast<uint8_t>(n));
    }
  }
  const KeyEstimate a = whole.estimate(KeyProfile::albrecht_shanahan, kFlat);
  const KeyEstimate b = cut.estimate(KeyProfile::albrecht_shanahan, kFlat);
  ASSERT_TRUE(a.found && b.found);
  EXPECT_EQ(a.tonic, 9);
  EXPECT_TRUE(a.minor);
  EXPECT_EQ(a.tonic, b.tonic);
  EXPECT_EQ(a.minor, b.minor);
  (void)end;
}

TEST(KeyTimeline, SmpteDivision) {
  KeyTimeline t;
  t.start(0, 25 * 40, KeySectionParams{});  // 25 fps, 40 ticks per frame
  ASSERT_TRUE(t.active());
  for (int i = 0; i < 64; ++i) {
    const uint64_t s = static_cast<uint64_t>(i) * 500;
    for (const int n : {53, 57, 60}) t.add(s, s + 500, static_cast<uint8_t>(n));  // F major
  }
  const KeyEstimate k = t.estimate(KeyProfile::albrecht_shanahan, kFlat);
  ASSERT_TRUE(k.found);
  EXPECT_EQ(k.tonic, 5);
  EXPECT_FALSE(k.minor);
}

}  // namespace

// decode_key_path: the local key of every segment (the chord recognition's
// local key). Segments of C major, then of A minor (its relative: the same
// notes but for G#, and A, C, E weighed), then an empty segment, which keeps
// the key around it, then G major.
TEST(KeyTimeline, DecodesTheKeyOfEverySegment) {
  // Time per pitch class, C first: scale notes with the tonic triad stressed.
  const auto scale = [](int tonic, bool minor) {
    std::array<float, 12> v{};
    static constexpr int kMajor[7] = {0, 2, 4, 5, 7, 9, 11}, kMinor[7] = {0, 2, 3, 5, 7, 8, 11};
    const int* iv = minor ? kMinor : kMajor;
    for (int i = 0; i < 7; ++i) v[static_cast<size_t>((tonic + iv[i]) % 12)] += 0.5F;
    for (const int t : {0, minor ? 3 : 4, 7}) v[static_cast<size_t>((tonic + t) % 12)] += 1.0F;
    return v;
  };
  std::vector<float> seg;
  std::vector<int> want;
  const auto add = [&](const std::array<float, 12>& v, int key, int n) {
    for (int i = 0; i < n; ++i) {
      seg.insert(seg.end(), v.begin(), v.end());
      want.push_back(key);
    }
  };
  add(scale(0, false), 0, 6);      // C major
  add(scale(9, true), 12 + 9, 6);  // A minor
  add(std::array<float, 12>{}, 12 + 9, 1);
  add(scale(7, false), 7, 6);  // G major
  std::vector<uint8_t> out(want.size(), 99);
  decode_key_path(seg.data(), want.size(), KeyProfile::albrecht_shanahan, KeySectionParams{},
                  out.data());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(out[i], want[i]) << "segment " << i;
  // The same input, the same path; nothing to decode, nothing written.
  std::vector<uint8_t> again(want.size(), 99);
  decode_key_path(seg.data(), want.size(), KeyProfile::albrecht_shanahan, KeySectionParams{},
                  again.data());
  EXPECT_EQ(again, out);
  uint8_t untouched = 99;
  decode_key_path(seg.data(), 0, KeyProfile::albrecht_shanahan, KeySectionParams{}, &untouched);
  EXPECT_EQ(untouched, 99);
}
