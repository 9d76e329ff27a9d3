// midipipe: analysis depth (see depth.hpp and docs/analysis-depth.md): the
// time and meter maps, the performance traits and the bar structure; chords
// are in chords.cpp, drums in drums.cpp.
//
// Definitions (docs/analysis-depth.md says the same for users):
//   * beat = quarter note (PPQ ticks); bars come from the time signatures of
//     every track (4/4 until the first); a time signature starts a new bar at
//     its tick. SMPTE files have no beats: the beat-based fields stay NULL.
//   * note lengths, legato and staccato use the non-drum notes. In a voice
//     (one track and channel), a note followed by another onset at most two
//     beats later is legato when it lasts at least 95% of the inter-onset
//     interval (it reaches the next onset), staccato when it lasts at most 50%.
//   * timing: every onset's distance to the nearest 16th or 16th-triplet grid
//     line of its bar; on the grid when within max(0.5 tick, PPQ/96 ticks);
//     humanised when fewer than 75% of the onsets (at least 8) are on it.
//   * structure: a bar's content is the set of (onset position rounded to
//     1/12 beat, pitch, drum or not) of the notes starting in it, hashed
//     order-independently; repeated_share = share of the bars with onsets
//     whose content equals an earlier bar's.
#include "depth.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>

#include "depth_internal.hpp"

namespace midipipe {
namespace depth_detail {

Clock::Clock(const DepthInput& in) {
  if (in.ppq == 0) {
    sec_per_tick_ = in.smpte_seconds_per_tick;
  } else {
    ppq_ = in.ppq;
  }
  // Filled by index (no push_back per tempo: piano files change tempo often).
  segs_.resize(in.tempos.size() + 1);
  size_t last_i = 0;
  segs_[0] = Seg{0, 0.0, 500'000, 0.0};
  for (const auto& [tick, us] : in.tempos) {
    Seg& last = segs_[last_i];
    if (tick == last.tick) {
      last.tempo = us;
    } else if (us != last.tempo) {
      const double sec =
          last.sec + static_cast<double>(tick - last.tick) * (last.tempo / (ppq_ * 1e6));
      segs_[++last_i] = Seg{tick, sec, us, 0.0};
    }
  }
  segs_.resize(last_i + 1);
  for (Seg& g : segs_) g.spt = g.tempo / (ppq_ * 1e6);
  cur_end_ = segs_.size() > 1 ? segs_[1].tick : UINT64_MAX;
}

void Clock::seek(uint64_t tick) noexcept {
  if (tick < segs_[cur_].tick) {
    const auto it = std::upper_bound(segs_.begin(), segs_.end(), tick,
                                     [](uint64_t t, const Seg& s) { return t < s.tick; });
    cur_ = static_cast<size_t>(it - segs_.begin()) - 1;
  }
  while (cur_ + 1 < segs_.size() && segs_[cur_ + 1].tick <= tick) ++cur_;
  cur_end_ = cur_ + 1 < segs_.size() ? segs_[cur_ + 1].tick : UINT64_MAX;
}

uint32_t Clock::tempo_at(uint64_t tick) noexcept {
  if (sec_per_tick_ > 0) return 0;
  seek(tick);
  return segs_[cur_].tempo;
}

Meter::Meter(const DepthInput& in) {
  quarter_ = in.ppq ? in.ppq : 1;
  segs_.push_back(Seg{0, 4 * quarter_, 0});
  for (const auto& [tick, v] : in.time_sigs) {
    const double len =
        static_cast<double>(v >> 8) * quarter_ * 4 / static_cast<double>(1u << (v & 7));
    Seg& last = segs_.back();
    if (tick == last.tick) {
      last.bar_len = len;
    } else if (len != last.bar_len) {
      const double bars = std::ceil(static_cast<double>(tick - last.tick) / last.bar_len);
      segs_.push_back(Seg{tick, len, last.first_bar + floor_u64(bars)});
    }
  }
}

size_t Meter::seg_of(uint64_t tick) noexcept {
  if (tick < segs_[cur_].tick) cur_ = 0;
  while (cur_ + 1 < segs_.size() && segs_[cur_ + 1].tick <= tick) ++cur_;
  return cur_;
}

uint64_t Meter::bar_of(uint64_t tick, double& pos) noexcept {
  const Seg& s = segs_[seg_of(tick)];
  const double rel = static_cast<double>(tick - s.tick);
  const uint64_t k = floor_u64(rel / s.bar_len);
  pos = rel - static_cast<double>(k) * s.bar_len;
  if (pos < 0) pos = 0;
  return s.first_bar + k;
}

namespace {

// BarCursor::bar_of() when the tick is outside the bar kept: finds the bar
// and keeps it as [lo, hi) when its length is a whole number of ticks.
// `len` and `room`: BarCursor's (the bar's length when it is whole, and
// where bars of that length end; len 0 otherwise).
uint64_t bar_cursor_miss(Meter& m, uint64_t tick, double& pos, uint64_t& lo, uint64_t& hi,
                         uint64_t& len, uint64_t& room) noexcept {
  const uint64_t bar = m.bar_of(tick, pos);
  lo = hi = len = room = 0;
  const size_t si = m.seg_of(tick);
  const double bar_len = m.seg(si).bar_len;
  constexpr uint64_t kLimit = uint64_t{1} << 51;
  // Whole ticks below 2^51: rel / len rounds to the exact quotient's floor,
  // and pos = rel - k * len is exact.
  if (bar_len >= 1 && bar_len < 0x1p40 && bar_len == std::floor(bar_len) && tick < kLimit) {
    lo = tick - static_cast<uint64_t>(pos);
    const uint64_t whole = static_cast<uint64_t>(bar_len);
    const uint64_t end = std::min(si + 1 < m.size() ? m.seg(si + 1).tick : kLimit, kLimit);
    hi = std::min(lo + whole, end);
    if (hi == lo + whole) {
      len = whole;
      room = end;
    }
  }
  return bar;
}

}  // namespace

uint64_t BarCursor::miss(uint64_t tick, double& pos) noexcept {
  bar_ = bar_cursor_miss(m_, tick, pos, lo_, hi_, len_, room_);
  return bar_;
}

void radix_sort(std::vector<uint64_t>& v, int low_bit, Poller* poller) {
  const size_t n = v.size();
  if (poller != nullptr) poller->step(n);  // (the scans below: one poll each)
  if (std::is_sorted(v.begin(), v.end())) return;
  if (n < 256 || n > UINT32_MAX) {
    std::sort(v.begin(), v.end());
    return;
  }
  uint64_t all = 0;
  for (const uint64_t x : v) all |= x;
  const int bits = 64 - std::countl_zero(all);
  // Small inputs: smaller digits (fewer buckets to clear and sum).
  const int digit = n < 8192 ? 8 : 11;
  const size_t buckets = size_t{1} << digit;
  const uint64_t mask = buckets - 1;
  int passes = 0;
  for (int shift = low_bit; shift < bits; shift += digit) ++passes;
  // Every pass's histogram in one scan.
  std::vector<uint32_t> count(static_cast<size_t>(passes) * buckets);
  for_polled(poller, n, [&](size_t i) {
    const uint64_t x = v[i];
    int shift = low_bit;
    for (int p = 0; p < passes; ++p, shift += digit) {
      ++count[static_cast<size_t>(p) * buckets + ((x >> shift) & mask)];
    }
  });
  const auto tmp = std::make_unique_for_overwrite<uint64_t[]>(n);
  uint64_t* src = v.data();
  uint64_t* dst = tmp.get();
  int shift = low_bit;
  for (int p = 0; p < passes; ++p, shift += digit) {
    uint32_t* c = count.data() + static_cast<size_t>(p) * buckets;
    if (c[(src[0] >> shift) & mask] == n) continue;  // one digit value: nothing to move
    uint32_t sum = 0;
    for (size_t k = 0; k < buckets; ++k) {
      const uint32_t m = c[k];
      c[k] = sum;
      sum += m;
    }
    for_polled(poller, n, [&](size_t i) {
      const uint64_t x = src[i];
      dst[c[(x >> shift) & mask]++] = x;
    });
    std::swap(src, dst);
  }
  if (src != v.data()) std::copy(src, src + n, v.data());
}

double median_of(std::vector<double>& v) {
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(mid), v.end());
  double m = v[mid];
  if (v.size() % 2 == 0) {
    const double lo = *std::max_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(mid));
    m = (m + lo) / 2;
  }
  return m;
}

namespace {

// round() of a non-negative value below 2^62 (no libm call).
inline double round_pos(double x) noexcept { return static_cast<double>(floor_u64(x + 0.5)); }

// The k-th smallest of v[0, size) (k < size): a radix select on the bits that
// vary, 11 at a time from the highest: one histogram pass, then the values
// holding the k-th's digit are moved to `scratch` (the first level) and only
// they are looked at again. Every level leaves at most the bits below its
// digit varying, so there are at most 6 levels; linear. v is not changed.
// any0 and all0 are the OR and the AND of v[0, size). Sets prev_equal when
// the (k-1)-th smallest is known to equal the k-th (k > 0 and the values
// left at the last level are all equal from the (k-1)-th on); false says
// nothing.
uint64_t kth_smallest(const uint64_t* v, size_t size, size_t k, uint64_t any0, uint64_t all0,
                      std::vector<uint64_t>& scratch, bool& prev_equal) {
  prev_equal = false;
  const uint64_t* src = v;
  size_t n = size;
  if (n > UINT32_MAX) {  // beyond the 32-bit counts
    scratch.assign(v, v + size);
    std::nth_element(scratch.begin(), scratch.begin() + static_cast<ptrdiff_t>(k), scratch.end());
    return scratch[k];
  }
  uint64_t any = any0, all = all0;
  for (bool first = true;; first = false) {
    if (!first) {
      any = 0;
      all = ~uint64_t{0};
      for (size_t i = 0; i < n; ++i) {
        any |= src[i];
        all &= src[i];
      }
    }
    const uint64_t varying = any ^ all;
    if (varying == 0) {
      prev_equal = k > 0;
      return any;
    }
    const int top = 64 - std::countl_zero(varying);
    const int digit_bits = std::min(top, n < 1024 ? 8 : 11);
    const int shift = top - digit_bits;
    const uint64_t mask = (uint64_t{1} << digit_bits) - 1;
    uint32_t hist[2048];
    std::fill_n(hist, size_t{1} << digit_bits, 0);
    for (size_t i = 0; i < n; ++i) ++hist[(src[i] >> shift) & mask];
    uint64_t digit = 0;
    while (k >= hist[digit]) k -= hist[digit++];
    if (shift == 0) {
      prev_equal = k > 0;  // the values with this digit are all equal
      return (all & ~mask) | digit;
    }
    if (scratch.empty())
      scratch.resize(size_t{hist[digit]} + 1);  // + 1: the loop below writes one past
    uint64_t* dst = scratch.data();
    size_t m = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t x = src[i];
      dst[m] = x;
      m += ((x >> shift) & mask) == digit;
    }
    src = dst;
    n = m;
  }
}

// median_of() on the lengths in beats (x / q), from the order statistics of
// the lengths in ticks (x / q is monotonic); size > 0; any and all are the OR
// and the AND of v[0, size).
double median_beats(const uint64_t* v, size_t size, uint64_t any, uint64_t all, double q) {
  std::vector<uint64_t> scratch;
  const size_t mid = size / 2;
  bool prev_equal;
  const uint64_t hi = kth_smallest(v, size, mid, any, all, scratch, prev_equal);
  double m = static_cast<double>(hi) / q;
  if (size % 2 == 0) {
    // The (mid - 1)-th: hi again unless fewer than mid values are below it,
    // else the largest value below it.
    size_t below = 0;
    uint64_t lo = 0;
    if (!prev_equal) {
      for (size_t i = 0; i < size; ++i) {
        const uint64_t x = v[i];
        const bool lt = x < hi;
        below += lt;
        lo = lt && x > lo ? x : lo;
      }
    }
    m = (m + static_cast<double>(prev_equal || below < mid ? hi : lo) / q) / 2;
  }
  return m;
}

// The number of distinct values in v (reordered when sorted): an
// open-addressing set with linear probing, the values being hashes already;
// should the probes pass 8 per value (values made to collide), v is sorted
// instead, so the cost stays n log n at worst.
size_t count_distinct(std::vector<uint64_t>& v) {
  const size_t n = v.size();
  if (n < 2) return n;
  const size_t cap = std::bit_ceil(2 * n);
  const int shift = 64 - std::countr_zero(cap);
  std::vector<uint64_t> table(cap, 0);  // 0: empty (the value 0 is counted apart)
  bool zero = false;
  size_t distinct = 0, probes = 0;
  for (const uint64_t x : v) {
    if (x == 0) {
      zero = true;
      continue;
    }
    size_t i = static_cast<size_t>((x * 0x9E3779B97F4A7C15ull) >> shift);
    while (table[i] != 0 && table[i] != x) {
      i = (i + 1) & (cap - 1);
      ++probes;
    }
    if (probes > 8 * n) {
      std::sort(v.begin(), v.end());
      return static_cast<size_t>(std::unique(v.begin(), v.end()) - v.begin());
    }
    distinct += table[i] == 0;
    table[i] = x;
  }
  return distinct + zero;
}

// max_track: the largest track number of the notes. Lists the groups of
// notes starting together that hold drum notes in drum_onsets (for
// analyze_drums) and returns true when it walked the notes (a PPQ and notes),
// false when it did not (drum_onsets is then empty).
bool performance(const DepthInput& in, Meter& meter, uint32_t max_track, Depth& d, Poller& poller,
                 DrumOnsets& drum_onsets) {
  for (int c = 0; c < 128; ++c) {
    if (in.cc_counts[c] != 0) {
      d.cc_numbers.push_back(static_cast<int16_t>(c));
      d.cc_counts.push_back(static_cast<int64_t>(in.cc_counts[c]));
    }
  }
  d.sustain_pedal_presses = in.sustain_presses;
  d.has_sustain = in.sustain_presses != 0;
  if (in.ppq == 0 || in.notes.empty()) return false;
  const double q = in.ppq;
  const auto& notes = in.notes;

  const size_t count = notes.size();

  // Legato and staccato: a note's group is the notes of its voice (track,
  // channel) starting with it, and pairs with the voice's next onset. With
  // few tracks the voices are dense indices and one backward walk gives every
  // note the next onset of its voice; otherwise the voice keys are sorted
  // (voice order, then start order).
  // (Dense also needs the starts below 2^61, for the sentinel below.)
  constexpr uint64_t kNoTick = uint64_t{1} << 62;
  const bool dense = count < UINT32_MAX && notes.back().start < kNoTick / 2 &&
                     (uint64_t{max_track} + 1) * 16 <= 4 * static_cast<uint64_t>(count) + 4096;
  uint64_t pairs = 0, legato = 0, staccato = 0;
  size_t drum_notes = 0;  // (room for the drum onsets, below)
  if (dense) {
    // Walking backwards, a voice holds the start of the group seen last and
    // the start of the group after that one (its next onset), kNoTick when
    // there is none: then the interval is at least 2^61 and pairs nothing.
    // Branch-free: the selection is a mask. Drum notes pair with nothing and
    // are no voice's onsets (their channel is no other note's): skipped.
    struct Voice {
      uint64_t cur = kNoTick, next = kNoTick;
    };
    std::vector<Voice> voices((size_t{max_track} + 1) * 16);
    // 2 * PPQ ticks: an interval (a whole number of ticks) is at most 2q
    // exactly when it is at most this; then it is below 2^18 and its double
    // is exact.
    const uint64_t two_q = 2 * uint64_t{in.ppq};
    // (Polled a block of kStopEvery notes at a time: the loop over a block
    // is the plain loop.)
    for (size_t hi = count; hi > 0;) {
      const size_t lo = hi > kStopEvery ? hi - kStopEvery : 0;
      poller.step(hi - lo);
      for (size_t i = hi; i-- > lo;) {
        const DepthNote& n = notes[i];
        if (n.channel == kDrumChannel) {
          ++drum_notes;
          continue;
        }
        Voice& v = voices[size_t{n.track} * 16 + n.channel];
        const uint64_t fresh = uint64_t{0} - (v.cur != n.start);  // a new group of the voice
        v.next = (v.cur & fresh) | (v.next & ~fresh);
        v.cur = n.start;
        const uint64_t gap = v.next - n.start;
        if (gap <= two_q) {
          const double ioi = static_cast<double>(gap);
          const double len = static_cast<double>(n.end - n.start);
          ++pairs;
          legato += len >= 0.95 * ioi;
          staccato += len <= 0.5 * ioi;
        }
      }
      hi = lo;
    }
  } else {
    std::vector<uint64_t> voice;  // (track, channel) << 32 | index
    voice.reserve(count);
    for (size_t i = 0; i < count && i <= UINT32_MAX; ++i) {
      poller.step();
      const DepthNote& n = notes[i];
      if (n.channel == kDrumChannel) {
        ++drum_notes;
        continue;
      }
      voice.push_back((uint64_t{n.track} << 36) | (uint64_t{n.channel} << 32) | i);
    }
    // (The drum notes past index 2^32, which pair with nothing, still need
    // room among the drum onsets.)
    for (size_t i = size_t{UINT32_MAX} + 1; i < count; ++i) {
      poller.step();
      drum_notes += notes[i].channel == kDrumChannel;
    }
    radix_sort(voice, 32, &poller);
    for (size_t i = 0; i < voice.size();) {
      poller.step();
      // group [i, j): same voice, same start
      const uint64_t v = voice[i] >> 32;
      const DepthNote& a = notes[voice[i] & 0xFFFFFFFFu];
      size_t j = i + 1;
      while (j < voice.size() && (voice[j] >> 32) == v &&
             notes[voice[j] & 0xFFFFFFFFu].start == a.start) {
        ++j;
      }
      if (j < voice.size() && (voice[j] >> 32) == v) {
        const uint64_t next_start = notes[voice[j] & 0xFFFFFFFFu].start;
        const double ioi = static_cast<double>(next_start - a.start);
        if (ioi <= 2 * q) {
          for (size_t k = i; k < j; ++k) {
            const DepthNote& m = notes[voice[k] & 0xFFFFFFFFu];
            const double len = static_cast<double>(m.end - m.start);
            ++pairs;
            if (len >= 0.95 * ioi) ++legato;
            if (len <= 0.5 * ioi) ++staccato;
          }
        }
      }
      i = j;
    }
  }
  if (pairs != 0) {
    d.legato_share = static_cast<double>(legato) / static_cast<double>(pairs);
    d.staccato_share = static_cast<double>(staccato) / static_cast<double>(pairs);
  }

  // One walk over the notes in start order, a group of equal starts at a
  // time: note lengths (non-drum), timing against the 16th / 16th-triplet
  // grid, bar contents. What depends on the start only is computed once per
  // group: with whole ticks and a PPQ that is a multiple of 6 directly
  // (integer arithmetic, one division), otherwise memoised by position in
  // the bar and tempo. (Measured: a memo of the milliseconds on the integer
  // path cost more than its division.) The sums over the notes are made
  // note by note, in order, as the definition says.
  // The lengths in ticks (x / q is monotonic: the same order), non-drum notes.
  // At most one onset a drum note: written through a pointer (a push_back
  // in the walk below made it keep fewer of its sums in registers).
  drum_onsets.v = std::make_unique_for_overwrite<DrumOnset[]>(drum_notes);
  DrumOnset* onset_out = drum_onsets.v.get();
  const auto lengths = std::make_unique_for_overwrite<uint64_t[]>(count);
  size_t nlengths = 0;
  std::vector<uint64_t> bars;  // content hash per bar with onsets
  double len_sum = 0;
  const double g16 = q / 4, g24 = q / 6;
  const double tol = std::max(0.5, q / 96);
  const double q_1000 = q * 1000;
  double dev_ticks = 0, dev_ms = 0;
  uint64_t on_grid = 0;
  uint64_t cur_bar = UINT64_MAX, cur_hash = 0;
  uint64_t bar = 0;
  uint64_t bar_lo = 0, bar_hi = 0;       // the bar kept (see BarCursor)
  uint64_t bar_whole = 0, bar_room = 0;  // (BarCursor's len_ and room_)
  // The tempo in force (Clock::tempo_at: the last of the tempos at or before
  // the tick, 500,000 before the first), the starts being visited in order.
  const std::pair<uint64_t, uint32_t>* next_tempo = in.tempos.data();
  const std::pair<uint64_t, uint32_t>* const tempos_end = next_tempo + in.tempos.size();
  uint32_t tempo = 500'000;
  struct Grid {  // what a position in the bar and a tempo give, memoised
    uint64_t pos_bits = 0;
    uint32_t tempo = 0;
    bool used = false;
    double dev = 0, dev_ms = 0;
    uint64_t qpos = 0;
  };
  Grid memo[64];
  // Integer grid arithmetic (see below) when the PPQ is a multiple of 6.
  const uint32_t ppq = in.ppq;
  const bool int_grid = ppq % 6 == 0;
  const ExactDiv div_q(ppq);
  constexpr uint64_t kGridLimit = uint64_t{1} << 24;
  const DepthNote* const all_notes = notes.data();
  // (The notes from index 2^32 on are not counted in the lengths: with
  // fewer notes, the test is compiled out.)
  const auto walk = [&](auto all_counted) {
    for (size_t i = 0; i < count;) {
      poller.step();
      const uint64_t start = all_notes[i].start;
      double pos;
      // On the integer path below: the position, a whole number of ticks
      // below 2^24, and the PPQ a multiple of 6.
      // whole: the position is a whole number of ticks below 2^24 (the
      // drum pass's integer path too).
      bool int_pos, whole;
      uint32_t p32 = 0;
      if (start >= bar_lo && start < bar_hi) {  // BarCursor::bar_of() inline
        const uint64_t off = start - bar_lo;    // pos, exactly (see BarCursor)
        pos = static_cast<double>(off);
        whole = off < kGridLimit;
        int_pos = int_grid && whole;
        p32 = static_cast<uint32_t>(off);
      } else if (start >= bar_hi && start - bar_hi < bar_whole && bar_whole <= bar_room - bar_hi) {
        // The next bar, whole and in the same segment (BarCursor::bar_of()).
        bar_lo = bar_hi;
        bar_hi += bar_whole;
        ++bar;
        const uint64_t off = start - bar_lo;
        pos = static_cast<double>(off);
        whole = off < kGridLimit;
        int_pos = int_grid && whole;
        p32 = static_cast<uint32_t>(off);
      } else {
        bar = bar_cursor_miss(meter, start, pos, bar_lo, bar_hi, bar_whole, bar_room);
        whole = whole_pos(pos);
        int_pos = int_grid && whole;
        if (int_pos) p32 = static_cast<uint32_t>(pos);
      }
      while (next_tempo != tempos_end && next_tempo->first <= start) tempo = (next_tempo++)->second;
      double dev, dev_ms_add;
      uint64_t qpos;
      if (int_pos) {
        // Whole ticks, PPQ a multiple of 6: x / g16 = 4P / Q, x / g24 = 6P / Q
        // and x * 12 / q = 12P / Q are correctly rounded quotients that are
        // never within rounding of a half (they are at least 1 / 2Q away from
        // one): round_pos() of each is the exact floor((2kP + Q) / 2Q), that
        // is floor((u + 3) / 6), floor((u + 2) / 4) and floor((u + 1) / 2)
        // for u = 24P / Q, which are those of t = floor(u) (floor(a / n) =
        // floor(floor(a) / n) for a whole n): one division.
        const uint32_t t = div_q(24 * p32);
        const double r16 = (t + 3) / 6, r24 = (t + 2) / 4;
        dev = std::min(std::fabs(pos - r16 * g16), std::fabs(pos - r24 * g24));
        dev_ms_add = dev * tempo / q_1000;
        qpos = (t + 1) / 2;
      } else {
        uint64_t pos_bits;
        std::memcpy(&pos_bits, &pos, sizeof pos);
        Grid& g = memo[((pos_bits ^ (uint64_t{tempo} << 20)) * 0x9E3779B97F4A7C15ull) >> 58];
        if (!g.used || g.pos_bits != pos_bits || g.tempo != tempo) {
          const double d16 = std::fabs(pos - round_pos(pos / g16) * g16);
          const double d24 = std::fabs(pos - round_pos(pos / g24) * g24);
          g.dev = std::min(d16, d24);
          g.dev_ms = g.dev * tempo / q_1000;
          g.qpos = static_cast<uint64_t>(round_pos(pos * 12 / q));
          g.pos_bits = pos_bits;
          g.tempo = tempo;
          g.used = true;
        }
        dev = g.dev;
        dev_ms_add = g.dev_ms;
        qpos = g.qpos;
      }
      if (bar != cur_bar) {
        if (cur_bar != UINT64_MAX) bars.push_back(cur_hash);
        cur_bar = bar;
        cur_hash = 0;
      }
      // The notes of the group (the sums in locals: kept in registers here,
      // written back once per group).
      const uint64_t key = qpos << 16;
      uint64_t* const out = lengths.get();
      size_t nl = nlengths;
      uint64_t hash = cur_hash;
      double l_sum = len_sum, d_ticks = dev_ticks, d_ms = dev_ms;
      size_t j = i;
      size_t ndrums = 0;
      do {
        const DepthNote& n = all_notes[j];
        const bool drum = n.channel == kDrumChannel;
        const bool counted = !drum && (decltype(all_counted)::value || j <= UINT32_MAX);
        const uint64_t ticks = n.end - start;
        const uint64_t keep = uint64_t{0} - counted;
        out[nl] = ticks;
        nl += counted;
        // Not counted: + 0 / q, which leaves the sum as it is.
        l_sum += static_cast<double>(ticks & keep) / q;
        d_ticks += dev;
        d_ms += dev_ms_add;
        hash += mix64(key | (uint64_t{drum} << 8) | n.pitch);
        ndrums += drum;
        ++j;
      } while (j < count && all_notes[j].start == start);
      if (ndrums != 0) *onset_out++ = DrumOnset{start, bar, pos, i, j, whole};
      nlengths = nl;
      cur_hash = hash;
      len_sum = l_sum;
      dev_ticks = d_ticks;
      dev_ms = d_ms;
      on_grid += (j - i) & (uint64_t{0} - (dev <= tol));
      i = j;
    }
  };
  if (count <= size_t{UINT32_MAX} + 1) {
    walk(std::true_type{});
  } else {
    walk(std::false_type{});
  }
  drum_onsets.size = static_cast<size_t>(onset_out - drum_onsets.v.get());
  if (cur_bar != UINT64_MAX) bars.push_back(cur_hash);
  const double cnt = static_cast<double>(notes.size());
  d.timing_dev_ticks = dev_ticks / cnt;
  d.timing_dev_ms = dev_ms / cnt;
  d.on_grid_share = static_cast<double>(on_grid) / cnt;
  if (notes.size() >= 8) d.timing_humanised = *d.on_grid_share < 0.75;

  poller.step(count);
  if (nlengths != 0) {
    d.note_length_mean_beats = len_sum / static_cast<double>(nlengths);
    // (The OR and the AND of the lengths in a loop of their own: two lanes
    // at a time, fewer instructions than in the walk.)
    uint64_t len_any = 0, len_all = ~uint64_t{0};
    for (size_t i = 0; i < nlengths; ++i) {
      len_any |= lengths[i];
      len_all &= lengths[i];
    }
    d.note_length_median_beats = median_beats(lengths.get(), nlengths, len_any, len_all, q);
  }

  d.bar_count = static_cast<uint32_t>(std::min<size_t>(bars.size(), UINT32_MAX));
  poller.step(count);
  const size_t distinct = count_distinct(bars);
  d.distinct_bars = static_cast<uint32_t>(std::min<size_t>(distinct, UINT32_MAX));
  if (!bars.empty()) {
    d.repeated_share =
        static_cast<double>(bars.size() - distinct) / static_cast<double>(bars.size());
  }
  return true;
}

// Merges the sorted runs [a, ae) and [b, be) into out by (start, seq), ties
// from the first run (as std::merge). (A branch-free selection was slower:
// it makes every step wait for the previous one's loads.)
void merge_notes(const DepthNote* a, const DepthNote* ae, const DepthNote* b, const DepthNote* be,
                 DepthNote* out) noexcept {
  while (a != ae && b != be) {
    if (b->start < a->start || (b->start == a->start && b->seq < a->seq)) {
      *out++ = *b++;
    } else {
      *out++ = *a++;
    }
  }
  out = std::copy(a, ae, out);
  if (out != b) std::copy(b, be, out);  // b's rest may already be in place (see sort_notes)
}

// merge_notes() backwards: [a, ae) lies at the front of the output, which
// ends at out_end and holds both runs; ties still put a's notes first.
void merge_notes_back(DepthNote* a, DepthNote* ae, const DepthNote* b, const DepthNote* be,
                      DepthNote* out_end) noexcept {
  while (a != ae && b != be) {
    const DepthNote& x = ae[-1];
    const DepthNote& y = be[-1];
    if (y.start < x.start || (y.start == x.start && y.seq < x.seq)) {
      *--out_end = *--ae;
    } else {
      *--out_end = *--be;
    }
  }
  std::copy_backward(b, be, out_end);  // a's rest is in place
}

// Notes by (start, seq). The analysis records each track's notes at their
// note-ons, in start order, and numbers them (seq) in the order they end: one
// pass finds the runs of ascending starts (the tracks) and puts the notes
// starting together in seq order as it goes (insertion into the group seen
// so far while that is at most 16 notes; a longer group with notes out of
// order is sorted afterwards); then the runs are merged, or, when there are
// many, sorted stably by start (a radix sort of (start, index) keys when they
// fit in 64 bits); seq grows from track to track, so both give (start, seq).
// (Notes with equal start and seq, which only notes never ended can be, may
// end up in either order: nothing computed from them depends on it.)
// Returns the largest track number (0 without notes).
uint32_t sort_notes(std::vector<DepthNote>& v, Poller& poller) {
  const size_t n = v.size();
  if (n == 0) return 0;
  if (n == 1) return v[0].track;
  DepthNote* const a = v.data();
  constexpr size_t kMaxRuns = 32;
  constexpr size_t kMaxInsert = 16;
  size_t runs[kMaxRuns + 1];
  size_t nruns = 0;
  runs[nruns++] = 0;
  bool many = false, inverted = false;
  size_t group = 0;  // where the group of notes starting at prev_start begins
  uint64_t prev_start = a[0].start;
  uint32_t prev_seq = a[0].seq;  // the largest seq of the group so far
  uint32_t max_track = a[0].track;
  // (Polled a block of kStopEvery notes at a time: no poll in the loop.)
  size_t block_end = 1;
  for (size_t i = 1; i < n; ++i) {
    if (i == block_end) {
      block_end = n - i > kStopEvery ? i + kStopEvery : n;
      poller.step(block_end - i);
    }
    const uint64_t start = a[i].start;
    const uint32_t seq = a[i].seq;
    max_track = std::max(max_track, a[i].track);
    if (start != prev_start) {
      if (start < prev_start) {
        if (nruns < kMaxRuns) {
          runs[nruns++] = i;
        } else {
          many = true;
        }
      }
      group = i;
      prev_start = start;
      prev_seq = seq;
    } else if (seq >= prev_seq) {
      prev_seq = seq;
    } else if (i - group < kMaxInsert) {
      // Insertion into a[group, i), in seq order: a[i] then holds the
      // largest seq again (prev_seq).
      const DepthNote x = a[i];
      size_t m = i;
      for (; m > group && x.seq < a[m - 1].seq; --m) a[m] = a[m - 1];
      a[m] = x;
    } else {
      inverted = true;
      prev_seq = seq;
    }
  }
  if (inverted) {
    // Each group of equal starts still holding an inversion (longer than 16
    // notes) is sorted once, then skipped: linear scanning.
    const auto by_seq = [](const DepthNote& x, const DepthNote& y) { return x.seq < y.seq; };
    for (size_t i = 1; i < n; ++i) {
      poller.step();
      if ((a[i].start == a[i - 1].start) & (a[i].seq < a[i - 1].seq)) {
        size_t lo = i - 1, hi = i + 1;
        while (lo > 0 && a[lo - 1].start == a[i].start) --lo;
        while (hi < n && a[hi].start == a[i].start) ++hi;
        std::sort(a + lo, a + hi, by_seq);
        i = hi;
      }
    }
  }
  if (nruns == 1) return max_track;
  if (!many) {
    runs[nruns] = n;
    const auto tmp = std::make_unique_for_overwrite<DepthNote[]>(n);
    DepthNote* src = a;
    DepthNote* dst = tmp.get();
    while (nruns > 2) {
      poller.step(n);
      size_t out = 0;
      for (size_t r = 0; r < nruns; r += 2) {
        const size_t lo = runs[r], mid = runs[r + 1], hi = r + 2 <= nruns ? runs[r + 2] : mid;
        if (r + 1 < nruns) {
          merge_notes(src + lo, src + mid, src + mid, src + hi, dst + lo);
        } else {
          std::copy(src + lo, src + mid, dst + lo);
        }
        runs[out++] = lo;
      }
      runs[out] = n;
      nruns = out;
      std::swap(src, dst);
    }
    // The last merge writes into v. When both runs are in v, the first is
    // moved out first: the output then never passes the second's next note.
    const size_t mid = runs[1];
    poller.step(n);
    if (src == a && n - mid < mid) {
      // The second run is the shorter: it is moved out and the merge runs
      // backwards from the end (the output never passes the first's last
      // note not yet taken).
      std::copy(a + mid, a + n, tmp.get());
      merge_notes_back(a, a + mid, tmp.get(), tmp.get() + (n - mid), a + n);
    } else if (src == a) {
      std::copy(a, a + mid, tmp.get());
      src = tmp.get();
      merge_notes(src, src + mid, a + mid, a + n, a);
    } else {
      merge_notes(src, src + mid, src + mid, src + n, a);
    }
    return max_track;
  }
  uint64_t max_start = 0;
  for (const DepthNote& x : v) max_start = std::max(max_start, x.start);
  if (n < (size_t{1} << 24) && max_start < (uint64_t{1} << 40)) {
    std::vector<uint64_t> keys;
    keys.reserve(n);
    for (size_t i = 0; i < n; ++i) keys.push_back((v[i].start << 24) | i);
    radix_sort(keys, 24, &poller);
    std::vector<DepthNote> sorted;
    sorted.reserve(n);
    for (const uint64_t k : keys) sorted.push_back(v[k & 0xFFFFFF]);
    v.swap(sorted);
  } else {
    // (Only beyond 2^24 notes or 2^40 ticks; one poll before and after.)
    poller.poll();
    std::stable_sort(v.begin(), v.end(),
                     [](const DepthNote& x, const DepthNote& y) { return x.start < y.start; });
    poller.poll();
  }
  return max_track;
}

}  // namespace
}  // namespace depth_detail

Depth compute_depth(DepthInput& in) {
  using namespace depth_detail;
  Depth d;
  Poller poller(in.stop);
  poller.poll();
  const uint32_t max_track = sort_notes(in.notes, poller);
  Clock clock(in);
  Meter meter(in);
  poller.step(in.tempos.size() + in.time_sigs.size());
  if (in.ppq != 0) analyze_chords(in, clock, meter, d, poller);
  poller.poll();
  // The performance walk first: it lists the drum onsets for the drum pass.
  DrumOnsets drum_onsets;
  const bool walked = performance(in, meter, max_track, d, poller, drum_onsets);
  poller.poll();
  analyze_drums(in, clock, meter, d, poller, walked ? &drum_onsets : nullptr);
  poller.poll();
  return d;
}

}  // namespace midipipe
