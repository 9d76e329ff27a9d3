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
  EXPECT_FALSE(bpm("Take_95.mid"));  // a bare number needs a genre or key beside it
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

// The naming conventions of sample packs and MIDI libraries, and names that
// hold none of their metadata. Each row: the path, the bpm (0: none), the key
// ("": none) and the genres, all of which must come out exactly.
struct NameCase {
  const char* path;
  double bpm;
  const char* key;
  std::vector<std::string> genres;
};

const NameCase kNames[] = {
    // the sample-pack names: bare tempos beside a genre or a key
    {"HOUSE_128_Gmin_bass.mid", 128, "G minor", {"house"}},
    {"DNB_174_Am_Reese_Bass.mid", 174, "A minor", {"dnb"}},
    {"RnB_Keys_72_Ebmaj.mid", 72, "Eb major", {"rnb"}},
    {"Trap_140_C#m_808_Bass.mid", 140, "C# minor", {"trap"}},
    {"Reggaeton_96_Dm_Piano.mid", 96, "D minor", {"reggaeton"}},
    {"Future Bass 150 F#min Chords.mid", 150, "F# minor", {"futurebass"}},
    {"Deep House Chords 124 Am.mid", 124, "A minor", {"deephouse", "house"}},
    {"tech-house_126_gmin_stab.mid", 126, "G minor", {"house", "techhouse"}},
    {"LoFi_Keys_85_Ebmaj7.mid", 85, "", {"lofi"}},
    {"Drill_142_Bbm_Melody.mid", 142, "Bb minor", {"drill"}},
    {"Afro House - 122 - Fm - Lead.mid", 122, "F minor", {"afrohouse", "house"}},
    {"Amapiano_112_Cmin_LogDrum.mid", 112, "C minor", {"amapiano"}},
    {"UK Garage 2step 132 Dm.mid", 132, "D minor", {"garage"}},
    {"Dancehall_100_Gm_Riddim.mid", 100, "G minor", {"dancehall"}},
    {"Moombahton_108_Em_Synth.mid", 108, "E minor", {"moombahton"}},
    {"Synthwave_Arp_118_Amin.mid", 118, "A minor", {"synthwave"}},
    {"Hardstyle_150_Fmin_Lead.mid", 150, "F minor", {"hardstyle"}},
    {"Jungle_170_Gmin_Amen.mid", 170, "G minor", {"jungle"}},
    {"Boom Bap 90 Cm Keys.mid", 90, "C minor", {"boombap", "hiphop"}},
    {"NeoSoul_Chords_78_Dbmaj.mid", 78, "Db major", {"neosoul", "soul"}},
    {"Psytrance_145_Emin_Bassline.mid", 145, "E minor", {"psytrance", "trance"}},
    {"K-Pop_Topline_120_Bmaj.mid", 120, "B major", {"kpop", "pop"}},
    // marked tempos, in every spelling
    {"Funk_95bpm_Fm_loop.mid", 95, "F minor", {"funk"}},
    {"groove 120 BPM.mid", 120, "", {}},
    {"Hip-Hop Beat 92BPM.mid", 92, "", {"hiphop"}},
    {"bpm_140-trap_hats.mid", 140, "", {"trap"}},
    {"Melody_A_minor_128bpm.mid", 128, "A minor", {}},
    {"/Loops/Techno/130 BPM/Acid Line C Maj.mid", 130, "C major", {"techno"}},
    {"Chill Pad G Major (90 BPM).mid", 90, "G major", {}},
    {"EDM_Drop_128_BPM_F#m.mid", 128, "F# minor", {"edm"}},
    {"Dubstep-140bpm-Emin-wobble.mid", 140, "E minor", {"dubstep"}},
    {"Bossa Nova 130bpm.mid", 130, "", {"bossa"}},
    // keys in other spellings
    {"Pad Bb major.mid", 0, "Bb major", {}},
    {"Prelude_C_minor.mid", 0, "C minor", {}},
    {"Bach_Prelude_and_Fugue_in_A-flat_major_BWV_862.mid", 0, "Ab major", {}},
    {"Nocturne in F sharp minor.mid", 0, "F# minor", {}},
    {"strings_ebmaj.mid", 0, "Eb major", {}},
    {"Jazz_Ballad_Dm.mid", 0, "D minor", {"ballad", "jazz"}},
    {"Sonata in C minor.mid", 0, "C minor", {}},
    {"Salsa_Montuno_G_Major.mid", 0, "G major", {"salsa"}},
    // genres alone
    {"/midi/Jazz/Blues in F.mid", 0, "", {"blues", "jazz"}},
    {"Drum & Bass Roller.mid", 0, "", {"dnb"}},
    {"drum_n_bass_break.mid", 0, "", {"dnb"}},
    {"Nu-Disco Bassline.mid", 0, "", {"disco", "nudisco"}},
    {"Bebop Head.mid", 0, "", {"bebop", "jazz"}},
    {"Cumbia Accordion.mid", 0, "", {"cumbia"}},
    {"Celtic Reel.mid", 0, "", {"celtic"}},
    {"lib/pflib/rock1.mid", 0, "", {"rock"}},
    // names that hold none of it (catalogue, track and year numbers, words)
    {"Track 01.mid", 0, "", {}},
    {"Track 120.mid", 0, "", {}},
    {"song_2019.mid", 0, "", {}},
    {"Beethoven_Sonata_op27_no2.mid", 0, "", {}},
    {"Mozart_Sonata_k331.mid", 0, "", {}},
    {"Mozart_Sonata_K_331_Rondo.mid", 0, "", {}},
    {"Schubert D 960.mid", 0, "", {}},
    {"Symphony No 40.mid", 0, "", {}},
    {"1999.mid", 0, "", {}},
    {"House of the Rising Sun.mid", 0, "", {}},
    {"Welcome to the Jungle.mid", 0, "", {}},
    {"Am I Blue.mid", 0, "", {}},
    {"A Minor Problem.mid", 0, "", {}},
    {"Dm7_G7_Cmaj7.mid", 0, "", {}},
    {"Eminem - Lose Yourself 2002.mid", 0, "", {}},
    {"Take Five 2.mid", 0, "", {}},
    {"Juno_106_Pad_House_Am.mid", 0, "A minor", {"house"}},
    {"Etude Op 10 No 12.mid", 0, "", {}},
    {"Opus 111.mid", 0, "", {}},
    {"popcorn.mid", 0, "", {}},
    {"Rockefeller Skank.mid", 0, "", {}},
    {"fm radio jingle 150.mid", 0, "", {}},
    {"v1.120_beat.mid", 0, "", {}},
    {"78_jazz-fast_290_beat_4-4.mid", 0, "", {"jazz"}},
    {"03 - Salsa Montuno.mid", 0, "", {"salsa"}},
};

TEST(FilenameMeta, SamplePackAndLibraryNames) {
  size_t right = 0;
  for (const NameCase& c : kNames) {
    const FilenameMeta m = fm(c.path);
    const std::optional<double> want_bpm =
        c.bpm > 0 ? std::optional<double>(c.bpm) : std::optional<double>();
    const std::optional<std::string> want_key =
        *c.key ? std::optional<std::string>(c.key) : std::optional<std::string>();
    EXPECT_EQ(m.bpm, want_bpm) << c.path;
    EXPECT_EQ(m.key, want_key) << c.path;
    EXPECT_EQ(m.genres, c.genres) << c.path;
    if (m.bpm == want_bpm && m.key == want_key && m.genres == c.genres) ++right;
  }
  std::printf("file names: %zu of %zu right\n", right, std::size(kNames));
  EXPECT_GE(std::size(kNames), 60u);
}

TEST(FilenameMeta, VocabularyIsCanonical) {
  const std::vector<std::string_view> words = midipipe::filename_genre_words();
  EXPECT_TRUE(std::is_sorted(words.begin(), words.end()));
  EXPECT_TRUE(std::adjacent_find(words.begin(), words.end()) == words.end());
  for (const std::string_view w : {"house", "trap", "reggaeton", "futurebass", "dnb", "rnb"}) {
    EXPECT_NE(std::find(words.begin(), words.end(), w), words.end()) << w;
  }
}
