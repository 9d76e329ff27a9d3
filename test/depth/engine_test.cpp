// compute_depth() on generated DepthInputs against plain reference
// computations: the note order, note lengths, legato/staccato (dense and
// sorted voices), drum counts and ghost notes; and hostile shapes (one huge
// group of notes starting together, many tracks) staying cheap.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "depth.hpp"

using midipipe::compute_depth;
using midipipe::DepthInput;
using midipipe::DepthNote;

namespace {

// Tracks one after another, each in start order, seq growing from track to
// track and shuffled inside each track (the order the notes ended in).
DepthInput make_input(std::mt19937_64& rng, int tracks, uint32_t track_step, int notes_per_track,
                      uint64_t spread) {
  DepthInput in;
  in.ppq = 96;
  uint32_t seq = 0;
  for (int t = 0; t < tracks; ++t) {
    std::vector<uint64_t> starts;
    for (int i = 0; i < notes_per_track; ++i) starts.push_back(rng() % spread * 24);
    std::sort(starts.begin(), starts.end());
    std::vector<uint32_t> seqs;
    for (int i = 0; i < notes_per_track; ++i) seqs.push_back(seq++);
    std::shuffle(seqs.begin(), seqs.end(), rng);
    for (int i = 0; i < notes_per_track; ++i) {
      DepthNote n{};
      n.start = starts[static_cast<size_t>(i)];
      n.end = n.start + rng() % 300;
      n.seq = seqs[static_cast<size_t>(i)];
      n.track = static_cast<uint32_t>(t) * track_step;
      n.channel = static_cast<uint8_t>(rng() % 4 == 0 ? 9 : rng() % 3);
      n.pitch = static_cast<uint8_t>(30 + rng() % 40);
      n.velocity = static_cast<uint8_t>(1 + rng() % 127);
      in.notes.push_back(n);
    }
  }
  return in;
}

struct Expected {
  std::vector<std::pair<uint64_t, uint32_t>> order;  // (start, seq)
  std::optional<double> mean, median, legato, staccato;
  std::array<uint64_t, midipipe::kDrumClasses> drum_counts{};
  uint64_t ghosts = 0;
};

Expected reference(const DepthInput& in) {
  Expected e;
  const double q = in.ppq;
  for (const DepthNote& n : in.notes) e.order.emplace_back(n.start, n.seq);
  std::sort(e.order.begin(), e.order.end());
  // lengths (non-drum), in order of (start, seq) for the mean's sum
  std::vector<DepthNote> sorted = in.notes;
  std::sort(sorted.begin(), sorted.end(), [](const DepthNote& a, const DepthNote& b) {
    return a.start < b.start || (a.start == b.start && a.seq < b.seq);
  });
  std::vector<uint64_t> lengths;
  double sum = 0;
  std::map<std::pair<uint32_t, int>, std::vector<uint64_t>> voice_starts;
  for (const DepthNote& n : sorted) {
    if (n.channel == 9) continue;
    lengths.push_back(n.end - n.start);
    sum += static_cast<double>(n.end - n.start) / q;
    voice_starts[{n.track, n.channel}].push_back(n.start);
  }
  if (!lengths.empty()) {
    e.mean = sum / static_cast<double>(lengths.size());
    std::sort(lengths.begin(), lengths.end());
    const size_t mid = lengths.size() / 2;
    double m = static_cast<double>(lengths[mid]) / q;
    if (lengths.size() % 2 == 0) m = (m + static_cast<double>(lengths[mid - 1]) / q) / 2;
    e.median = m;
  }
  uint64_t pairs = 0, legato = 0, staccato = 0;
  for (const DepthNote& n : sorted) {
    if (n.channel == 9) continue;
    const auto& s = voice_starts[{n.track, n.channel}];
    const auto it = std::upper_bound(s.begin(), s.end(), n.start);
    if (it == s.end()) continue;
    const double ioi = static_cast<double>(*it - n.start);
    if (!(ioi <= 2 * q)) continue;
    const double len = static_cast<double>(n.end - n.start);
    ++pairs;
    legato += len >= 0.95 * ioi;
    staccato += len <= 0.5 * ioi;
  }
  if (pairs != 0) {
    e.legato = static_cast<double>(legato) / static_cast<double>(pairs);
    e.staccato = static_cast<double>(staccato) / static_cast<double>(pairs);
  }
  std::vector<int> snare_vels;
  for (const DepthNote& n : sorted) {
    if (n.channel != 9) continue;
    const int c = midipipe::drum_class_of(n.pitch);
    ++e.drum_counts[static_cast<size_t>(c)];
    if (c == 1) snare_vels.push_back(n.velocity);
  }
  if (!snare_vels.empty()) {
    std::vector<int> v = snare_vels;
    std::sort(v.begin(), v.end());
    const double accent = v[(v.size() - 1) * 9 / 10];
    for (const int x : snare_vels) e.ghosts += x < 0.6 * accent;
  }
  return e;
}

void check(DepthInput in) {
  const Expected e = reference(in);
  const midipipe::Depth d = compute_depth(in);
  std::vector<std::pair<uint64_t, uint32_t>> order;
  for (const DepthNote& n : in.notes) order.emplace_back(n.start, n.seq);
  EXPECT_EQ(order, e.order);
  EXPECT_EQ(d.note_length_mean_beats, e.mean);
  EXPECT_EQ(d.note_length_median_beats, e.median);
  EXPECT_EQ(d.legato_share, e.legato);
  EXPECT_EQ(d.staccato_share, e.staccato);
  EXPECT_EQ(d.drum_counts, e.drum_counts);
  EXPECT_EQ(d.ghost_notes, e.ghosts);
}

}  // namespace

TEST(Engine, OrderLengthsLegatoDrumsMatchReference) {
  std::mt19937_64 rng(12345);
  for (int round = 0; round < 60; ++round) {
    const int tracks = 1 + static_cast<int>(rng() % 40);  // over 32: the sorted path
    const int per = 1 + static_cast<int>(rng() % 150);
    const uint64_t spread = 1 + rng() % 200;  // few distinct starts: many chords
    SCOPED_TRACE(round);
    check(make_input(rng, tracks, 1, per, spread));
  }
}

TEST(Engine, SparseTrackNumbersUseSortedVoices) {
  std::mt19937_64 rng(777);
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE(round);
    // Track numbers far apart: too many (track, channel) slots for dense voices.
    check(make_input(rng, 1 + static_cast<int>(rng() % 8), 5000, 60, 50));
  }
}

TEST(Engine, HugeChordAndManyRunsStayCheap) {
  // 200,000 notes starting together in reverse seq order, then 2,000 tracks
  // of one note each in descending start order.
  DepthInput in;
  in.ppq = 96;
  constexpr uint32_t kChord = 200'000;
  for (uint32_t i = 0; i < kChord; ++i) {
    in.notes.push_back(DepthNote{0, 10, kChord - 1 - i, 0, 0, static_cast<uint8_t>(i % 128), 90});
  }
  for (uint32_t t = 0; t < 2000; ++t) {
    in.notes.push_back(DepthNote{5000 - t, 5001 - t, kChord + t, t + 1, 0, 60, 90});
  }
  const auto t0 = std::chrono::steady_clock::now();
  const midipipe::Depth d = compute_depth(in);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 2.0);
  for (size_t i = 1; i < in.notes.size(); ++i) {
    const DepthNote& a = in.notes[i - 1];
    const DepthNote& b = in.notes[i];
    ASSERT_TRUE(a.start < b.start || (a.start == b.start && a.seq < b.seq)) << i;
  }
  EXPECT_TRUE(d.note_length_median_beats);
}

TEST(Engine, UnequalRunsMatchReference) {
  // Runs (tracks) of different lengths, many sharing starts: the last merge
  // of two runs goes forwards or backwards depending on which is shorter.
  std::mt19937_64 rng(4242);
  for (int round = 0; round < 40; ++round) {
    SCOPED_TRACE(round);
    const int runs = 2 + static_cast<int>(rng() % 4);
    const uint64_t spread = 1 + rng() % 60;
    DepthInput in;
    in.ppq = 96;
    uint32_t seq_base = 0;
    for (int r = 0; r < runs; ++r) {
      const int per = 1 + static_cast<int>(rng() % 200);
      DepthInput part = make_input(rng, 1, 1, per, spread);
      for (DepthNote& n : part.notes) {
        n.seq += seq_base;
        n.track = static_cast<uint32_t>(r);
        in.notes.push_back(n);
      }
      seq_base += static_cast<uint32_t>(per);
    }
    check(std::move(in));
  }
}
