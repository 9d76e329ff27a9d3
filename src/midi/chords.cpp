// midipipe: chord detection (see docs/analysis-depth.md, "Chords").
//
// One sweep over the sorted note boundaries of the non-drum notes. Between two
// boundaries the sounding set is constant; its pitch classes are added to the
// analysis window (a beat, or half a bar) weighted by the time they sound
// there (a pitch class sounding in two octaves counts twice), and the lowest
// sounding pitch's class to a bass vector. A constant stretch that covers
// many windows classifies one of them only (they are identical), so the cost
// is linear in the notes whatever the deltas.
//
// A window is classified by template matching: for every root among its
// pitch classes and every quality, the cosine between the duration-weighted
// pitch-class vector and the quality's binary template. The best score wins;
// scores within 0.02 of the best are ties, broken by the bass (the root that
// sounds longest as the lowest note), then by the score, then by the simpler
// quality. No chord ("N") when fewer than 3 pitch classes carry at least 10%
// of the strongest one's weight, or when the best cosine is below 0.8.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <memory>
#include <utility>

#include "depth_internal.hpp"

namespace midipipe {
namespace {

using depth_detail::floor_u64;
using depth_detail::Meter;
using depth_detail::radix_sort;

struct Quality {
  const char* name;
  const char* suffix;
  uint8_t n;
  uint8_t iv[5];
  uint8_t kind;  // 0 triad, 1 suspended, 2 sixth/seventh, 3 dim/aug, 4 half/full dim 7th, 5 ninth
};

constexpr Quality kQualities[kChordQualities] = {
    {"maj", "", 3, {0, 4, 7}, 0},
    {"min", "m", 3, {0, 3, 7}, 0},
    {"dim", "dim", 3, {0, 3, 6}, 3},
    {"aug", "aug", 3, {0, 4, 8}, 3},
    {"sus2", "sus2", 3, {0, 2, 7}, 1},
    {"sus4", "sus4", 3, {0, 5, 7}, 1},
    {"6", "6", 4, {0, 4, 7, 9}, 2},
    {"m6", "m6", 4, {0, 3, 7, 9}, 2},
    {"7", "7", 4, {0, 4, 7, 10}, 2},
    {"maj7", "maj7", 4, {0, 4, 7, 11}, 2},
    {"m7", "m7", 4, {0, 3, 7, 10}, 2},
    {"m7b5", "m7b5", 4, {0, 3, 6, 10}, 4},
    {"dim7", "dim7", 4, {0, 3, 6, 9}, 4},
    {"7sus4", "7sus4", 4, {0, 5, 7, 10}, 2},
    {"add9", "add9", 4, {0, 2, 4, 7}, 5},
    {"9", "9", 5, {0, 2, 4, 7, 10}, 5},
    {"maj9", "maj9", 5, {0, 2, 4, 7, 11}, 5},
    {"m9", "m9", 5, {0, 2, 3, 7, 10}, 5},
};
constexpr const char* kRootNames[12] = {"C",  "C#", "D",  "Eb", "E",  "F",
                                        "F#", "G",  "Ab", "A",  "Bb", "B"};

bool is_seventh(int q) noexcept { return q >= 8 && q <= 13; }
bool is_extended(int q) noexcept { return q >= 14; }
double quality_weight(int q) noexcept {
  switch (kQualities[q].kind) {
    case 0:
      return 0;
    case 1:
      return 0.3;
    case 2:
    case 3:
      return 0.6;
    case 4:
      return 0.8;
    default:
      return 1.0;
  }
}

// classify() spells the templates of kQualities out; this checks that they
// are the ones it spells.
constexpr bool spelled_as_in_classify() {
  constexpr uint8_t kSpelled[kChordQualities][5] = {
      {0, 4, 7},        {0, 3, 7},        {0, 3, 6},       {0, 4, 8},     {0, 2, 7},
      {0, 5, 7},        {0, 4, 7, 9},     {0, 3, 7, 9},    {0, 4, 7, 10}, {0, 4, 7, 11},
      {0, 3, 7, 10},    {0, 3, 6, 10},    {0, 3, 6, 9},    {0, 5, 7, 10}, {0, 2, 4, 7},
      {0, 2, 4, 7, 10}, {0, 2, 4, 7, 11}, {0, 2, 3, 7, 10}};
  constexpr uint8_t kSize[kChordQualities] = {3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5};
  for (int q = 0; q < kChordQualities; ++q) {
    if (kQualities[q].n != kSize[q]) return false;
    for (int i = 0; i < kSize[q]; ++i) {
      if (kQualities[q].iv[i] != kSpelled[q][i]) return false;
    }
  }
  return true;
}
static_assert(spelled_as_in_classify());

// 1 / sqrt(n) for templates of n pitch classes.
const double kInvSqrt[6] = {0, 1, 1 / std::sqrt(2.0), 1 / std::sqrt(3.0), 0.5, 1 / std::sqrt(5.0)};

// Two doubles, added, multiplied and compared lane by lane (a GCC and Clang
// extension: SSE2 on x86-64, plain scalar code where there are no vectors).
// Each lane's result is the scalar operation's, rounded the same way.
using V2 = double __attribute__((vector_size(16)));

// The larger of a and b (a when equal, as std::max), per lane for V2.
template <class T>
[[gnu::always_inline]] inline T max2(T a, T b) noexcept {
  return a < b ? b : a;
}

// The largest of v[0..N) (never NaN, so any grouping gives the same value):
// a tree, not a chain, so that the maxima add little to the dependencies.
template <int N, class T>
[[gnu::always_inline]] inline T tree_max(const T* v) noexcept {
  if constexpr (N == 1) {
    return v[0];
  } else {
    return max2(tree_max<N / 2>(v), tree_max<N - N / 2>(v + N / 2));
  }
}

// f(0), f(1), ..., f(N - 1), unrolled.
template <size_t N, class F>
[[gnu::always_inline]] inline void unrolled(F&& f) noexcept {
  [&]<size_t... I>(std::index_sequence<I...>) { (f(I), ...); }
  (std::make_index_sequence<N>());
}

// Stores the r in I... (ascending) with pc[r] >= floor10 in roots; returns
// how many (unrolled: the comma operator adds in order).
template <size_t... I>
[[gnu::always_inline]] inline int find_roots(const double* pc, double floor10, int* roots,
                                             std::index_sequence<I...>) noexcept {
  int n = 0;
  ((roots[n] = static_cast<int>(I), n += pc[I] >= floor10), ...);
  return n;
}

// The sum of the squares of pc[I]..., added left to right (unrolled).
template <size_t... I>
[[gnu::always_inline]] inline double sum_squares(const double* pc,
                                                 std::index_sequence<I...>) noexcept {
  double s = 0;
  ((s += pc[I] * pc[I]), ...);
  return s;
}

// Chord id: root * kChordQualities + quality, or -1 for none. `pc2`: the
// 12 pitch-class weights twice over (pc2[i] == pc2[i + 12], so that the
// weights from any root on are consecutive); `bass`: 12 values, only compared
// (double or int64_t: the integer pass's sums convert exactly, so comparing
// them compares the doubles).
template <class B>
int classify(const double (&pc2)[24], const B* bass) noexcept {
  const double* pc = pc2;
  const double maxw = tree_max<12>(pc);
  if (!(maxw > 0)) return -1;
  // Only the roots among the pitch classes present count (at least 10% of
  // the strongest one's weight).
  const double floor10 = 0.1 * maxw;
  int roots[13];
  const int nroots = find_roots(pc, floor10, roots, std::make_index_sequence<12>());
  if (nroots < 3) return -1;
  // The score of every quality at each root: the sum of the weights under
  // its template (added left to right in the template's order, as in
  // kQualities), times f[size] = inv_norm / sqrt(size). Templates that start
  // alike share their partial sums (the same additions in the same order:
  // the same results). A rounded product is monotonic in the sum, so the
  // best score of a root is the largest sum of each size times its factor:
  // the sums need not wait for the norm. Two roots at a time, one per lane
  // (an odd last root is paired with itself).
  roots[nroots] = roots[nroots - 1];  // (nroots < 12 when odd)
  V2 sum[6][kChordQualities];         // by pair of indices in roots
  V2 top[6][3];                       // per pair, the largest sums of 3, 4 and 5 pitch classes
  for (int ri = 0; ri < nroots; ri += 2) {
    const double* wa = pc2 + roots[ri];
    const double* wb = pc2 + roots[ri + 1];
    const V2 w0 = {wa[0], wb[0]}, w2 = {wa[2], wb[2]}, w3 = {wa[3], wb[3]};
    const V2 w4 = {wa[4], wb[4]}, w5 = {wa[5], wb[5]}, w6 = {wa[6], wb[6]};
    const V2 w7 = {wa[7], wb[7]}, w8 = {wa[8], wb[8]}, w9 = {wa[9], wb[9]};
    const V2 w10 = {wa[10], wb[10]}, w11 = {wa[11], wb[11]};
    V2* sc = sum[ri / 2];
    const V2 s04 = w0 + w4, s047 = s04 + w7;
    const V2 s03 = w0 + w3, s037 = s03 + w7, s036 = s03 + w6;
    const V2 s02 = w0 + w2, s024 = s02 + w4, s0247 = s024 + w7;
    const V2 s057 = w0 + w5 + w7;
    sc[0] = s047;                           // maj
    sc[1] = s037;                           // min
    sc[2] = s036;                           // dim
    sc[3] = s04 + w8;                       // aug
    sc[4] = s02 + w7;                       // sus2
    sc[5] = s057;                           // sus4
    sc[6] = s047 + w9;                      // 6
    sc[7] = s037 + w9;                      // m6
    sc[8] = s047 + w10;                     // 7
    sc[9] = s047 + w11;                     // maj7
    sc[10] = s037 + w10;                    // m7
    sc[11] = s036 + w10;                    // m7b5
    sc[12] = s036 + w9;                     // dim7
    sc[13] = s057 + w10;                    // 7sus4
    sc[14] = s0247;                         // add9
    sc[15] = s0247 + w10;                   // 9
    sc[16] = s0247 + w11;                   // maj9
    sc[17] = s02 + w3 + w7 + w10;           // m9
    top[ri / 2][0] = tree_max<6>(sc);       // the triads and suspended chords
    top[ri / 2][1] = tree_max<9>(sc + 6);   // the four-note chords
    top[ri / 2][2] = tree_max<3>(sc + 15);  // the ninths
  }
  const double sumsq = sum_squares(pc, std::make_index_sequence<12>());
  const double inv_norm = 1 / std::sqrt(sumsq);
  // The factor of each template size, by group of qualities (0-5: 3 pitch
  // classes, 6-14: 4, 15-17: 5).
  const double f[3] = {inv_norm * kInvSqrt[3], inv_norm * kInvSqrt[4], inv_norm * kInvSqrt[5]};
  // Per pair and group, the best score; per pair, the best over the groups.
  // (An odd last root's copy changes no maximum.)
  const V2 fv[3] = {V2{f[0], f[0]}, V2{f[1], f[1]}, V2{f[2], f[2]}};
  V2 group_max[6][3], root_max[6];
  V2 bestv = {-1, -1};
  for (int pi = 0; pi < (nroots + 1) / 2; ++pi) {
    for (int g = 0; g < 3; ++g) group_max[pi][g] = top[pi][g] * fv[g];
    root_max[pi] = max2(max2(group_max[pi][0], group_max[pi][1]), group_max[pi][2]);
    bestv = max2(bestv, root_max[pi]);
  }
  const double best = max2(bestv[0], bestv[1]);
  if (best < 0.8) return -1;
  // The qualities near the best, visited by root, then quality: the one
  // whose root sounds longest as the bass wins, then the higher score (by
  // more than 1e-12), then the first. A root or group none of whose scores
  // is near, or a root with less bass than the pick, has no candidate.
  constexpr int kGroupEnd[3] = {6, 15, kChordQualities};
  const double near = best - 0.02;
  int pick = -1;
  B pick_bass = -1;
  double pick_score = -1;
  for (int ri = 0; ri < nroots; ++ri) {
    if (root_max[ri / 2][ri & 1] < near) continue;
    const int r = roots[ri];
    const B b = bass[r];
    if (b < pick_bass) continue;
    for (int g = 0, q = 0; g < 3; q = kGroupEnd[g++]) {
      if (group_max[ri / 2][g][ri & 1] < near) continue;
      for (; q < kGroupEnd[g]; ++q) {
        const double s = sum[ri / 2][q][ri & 1] * f[g];
        if (s >= near && (b > pick_bass || (b == pick_bass && s > pick_score + 1e-12))) {
          pick = r * kChordQualities + q;
          pick_bass = b;
          pick_score = s;
        }
      }
    }
  }
  return pick;
}

struct Entry {
  uint64_t tick;
  int id;
};

enum class Mode { beat, half_bar };

// Windows with the same content (repeated figures) are common: a small cache
// of recent windows, keyed by the exact bits of both vectors, spares
// classifying them again. The integer pass keys it by its integer sums
// (which convert to the doubles exactly: equal keys, equal doubles), so a hit
// converts nothing. 2^kBits entries of 200 bytes, direct-mapped.
template <int kBits>
class ClassifyCache {
 public:
  // `pc` and `bass`: 12 values each, double or int64_t. The hash reads `pc`
  // only (windows that differ by their bass only are rare); a hit compares
  // both, stopping at the first difference (most misses differ at once).
  template <class T>
  int lookup(const T* pc, const T* bass) noexcept {
    constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
    uint64_t h0 = 1, h1 = 2, h2 = 3, h3 = 4;  // four independent lanes (in registers)
    for (int i = 0; i < 12; i += 4) {
      h0 = (h0 ^ word(pc[i])) * kMul;
      h1 = (h1 ^ word(pc[i + 1])) * kMul;
      h2 = (h2 ^ word(pc[i + 2])) * kMul;
      h3 = (h3 ^ word(pc[i + 3])) * kMul;
    }
    const uint64_t hash = (h0 + h1) ^ (h2 + h3);
    Entry& e = cache_[hash >> (64 - kBits)];
    if (e.id != kEmpty && same(e.key, pc) && same(e.key + 12, bass)) return e.id;
    static_assert(sizeof(T) == sizeof(uint64_t));  // the key holds the words as they are
    std::memcpy(e.key, pc, 12 * sizeof(T));
    std::memcpy(e.key + 12, bass, 12 * sizeof(T));
    double p2[24];
    unrolled<12>([&](size_t i) { p2[i] = p2[i + 12] = static_cast<double>(pc[i]); });
    e.id = classify(p2, bass);
    return e.id;
  }

 private:
  static uint64_t word(double x) noexcept { return std::bit_cast<uint64_t>(x); }
  static uint64_t word(int64_t x) noexcept { return static_cast<uint64_t>(x); }
  template <class T>
  static bool same(const uint64_t* key, const T* v) noexcept {
    return [&]<size_t... I>(std::index_sequence<I...>) {
      return ((key[I] == word(v[I])) && ...);  // (unrolled, stops at the first difference)
    }
    (std::make_index_sequence<12>());
  }
  static_assert(kBits >= 1 && kBits <= 16);
  static constexpr int kEmpty = -2;  // not a chord id
  struct Entry {
    uint64_t key[24];
    int id = kEmpty;
  };
  Entry cache_[1 << kBits];
};

// pitch % 12 for every MIDI pitch.
constexpr auto kPitchClass = [] {
  std::array<uint8_t, 128> t{};
  for (int i = 0; i < 128; ++i) t[static_cast<size_t>(i)] = static_cast<uint8_t>(i % 12);
  return t;
}();

// The bit of every MIDI pitch in a pair of masks (pitches 0-63, 64-127).
constexpr auto kPitchBit = [] {
  std::array<std::array<uint64_t, 2>, 128> t{};
  for (size_t i = 0; i < 128; ++i) t[i][i / 64] = uint64_t{1} << (i % 64);
  return t;
}();

// Note boundaries as the analysis sorts them (DepthInput::boundaries).
constexpr int kTickShift = 9;
constexpr uint64_t kStartBit = 256, kDrumBit = 128;

// One pass over the boundaries with windows of the given kind.
class Pass {
 public:
  Pass(const std::vector<uint64_t>& points, Meter& meter, Mode mode, Poller& poller)
      : points_(points), meter_(meter), mode_(mode), poller_(poller) {}

  // `first`: the first non-drum boundary.
  std::vector<Entry> run(size_t first, bool& used_bar) {
    used_bar_ = false;
    uint64_t prev = points_[first] >> kTickShift;
    for (size_t i = first; i < points_.size(); ++i) {
      poller_.step();
      const uint64_t p = points_[i];
      if (p & kDrumBit) continue;
      const uint64_t tick = p >> kTickShift;
      if (tick != prev) {
        advance(static_cast<double>(prev), static_cast<double>(tick));
        prev = tick;
      }
      apply(p);
    }
    if (open_) finalize();
    used_bar = used_bar_;
    return std::move(out_);
  }

 private:
  // A start adds a sounding note, an end removes one (an end without a
  // sounding note is ignored). Branch-free: starts and ends alternate
  // unpredictably.
  void apply(uint64_t p) {
    const uint32_t pitch = p & 127;
    const uint32_t c = cnt_[pitch];
    const int32_t delta = (p & kStartBit) ? 1 : (c != 0 ? -1 : 0);
    const uint32_t now = c + static_cast<uint32_t>(delta);
    cnt_[pitch] = now;
    pc_cnt_[kPitchClass[pitch]] += delta;
    const uint64_t bit = uint64_t{1} << (pitch & 63);
    uint64_t& m = mask_[pitch >> 6];
    m = (m & ~bit) | (now != 0 ? bit : 0);
  }

  void add(double dt) {
    if (!(dt > 0)) return;
    for (int i = 0; i < 12; ++i) pc_[i] += pc_cnt_[i] * dt;
    if ((mask_[0] | mask_[1]) != 0) {
      const int low = mask_[0] != 0 ? std::countr_zero(mask_[0]) : 64 + std::countr_zero(mask_[1]);
      bass_[low % 12] += dt;
    }
  }

  // Opens the window that contains x.
  void open_at(double x) {
    const size_t si = meter_.seg_of(floor_u64(x));
    const Meter::Seg& s = meter_.seg(si);
    const double seg_end =
        si + 1 < meter_.size() ? static_cast<double>(meter_.seg(si + 1).tick) : HUGE_VAL;
    if (si != wlen_seg_) {  // the window length depends on the meter segment only
      wlen_seg_ = si;
      const double q = meter_.quarter();
      if (mode_ == Mode::beat) {
        wlen_ = q;
      } else {
        const double quarters = s.bar_len / q;
        const bool even = quarters >= 2 && std::fmod(quarters, 2.0) == 0;
        wlen_ = even ? s.bar_len / 2 : s.bar_len;
        if (!even) used_bar_ = true;
      }
    }
    const double base = static_cast<double>(s.tick);
    const double k = std::floor((x - base) / wlen_);
    ws_ = base + (k > 0 ? k : 0) * wlen_;
    we_ = std::min(ws_ + wlen_, seg_end);
    if (!(we_ > x)) {  // rounding at a boundary
      ws_ = x;
      we_ = std::min(x + wlen_, seg_end);
      if (!(we_ > x)) we_ = x + wlen_;
    }
    seg_end_ = seg_end;
    open_ = true;
  }

  int classify_cached() noexcept { return cache_.lookup(pc_, bass_); }

  void finalize() {
    const int id = classify_cached();
    if (!(out_.empty() && id < 0) && (out_.empty() || out_.back().id != id)) {
      out_.push_back(Entry{floor_u64(ws_), id});
    }
    std::fill(std::begin(pc_), std::end(pc_), 0.0);
    std::fill(std::begin(bass_), std::end(bass_), 0.0);
    open_ = false;
  }

  void advance(double a, double b) {
    double x = a;
    while (x < b) {
      if (open_ && x >= we_) finalize();
      if (!open_) open_at(x);
      const double y = std::min(we_, b);
      add(y - x);
      x = y;
      if (x >= we_ && x < b) {
        finalize();
        open_at(x);
        // Full windows in [ws_, min(b, segment end)) hold the same content:
        // classify one of them.
        const double lim = std::min(b, seg_end_);
        const double n = std::floor((lim - ws_) / wlen_);
        if (n >= 1 && ws_ + wlen_ <= lim) {
          add(wlen_);
          finalize();
          x = ws_ + n * wlen_;
          if (x <= ws_) x = we_;
        }
      }
    }
  }

  const std::vector<uint64_t>& points_;
  Meter& meter_;
  Mode mode_;
  Poller& poller_;
  uint32_t cnt_[128] = {};
  int32_t pc_cnt_[12] = {};  // sounding notes per pitch class
  uint64_t mask_[2] = {0, 0};
  double pc_[12] = {}, bass_[12] = {};
  ClassifyCache<6> cache_;
  bool open_ = false, used_bar_ = false;
  double ws_ = 0, we_ = 0, wlen_ = 1, seg_end_ = 0;
  size_t wlen_seg_ = SIZE_MAX;  // the meter segment wlen_ was computed for
  std::vector<Entry> out_;
};

// The same pass in integer arithmetic, for the usual case where every window
// edge is a whole tick and every window sum stays below 2^52: the double
// sums of Pass are then exact integers, so these integer sums give the same
// doubles (the same classification, the same progression). A window's
// pitch-class sums are set when it opens (what sounds then, times its
// length) and corrected at each boundary inside it (the change times the
// time left to the window's end): O(1) per boundary instead of O(12) per
// distinct tick. The bass, which needs the lowest sounding pitch, is added
// per stretch between distinct ticks.
class IntPass {
 public:
  // `points`: the non-drum boundaries only (n > 0 of them).
  IntPass(const uint64_t* points, size_t n, Meter& meter, Mode mode, Poller& poller)
      : points_(points), n_(n), meter_(meter), mode_(mode), poller_(poller) {
    std::memcpy(pclass_, kPitchClass.data(), sizeof pclass_);
    std::memcpy(pbit_, kPitchBit.data(), sizeof pbit_);
  }

  // Whether the windows of `mode` have whole-tick edges and sums that fit:
  // `max_tick` is the last boundary tick, `notes` bounds the notes sounding.
  static bool usable(Meter& meter, Mode mode, uint64_t max_tick, size_t notes) {
    if (max_tick >= (uint64_t{1} << 50)) return false;
    for (size_t i = 0; i < meter.size(); ++i) {
      const double w = window_length(meter, i, mode, nullptr);
      if (!(w >= 1 && w < 0x1p40 && w == std::floor(w))) return false;
      if (static_cast<double>(notes) * w >= 0x1p52) return false;
    }
    return true;
  }

  // The loop branches only at window ends and to find the lowest sounding
  // pitch: the bass stretch since the last boundary is added at every
  // boundary (zero at the same tick; to a spare slot when nothing sounds).
  std::vector<Entry> run(bool& used_bar) {
    used_bar_ = false;
    const uint64_t* pts = points_;
    const size_t n = n_;
    uint64_t x = pts[0] >> kTickShift;
    const uint64_t first_tick = x;
    open_at(x);
    uint64_t m0 = 0, m1 = 0;  // sounding pitches 0-63, 64-127
    uint64_t we = we_;
    // In blocks of kStopEvery boundaries, polling between blocks: nothing
    // added to the loop over a block.
    for (const uint64_t* block = pts; block != pts + n;) {
      const uint64_t* const block_end =
          static_cast<size_t>(pts + n - block) > kStopEvery ? block + kStopEvery : pts + n;
      poller_.step(static_cast<uint64_t>(block_end - block));
      for (const uint64_t* it = block; it != block_end; ++it) {
        const uint64_t p = *it;
        const uint64_t tick = p >> kTickShift;
        if (tick > we) [[unlikely]] {
          x = cross(x, tick, m0, m1);
          we = we_;
        }
        // The lowest sounding pitch: the lowest bit of m0, else of m1 (the
        // bass is rarely above pitch 63, and the melody alone rarely goes
        // below it: the branches are predictable).
        size_t slot = 12;
        if (m0 != 0) [[likely]] {
          slot = pclass_[static_cast<unsigned>(std::countr_zero(m0))];
        } else if (m1 != 0) {
          slot = pclass_[64 + static_cast<unsigned>(std::countr_zero(m1))];
        }
        bass_[slot] += static_cast<int64_t>(tick - x);
        x = tick;
        // A start adds a sounding note, an end removes one (an end without a
        // sounding note is ignored: the count stays 0).
        // (Arithmetic rather than branches: starts and ends alternate
        // unpredictably.)
        const uint32_t pitch = p & 127;
        const int64_t c = cnt_[pitch];
        const int64_t start = static_cast<int64_t>((p >> 8) & 1);
        const int64_t moved = c + 2 * start - 1;
        const int64_t now = moved < 0 ? 0 : moved;
        const int64_t delta = now - c;
        cnt_[pitch] = static_cast<int32_t>(now);
        const size_t pc = pclass_[pitch];
        pc_cnt_[pc] += delta;
        pc_[pc] += delta * static_cast<int64_t>(we - tick);
        // The pitch's bit flips when its count leaves or reaches 0 (the
        // counts differ by at most 1: one of them is 0 and the other 1).
        // (All ones when c + now == 1: (1 ^ 1) - 1 is the only negative
        // value of (v ^ 1) - 1 for v >= 0.)
        const uint64_t flip = static_cast<uint64_t>((((c + now) ^ 1) - 1) >> 63);
        m0 ^= pbit_[pitch][0] & flip;
        m1 ^= pbit_[pitch][1] & flip;
      }
      block = block_end;
    }
    if (x != first_tick) finalize();  // Pass opens no window when nothing lasts
    used_bar = used_bar_;
    return std::move(out_);
  }

 private:
  static double window_length(Meter& meter, size_t si, Mode mode, bool* used_bar) {
    const double q = meter.quarter();
    if (mode == Mode::beat) return q;
    const double bar_len = meter.seg(si).bar_len;
    const double quarters = bar_len / q;
    const bool even = quarters >= 2 && std::fmod(quarters, 2.0) == 0;
    if (!even && used_bar != nullptr) *used_bar = true;
    return even ? bar_len / 2 : bar_len;
  }

  void add_bass(uint64_t dt, uint64_t m0, uint64_t m1) {
    if ((m0 | m1) != 0) {
      const int low = m0 != 0 ? std::countr_zero(m0) : 64 + std::countr_zero(m1);
      bass_[kPitchClass[static_cast<size_t>(low)]] += static_cast<int64_t>(dt);
    }
  }

  // Opens the window that contains x (as Pass::open_at, in whole ticks).
  void open_at(uint64_t x) {
    const size_t si = meter_.seg_of(x);
    const Meter::Seg& s = meter_.seg(si);
    seg_end_ = si + 1 < meter_.size() ? meter_.seg(si + 1).tick : UINT64_MAX;
    if (si != wlen_seg_) {
      wlen_seg_ = si;
      wlen_ = static_cast<uint64_t>(window_length(meter_, si, mode_, &used_bar_));
    }
    open_aligned(s.tick + (x - s.tick) / wlen_ * wlen_);
  }

  // Opens the window starting at x, a window edge inside the current meter
  // segment (what open_at(x) does, without its search and division).
  void open_aligned(uint64_t x) {
    ws_ = x;
    we_ = std::min(ws_ + wlen_, seg_end_);
    const int64_t len = static_cast<int64_t>(we_ - ws_);
    unrolled<12>([&](size_t i) { pc_[i] = pc_cnt_[i] * len; });
  }

  int classify_cached() noexcept { return cache_.lookup(pc_, bass_); }

  void finalize() {
    const int id = classify_cached();
    if (!(out_.empty() && id < 0) && (out_.empty() || out_.back().id != id)) {
      out_.push_back(Entry{ws_, id});
    }
    // Unrolled: GCC makes a fill of 13 words a "rep stos", slow to start.
    unrolled<14>([&](size_t k) { bass_[k] = 0; });
  }

  // From x (inside the open window) past the window's end to b: the windows
  // ending before b are finalised; returns where the stretch in the window
  // holding b starts.
  [[gnu::noinline]] uint64_t cross(uint64_t x, uint64_t b, uint64_t m0, uint64_t m1) {
    while (we_ < b) {
      add_bass(we_ - x, m0, m1);
      finalize();
      x = we_;
      if (x < seg_end_) {  // the next window of the same segment
        open_aligned(x);
      } else {
        open_at(x);
      }
      // Full windows in [ws_, min(b, segment end)) hold the same content:
      // classify the first, skip to the last (left to the loop).
      const uint64_t lim = std::min(b, seg_end_);
      if (we_ - ws_ == wlen_ && we_ < lim) {
        const uint64_t n = (lim - ws_) / wlen_;
        if (n >= 2) {
          add_bass(wlen_, m0, m1);
          finalize();
          x = ws_ + (n - 1) * wlen_;
          open_aligned(x);
        }
      }
    }
    return x;
  }

  const uint64_t* points_;
  size_t n_;
  Meter& meter_;
  Mode mode_;
  Poller& poller_;
  int32_t cnt_[128] = {};
  // Copies of kPitchClass and kPitchBit in the object (on the stack): the
  // loop addresses them from the stack pointer, with no register of their own.
  uint8_t pclass_[128];
  uint64_t pbit_[128][2];
  int64_t pc_cnt_[12] = {};
  int64_t pc_[12] = {}, bass_[14] = {};  // bass_[12]: time with nothing sounding; [13]: padding
  // 256 entries (51 KB): over the corpus, 150k windows classified of 247k,
  // against 170k with 64 entries (138k distinct).
  ClassifyCache<8> cache_;
  bool used_bar_ = false;
  uint64_t ws_ = 0, we_ = 0, wlen_ = 1, seg_end_ = 0;
  size_t wlen_seg_ = SIZE_MAX;
  std::vector<Entry> out_;
};

// Chord changes (consecutive chords, "N" skipped) per bar spanned.
double changes_per_bar(const std::vector<Entry>& prog, double bars) {
  int last = -1;
  uint64_t changes = 0;
  for (const Entry& e : prog) {
    if (e.id < 0) continue;
    if (last >= 0 && e.id != last) ++changes;
    last = e.id;
  }
  return bars > 0 ? static_cast<double>(changes) / bars : 0.0;
}

}  // namespace

std::string_view chord_quality_name(int q) noexcept {
  return q >= 0 && q < kChordQualities ? kQualities[q].name : "none";
}
std::string_view chord_suffix(int q) noexcept {
  return q >= 0 && q < kChordQualities ? kQualities[q].suffix : "";
}

namespace depth_detail {

void analyze_chords(const DepthInput& in, Clock& clock, Meter& meter, Depth& d, Poller& poller) {
  // The boundaries of the non-drum notes with a length, sorted: the
  // analysis's (drum boundaries are skipped) when it passed them on and no
  // tick reached the clamp below, else built here.
  constexpr uint64_t kMaxTick = (uint64_t{1} << 55) - 1;
  std::vector<uint64_t> own;
  const std::vector<uint64_t>* bounds = &in.boundaries;
  if (!in.have_boundaries ||
      (!in.boundaries.empty() && (in.boundaries.back() >> kTickShift) >= kMaxTick)) {
    for (const DepthNote& n : in.notes) {
      poller.step();
      if (n.channel == kDrumChannel || n.end <= n.start) continue;
      const uint64_t s = std::min(n.start, kMaxTick), e = std::min(n.end, kMaxTick);
      if (e <= s) continue;
      own.push_back((s << kTickShift) | kStartBit | n.pitch);
      own.push_back((e << kTickShift) | n.pitch);
    }
    radix_sort(own, 0, &poller);
    bounds = &own;
  }
  const std::vector<uint64_t>& points = *bounds;
  // The first and last non-drum boundaries: the earliest start (an end comes
  // after its start) and the latest end (a start comes before its end).
  size_t first_i = 0, last_i = points.size();
  while (first_i < points.size() && (points[first_i] & kDrumBit)) ++first_i;
  if (first_i == points.size()) return;
  while (points[last_i - 1] & kDrumBit) --last_i;
  const uint64_t first = points[first_i] >> kTickShift, last = points[last_i - 1] >> kTickShift;
  double pos;
  const uint64_t b0 = meter.bar_of(first, pos);
  const uint64_t b1 = meter.bar_of(last > first ? last - 1 : first, pos);
  const double bars = static_cast<double>(b1 - b0 + 1);

  // Half-bar windows first; when they change at 75% of the half bars or more,
  // the harmony may move faster: per-beat windows are used when they show
  // more than 2 changes per bar.
  bool used_bar = false;
  const size_t nnotes = points.size() / 2 + 1;
  // The integer pass reads the non-drum boundaries only: those in
  // [first_i, last_i) when no drum boundary lies among them, else a copy
  // without the drums (made without branches: drum and other boundaries
  // alternate unpredictably).
  std::unique_ptr<uint64_t[]> copy;
  const uint64_t* pitched = nullptr;
  size_t npitched = 0;
  const auto run_pass = [&](Mode mode, bool& ub) {
    poller.step(last_i - first_i);
    if (IntPass::usable(meter, mode, last, nnotes)) {
      if (pitched == nullptr) {
        uint64_t any[4] = {};  // (four words: fewer dependencies, fewer loop steps)
        size_t at = first_i;
        for (; at + 4 <= last_i; at += 4) {
          unrolled<4>([&](size_t j) { any[j] |= points[at + j]; });
        }
        for (; at < last_i; ++at) any[0] |= points[at];
        if (((any[0] | any[1] | any[2] | any[3]) & kDrumBit) == 0) {
          pitched = points.data() + first_i;
          npitched = last_i - first_i;
        } else {
          copy.reset(new uint64_t[last_i - first_i]);
          size_t k = 0;
          for (size_t i = first_i; i < last_i; ++i) {
            const uint64_t p = points[i];
            copy[k] = p;
            k += (p & kDrumBit) == 0;
          }
          pitched = copy.get();
          npitched = k;
        }
      }
      return IntPass(pitched, npitched, meter, mode, poller).run(ub);
    }
    return Pass(points, meter, mode, poller).run(first_i, ub);
  };
  std::vector<Entry> prog = run_pass(Mode::half_bar, used_bar);
  const char* resolution = used_bar ? "bar" : "half_bar";
  if (changes_per_bar(prog, bars) >= 1.5 || (used_bar && changes_per_bar(prog, bars) >= 0.75)) {
    bool unused = false;
    std::vector<Entry> beat = run_pass(Mode::beat, unused);
    if (changes_per_bar(beat, bars) > 2.0) {
      prog = std::move(beat);
      resolution = "beat";
    }
  }
  std::vector<uint64_t>().swap(own);
  copy.reset();
  while (!prog.empty() && prog.back().id < 0) prog.pop_back();
  if (prog.empty()) return;
  d.chord_resolution = resolution;

  // Summary, weighted by each chord's ticks (to the next entry or the last note end).
  double time[12 * kChordQualities] = {};
  double total = 0, qual = 0;
  d.chords.reserve(prog.size());
  for (size_t i = 0; i < prog.size(); ++i) {
    poller.step();
    const Entry& e = prog[i];
    const int q = e.id >= 0 ? e.id % kChordQualities : -1;
    ChordEvent c{e.tick, clock.at(e.tick), std::nullopt, std::string(chord_quality_name(q)),
                 std::string(e.id >= 0 ? kRootNames[e.id / kChordQualities] : "N")};
    if (e.id >= 0) {
      const int root = e.id / kChordQualities;
      c.root = static_cast<int16_t>(root);
      c.name += kQualities[q].suffix;
      const uint64_t end = i + 1 < prog.size() ? prog[i + 1].tick : std::max(last, e.tick);
      const double dt = static_cast<double>(end - e.tick);
      time[e.id] += dt;
      total += dt;
      qual += dt * quality_weight(q);
      d.has_sevenths |= is_seventh(q);
      d.has_extended |= is_extended(q);
    }
    d.chords.push_back(std::move(c));
  }
  double entropy = 0;
  for (const double t : time) {
    if (t > 0) {
      ++d.distinct_chords;
      if (total > 0) entropy -= (t / total) * std::log2(t / total);
    }
  }
  const double cpb = changes_per_bar(prog, bars);
  d.chord_changes_per_bar = cpb;
  const double qmean = total > 0 ? qual / total : 0;
  const double h = std::min(1.0, entropy / std::log2(24.0));
  d.harmonic_complexity = 0.5 * qmean + 0.25 * h + 0.25 * std::min(1.0, cpb / 4);
}

}  // namespace depth_detail
}  // namespace midipipe
