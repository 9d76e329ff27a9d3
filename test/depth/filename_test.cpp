// File-name metadata: bpm, key and genre words parsed from paths, with the
// false-positive traps, and the agreement with the analysis.
#include <gtest/gtest.h>

#include "filename_meta.hpp"

using midipipe::Analysis;
using midipipe::filename_meta;
using midipipe::FilenameMeta;

namespace {
FilenameMeta fm(std::string_view p) { return filename_meta(p, nullptr); }
std::optional<double> bpm(std::string_view p) { return fm(p).bpm; }
std::optional<std::string> key(std::string_view p) { return fm(p).key; }
}  // namespace

TEST(FilenameMeta, Bpm) {
  EXPECT_EQ(bpm("Funk_95bpm_Fm_loop.mid"), 95.0);
  EXPECT_EQ(bpm("/loops/95 BPM/groove.mid"), 95.0);
  EXPECT_EQ(bpm("groove 120 BPM.mid"), 120.0);
  EXPECT_EQ(bpm("House_BPM128_A.mid"), 128.0);
  EXPECT_EQ(bpm("bpm_140-trap.mid"), 140.0);
  EXPECT_EQ(bpm("Beat-174BPM.MID"), 174.0);
  // traps: numbers without "bpm" are not tempos
  EXPECT_FALSE(bpm("Track 120.mid"));
  EXPECT_FALSE(bpm("Funk_95_Fm.mid"));
  EXPECT_FALSE(bpm("Symphony No 40.mid"));
  EXPECT_FALSE(bpm("1999.mid"));
  EXPECT_FALSE(bpm("5bpm.mid"));     // out of range
  EXPECT_FALSE(bpm("9000bpm.mid"));  // out of range
  EXPECT_FALSE(bpm("bpm.mid"));
  // the file name wins over its folder
  EXPECT_EQ(bpm("/100bpm/take_90bpm.mid"), 90.0);
}

TEST(FilenameMeta, Key) {
  EXPECT_EQ(key("Funk_95bpm_Fm_loop.mid"), "F minor");
  EXPECT_EQ(key("bass_F#min.mid"), "F# minor");
  EXPECT_EQ(key("Pad Bb major.mid"), "Bb major");
  EXPECT_EQ(key("Prelude_C_minor.mid"), "C minor");
  EXPECT_EQ(key("Sonata in C minor.mid"), "C minor");
  EXPECT_EQ(key("lead-Ebmaj-120bpm.mid"), "Eb major");
  EXPECT_EQ(key("riff_C#m.mid"), "C# minor");
  EXPECT_EQ(key("Em.mid"), "E minor");
  EXPECT_EQ(key("chords_Gmajor.mid"), "G major");
  EXPECT_EQ(key("Db major"), "Db major");
  EXPECT_EQ(fm("x_F#m.mid").key_tonic, 6);
  EXPECT_EQ(fm("x_F#m.mid").key_mode, "minor");
  // traps
  EXPECT_FALSE(key("Am I Blue.mid"));
  EXPECT_FALSE(key("A Minor Problem.mid"));
  EXPECT_FALSE(key("Cmaj7 voicings.mid"));
  EXPECT_FALSE(key("Dm7_G7_Cmaj7.mid"));
  EXPECT_FALSE(key("Eminem.mid"));
  EXPECT_FALSE(key("BACH.mid"));
  EXPECT_FALSE(key("fm radio.mid"));
  EXPECT_FALSE(key("track A.mid"));
}

TEST(FilenameMeta, ShortMinorInAPhraseNeedsOtherMetadata) {
  EXPECT_FALSE(key("Am I Blue.mid"));
  EXPECT_EQ(key("Am funk groove.mid"), "A minor");  // a genre word
  EXPECT_EQ(key("Dm 90 bpm.mid"), "D minor");       // a bpm
}

TEST(FilenameMeta, Genres) {
  EXPECT_EQ(fm("Funk_95bpm_Fm_loop.mid").genres, (std::vector<std::string>{"funk"}));
  EXPECT_EQ(fm("/midi/Jazz/Blues in F.mid").genres, (std::vector<std::string>{"blues", "jazz"}));
  EXPECT_EQ(fm("lib/pflib/rock1.mid").genres, (std::vector<std::string>{"rock"}));
  EXPECT_EQ(fm("hip hop beat.mid").genres, (std::vector<std::string>{"hiphop"}));
  EXPECT_EQ(fm("R&B_slow.mid").genres, (std::vector<std::string>{"rnb"}));
  EXPECT_EQ(fm("lo-fi chill.mid").genres, (std::vector<std::string>{"lofi"}));
  EXPECT_EQ(fm("BossaNova_1.mid").genres, (std::vector<std::string>{"bossa"}));
  EXPECT_TRUE(fm("Rockefeller.mid").genres.empty());
  EXPECT_TRUE(fm("popcorn.mid").genres.empty());
  EXPECT_TRUE(fm("Track 120.mid").genres.empty());
}

TEST(FilenameMeta, Agreement) {
  Analysis a;
  a.tempo_bpm = 95.5;
  a.tempo_mean_bpm = 95.5;
  a.key_tonic = 5;
  a.key_mode = "minor";
  a.key = "F minor";
  FilenameMeta m = filename_meta("Funk_95bpm_Fm_loop.mid", &a);
  EXPECT_TRUE(*m.bpm_agrees);
  EXPECT_TRUE(*m.key_agrees);
  a.tempo_bpm = a.tempo_mean_bpm = 190;  // double time
  EXPECT_TRUE(*filename_meta("Funk_95bpm_Fm_loop.mid", &a).bpm_agrees);
  a.tempo_bpm = a.tempo_mean_bpm = 98;  // 3% off
  EXPECT_FALSE(*filename_meta("Funk_95bpm_Fm_loop.mid", &a).bpm_agrees);
  a.key_tonic = 8;  // Ab major detected: relative major, not equal
  a.key_mode = "major";
  EXPECT_FALSE(*filename_meta("Funk_95bpm_Fm_loop.mid", &a).key_agrees);
  a.key_signature = "F minor";  // but the key signature says F minor
  EXPECT_TRUE(*filename_meta("Funk_95bpm_Fm_loop.mid", &a).key_agrees);
  m = filename_meta("Track 120.mid", &a);
  EXPECT_FALSE(m.bpm_agrees);
  EXPECT_FALSE(m.key_agrees);
}
