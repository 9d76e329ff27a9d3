// Unit tests of the analysis (every field on small hand-made files), GM names,
// key names and the JSON writer.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <string>

#include "analysis.hpp"
#include "analysis_internal.hpp"
#include "key.hpp"
#include "smf_builder.hpp"

using namespace midipipe;
using namespace midipipe::testing;

namespace {

Analysis ok(const Bytes& f) {
  AnalyzeResult r = analyze(f);
  EXPECT_TRUE(r.status.ok()) << r.status.message;
  return r.analysis;
}

Bytes meta_bytes(uint32_t delta, uint8_t type, std::initializer_list<uint8_t> d) {
  return meta(delta, type, Bytes(d));
}

// A scale or melody on channel `ch`, each note `len` ticks.
Bytes melody(std::initializer_list<int> pitches, int ch = 0, uint32_t len = 96) {
  Bytes b;
  for (int p : pitches) b += note_on(0, ch, p, 100) + note_off(len, ch, p);
  return b;
}

}  // namespace

TEST(Analysis, HeaderAndOneNote) {
  const Analysis a = ok(header(1, 2, 96) + track(tempo(0, 500000) + eot(0)) +
                        track(note_on(0, 0, 60, 100) + note_off(96, 0, 60) + eot(0)));
  EXPECT_EQ(a.format, 1);
  EXPECT_EQ(a.ntracks, 2u);
  ASSERT_TRUE(a.ppq);
  EXPECT_EQ(*a.ppq, 96);
  EXPECT_FALSE(a.smpte_fps);
  EXPECT_EQ(a.duration_ticks, 96u);
  EXPECT_DOUBLE_EQ(a.duration_seconds, 0.5);
  EXPECT_EQ(a.note_count, 1u);
  EXPECT_EQ(*a.pitch_min, 60);
  EXPECT_EQ(*a.pitch_max, 60);
  EXPECT_DOUBLE_EQ(*a.pitch_mean, 60.0);
  EXPECT_EQ(*a.velocity_min, 100);
  EXPECT_DOUBLE_EQ(*a.velocity_stddev, 0.0);
  EXPECT_DOUBLE_EQ(a.note_density, 2.0);
  EXPECT_EQ(a.polyphony_max, 1u);
  EXPECT_DOUBLE_EQ(a.polyphony_mean, 1.0);
  EXPECT_EQ(a.unique_pitches, 1u);
  ASSERT_EQ(a.tracks.size(), 2u);
  EXPECT_EQ(a.tracks[1].note_count, 1u);
  EXPECT_EQ(a.tracks[1].duration_ticks, 96u);
  EXPECT_EQ(a.tracks[0].note_count, 0u);
  EXPECT_FALSE(a.tracks[0].pitch_min);
}

TEST(Analysis, EmptyFileIsFatal) {
  const AnalyzeResult r = analyze(Bytes{});
  EXPECT_FALSE(r.status.ok());
  EXPECT_EQ(r.status.code, Code::empty_file);
}

TEST(Analysis, DurationIncludesEndOfTrack) {
  // The last note ends at 96, End of Track is at 96 + 288 = 384 ticks = 2 s.
  const Analysis a =
      ok(header(0, 1, 96) + track(note_on(0, 0, 60, 90) + note_off(96, 0, 60) + eot(288)));
  EXPECT_EQ(a.duration_ticks, 384u);
  EXPECT_DOUBLE_EQ(a.duration_seconds, 2.0);
}

TEST(Analysis, TempoMapFromAnotherTrack) {
  // Format 1: the tempo change sits in track 1 but applies to track 2 too.
  // 96 ticks at 120 bpm (0.5 s) then 96 ticks at 240 bpm (0.25 s).
  const Analysis a = ok(header(1, 3, 96) + track(eot(0)) + track(tempo(96, 250000) + eot(0)) +
                        track(note_on(0, 0, 60, 100) + note_off(192, 0, 60) + eot(0)));
  EXPECT_DOUBLE_EQ(a.duration_seconds, 0.75);
  EXPECT_DOUBLE_EQ(a.tempo_bpm, 120.0);
  EXPECT_EQ(a.tempo_changes, 1u);
  EXPECT_DOUBLE_EQ(a.tempo_min_bpm, 120.0);
  EXPECT_DOUBLE_EQ(a.tempo_max_bpm, 240.0);
  // time-weighted: (120 * 0.5 + 240 * 0.25) / 0.75 = 160
  EXPECT_NEAR(a.tempo_mean_bpm, 160.0, 1e-9);
  EXPECT_NEAR(a.note_density, 1 / 0.75, 1e-12);
}

TEST(Analysis, TempoAtTickZeroAndRepeats) {
  // Two tempi at tick 0: the last is in force. Repeating the tempo in force is
  // no change.
  const Analysis a = ok(header(0, 1, 480) +
                        track(tempo(0, 600000) + tempo(0, 400000) + tempo(480, 400000) + eot(480)));
  EXPECT_DOUBLE_EQ(a.tempo_bpm, 150.0);
  EXPECT_EQ(a.tempo_changes, 0u);
  EXPECT_DOUBLE_EQ(a.tempo_min_bpm, 150.0);
  EXPECT_NEAR(a.duration_seconds, 0.8, 1e-12);
}

TEST(Analysis, NoTempoMeans120) {
  const Analysis a = ok(header(0, 1, 1) + track(eot(2)));
  EXPECT_DOUBLE_EQ(a.tempo_bpm, 120.0);
  EXPECT_DOUBLE_EQ(a.tempo_mean_bpm, 120.0);
  EXPECT_DOUBLE_EQ(a.duration_seconds, 1.0);  // PPQ 1: 2 quarters
}

TEST(Analysis, Format2TracksHaveTheirOwnTempo) {
  const Analysis a = ok(header(2, 2, 96) + track(tempo(0, 250000) + eot(96)) +
                        track(note_on(0, 0, 60, 100) + note_off(96, 0, 60) + eot(0)));
  EXPECT_EQ(a.format, 2);
  // Track 0: 96 ticks at 240 bpm = 0.25 s; track 1: 96 ticks at 120 = 0.5 s.
  EXPECT_DOUBLE_EQ(a.duration_seconds, 0.5);
  EXPECT_DOUBLE_EQ(a.tempo_bpm, 240.0);
}

TEST(Analysis, SmpteDivision) {
  // 25 fps x 40 ticks = 1000 ticks per second; the tempo event does not change time.
  const Analysis a = ok(header(0, 1, smpte(25, 40)) + track(tempo(0, 1000000) + eot(500)));
  EXPECT_FALSE(a.ppq);
  EXPECT_EQ(*a.smpte_fps, 25);
  EXPECT_EQ(*a.smpte_ticks_per_frame, 40);
  EXPECT_DOUBLE_EQ(a.duration_seconds, 0.5);
  EXPECT_DOUBLE_EQ(a.tempo_bpm, 60.0);

  const Analysis b = ok(header(0, 1, smpte(29, 100)) + track(eot(2997)));
  EXPECT_NEAR(b.duration_seconds, 1.0, 1e-12);  // 29 means 29.97
}

TEST(Analysis, DrumsAreCountedButNotPitched) {
  const Analysis a = ok(header(1, 2, 96) + track(melody({60, 64}, 0) + eot(0)) +
                        track(melody({36, 38, 42}, 9) + eot(0)));
  EXPECT_EQ(a.note_count, 5u);
  EXPECT_EQ(a.drum_note_count, 3u);
  EXPECT_TRUE(a.has_drums);
  EXPECT_EQ(*a.pitch_min, 60);
  EXPECT_EQ(*a.pitch_max, 64);
  EXPECT_EQ(a.unique_pitches, 2u);
  EXPECT_DOUBLE_EQ(*a.pitch_mean, 62.0);
  EXPECT_FALSE(a.tracks[0].is_drum);
  EXPECT_TRUE(a.tracks[1].is_drum);
  EXPECT_EQ(*a.tracks[1].pitch_min, 36);  // track ranges include drums
  EXPECT_EQ(a.channels, (std::vector<int16_t>{0, 9}));
  EXPECT_EQ(a.tracks[1].channels, (std::vector<int16_t>{9}));
}

TEST(Analysis, VelocityStatistics) {
  const Analysis a =
      ok(header(0, 1, 96) + track(note_on(0, 0, 60, 40) + note_on(0, 0, 64, 80) +
                                  note_off(96, 0, 60) + note_off(0, 0, 64) + eot(0)));
  EXPECT_EQ(*a.velocity_min, 40);
  EXPECT_EQ(*a.velocity_max, 80);
  EXPECT_DOUBLE_EQ(*a.velocity_mean, 60.0);
  EXPECT_DOUBLE_EQ(*a.velocity_stddev, 20.0);  // population
}

TEST(Analysis, NoteOnVelocityZeroIsNoteOffAndPolyphony) {
  // A: 0..96, B: 48..144 (ended by note-on velocity 0). Sum 192 ticks over a
  // union of 144 ticks: mean 4/3, max 2.
  const Analysis a =
      ok(header(0, 1, 96) + track(note_on(0, 0, 60, 100) + note_on(48, 0, 64, 100) +
                                  note_off(48, 0, 60) + note_on(48, 0, 64, 0) + eot(0)));
  EXPECT_EQ(a.note_count, 2u);
  EXPECT_EQ(a.polyphony_max, 2u);
  EXPECT_NEAR(a.polyphony_mean, 4.0 / 3.0, 1e-12);
}

TEST(Analysis, BackToBackNotesDoNotOverlap) {
  const Analysis a = ok(header(0, 1, 96) + track(melody({60, 62, 64, 65}) + eot(0)));
  EXPECT_EQ(a.polyphony_max, 1u);
  EXPECT_DOUBLE_EQ(a.polyphony_mean, 1.0);
}

TEST(Analysis, OverlappingSamePitchIsFifo) {
  // Two note-ons of the same pitch, then two note-offs: both notes counted and
  // sounding together (polyphony 2), ending at 96 and 192.
  const Analysis a =
      ok(header(0, 1, 96) + track(note_on(0, 0, 60, 100) + note_on(0, 0, 60, 100) +
                                  note_off(96, 0, 60) + note_off(96, 0, 60) + eot(0)));
  EXPECT_EQ(a.note_count, 2u);
  EXPECT_EQ(a.polyphony_max, 2u);
  EXPECT_NEAR(a.polyphony_mean, (96.0 + 192.0) / 192.0, 1e-12);
}

TEST(Analysis, StuckNotesEndAtTheEndOfTheFile) {
  // Track 1: C on at 0, never off, track ends at 10. Track 2: E 0..96, file
  // ends at 192. The stuck note lasts to 192: (192 + 96) / 192 = 1.5.
  const Analysis a = ok(header(1, 2, 96) + track(note_on(0, 0, 60, 100) + eot(10)) +
                        track(note_on(0, 1, 64, 100) + note_off(96, 1, 64) + eot(96)));
  EXPECT_EQ(a.duration_ticks, 192u);
  EXPECT_NEAR(a.polyphony_mean, 1.5, 1e-12);
  EXPECT_EQ(a.polyphony_max, 2u);
}

TEST(Analysis, ProgramsAndInstruments) {
  const Analysis a = ok(header(1, 3, 96) + track(ev(0, {0xC0, 0}) + ev(0, {0xC1, 40}) + eot(0)) +
                        track(ev(0, {0xC9, 0}) + melody({36}, 9) + eot(0)) +
                        track(ev(0, {0xC2, 127}) + ev(0, {0xC2, 1}) + melody({60}, 2) + eot(0)));
  EXPECT_EQ(a.programs, (std::vector<int16_t>{0, 1, 40, 127}));
  EXPECT_EQ(a.instrument_families, (std::vector<std::string>{"Piano", "Sound Effects", "Strings"}));
  EXPECT_EQ(*a.tracks[0].program, 0);
  EXPECT_EQ(*a.tracks[0].instrument, "Acoustic Grand Piano");
  EXPECT_EQ(*a.tracks[1].instrument, "Standard Drum Kit");
  EXPECT_EQ(*a.tracks[2].program, 127);  // the first program change
  EXPECT_EQ(*a.tracks[2].instrument, "Gunshot");
}

TEST(Analysis, MessageCounts) {
  const Analysis a = ok(header(0, 1, 96) +
                        track(ev(0, {0xB0, 7, 100}) + ev(0, {0xB0, 10, 64}) + ev(0, {0xE0, 0, 64}) +
                              sysex(0, 0xF0, {1, 2, 0xF7}) + sysex(0, 0xF7, {3}) + eot(0)));
  EXPECT_EQ(a.cc_count, 2u);
  EXPECT_EQ(a.pitch_bend_count, 1u);
  EXPECT_EQ(a.sysex_count, 2u);
  EXPECT_EQ(a.note_count, 0u);
  EXPECT_FALSE(a.pitch_min);
  EXPECT_FALSE(a.velocity_mean);
  EXPECT_FALSE(a.key);  // no pitched notes: no key
  EXPECT_DOUBLE_EQ(a.polyphony_mean, 0.0);
}

TEST(Analysis, KeySignatureFromMeta) {
  const Analysis g = ok(header(0, 1, 96) + track(meta_bytes(0, 0x59, {1, 0}) + eot(0)));
  EXPECT_EQ(*g.key_signature, "G major");
  const Analysis c = ok(header(0, 1, 96) + track(meta_bytes(0, 0x59, {0xFD, 1}) + eot(0)));
  EXPECT_EQ(*c.key_signature, "C minor");
  // Invalid (sf 9, mi 2) ignored; the earliest valid one wins.
  const Analysis x =
      ok(header(1, 2, 96) +
         track(meta_bytes(0, 0x59, {9, 0}) + meta_bytes(10, 0x59, {0xFA, 0}) + eot(0)) +
         track(meta_bytes(5, 0x59, {2, 2}) + meta_bytes(0, 0x59, {3, 1}) + eot(0)));
  EXPECT_EQ(*x.key_signature, "F# minor");
  const Analysis none = ok(header(0, 1, 96) + track(eot(0)));
  EXPECT_FALSE(none.key_signature);
}

TEST(Analysis, TimeSignature) {
  const Analysis a = ok(header(0, 1, 96) + track(meta_bytes(0, 0x58, {6, 3, 24, 8}) +
                                                 meta_bytes(96, 0x58, {6, 3, 24, 8}) +
                                                 meta_bytes(96, 0x58, {3, 2, 24, 8}) + eot(0)));
  EXPECT_EQ(a.time_signature, "6/8");
  EXPECT_EQ(a.time_signature_changes, 1u);
  const Analysis d = ok(header(0, 1, 96) + track(eot(0)));
  EXPECT_EQ(d.time_signature, "4/4");
  EXPECT_EQ(d.time_signature_changes, 0u);
}

TEST(Analysis, KeyDetection) {
  // C major: scale and cadence, ending on C.
  const Analysis c =
      ok(header(0, 1, 96) + track(melody({60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60, 55, 60}) +
                                  melody({48, 52, 55, 48}, 1, 288) + eot(0)));
  ASSERT_TRUE(c.key);
  EXPECT_EQ(*c.key, "C major");
  EXPECT_EQ(*c.key_tonic, 0);
  EXPECT_EQ(*c.key_mode, "major");
  EXPECT_GE(*c.key_confidence, 0.0);
  EXPECT_LE(*c.key_confidence, 1.0);
  // A harmonic minor, leaning on A, C, E and G#.
  const Analysis am =
      ok(header(0, 1, 96) +
         track(melody({69, 71, 72, 74, 76, 77, 80, 81, 76, 72, 69, 68, 69, 64, 69}) +
               melody({45, 52, 45, 40, 45}, 1, 288) + eot(0)));
  EXPECT_EQ(*am.key, "A minor");
  EXPECT_EQ(*am.key_tonic, 9);
  // The drum channel never votes: the same drums alone give no key.
  const Analysis dr = ok(header(0, 1, 96) + track(melody({61, 66, 68}, 9) + eot(0)));
  EXPECT_FALSE(dr.key);
}

TEST(Analysis, KeyIgnoresTheKeySignature) {
  const Bytes notes = melody({60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60});
  const Analysis a = ok(header(0, 1, 96) + track(notes + eot(0)));
  const Analysis b = ok(header(0, 1, 96) + track(meta_bytes(0, 0x59, {0xFC, 1}) + notes + eot(0)));
  EXPECT_EQ(*b.key_signature, "F minor");
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.key_confidence, b.key_confidence);
}

TEST(Analysis, Texts) {
  const Analysis a = ok(
      header(1, 2, 96) +
      track(meta_text(0, 0x03, "Song") + meta_text(0, 0x02, "(c) me") +
            meta_text(0, 0x06, "Verse") + meta_text(0, 0x03, "ignored") + eot(0)) +
      track(meta(0, 0x03, {'C', 'a', 'f', 0xE9, 0, '!'}) + meta_text(0, 0x06, "Chorus") + eot(0)));
  EXPECT_EQ(*a.title, "Song");
  EXPECT_EQ(*a.copyright, "(c) me");
  EXPECT_EQ(a.track_names, (std::vector<std::string>{"Song", "Caf\xC3\xA9!"}));
  EXPECT_EQ(*a.tracks[1].name, "Caf\xC3\xA9!");  // Latin-1 decoded, NUL dropped
  EXPECT_EQ(a.markers, (std::vector<std::string>{"Verse", "Chorus"}));
  EXPECT_FALSE(a.has_lyrics);

  // Valid UTF-8 is kept; long text is cut at 1,024 bytes on a character boundary.
  std::string longtext;
  for (int i = 0; i < 600; ++i) longtext += "\xC3\xA9";  // 1,200 bytes
  const Analysis b = ok(header(0, 1, 96) + track(meta_text(0, 0x03, longtext) + eot(0)));
  EXPECT_EQ(b.title->size(), 1024u);
  EXPECT_TRUE(is_valid_utf8(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(b.title->data()), b.title->size())));
}

TEST(Analysis, Lyrics) {
  EXPECT_TRUE(ok(header(0, 1, 96) + track(meta_text(0, 0x05, "la") + eot(0))).has_lyrics);
  EXPECT_FALSE(ok(header(0, 1, 96) + track(meta_text(0, 0x05, " ") + eot(0))).has_lyrics);
  // .kar: "@K..." header and syllables in FF 01 text events.
  EXPECT_TRUE(ok(header(1, 2, 96) + track(meta_text(0, 0x01, "@KMIDI KARAOKE FILE") + eot(0)) +
                 track(meta_text(0, 0x01, "@T Song") + meta_text(0, 0x01, "/Twin") +
                       meta_text(0, 0x01, "kle") + eot(0)))
                  .has_lyrics);
  // Plain text events alone are no lyrics.
  EXPECT_FALSE(ok(header(0, 1, 96) + track(meta_text(0, 0x01, "made with X") + eot(0))).has_lyrics);
}

TEST(Analysis, ManyTracksStayCheap) {
  Bytes f = header(1, 65535, 96);
  const Bytes t = track(note_on(0, 0, 60, 100) + eot(1));
  f.reserve(f.size() + 65535 * t.size());
  for (int i = 0; i < 65535; ++i) f += t;
  const auto t0 = std::chrono::steady_clock::now();
  const Analysis a = ok(f);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(a.ntracks, 65535u);
  EXPECT_EQ(a.note_count, 65535u);
  EXPECT_EQ(a.polyphony_max, 65535u);  // every stuck note lasts to the end
  EXPECT_EQ(a.track_names.size(), 0u);
  EXPECT_LT(sec, 2.0);
}

TEST(Analysis, HugeDeltasAndPpqOne) {
  const Analysis a = ok(header(0, 1, 1) + track(note_on(0x0FFFFFFF, 0, 60, 1) +
                                                note_off(0x0FFFFFFF, 0, 60) + eot(0x0FFFFFFF)));
  EXPECT_EQ(a.duration_ticks, 3ull * 0x0FFFFFFF);
  EXPECT_NEAR(a.duration_seconds, 3.0 * 0x0FFFFFFF * 0.5, 1.0);
  EXPECT_TRUE(std::isfinite(a.note_density));
  EXPECT_EQ(a.polyphony_max, 1u);
}

TEST(Analysis, ManyStuckAndOverlappingNotesAreLinear) {
  // 200,000 note-ons of one pitch, then 200,000 note-offs: FIFO pairing is
  // O(1) per event, so this takes milliseconds, not minutes.
  Bytes body;
  body.reserve(200000 * 8);
  for (int i = 0; i < 200000; ++i) body += note_on(1, 0, 60, 64);
  for (int i = 0; i < 200000; ++i) body += note_off(1, 0, 60);
  const auto t0 = std::chrono::steady_clock::now();
  const Analysis a = ok(header(0, 1, 96) + track(body + eot(0)));
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(a.note_count, 200000u);
  EXPECT_EQ(a.polyphony_max, 200000u);
  EXPECT_LT(sec, 2.0);
}

TEST(Gm, Names) {
  EXPECT_EQ(gm_program_name(0), "Acoustic Grand Piano");
  EXPECT_EQ(gm_program_name(40), "Violin");
  EXPECT_EQ(gm_program_name(127), "Gunshot");
  EXPECT_EQ(gm_program_name(128), "");
  EXPECT_EQ(gm_program_name(-1), "");
  EXPECT_EQ(gm_family_name(0), "Piano");
  EXPECT_EQ(gm_family_name(8), "Chromatic Percussion");
  EXPECT_EQ(gm_family_name(33), "Bass");
  EXPECT_EQ(gm_family_name(127), "Sound Effects");
  for (int p = 0; p < 128; ++p) {
    EXPECT_FALSE(gm_program_name(p).empty()) << p;
    EXPECT_EQ(gm_family_name(p), gm_family_name(p - p % 8)) << p;
  }
}

TEST(Key, NamesAndSignatures) {
  EXPECT_EQ(key_name(1, false), "Db major");
  EXPECT_EQ(key_name(6, false), "F# major");
  EXPECT_EQ(key_name(3, true), "Eb minor");
  EXPECT_EQ(key_name(8, true), "G# minor");
  EXPECT_EQ(key_name(10, false), "Bb major");
  EXPECT_EQ(key_name(12, false), "");
  EXPECT_EQ(*key_signature_name(-6, 0), "Gb major");
  EXPECT_EQ(*key_signature_name(7, 0), "C# major");
  EXPECT_EQ(*key_signature_name(0, 1), "A minor");
  EXPECT_FALSE(key_signature_name(8, 0));
  EXPECT_FALSE(key_signature_name(0, 2));
}

TEST(Key, EstimateFromProfileItself) {
  // A histogram equal to a rotated profile must give that key with r = 1,
  // for every profile.
  for (int p = 0; p < static_cast<int>(KeyProfile::count_); ++p) {
    double h[12] = {0.238, 0.006, 0.111, 0.006, 0.137, 0.094,
                    0.016, 0.214, 0.009, 0.080, 0.008, 0.081};
    double rot[12];
    for (int i = 0; i < 12; ++i) rot[(i + 7) % 12] = h[i];  // G major
    const KeyEstimate k = estimate_key(std::span<const double, 12>(rot, 12), KeyProfile(p));
    ASSERT_TRUE(k.found);
    EXPECT_EQ(k.tonic, 7) << key_profile_name(KeyProfile(p));
    EXPECT_FALSE(k.minor) << key_profile_name(KeyProfile(p));
  }
  const double zero[12] = {};
  EXPECT_FALSE(
      estimate_key(std::span<const double, 12>(zero, 12), KeyProfile::albrecht_shanahan).found);
}

TEST(Json, KeysNullsAndEscapes) {
  const AnalyzeResult r =
      analyze(header(0, 1, 96) + track(meta(0, 0x03, {'a', '"', '\\', 0x01, 0xFF}) +
                                       note_on(0, 0, 60, 100) + note_off(96, 0, 60) + eot(0)));
  ASSERT_TRUE(r.status.ok());
  const std::string j = to_json(r, "/x/y.mid");
  EXPECT_EQ(j.rfind("{\"path\":\"/x/y.mid\",\"format\":0,\"ntracks\":1,\"ppq\":96,", 0), 0u) << j;
  EXPECT_NE(j.find("\"smpte_fps\":null"), std::string::npos);
  EXPECT_NE(j.find("\"duration_seconds\":0.5,"), std::string::npos);
  EXPECT_NE(j.find("\"key_signature\":null"), std::string::npos);
  EXPECT_NE(j.find("\"title\":\"a\\\"\\\\\\u0001\xC3\xBF\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"tracks\":[{\"track_no\":0,"), std::string::npos);
  EXPECT_NE(j.find("\"warnings\":[]}"), std::string::npos);
  EXPECT_TRUE(is_valid_utf8(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(j.data()), j.size())));

  AnalyzeResult bad = r;
  bad.analysis.duration_seconds = std::nan("");
  bad.analysis.tempo_mean_bpm = INFINITY;
  bad.analysis.title = std::string("x\0y\xE9", 4);  // NUL dropped, invalid UTF-8 as Latin-1
  const std::string jb = to_json(bad);
  EXPECT_EQ(jb.find("\"path\""), std::string::npos);
  EXPECT_NE(jb.find("\"duration_seconds\":null"), std::string::npos);
  EXPECT_NE(jb.find("\"tempo_mean_bpm\":null"), std::string::npos);
  EXPECT_NE(jb.find("\"title\":\"xy\xC3\xA9\""), std::string::npos) << jb;
}

TEST(Json, ErrorObject) {
  const AnalyzeResult r = analyze(str("MThd"));
  ASSERT_FALSE(r.status.ok());
  const std::string j = to_json(r, "f.mid");
  EXPECT_EQ(
      j.rfind("{\"path\":\"f.mid\",\"error_code\":\"truncated_header\",\"error_message\":", 0), 0u)
      << j;
  EXPECT_NE(j.find("\"error_offset\":"), std::string::npos);
  EXPECT_EQ(error_json("", "io_error", "no", 0),
            "{\"error_code\":\"io_error\",\"error_message\":\"no\",\"error_offset\":0}");
}

TEST(Json, WarningsListed) {
  // No End of Track: a warning "missing_end_of_track@<offset>".
  const AnalyzeResult r = analyze(header(0, 1, 96) + track(note_on(0, 0, 60, 100)));
  ASSERT_TRUE(r.status.ok());
  const std::string j = to_json(r);
  EXPECT_NE(j.find("\"warnings\":[\"missing_end_of_track@"), std::string::npos) << j;
}
