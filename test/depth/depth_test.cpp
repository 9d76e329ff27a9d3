// Analysis depth on hand-made files whose answers are known: chords, drums,
// performance traits, bar structure, the depth switch and hostile inputs.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "depth_util.hpp"

using namespace depth_test;
using midipipe::Analysis;
using midipipe::testing::header;

namespace {
constexpr uint64_t Q = 96;       // ticks per quarter in these files
constexpr uint64_t BAR = 4 * Q;  // 4/4
}  // namespace

// ---------------------------------------------------------------- chords

TEST(Chords, PopProgressionOneChordPerBar) {
  Timeline t;
  t.chord(0 * BAR, BAR, {48, 60, 64, 67});      // C
  t.chord(1 * BAR, BAR, {45, 60, 64, 69});      // Am
  t.chord(2 * BAR, BAR, {41, 60, 65, 69});      // F
  t.chord(3 * BAR, BAR, {43, 59, 62, 65, 67});  // G7
  const Analysis a = analyse(file0(t));
  EXPECT_EQ(chord_names(a), (std::vector<std::string>{"C", "Am", "F", "G7"}));
  const auto& d = *a.depth;
  EXPECT_EQ(*d.chord_resolution, "bar");  // the median chord lasts a bar
  EXPECT_EQ(d.distinct_chords, 4u);
  EXPECT_DOUBLE_EQ(*d.chord_changes_per_bar, 0.75);
  EXPECT_TRUE(d.has_sevenths);
  EXPECT_FALSE(d.has_extended);
  ASSERT_EQ(d.chords.size(), 4u);
  EXPECT_EQ(d.chords[1].tick, BAR);
  EXPECT_DOUBLE_EQ(d.chords[1].seconds, 2.0);  // 120 bpm
  EXPECT_EQ(*d.chords[1].root, 9);
  EXPECT_EQ(d.chords[1].quality, "min");
  EXPECT_EQ(d.chords[3].quality, "7");
  EXPECT_GT(*d.harmonic_complexity, 0);
  EXPECT_LT(*d.harmonic_complexity, 1);
}

TEST(Chords, SeventhDiminishedSus) {
  Timeline t;
  t.chord(0, 2 * Q, {60, 64, 67, 71});          // Cmaj7
  t.chord(2 * Q, 2 * Q, {59, 62, 65});          // Bdim
  t.chord(4 * Q, 2 * Q, {60, 65, 67});          // Csus4 resolving to C: one span of root C
  t.chord(6 * Q, 2 * Q, {60, 64, 67});          // (a suspension over its chord), read as C
  t.chord(8 * Q, 2 * Q, {57, 60, 64, 67, 71});  // Am9 without... (A C E G B = Am9)
  t.chord(10 * Q, 2 * Q, {55, 60, 62});         // Gsus4 (over G)
  const Analysis a = analyse(file0(t));
  EXPECT_EQ(chord_names(a), (std::vector<std::string>{"Cmaj7", "Bdim", "C", "Am9", "Gsus4"}));
  EXPECT_TRUE(a.depth->has_sevenths);
  EXPECT_TRUE(a.depth->has_extended);
}

TEST(Chords, ArpeggioSpreadAcrossTheBeat) {
  // Each beat: C, E, G one after the other (a third of a beat each, no
  // overlap), then F, A, C. Note-on clustering in eighth windows sees only
  // C+E, then G+C...; durations within the beat give the triads.
  Timeline t;
  for (uint64_t b = 0; b < 8; ++b) {
    const int p[3] = {b < 4 ? 60 : 65, b < 4 ? 64 : 69, b < 4 ? 67 : 72};
    for (int i = 0; i < 3; ++i) t.note(b * Q + static_cast<uint64_t>(i) * 32, 32, 0, p[i]);
  }
  const Analysis a = analyse(file0(t));
  EXPECT_EQ(chord_names(a), (std::vector<std::string>{"C", "F"}));
}

TEST(Chords, DiminishedSeventhAndAugmentedSixthByTheirResolution) {
  // In C minor: i, iv, the German sixth (Ab C Eb F#, which sounds as Ab7),
  // V, then vii dim7 (B D F Ab: four possible roots) resolving to i.
  Timeline t;
  t.chord(0, BAR, {48, 60, 63, 67});            // Cm
  t.chord(BAR, BAR, {41, 60, 65, 68});          // Fm
  t.chord(2 * BAR, BAR, {44, 60, 63, 66});      // Ger6: F#aug6
  t.chord(3 * BAR, BAR, {43, 59, 62, 67});      // G
  t.chord(4 * BAR, BAR, {47, 62, 65, 68});      // Bdim7 (over B)
  t.chord(5 * BAR, 2 * BAR, {48, 60, 63, 67});  // Cm
  const Analysis a = analyse(file0(t));
  EXPECT_EQ(chord_names(a), (std::vector<std::string>{"Cm", "Fm", "F#aug6", "G", "Bdim7", "Cm"}));
}

TEST(Chords, InversionsAndTheBass) {
  Timeline t;
  t.chord(0, BAR, {52, 55, 60});            // C/E: lowest note E, still C
  t.chord(BAR, BAR, {43, 59, 62});          // G B D: lowest pitch class number is D (2), root G
  t.chord(2 * BAR, BAR, {45, 60, 64, 67});  // A C E G over A: Am7
  t.chord(3 * BAR, BAR, {48, 64, 67, 69});  // C E G A over C: C6
  const Analysis a = analyse(file0(t));
  EXPECT_EQ(chord_names(a), (std::vector<std::string>{"C", "G", "Am7", "C6"}));
}

TEST(Chords, FastHarmonyStaysPerBeat) {
  Timeline t;
  const std::initializer_list<int> ch[4] = {{60, 64, 67}, {62, 65, 69}, {64, 67, 71}, {65, 69, 72}};
  for (uint64_t b = 0; b < 16; ++b) t.chord(b * Q, Q, ch[b % 4]);
  const Analysis a = analyse(file0(t));
  EXPECT_EQ(*a.depth->chord_resolution, "beat");
  EXPECT_EQ(a.depth->chords.size(), 16u);
  EXPECT_EQ(chord_names(a)[1], "Dm");
  EXPECT_DOUBLE_EQ(*a.depth->chord_changes_per_bar, 15.0 / 4);
}

TEST(Chords, MelodyAloneHasNoChords) {
  Timeline t;
  const int mel[8] = {60, 62, 64, 65, 67, 65, 64, 62};
  for (uint64_t i = 0; i < 8; ++i) t.note(i * Q, Q, 0, mel[i]);
  const Analysis a = analyse(file0(t));
  EXPECT_TRUE(a.depth->chords.empty());
  EXPECT_FALSE(a.depth->chord_resolution);
  EXPECT_EQ(a.depth->distinct_chords, 0u);
  EXPECT_FALSE(a.depth->harmonic_complexity);
}

TEST(Chords, DrumsAreNotHarmony) {
  Timeline t;
  t.chord(0, BAR, {36, 38, 42}, 9).chord(BAR, BAR, {60, 64, 67}, 9);
  const Analysis a = analyse(file0(t));
  EXPECT_TRUE(a.depth->chords.empty());
}

TEST(Chords, DrumsBetweenTheNotesChangeNothing) {
  // The chord pass reads the pitched boundaries in place when no drum
  // boundary lies among them, else a copy without the drums: both must give
  // the same progression (fast harmony: both window sizes are swept).
  Timeline pitched;
  const std::initializer_list<int> ch[4] = {
      {48, 60, 64, 67}, {50, 62, 65, 69}, {52, 64, 67, 71}, {41, 65, 69, 72}};
  for (uint64_t b = 0; b < 16; ++b) pitched.chord(b * Q, Q, ch[b % 4]);
  Timeline with_drums = pitched;
  for (uint64_t e = 0; e < 40; ++e) with_drums.note(e * Q / 2, Q / 3, 9, e % 4 == 0 ? 36 : 42);
  Timeline drums_after = pitched;  // a drum boundary only after the pitched ones
  drums_after.note(16 * Q + 5, 10, 9, 38);
  const Analysis a = analyse(file0(pitched));
  ASSERT_FALSE(a.depth->chords.empty());
  EXPECT_EQ(*a.depth->chord_resolution, "beat");
  for (const Timeline* t : {&with_drums, &drums_after}) {
    const Analysis b = analyse(file0(*t));
    EXPECT_EQ(chord_names(b), chord_names(a));
    ASSERT_EQ(b.depth->chords.size(), a.depth->chords.size());
    for (size_t i = 0; i < a.depth->chords.size(); ++i) {
      EXPECT_EQ(b.depth->chords[i].tick, a.depth->chords[i].tick);
    }
    EXPECT_EQ(b.depth->chord_resolution, a.depth->chord_resolution);
    EXPECT_EQ(b.depth->chord_changes_per_bar, a.depth->chord_changes_per_bar);
  }
}

// ---------------------------------------------------------------- drums

namespace {
// kick 1 & 3, snare 2 & 4, closed hi-hat on every 8th, `bars` bars.
Timeline rock_beat(int bars) {
  Timeline t;
  for (uint64_t b = 0; b < static_cast<uint64_t>(bars); ++b) {
    const uint64_t s = b * BAR;
    t.note(s, 10, 9, 36).note(s + 2 * Q, 10, 9, 36);
    t.note(s + Q, 10, 9, 38).note(s + 3 * Q, 10, 9, 38);
    for (uint64_t e = 0; e < 8; ++e) t.note(s + e * Q / 2, 10, 9, 42, 80);
  }
  return t;
}
}  // namespace

TEST(Drums, StraightRockBeat) {
  const Analysis a = analyse(file0(rock_beat(4)));
  const auto& d = *a.depth;
  EXPECT_EQ(d.drum_counts[0], 8u);   // kick
  EXPECT_EQ(d.drum_counts[1], 8u);   // snare
  EXPECT_EQ(d.drum_counts[4], 32u);  // closed hi-hat
  EXPECT_EQ(d.drum_counts[13], 0u);
  EXPECT_EQ(d.ghost_notes, 0u);
  EXPECT_EQ(d.flams, 0u);
  EXPECT_FALSE(d.double_bass);
  ASSERT_TRUE(d.swing_ratio);
  EXPECT_DOUBLE_EQ(*d.swing_ratio, 1.0);
  EXPECT_EQ(*d.drum_feel, "straight");
  EXPECT_EQ(*d.drum_pattern_bars, 1u);
  EXPECT_TRUE(d.drum_loops);
  EXPECT_TRUE(d.chords.empty());
}

// A one-bar rock groove played by hand (PPQ 480): every hit a few ticks off
// the grid, the downbeat kick often a few ticks early (before the bar line).
// Rounded positions alone put those kicks in the previous bar; snapped to the
// grid within PPQ/16 the eight bars are one repeating bar.
TEST(Drums, HumanisedLoopRepeats) {
  constexpr int64_t q = 480, bar = 4 * q;
  constexpr int64_t kJitter[] = {3, -5, 2, -7, 6, -2, 4, -4, 1, -6, 5, -3, 7, -1, 2};
  constexpr int64_t kDownbeat[] = {-4, 3, -6, -2, 5, -3, -5, 2};  // the kick on 1, per bar
  Timeline t;
  size_t j = 0;
  const auto hit = [&](int64_t at, int key, int64_t off) {
    t.note(static_cast<uint64_t>(at + off), 30, 9, key, 90);
  };
  for (int64_t b = 1; b <= 8; ++b) {  // bars 1-8 (bar 0 empty: no hit before tick 0)
    const int64_t s = b * bar;
    hit(s, 36, kDownbeat[b - 1]);
    hit(s + q, 38, kJitter[j++ % std::size(kJitter)]);
    hit(s + 2 * q, 36, kJitter[j++ % std::size(kJitter)]);
    hit(s + 3 * q, 38, kJitter[j++ % std::size(kJitter)]);
    for (int64_t e = 0; e < 8; ++e) hit(s + e * q / 2, 42, kJitter[j++ % std::size(kJitter)]);
  }
  const Analysis a = analyse(file0(t, 480));
  ASSERT_TRUE(a.depth->drum_pattern_bars);
  EXPECT_EQ(*a.depth->drum_pattern_bars, 1u);
  EXPECT_TRUE(a.depth->drum_loops);
}

TEST(Drums, TwoBarPatternLoops) {
  Timeline t = rock_beat(8);
  for (uint64_t b = 1; b < 8; b += 2) t.note(b * BAR + 3 * Q + Q / 2, 10, 9, 36);  // extra kick
  const Analysis a = analyse(file0(t));
  EXPECT_EQ(*a.depth->drum_pattern_bars, 2u);
  EXPECT_TRUE(a.depth->drum_loops);
}

TEST(Drums, SwungRidePattern) {
  // Jazz ride, 2:1 swing: ride on every beat and on the last triplet of beats
  // 2 and 4; pedal hi-hat on 2 and 4.
  Timeline t;
  for (uint64_t b = 0; b < 4; ++b) {
    for (uint64_t beat = 0; beat < 4; ++beat) {
      const uint64_t s = b * BAR + beat * Q;
      t.note(s, 10, 9, 51);
      if (beat % 2 == 1) t.note(s + 2 * Q / 3, 10, 9, 51).note(s, 10, 9, 44);
    }
  }
  const Analysis a = analyse(file0(t));
  ASSERT_TRUE(a.depth->swing_ratio);
  EXPECT_NEAR(*a.depth->swing_ratio, 2.0, 1e-9);
  EXPECT_EQ(*a.depth->drum_feel, "swung");
  EXPECT_EQ(a.depth->drum_counts[9], 24u);  // ride
  EXPECT_EQ(a.depth->drum_counts[5], 8u);   // pedal hi-hat
}

TEST(Drums, Shuffle) {
  Timeline t;
  for (uint64_t beat = 0; beat < 16; ++beat) {
    t.note(beat * Q, 10, 9, 42).note(beat * Q + 2 * Q / 3, 10, 9, 42);
    if (beat % 2 == 0) t.note(beat * Q, 10, 9, 36);
  }
  const Analysis a = analyse(file0(t));
  EXPECT_NEAR(*a.depth->swing_ratio, 2.0, 1e-9);
  EXPECT_EQ(*a.depth->drum_feel, "shuffled");
}

TEST(Drums, GhostNotesAndFlam) {
  Timeline t = rock_beat(2);
  // ghost snares (velocity 30 against accents of 100) on three 16ths
  t.note(Q / 4 * 3, 5, 9, 38, 30).note(Q + Q / 4 * 3, 5, 9, 38, 30).note(BAR + Q / 4, 5, 9, 38, 30);
  // a flam: a soft grace note 5 ticks (26 ms at 120 bpm) before the snare on beat 4 of bar 2
  t.note(BAR + 3 * Q - 5, 5, 9, 38, 90);
  // not a flam: two tom hits 12 ticks (62.5 ms) apart
  t.note(BAR + Q / 2, 5, 9, 45).note(BAR + Q / 2 + 12, 5, 9, 45);
  const Analysis a = analyse(file0(t));
  EXPECT_EQ(a.depth->ghost_notes, 3u);
  EXPECT_EQ(a.depth->flams, 1u);
}

// SMPTE time has no beats, but the counts, ghost notes and flams stand (the
// drum pass then finds the groups of drum notes itself: the performance walk,
// which lists them otherwise, needs a PPQ).
TEST(Drums, SmpteCountsGhostsAndFlams) {
  using namespace midipipe::testing;
  Timeline t;  // 25 fps x 40 ticks: a tick is a millisecond
  for (uint64_t i = 0; i < 8; ++i) t.note(i * 500, 10, 9, 38, 100);  // snare accents
  t.note(250, 10, 9, 38, 30).note(750, 10, 9, 38, 30);               // ghost snares
  t.note(1980, 5, 9, 38, 90);                   // a flam: 20 ms before the snare at 2000
  t.note(3100, 5, 9, 45).note(3140, 5, 9, 45);  // toms 40 ms apart: no flam
  t.note(3000, 10, 0, 60).note(100, 10, 9, 36).note(100, 10, 9, 42);  // piano, kick, hi-hat
  const Analysis a = analyse(header(0, 1, smpte(25, 40)) + t.track());
  ASSERT_TRUE(a.depth);
  const auto& d = *a.depth;
  EXPECT_EQ(d.drum_counts[1], 11u);  // snare
  EXPECT_EQ(d.drum_counts[0], 1u);   // kick
  EXPECT_EQ(d.drum_counts[4], 1u);   // closed hi-hat
  EXPECT_EQ(d.drum_counts[7], 2u);   // toms
  EXPECT_EQ(d.ghost_notes, 2u);
  EXPECT_EQ(d.flams, 1u);
  EXPECT_FALSE(d.swing_ratio);
  EXPECT_FALSE(d.drum_pattern_bars);
}

TEST(Drums, DoubleBassRun) {
  Timeline t = rock_beat(2);
  for (uint64_t i = 0; i < 16; ++i) t.note(2 * BAR + i * Q / 4, 5, 9, 35);  // a bar of 16ths
  const Analysis a = analyse(file0(t));
  EXPECT_TRUE(a.depth->double_bass);
  EXPECT_EQ(a.depth->double_bass_runs, 1u);
  const Analysis b = analyse(file0(rock_beat(2)));  // kicks a half note apart
  EXPECT_FALSE(b.depth->double_bass);
}

TEST(Drums, OnlyTheDrumChannelCounts) {
  Timeline t;
  for (int p = 35; p <= 81; ++p) t.note(static_cast<uint64_t>(p - 35) * Q / 2, Q / 2, 0, p);
  const Analysis a = analyse(file0(t));
  EXPECT_FALSE(a.has_drums);
  for (uint64_t c : a.depth->drum_counts) EXPECT_EQ(c, 0u);
  EXPECT_FALSE(a.depth->drum_feel);
  EXPECT_FALSE(a.depth->drum_pattern_bars);
}

TEST(Drums, ClassNames) {
  EXPECT_EQ(midipipe::drum_class_name(midipipe::drum_class_of(36)), "kick");
  EXPECT_EQ(midipipe::drum_class_name(midipipe::drum_class_of(37)), "side_stick");
  EXPECT_EQ(midipipe::drum_class_name(midipipe::drum_class_of(53)), "ride_bell");
  EXPECT_EQ(midipipe::drum_class_name(midipipe::drum_class_of(52)), "china");
  EXPECT_EQ(midipipe::drum_class_name(midipipe::drum_class_of(56)), "percussion");
  EXPECT_EQ(midipipe::drum_class_name(midipipe::drum_class_of(0)), "percussion");
}

// ---------------------------------------------------------------- performance

TEST(Performance, ControllersSustainAndLengths) {
  Timeline t;
  t.cc(0, 0, 7, 100).cc(0, 0, 10, 64).cc(0, 1, 7, 90);
  t.cc(0, 0, 64, 127)
      .cc(Q, 0, 64, 100)
      .cc(2 * Q, 0, 64, 0)
      .cc(3 * Q, 0, 64, 127)
      .cc(4 * Q, 0, 64, 0);
  t.note(0, Q, 0, 60).note(Q, Q / 2, 0, 62).note(2 * Q, 2 * Q, 0, 64);  // 1, 0.5, 2 beats
  t.ev.push_back({Q, {0xE0, 0, 64}});
  const Analysis a = analyse(file0(t));
  const auto& d = *a.depth;
  EXPECT_EQ(d.cc_numbers, (std::vector<int16_t>{7, 10, 64}));
  EXPECT_EQ(d.cc_counts, (std::vector<int64_t>{2, 1, 5}));
  EXPECT_EQ(d.sustain_pedal_presses, 2u);
  EXPECT_TRUE(d.has_sustain);
  EXPECT_EQ(a.pitch_bend_count, 1u);
  EXPECT_NEAR(*d.note_length_mean_beats, 3.5 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(*d.note_length_median_beats, 1.0);
  // note 1 lasts its whole inter-onset interval (legato), note 2 half of it
  // (staccato); note 3 has no next onset.
  EXPECT_DOUBLE_EQ(*d.legato_share, 0.5);
  EXPECT_DOUBLE_EQ(*d.staccato_share, 0.5);
}

TEST(Performance, QuantisedAndHumanisedTiming) {
  Timeline q, h;
  for (uint64_t i = 0; i < 16; ++i) {
    q.note(i * Q / 4, Q / 8, 0, 60 + static_cast<int>(i % 5));
    // 8th notes 5 ticks late or early (the nearest 16th-triplet line is 11 away)
    h.note(Q + i * Q / 2 + 5 - (i % 2) * 10, Q / 8, 0, 60 + static_cast<int>(i % 5));
  }
  const Analysis aq = analyse(file0(q));
  EXPECT_DOUBLE_EQ(*aq.depth->timing_dev_ticks, 0.0);
  EXPECT_DOUBLE_EQ(*aq.depth->on_grid_share, 1.0);
  EXPECT_FALSE(*aq.depth->timing_humanised);
  const Analysis ah = analyse(file0(h));
  EXPECT_DOUBLE_EQ(*ah.depth->timing_dev_ticks, 5.0);
  EXPECT_NEAR(*ah.depth->timing_dev_ms, 5.0 / 96 * 500, 1e-9);
  EXPECT_DOUBLE_EQ(*ah.depth->on_grid_share, 0.0);
  EXPECT_TRUE(*ah.depth->timing_humanised);
}

TEST(Performance, TripletsAreOnTheGrid) {
  Timeline t;
  for (uint64_t i = 0; i < 12; ++i) t.note(i * Q / 3, Q / 3, 0, 60 + static_cast<int>(i % 3));
  const Analysis a = analyse(file0(t));
  EXPECT_DOUBLE_EQ(*a.depth->on_grid_share, 1.0);
}

TEST(Structure, RepeatedBars) {
  // bars A A B A (+ a drum hit identical in every bar)
  Timeline t;
  const int pa[4] = {60, 62, 64, 65}, pb[4] = {67, 65, 64, 62};
  for (uint64_t b = 0; b < 4; ++b) {
    for (uint64_t i = 0; i < 4; ++i) t.note(b * BAR + i * Q, Q, 0, b == 2 ? pb[i] : pa[i]);
    t.note(b * BAR, 10, 9, 36);
  }
  const Analysis a = analyse(file0(t));
  EXPECT_EQ(a.depth->bar_count, 4u);
  EXPECT_EQ(a.depth->distinct_bars, 2u);
  EXPECT_DOUBLE_EQ(*a.depth->repeated_share, 0.5);
}

TEST(Structure, TimeSignatureMakesTheBars) {
  // 3/4: the same 3-beat figure four times is 4 identical bars.
  constexpr int kTriad[3] = {60, 64, 67};
  Timeline t;
  t.time_sig(0, 3, 2);
  for (uint64_t b = 0; b < 4; ++b) {
    for (uint64_t i = 0; i < 3; ++i) t.note(b * 3 * Q + i * Q, Q, 0, kTriad[i]);
  }
  const Analysis a = analyse(file0(t));
  EXPECT_EQ(a.depth->bar_count, 4u);
  EXPECT_EQ(a.depth->distinct_bars, 1u);
  EXPECT_DOUBLE_EQ(*a.depth->repeated_share, 0.75);
  EXPECT_EQ(chord_names(a), (std::vector<std::string>{"C"}));
  EXPECT_EQ(*a.depth->chord_resolution, "bar");
}

// ---------------------------------------------------------------- switch, hostile input

TEST(Depth, SwitchedOff) {
  midipipe::AnalyzeOptions o = midipipe::default_analyze_options();
  EXPECT_TRUE(o.depth);
  o.depth = false;
  const auto r = midipipe::analyze_with(file0(rock_beat(2)), {}, o);
  ASSERT_TRUE(r.status.ok());
  EXPECT_FALSE(r.analysis.depth);
  EXPECT_EQ(r.analysis.drum_note_count, 2u * 12);
}

TEST(Depth, HugeDeltasAndStuckNotesStayCheap) {
  // Notes that never end, chords 2^27 ticks apart at PPQ 1: billions of
  // beats, and the analysis must not walk them.
  using namespace midipipe::testing;
  Bytes body;
  for (int i = 0; i < 200; ++i) {
    const uint8_t p = static_cast<uint8_t>(60 + i % 12);
    const uint8_t ev[] = {0xFF, 0xFF, 0xFF, 0x7F, 0x90, p, 100,  0,  0x90, 64,
                          100,  0,    0x90, 67,   100,  0, 0x99, 36, 100};
    body.insert(body.end(), std::begin(ev), std::end(ev));
  }
  const Bytes file = header(0, 1, 1) + track(body + eot(0x0FFFFFFF));
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = midipipe::analyze(file);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r.status.ok());
  ASSERT_TRUE(r.analysis.depth);
  EXPECT_LT(s, 1.0);
  EXPECT_FALSE(r.analysis.depth->chords.empty());
  EXPECT_FALSE(r.analysis.depth->drum_pattern_bars);  // too sparse to hold a pattern
}

TEST(Depth, SmpteFileHasNoBeatFields) {
  using namespace midipipe::testing;
  Timeline t = rock_beat(1);
  const Analysis a = analyse(header(0, 1, smpte(25, 40)) + t.track());
  EXPECT_EQ(a.depth->drum_counts[0], 2u);
  EXPECT_FALSE(a.depth->swing_ratio);
  EXPECT_FALSE(a.depth->note_length_mean_beats);
  EXPECT_FALSE(a.depth->chord_resolution);
}
