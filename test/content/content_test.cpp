// Content search, engine half (docs/content.md): fingerprints, near-match
// signature, melodic lines, progressions and the query parsers, on hand-made
// files. (The corpus variants: content_files.py, ctest content_variants.)
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "analysis.hpp"
#include "content.hpp"
#include "smf_builder.hpp"

using namespace midipipe;
using namespace midipipe::testing;

namespace {

struct N {
  uint32_t start, len;
  int pitch, ch = 0, vel = 100;
};

// One track of note events (sorted by tick, note-offs first), optional tempo.
Bytes events(const std::vector<N>& notes, uint32_t tempo_us = 0) {
  struct E {
    uint32_t tick;
    bool on;
    N n;
  };
  std::vector<E> es;
  for (const N& n : notes) {
    es.push_back({n.start, true, n});
    es.push_back({n.start + n.len, false, n});
  }
  std::stable_sort(es.begin(), es.end(), [](const E& a, const E& b) {
    return a.tick != b.tick ? a.tick < b.tick : (!a.on && b.on);
  });
  Bytes t;
  if (tempo_us != 0) t += tempo(0, tempo_us);
  uint32_t last = 0;
  for (const E& e : es) {
    t += e.on ? note_on(e.tick - last, e.n.ch, e.n.pitch, e.n.vel)
              : note_off(e.tick - last, e.n.ch, e.n.pitch);
    last = e.tick;
  }
  return t + eot(0);
}

Bytes file0(const std::vector<N>& notes, uint16_t ppq = 96, uint32_t tempo_us = 0) {
  return header(0, 1, ppq) + track(events(notes, tempo_us));
}

Analysis analyse(const Bytes& f) {
  AnalyzeResult r = analyze(f);
  EXPECT_TRUE(r.status.ok()) << r.status.message;
  EXPECT_TRUE(r.analysis.content.has_value());
  return r.analysis;
}

// A 16-bar tune at PPQ 96: a melody of 8ths over a bass of half notes.
std::vector<N> tune(int shift = 0, uint32_t scale = 1, uint32_t offset = 0) {
  static const int mel[] = {64, 62, 60, 62, 64, 64, 64, 67, 62, 62, 62, 65, 64, 67, 67, 72};
  std::vector<N> v;
  for (uint32_t i = 0; i < 128; ++i)
    v.push_back({offset + i * 48 * scale, 40 * scale, mel[(i * 7 + i / 16) % 16] + shift, 0});
  for (uint32_t i = 0; i < 32; ++i)
    v.push_back(
        {offset + i * 192 * scale, 190 * scale, 48 + shift + static_cast<int>(i % 4) * 2, 1});
  return v;
}

std::string fp(const Analysis& a) { return a.content->notes_fingerprint.value_or("-"); }
std::string fpt(const Analysis& a) { return a.content->notes_fingerprint_transposed.value_or("-"); }

double similarity(const Analysis& a, const Analysis& b) {
  const auto& x = *a.content->notes_minhash;
  const auto& y = *b.content->notes_minhash;
  int eq = 0;
  for (size_t i = 0; i < x.size(); ++i) eq += x[i] == y[i];
  return eq / static_cast<double>(x.size());
}

}  // namespace

TEST(ContentFingerprint, SameNotesInOtherBytes) {
  const Analysis a = analyse(file0(tune()));
  ASSERT_EQ(fp(a).size(), 32u);
  // another resolution (ticks x5), another tempo, velocities, channels, a leading bar of silence
  std::vector<N> v = tune(0, 1, 384);
  for (N& n : v) {
    n.vel = 30 + n.pitch % 50;
    n.ch = n.ch == 0 ? 5 : 11;
  }
  EXPECT_EQ(fp(analyse(file0(tune(0, 5), 480, 400000))), fp(a));
  EXPECT_EQ(fp(analyse(file0(v, 96, 900000))), fp(a));
  // format 1, one voice per track, plus a conductor track
  std::vector<N> m, b;
  for (const N& n : tune()) (n.ch == 0 ? m : b).push_back(n);
  const Bytes f1 =
      header(1, 3, 96) + track(tempo(0, 600000) + eot(0)) + track(events(b)) + track(events(m));
  EXPECT_EQ(fp(analyse(f1)), fp(a));
  // drums added: same notes fingerprint, a drums fingerprint
  std::vector<N> d = tune();
  for (uint32_t i = 0; i < 64; ++i) d.push_back({i * 96, 10, 36 + static_cast<int>(i % 2) * 2, 9});
  const Analysis ad = analyse(file0(d));
  EXPECT_EQ(fp(ad), fp(a));
  EXPECT_TRUE(ad.content->drums_fingerprint.has_value());
  EXPECT_FALSE(a.content->drums_fingerprint.has_value());
}

TEST(ContentFingerprint, TransposedAndChangedNotes) {
  const Analysis a = analyse(file0(tune()));
  for (int k = -5; k <= 6; ++k) {
    if (k == 0) continue;
    const Analysis t = analyse(file0(tune(k)));
    EXPECT_NE(fp(t), fp(a)) << k;
    EXPECT_EQ(fpt(t), fpt(a)) << k;
  }
  // one note a 16th later, one note longer, one note another pitch: other fingerprints
  for (int change = 0; change < 3; ++change) {
    std::vector<N> v = tune();
    if (change == 0) v[40].start += 24;
    if (change == 1) v[40].len += 24;
    if (change == 2) v[40].pitch += 1;
    const Analysis c = analyse(file0(v));
    EXPECT_NE(fp(c), fp(a)) << change;
    EXPECT_NE(fpt(c), fpt(a)) << change;
    // ... but almost the same music
    EXPECT_GE(similarity(c, a), 0.8) << change;
  }
}

TEST(ContentFingerprint, PairingOfOverlappingNotesDoesNotMatter) {
  // two overlapping C4 of one channel: in two tracks (format 1), or merged into one track
  // (where the reader pairs them its own way)
  const Bytes two = header(1, 2, 96) + track(events({{0, 96, 60}})) + track(events({{48, 96, 60}}));
  const Bytes one = header(0, 1, 96) + track(note_on(0, 0, 60, 90) + note_on(48, 0, 60, 90) +
                                             note_off(48, 0, 60) + note_off(48, 0, 60) + eot(0));
  EXPECT_EQ(fp(analyse(two)), fp(analyse(one)));
}

TEST(ContentFingerprint, NearMatchOfUnrelatedMusicIsLow) {
  std::vector<N> other;
  for (uint32_t i = 0; i < 160; ++i)
    other.push_back({i * 32, 30, 40 + static_cast<int>((i * 37) % 41), 0});
  EXPECT_LE(similarity(analyse(file0(other)), analyse(file0(tune()))), 0.1);
  EXPECT_EQ(similarity(analyse(file0(tune(3))), analyse(file0(tune()))), 1.0);
}

TEST(ContentMelody, SkylineOfEachTrack) {
  // a chord C E G, then D, then a chord F A C' whose top note comes 2 ticks late
  const Bytes f = header(1, 2, 96) +
                  track(events({{0, 96, 60},
                                {0, 96, 64},
                                {0, 96, 67},
                                {96, 96, 62},
                                {192, 96, 65},
                                {192, 96, 69},
                                {194, 94, 72}})) +
                  track(events({{0, 48, 36, 9}}));
  const Analysis a = analyse(f);
  ASSERT_EQ(a.content->tracks.size(), 2u);
  EXPECT_EQ(*a.content->tracks[0].melody_intervals, (std::vector<int16_t>{-5, 10}));
  EXPECT_EQ(*a.content->tracks[0].melody_onsets_ms, (std::vector<int64_t>{0, 500, 1000}));
  EXPECT_TRUE(a.content->tracks[0].melody_ngrams->empty());         // fewer than 6 line notes
  EXPECT_FALSE(a.content->tracks[1].melody_intervals.has_value());  // drums only
  // the n-grams of a line hold every query n-gram of an excerpt, in any key
  const Analysis t = analyse(file0(tune()));
  const auto& grams = *t.content->tracks[0].melody_ngrams;
  const auto& iv = *t.content->tracks[0].melody_intervals;
  std::vector<int32_t> pitches = {50};
  for (size_t i = 10; i < 17; ++i) pitches.push_back(pitches.back() + iv[i]);
  const MelodyQuery q = melody_query(pitches);
  ASSERT_TRUE(q.error.empty()) << q.error;
  for (const int64_t g : q.ngrams) EXPECT_TRUE(std::binary_search(grams.begin(), grams.end(), g));
  const std::vector<int32_t> at = find_positions(iv, q.intervals);
  EXPECT_TRUE(std::find(at.begin(), at.end(), 10) != at.end());
}

TEST(ContentMelody, QueryBounds) {
  EXPECT_FALSE(melody_query(std::vector<int32_t>{60, 62, 64, 65}).error.empty());
  EXPECT_FALSE(melody_query(std::vector<int32_t>{60, 62, 64, 65, 128}).error.empty());
  EXPECT_FALSE(melody_query(std::vector<int32_t>(65, 60)).error.empty());
  EXPECT_FALSE(melody_query(std::vector<int32_t>{60, 62, 64, 65, 67}).error.empty());
  EXPECT_TRUE(melody_query(std::vector<int32_t>{60, 62, 64, 65, 67, 69}).error.empty());
  EXPECT_EQ(find_positions(std::vector<int16_t>{1, 1, 1, 1}, std::vector<int16_t>{1, 1}),
            (std::vector<int32_t>{0, 1, 2}));
  EXPECT_TRUE(find_positions(std::vector<int16_t>{1}, std::vector<int16_t>{}).empty());
}

TEST(ContentProgression, RomanNumeralsInTheDetectedKey) {
  // C G Am F (x3), C: one chord per bar, root in the bass
  std::vector<N> v;
  const int roots[] = {0, 7, 9, 5};
  const bool minor[] = {false, false, true, false};
  for (uint32_t bar = 0; bar < 13; ++bar) {
    const int k = bar == 12 ? 0 : static_cast<int>(bar % 4);
    const int r = 60 + roots[k] - (roots[k] >= 6 ? 12 : 0);
    for (const int i : {0, minor[k] ? 3 : 4, 7}) v.push_back({bar * 384, 380, r + i});
    v.push_back({bar * 384, 380, r - 12});
  }
  const Analysis a = analyse(file0(v));
  ASSERT_EQ(a.key.value_or("?"), "C major");
  const Content& c = *a.content;
  ASSERT_TRUE(c.progression.has_value());
  const std::vector<std::string> want = {"I",  "V", "vi", "IV", "I",  "V", "vi",
                                         "IV", "I", "V",  "vi", "IV", "I"};
  EXPECT_EQ(*c.progression, want);
  EXPECT_EQ((*c.progression_bars)[4], 5);
  const ProgressionQuery q = parse_progression("I-V-vi-IV");
  ASSERT_EQ(q.error_pos, 0) << q.error;
  EXPECT_EQ(find_positions(*c.progression_codes, q.codes), (std::vector<int32_t>{0, 4, 8}));
  for (const int64_t g : q.ngrams)
    EXPECT_TRUE(std::binary_search(c.progression_ngrams->begin(), c.progression_ngrams->end(), g));
}

TEST(ContentProgression, AugmentedSixthOnTheLoweredSixth) {
  EXPECT_EQ(chord_family("aug6"), kAugSixth);
  EXPECT_EQ(roman_numeral(8, kAugSixth), "bVI+6");
  // C G7 C F Ab-C-Eb-F# G7 (x3), C: the chord finder's F#aug6 (named after its
  // raised fourth) is bVI+6 in C, found by its figure and by its name
  std::vector<N> v;
  const std::vector<std::vector<int>> chords = {{48, 60, 64, 67}, {43, 59, 62, 65},
                                                {48, 60, 64, 67}, {53, 60, 65, 69},
                                                {44, 60, 63, 66}, {43, 59, 62, 65}};
  for (uint32_t bar = 0; bar < 19; ++bar)
    for (const int p : bar == 18 ? chords[0] : chords[bar % 6]) v.push_back({bar * 384, 380, p});
  const Analysis a = analyse(file0(v));
  ASSERT_EQ(a.key.value_or("?"), "C major");
  const Content& c = *a.content;
  ASSERT_TRUE(c.progression.has_value());
  std::vector<std::string> want;
  for (int k = 0; k < 3; ++k)
    for (const char* n : {"I", "V", "I", "IV", "bVI+6", "V"}) want.push_back(n);
  want.push_back("I");
  EXPECT_EQ(*c.progression, want);
  for (const char* text : {"IV bVI+6 V I", "IV Ger+6 V I"}) {
    const ProgressionQuery q = parse_progression(text);
    ASSERT_EQ(q.error_pos, 0) << q.error;
    EXPECT_EQ(find_positions(*c.progression_codes, q.codes), (std::vector<int32_t>{3, 9, 15}))
        << text;
  }
}

TEST(ContentProgression, Syntax) {
  const auto codes = [](std::string_view s) { return parse_progression(s).codes; };
  EXPECT_EQ(codes("ii V I"), (std::vector<int16_t>{2 * 8 + 2, 7 * 8 + 1, 0 * 8 + 1}));
  EXPECT_EQ(codes("ii7 - V7 - Imaj7"), codes("ii V I"));
  EXPECT_EQ(codes("i bVII bVI V"), (std::vector<int16_t>{2, 10 * 8 + 1, 8 * 8 + 1, 7 * 8 + 1}));
  EXPECT_EQ(codes("viiø7 I"), (std::vector<int16_t>{11 * 8 + 3, 1}));
  EXPECT_EQ(codes("vii° I"), codes("viio I"));
  EXPECT_EQ(codes("III+ vi"), (std::vector<int16_t>{4 * 8 + 4, 9 * 8 + 2}));
  EXPECT_EQ(codes("Vsus4 V"), (std::vector<int16_t>{7 * 8 + 5, 7 * 8 + 1}));
  EXPECT_EQ(codes("#iv bV"), (std::vector<int16_t>{6 * 8 + 2, 6 * 8 + 1}));
  // the augmented sixth: on the lowered sixth, by its figure or its names
  EXPECT_EQ(codes("bVI+6 V"), (std::vector<int16_t>{8 * 8 + kAugSixth + 1, 7 * 8 + 1}));
  EXPECT_EQ(codes("Ger+6 V"), codes("bVI+6 V"));
  EXPECT_EQ(codes("It6-V"), codes("bVI+6 V"));
  EXPECT_EQ(codes("Fr43 V"), codes("bVI+6 V"));
  EXPECT_NE(codes("bVI+ V"), codes("bVI+6 V"));  // an augmented triad is another family
  struct Bad {
    const char* text;
    int pos;
  };
  for (const Bad b : {Bad{"I X", 3}, Bad{"I Vi", 3}, Bad{"I", 2}, Bad{"", 1}, Bad{"IIII V", 1},
                      Bad{"ii Vx I", 5}, Bad{"bbbI V", 1}, Bad{"I I", 1}, Bad{"é I", 1},
                      Bad{"I V/V", 4}, Bad{"Gerx V", 4}, Bad{"Ger+6 Ger+6", 1}}) {
    const ProgressionQuery q = parse_progression(b.text);
    EXPECT_EQ(q.error_pos, b.pos) << b.text << ": " << q.error;
    EXPECT_FALSE(q.error.empty()) << b.text;
    EXPECT_TRUE(q.codes.empty()) << b.text;
  }
  EXPECT_NE(parse_progression(std::string(5000, 'I')).error_pos, 0);
  std::string many;
  for (int i = 0; i < 70; ++i) many += i % 2 ? "I " : "V ";
  EXPECT_NE(parse_progression(many).error_pos, 0);
}

// The fingerprints' grid: the reciprocal multiplication equals the division
// it replaces, round(t * 48 / ppq) halves up, for every resolution a file can
// have and ticks up to 2^56 (past the reciprocal's range too).
TEST(ContentFingerprint, QuantiserEqualsTheDivision) {
  auto reference = [](uint64_t t, uint64_t ppq) {
    return (t / ppq) * 48 + ((t % ppq) * 2 * 48 + ppq) / (2 * ppq);
  };
  uint64_t state = 0x9E3779B97F4A7C15ULL;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (uint64_t ppq = 1; ppq <= 65535; ++ppq) {
    const content_detail::Quantiser q(ppq);
    const uint64_t edges[] = {0,
                              1,
                              ppq - 1,
                              ppq,
                              ppq + 1,
                              ppq / 2,
                              ppq * 1000 + ppq / 2,
                              (1ULL << 40) + 7,
                              (1ULL << 47) - 1,
                              (1ULL << 56) - 1};
    for (uint64_t t : edges) ASSERT_EQ(q(t), reference(t, ppq)) << "ppq " << ppq << " t " << t;
    for (int i = 0; i < 64; ++i) {
      const uint64_t t = next() >> (8 + i % 48);  // below 2^56, all magnitudes
      ASSERT_EQ(q(t), reference(t, ppq)) << "ppq " << ppq << " t " << t;
    }
  }
}

// Winnowing keeps a part of a line's n-grams, and still every excerpt of 6 to
// 12 notes, cut anywhere, in any key, finds its line through the index's
// containment test (the line's set holds all of the excerpt's own).
TEST(ContentMelody, WinnowedGramsHoldEveryExcerpt) {
  const Analysis t = analyse(file0(tune()));
  const auto& grams = *t.content->tracks[0].melody_ngrams;
  const auto& iv = *t.content->tracks[0].melody_intervals;
  ASSERT_GE(iv.size(), 20u);
  size_t all = 0;
  {
    std::vector<int64_t> every;
    for (size_t i = 0; i + kMelodyGram <= iv.size(); ++i) {
      int64_t g = 0;
      for (int k = 0; k < kMelodyGram; ++k) g = g << 8 | (iv[i + k] + 128);
      every.push_back(g);
    }
    std::sort(every.begin(), every.end());
    all = static_cast<size_t>(std::unique(every.begin(), every.end()) - every.begin());
  }
  EXPECT_LT(grams.size(), all);  // winnowing dropped some
  for (size_t len = kMinMelodyNotes; len <= 12; ++len) {
    for (size_t at = 0; at + len - 1 <= iv.size(); ++at) {
      for (int shift : {-5, 0, 6}) {
        std::vector<int32_t> pitches = {60 + shift};
        for (size_t i = at; i < at + len - 1; ++i) pitches.push_back(pitches.back() + iv[i]);
        const MelodyQuery q = melody_query(pitches);
        ASSERT_TRUE(q.error.empty()) << q.error;
        ASSERT_FALSE(q.ngrams.empty());
        for (const int64_t g : q.ngrams)
          ASSERT_TRUE(std::binary_search(grams.begin(), grams.end(), g))
              << "excerpt of " << len << " notes at " << at;
      }
    }
  }
}
