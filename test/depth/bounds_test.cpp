// Resource bounds of the engine: the event limit (Limits::max_events, the
// cost model of smf.hpp) and cooperative cancellation (Limits::stop) in the
// parse, in every analysis pass (depth included), in split_tracks and in
// to_json. The default limit is checked against the shared corpus.
#include <gtest/gtest.h>

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "analysis.hpp"
#include "analyze.hpp"
#include "smf_builder.hpp"
#include "split.hpp"

namespace midipipe {
namespace {

using namespace midipipe::testing;
namespace fs = std::filesystem;

// A format-1 (or 2) file: a conductor track with a tempo change every 24
// beats, a piano track of `notes` notes (a new chord of three every half
// bar), a drum track of `notes` / 2 hits.
Bytes busy_file(uint32_t notes, uint16_t format = 1) {
  Bytes conductor = meta(0, 0x58, {4, 2, 24, 8});
  for (uint32_t i = 0; i < notes / 96 + 1; ++i) {
    conductor +=
        meta(i == 0 ? 0 : 96 * 24, 0x51, {0x07, static_cast<uint8_t>(0xA1 - (i & 15)), 0x20});
  }
  conductor += eot(0);
  static const uint8_t kChords[4][3] = {{60, 64, 67}, {57, 60, 64}, {65, 69, 72}, {67, 71, 74}};
  Bytes piano;
  for (uint32_t i = 0; i < notes; i += 3) {
    const uint8_t* c = kChords[(i / 3) % 4];
    for (int k = 0; k < 3; ++k) piano += raw({0, 0x90, c[k], 90});
    for (int k = 0; k < 3; ++k) piano += ev(k == 0 ? 192 : 0, {0x80, c[k], 0});  // a half bar
  }
  piano += eot(0);
  Bytes drums;
  for (uint32_t i = 0; i < notes / 2; ++i) {
    const uint8_t key = i % 4 == 0 ? 36 : (i % 4 == 2 ? 38 : 42);
    drums += raw({0, 0x99, key, static_cast<uint8_t>(40 + i % 80)});
    drums += raw({12, 0x89, key, 0});
  }
  drums += eot(0);
  return header(format, 3, 96) + track(conductor) + track(piano) + track(drums);
}

struct Counter {
  uint64_t calls = 0;
  uint64_t stop_at = UINT64_MAX;  // returns true from this call on (1-based)
  double last_us = 0;
  double max_gap_us = 0;  // CPU time of this thread between two polls
  uint64_t max_gap_at = 0;
};

double cpu_us() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

bool count_calls(void* arg) {
  Counter& c = *static_cast<Counter*>(arg);
  const double now = cpu_us();
  if (c.calls != 0 && now - c.last_us > c.max_gap_us) {
    c.max_gap_us = now - c.last_us;
    c.max_gap_at = c.calls;
  }
  c.last_us = now;
  return ++c.calls >= c.stop_at;
}

Limits with_stop(Counter& c) {
  Limits l;
  l.stop = StopCheck{count_calls, &c};
  return l;
}

TEST(Bounds, DefaultEventLimit) {
  EXPECT_EQ(Limits{}.max_events, Limits::kDefaultMaxEvents);
  EXPECT_EQ(Limits{}.stop.fn, nullptr);
}

TEST(Bounds, TooManyEventsIsFatalWithTheOffset) {
  // header 14 + MTrk 8 + "00 90" status: note i (0-based) of 3 bytes at 24 + 3i.
  Bytes f = header(0, 1, 96) + track(raw({0x00, 0x90, 60, 100}) + [] {
              Bytes b;
              for (int i = 1; i < 100; ++i)
                b += raw({1, 60, static_cast<uint8_t>(i % 2 ? 0 : 100)});
              return b;
            }() + eot(0));
  Limits l;
  l.max_events = 100;  // 100 notes + End of Track: one too many
  AnalyzeResult r = analyze_with(f, l, default_analyze_options());
  ASSERT_EQ(r.status.code, Code::too_many_events);
  EXPECT_EQ(r.status.offset, 22u + 4 + 3 * 99) << r.status.message;  // End of Track (its delta)
  EXPECT_TRUE(code_is_fatal(Code::too_many_events));
  l.max_events = 101;
  EXPECT_TRUE(analyze_with(f, l, default_analyze_options()).status.ok());
  // The same limit in split_tracks, and a limit of the split output by events.
  l.max_events = 100;
  EXPECT_EQ(split_tracks(f, l).status.code, Code::too_many_events);
  EXPECT_EQ(split_output_limit(1000, 10), 1000 + 160 + (1u << 20));
  EXPECT_EQ(split_output_limit(1000, 1'000'000), 16000 + (1u << 20));
}

TEST(Bounds, ThePollingChangesNoResult) {
  const Bytes f = busy_file(30000);
  Counter never;
  const AnalyzeResult a = analyze_with(f, Limits{}, default_analyze_options());
  const AnalyzeResult b = analyze_with(f, with_stop(never), default_analyze_options());
  ASSERT_TRUE(a.status.ok()) << a.status.message;
  JsonOptions jo;
  jo.depth = true;
  EXPECT_EQ(to_json(a, "", jo), to_json(b, "", jo));
  EXPECT_GT(never.calls, 2u);
}

// Every poll point of a full analysis (parse, sweep, depth passes) stops it
// cleanly: the k-th poll returning true ends the analysis as cancelled.
TEST(Bounds, CancelAtEveryPollPoint) {
  for (const uint16_t format : {uint16_t{1}, uint16_t{2}}) {
    const Bytes f = busy_file(60000, format);
    Counter all;
    ASSERT_TRUE(analyze_with(f, with_stop(all), default_analyze_options()).status.ok());
    const uint64_t total = all.calls;
    // parse alone polls once per kStopEvery events; the passes add more
    const uint64_t events = parse_smf(f, *std::make_unique<NullVisitor>()).events;
    EXPECT_GT(total, 2 * (events / kStopEvery)) << "format " << format;
    for (uint64_t k = 1; k <= total; ++k) {
      Counter c;
      c.stop_at = k;
      const AnalyzeResult r = analyze_with(f, with_stop(c), default_analyze_options());
      EXPECT_EQ(r.status.code, Code::cancelled) << "format " << format << " poll " << k;
      EXPECT_EQ(c.calls, k);  // stops at the first poll that says so
      EXPECT_FALSE(r.analysis.depth.has_value());
    }
    std::printf("format %u: %llu events, %llu polls, longest gap %.0f us CPU (before poll %llu)\n",
                format, static_cast<unsigned long long>(events),
                static_cast<unsigned long long>(total), all.max_gap_us,
                static_cast<unsigned long long>(all.max_gap_at + 1));
  }
}

TEST(Bounds, CancelInTheParseOfSkippedMessages) {
  // Nothing but system messages (skipped, no event): still polled.
  Bytes body;
  for (int i = 0; i < 200000; ++i) body += raw({0, 0xF8});
  const Bytes f = header(0, 1, 96) + track(body + eot(0));
  Counter c;
  c.stop_at = 1;
  NullVisitor v;
  const ParseStatus st = parse_smf(f, v, with_stop(c));
  EXPECT_EQ(st.code, Code::cancelled);
  EXPECT_LT(st.offset, f.size());
}

TEST(Bounds, CancelInSplitAndJson) {
  const Bytes f = busy_file(60000);
  Counter c;
  c.stop_at = 3;
  EXPECT_EQ(split_tracks(f, with_stop(c)).status.code, Code::cancelled);
  Counter all;
  const SplitResult ok = split_tracks(f, with_stop(all));
  ASSERT_TRUE(ok.status.ok());
  EXPECT_EQ(ok.tracks.size(), 2u);
  EXPECT_GT(all.calls, 3u);

  const AnalyzeResult r = analyze_with(f, Limits{}, default_analyze_options());
  ASSERT_TRUE(r.status.ok());
  ASSERT_GT(r.analysis.depth->chords.size(), kStopEvery);
  JsonOptions jo;
  jo.depth = true;
  Counter j;
  j.stop_at = 1;
  jo.stop = StopCheck{count_calls, &j};
  EXPECT_EQ(to_json(r, "", jo), "");
  EXPECT_EQ(j.calls, 1u);
}

// The default limit leaves a wide margin over every file of the shared corpus.
TEST(Bounds, NoCorpusFileComesNearTheDefaultLimit) {
  const char* env = std::getenv("MIDIPIPE_CORPUS");
  const fs::path root(env && *env ? env : MIDIPIPE_CORPUS_DIR);
  if (!fs::exists(root)) GTEST_SKIP() << "no corpus at " << root;
  uint64_t max_events = 0, files = 0;
  std::string worst;
  for (const auto& de : fs::recursive_directory_iterator(root)) {
    if (!de.is_regular_file()) continue;
    std::ifstream in(de.path(), std::ios::binary);
    const std::vector<uint8_t> b((std::istreambuf_iterator<char>(in)),
                                 std::istreambuf_iterator<char>());
    NullVisitor v;
    Limits l;
    l.max_events = UINT64_MAX;
    const ParseStatus st = parse_smf(b, v, l);
    ++files;
    if (st.events > max_events) {
      max_events = st.events;
      worst = de.path().string();
    }
  }
  std::printf("corpus: %llu files, at most %llu events (%s); default limit %llu\n",
              static_cast<unsigned long long>(files), static_cast<unsigned long long>(max_events),
              worst.c_str(), static_cast<unsigned long long>(Limits::kDefaultMaxEvents));
  EXPECT_GT(files, 1000u);
  EXPECT_LT(max_events * 10, Limits::kDefaultMaxEvents);
}

}  // namespace
}  // namespace midipipe
