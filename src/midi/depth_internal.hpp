// midipipe: helpers shared by depth.cpp, chords.cpp and drums.cpp.
// Plain C++20; never includes postgres.h; throws only std::bad_alloc.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "depth.hpp"
#include "stop.hpp"

namespace midipipe::depth_detail {

inline constexpr uint8_t kDrumChannel = 9;

// Tick -> seconds through the merged tempo map (or an SMPTE rate).
class Clock {
 public:
  explicit Clock(const DepthInput& in);
  // Monotonic calls are O(1) amortised; others binary-search. Inline: a
  // tick in the segment of the previous call costs a few instructions.
  double at(uint64_t tick) noexcept {
    if (sec_per_tick_ > 0) return static_cast<double>(tick) * sec_per_tick_;
    if (tick < segs_[cur_].tick || tick >= cur_end_) seek(tick);
    const Seg& s = segs_[cur_];
    return s.sec + static_cast<double>(tick - s.tick) * s.spt;
  }
  // Microseconds per quarter in force at `tick` (500,000 when none; SMPTE: 0).
  uint32_t tempo_at(uint64_t tick) noexcept;

 private:
  struct Seg {
    uint64_t tick;
    double sec;
    uint32_t tempo;
    double spt;  // seconds per tick: tempo / (ppq_ * 1e6)
  };
  void seek(uint64_t tick) noexcept;
  double sec_per_tick_ = 0;  // SMPTE
  double ppq_ = 1;
  std::vector<Seg> segs_;
  size_t cur_ = 0;
  uint64_t cur_end_ = 0;  // where the segment after cur_ starts (UINT64_MAX: none)
};

// The meter: bars from the time signatures (4/4 until the first), beats =
// quarter notes. A time signature starts a new bar where it stands.
class Meter {
 public:
  struct Seg {
    uint64_t tick;       // where the segment starts
    double bar_len;      // ticks per bar
    uint64_t first_bar;  // index of the bar starting at `tick`
  };
  Meter(const DepthInput& in);
  size_t seg_of(uint64_t tick) noexcept;  // monotonic calls O(1) amortised
  const Seg& seg(size_t i) const noexcept { return segs_[i]; }
  size_t size() const noexcept { return segs_.size(); }
  // Bar index of `tick` and the position in that bar (ticks).
  uint64_t bar_of(uint64_t tick, double& pos) noexcept;
  double quarter() const noexcept { return quarter_; }

 private:
  std::vector<Seg> segs_;
  size_t cur_ = 0;
  double quarter_ = 1;
};

// Meter::bar_of for ticks visited in non-decreasing order, with its results:
// when the bar length is a whole number of ticks, the bar found last is kept
// as a tick range [lo_, hi_) and reused while the ticks stay in it (then the
// position is exactly tick - lo_, as Meter::bar_of computes it).
class BarCursor {
 public:
  explicit BarCursor(Meter& m) noexcept : m_(m) {}
  uint64_t bar_of(uint64_t tick, double& pos) noexcept {
    if (tick >= lo_ && tick < hi_) {
      pos = static_cast<double>(tick - lo_);
      return bar_;
    }
    // The next bar, whole and in the same segment: what miss() would find.
    if (tick >= hi_ && tick - hi_ < len_ && len_ <= room_ - hi_) {
      lo_ = hi_;
      hi_ += len_;
      pos = static_cast<double>(tick - lo_);
      return ++bar_;
    }
    return miss(tick, pos);
  }

 private:
  uint64_t miss(uint64_t tick, double& pos) noexcept;
  Meter& m_;
  uint64_t lo_ = 0, hi_ = 0, bar_ = 0;
  // When the bar kept is whole (hi_ = lo_ + len_): its length, and where
  // bars of that length end (the segment's end, or the limit of exact
  // positions); else len_ = 0.
  uint64_t len_ = 0, room_ = 0;
};

// floor(x) as uint64, clamped to [0, 2^62] (x may be any finite double).
inline uint64_t floor_u64(double x) noexcept {
  if (!(x > 0)) return 0;
  if (x >= 4.6e18) return uint64_t{1} << 62;
  return static_cast<uint64_t>(static_cast<int64_t>(x));  // below 2^63: one signed conversion
}

// floor(n / d) for n < 2^30 and 1 <= d < 2^20 by a multiplication
// (Granlund and Montgomery: m = ceil(2^(30 + l) / d), 2^l >= d).
class ExactDiv {
 public:
  explicit ExactDiv(uint32_t d) noexcept {
    int l = 0;
    while ((uint64_t{1} << l) < d) ++l;
    s_ = 30 + l;
    m_ = ((uint64_t{1} << s_) - 1) / d + 1;
  }
  uint32_t operator()(uint32_t n) const noexcept { return static_cast<uint32_t>((n * m_) >> s_); }

 private:
  uint64_t m_;
  int s_;
};

// std::round(y) for 0 <= y < 2^52 without a library call.
inline double round_nonneg(double y) noexcept {
  const double t = static_cast<double>(static_cast<int64_t>(y));
  return y - t >= 0.5 ? t + 1 : t;
}

// splitmix64 finaliser.
inline uint64_t mix64(uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Sorts 64-bit keys: LSD radix, 11 bits a pass, as many passes as the
// largest key needs (std::sort for small inputs). Linear. With low_bit > 0
// the keys must already be in order of their bits below low_bit (keys built
// in index order with the index there): only the bits above are sorted on.
// With a poller, counts the work (a few times n) and may throw Cancelled.
void radix_sort(std::vector<uint64_t>& v, int low_bit = 0, Poller* poller = nullptr);

// Median of v (reordered); v not empty.
double median_of(std::vector<double>& v);

// A group of notes starting together, in.notes[first, end) (sorted by
// (start, seq)), that holds drum notes, with the bar of its start and the
// position in that bar (Meter::bar_of). The walk of the performance traits
// finds them (it visits every group and computes the bar anyway) and hands
// them to the drum pass, which then needs no pass of its own over all notes.
// Whether a position in a bar is a whole number of ticks below 2^24 (then
// the drum pass and the timing grid may work on it in integers).
inline bool whole_pos(double pos) {
  return pos >= 0 && pos < 0x1p24 && static_cast<double>(static_cast<uint32_t>(pos)) == pos;
}
struct DrumOnset {
  uint64_t start;
  uint64_t bar;
  double pos;
  size_t first, end;
  bool whole;  // whole_pos(pos)
};
// The onsets performance() lists: storage for one a drum note, not
// initialised before it is written (a vector's resize would be).
struct DrumOnsets {
  std::unique_ptr<DrumOnset[]> v;
  size_t size = 0;
};

// Notes sorted by start tick (then track, channel, pitch).
// Both poll `poller` as they go (and may throw Cancelled).
void analyze_chords(const DepthInput& in, Clock& clock, Meter& meter, Depth& d, Poller& poller);
// onsets: every group of in.notes holding drum notes, in order, or nullptr:
// then analyze_drums() finds them itself.
void analyze_drums(const DepthInput& in, Clock& clock, Meter& meter, Depth& d, Poller& poller,
                   const DrumOnsets* onsets);

}  // namespace midipipe::depth_detail
