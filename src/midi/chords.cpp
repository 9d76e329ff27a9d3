// midipipe: chord recognition (see docs/analysis-depth.md, "Chords").
//
// Four steps.
// 1. Frames: one sweep over the sorted note boundaries of the non-drum notes
//    adds to each frame of half a beat (the time signature's beat: a quarter
//    in 4/4, a dotted quarter in 6/8, of which a frame is a third) the time
//    each pitch class sounds in it (a pitch class in two octaves counts
//    twice), plus two frame lengths for each note starting in it (an onset
//    counts more than a note held over), and the time each is the lowest
//    sounding note. A constant stretch
//    covering many frames gives one frame and a repeat count, so the cost is
//    linear in the notes whatever the deltas.
// 2. Roots: a Viterbi pass over the frames with one state per root. A frame
//    scores each root by its best template (2 x the share of the frame's
//    sound on the template's pitch classes, minus a prior for the richer
//    templates), plus a bonus when the root is the frame's bass and when the
//    chord belongs to the piece's key; changing root costs a penalty, smallest
//    on a downbeat. So the harmony changes by the beat where the music
//    changes by the beat, and stays for bars where it does not.
// 3. Families: a second Viterbi pass within each span of one root splits it
//    where the family (major, minor, diminished) changes, at a cost.
// 4. Qualities: each span of one root and family sums its frames and takes
//    the quality that fits it best (the same score, over every template);
//    "N" when that template's cosine with the span is below 0.6. A triad
//    over a bass a third below its root becomes the seventh chord on the
//    bass. Diminished sevenths take the root their resolution or the local
//    key names (the local key: KeyTimeline's model over the spans' pitch
//    classes, decode_key_path); augmented sixths are read from the local key.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "depth_internal.hpp"
#include "key.hpp"

namespace midipipe {
namespace {

using depth_detail::BarCursor;
using depth_detail::floor_u64;
using depth_detail::Meter;
using depth_detail::radix_sort;

struct Quality {
  std::string_view name;
  std::string_view suffix;
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
    // Named after its raised fourth degree, as music21 and the When in Rome
    // analyses do (Ab C Eb F# in C: F#aug6); only step 4 gives it.
    {"aug6", "aug6", 4, {0, 2, 6, 9}, 3},
};
constexpr std::string_view kRootNames[12] = {"C",  "C#", "D",  "Eb", "E",  "F",
                                             "F#", "G",  "Ab", "A",  "Bb", "B"};

// Every chord's name (root + suffix) by id = root * kChordQualities + quality.
struct ChordName {
  char text[8];
  size_t len;
};
constexpr auto kChordNames = [] {
  std::array<ChordName, 12 * kChordQualities> t{};
  for (size_t id = 0; id < t.size(); ++id) {
    const std::string_view root = kRootNames[id / kChordQualities];
    const std::string_view suffix = kQualities[id % kChordQualities].suffix;
    ChordName& n = t[id];
    for (const char ch : root) n.text[n.len++] = ch;
    for (const char ch : suffix) n.text[n.len++] = ch;
  }
  return t;
}();
constexpr ChordName kNoChordName = {{'N'}, 1};

bool is_seventh(int q) noexcept { return q >= 8 && q <= 13; }
bool is_extended(int q) noexcept { return q >= 14 && q <= 17; }
constexpr int kAug6 = 18;       // the augmented sixth (kQualities)
constexpr int kTemplates = 18;  // the qualities quality_of chooses among (all but aug6)
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

// f(0), f(1), ..., f(N - 1), unrolled.
template <size_t N, class F>
[[gnu::always_inline]] inline void unrolled(F&& f) noexcept {
  [&]<size_t... I>(std::index_sequence<I...>) { (f(I), ...); }
  (std::make_index_sequence<N>());
}

// The model's parameters (docs/analysis-depth.md, "Chords"). The change
// penalties, the bass and key bonuses, the diminished triad's prior, the
// family change and the local key's segment were chosen on half of the
// labelled pieces (test/depth/chords_labelled_test.cpp) and checked on the
// other.
struct Params {
  double change_bar = 0.05;  // a root change on a downbeat
  double change_beat = 0.3;  // on another beat
  double change_sub = 0.4;   // between beats
  double bass = 0.1;         // the root is the frame's bass
  double key = 0.1;          // the chord's notes are all in the piece's key
  double size = 0.1;         // prior per template note beyond 3
  double rare = 0.2;         // prior of sus2, sus4, aug, 6, m6, 7sus4, add9 and the ninths
  double no_chord = 0.6;     // a span whose chord's cosine is below this is "N"
  double dim = 0.1;          // more prior of the diminished triad in the root pass
  double family = 0.3;       // a change of family within a span of one root
  // A pedal point: a bass the same for more than this many frames (held or
  // repeated) is not the root of the chords above it: in the root pass its
  // pitch class weighs pedal_weight and gets no bass bonus.
  double pedal_frames = 48;
  double pedal_weight = 0.3;
  // A note's onset adds this many frame lengths to its pitch class in the
  // frame where it starts (on top of the time it sounds): what is struck
  // counts more than what is held over from the chord before.
  double onset = 2;
};
// The local key's segments, in quarter notes (chosen with the parameters).
constexpr double kKeySegmentBeats = 8;
constexpr Params kParams;
// Whole: kOnset x a whole frame length is a whole number of ticks (IntPass).
constexpr double kOnset = kParams.onset;
static_assert(kOnset >= 0 && kOnset == static_cast<int>(kOnset));
const Params& params() { return kParams; }

// The prior of each quality (subtracted from its score): per template note
// beyond 3, plus one for the rarer qualities.
constexpr auto kPrior = [] {
  std::array<double, kChordQualities> t{};
  for (int q = 0; q < kChordQualities; ++q) {
    const Quality& k = kQualities[q];
    const bool rare = k.kind == 1 || k.kind == 5 || q == 3 || q == 6 || q == 7 || q == 13;
    t[static_cast<size_t>(q)] = kParams.size * (k.n - 3) + (rare ? kParams.rare : 0);
  }
  return t;
}();
double prior(int q) { return kPrior[static_cast<size_t>(q)]; }

// One frame: half a beat of the meter (or a run of identical ones).
struct Frame {
  uint64_t tick;
  uint64_t reps;  // identical frames that follow
  float x[12];    // time per pitch class (ticks; all 0: nothing sounds)
  float inv;      // 1 / the sum of x (0 when nothing sounds)
  uint32_t bass;  // the pitch class lowest for the longest time (12: nothing sounds)
};

class Frames {
 public:
  // `pc` and `bass`: 12 values each (double or int64_t).
  template <class T>
  [[gnu::always_inline]] void push(uint64_t tick, const T* pc, const T* bass) {
#if defined(__SSE2__)
    if constexpr (std::is_same_v<T, int64_t>) {
      push_int(tick, pc, bass);
      return;
    }
#endif
    // A window equal to the one before, bit for bit (a chord held across
    // the beat), adds to its count: compared before anything is converted.
    static_assert(sizeof(T) == sizeof(uint64_t));
    if (!v.empty() && same(last_, pc) && same(last_ + 12, bass)) {
      ++v.back().reps;
      return;
    }
    std::memcpy(last_, pc, 12 * sizeof(T));
    std::memcpy(last_ + 12, bass, 12 * sizeof(T));
    Frame& f = v.emplace_back();  // (reserved: filled in place)
    f.tick = tick;
    f.reps = 0;
    unrolled<12>([&](size_t i) { f.x[i] = static_cast<float>(pc[i]); });
    T total = 0;
    unrolled<12>([&](size_t i) { total += pc[i]; });
    finish(f, total, bass);
  }
  void repeat(uint64_t n) {
    if (!v.empty()) v.back().reps += n;
  }
  std::vector<Frame> v;

 private:
  // The frame's 1 / total and bass: the first of the largest bass times (12
  // when none is positive). (With branches: most frames have one bass, so
  // they are predictable, and a step costs fewer instructions than a
  // branch-free one.)
  template <class T>
  static void finish(Frame& f, T total, const T* bass) noexcept {
    f.inv = total > 0 ? static_cast<float>(1 / static_cast<double>(total)) : 0.0f;
    T best = bass[0];
    uint32_t at = 0;
    unrolled<11>([&](size_t j) {
      if (bass[j + 1] > best) [[unlikely]] {
        best = bass[j + 1];
        at = static_cast<uint32_t>(j + 1);
      }
    });
    f.bass = total > 0 && best > 0 ? at : 12;
  }

#if defined(__SSE2__)
  // push() for IntPass's sums. Their total first (needed anyway): a window
  // whose total differs from the one before cannot equal it, and most do
  // differ (an onset adds to one window only), so the 24 words are compared
  // only when the totals agree.
  [[gnu::always_inline]] void push_int(uint64_t tick, const int64_t* pc, const int64_t* bass) {
    const auto at = [](const int64_t* p) {
      return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    };
    const __m128i w0 = at(pc), w1 = at(pc + 2), w2 = at(pc + 4), w3 = at(pc + 6), w4 = at(pc + 8),
                  w5 = at(pc + 10);
    // (each sum below 2^52: no overflow)
    const __m128i s2 = _mm_add_epi64(_mm_add_epi64(_mm_add_epi64(w0, w1), w2),
                                     _mm_add_epi64(_mm_add_epi64(w3, w4), w5));
    const int64_t total = _mm_cvtsi128_si64(s2) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(s2, s2));
    if (total == last_total_ && !v.empty() && same(last_, pc) && same(last_ + 12, bass)) {
      ++v.back().reps;
      return;
    }
    last_total_ = total;
    std::memcpy(last_, pc, 12 * sizeof(int64_t));
    std::memcpy(last_ + 12, bass, 12 * sizeof(int64_t));
    Frame& f = v.emplace_back();  // (reserved: filled in place)
    f.tick = tick;
    f.reps = 0;
    // The sums are whole numbers in [0, 2^52): as the low bits of 2^52
    // they are doubles exactly, which round to the floats a direct
    // conversion gives. Four at a time.
    const __m128i bits = _mm_set1_epi64x(0x4330000000000000);  // 2^52
    const __m128d two52 = _mm_castsi128_pd(bits);
    const auto half = [&](__m128i x) {
      return _mm_cvtpd_ps(_mm_sub_pd(_mm_castsi128_pd(_mm_or_si128(x, bits)), two52));
    };
    _mm_storeu_ps(f.x, _mm_movelh_ps(half(w0), half(w1)));
    _mm_storeu_ps(f.x + 4, _mm_movelh_ps(half(w2), half(w3)));
    _mm_storeu_ps(f.x + 8, _mm_movelh_ps(half(w4), half(w5)));
    finish(f, total, bass);
  }
#endif

  // Whether the 12 words at `a` and at `b` are equal bit for bit (memcmp,
  // inline: most windows differ, and a call costs more than the compare).
  template <class T>
  static bool same(const uint64_t* a, const T* b) noexcept {
#if defined(__SSE2__)
    __m128i eq = _mm_set1_epi32(-1);
    unrolled<6>([&](size_t i) {
      eq = _mm_and_si128(
          eq, _mm_cmpeq_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + 2 * i)),
                              _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2 * i))));
    });
    return _mm_movemask_epi8(eq) == 0xFFFF;
#else
    return std::memcmp(a, b, 12 * sizeof(T)) == 0;
#endif
  }
  uint64_t last_[24] = {};   // the bits of the last window pushed (pc, then bass)
  int64_t last_total_ = -1;  // push_int: the total of its pc (-1: none yet)
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
static_assert(kDrumBit == uint64_t{1} << 7);

// One pass over the boundaries with frames of a beat (`beat`: the frame
// length of each meter segment, in ticks), in double arithmetic.
class Pass {
 public:
  Pass(const std::vector<uint64_t>& points, Meter& meter, const std::vector<double>& beat,
       Frames& out, Poller& poller)
      : points_(points), meter_(meter), beat_(beat), out_(out), poller_(poller) {}

  // `first`: the first non-drum boundary.
  void run(size_t first) {
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
      if (p & kStartBit) onset(static_cast<double>(tick), p & 127);
      apply(p);
    }
    if (open_) finalize();
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

  // A start adds its onset weight to the window holding it (opened here
  // when the open one ends at the start, or none is open yet).
  void onset(double x, uint64_t pitch) {
    if (!open_ || x >= we_) {
      if (open_) finalize();
      open_at(x);
    }
    pc_[kPitchClass[pitch]] += kOnset * wlen_;
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
    wlen_ = beat_[si];  // the frame length depends on the meter segment only
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

  void finalize() {
    out_.push(floor_u64(ws_), pc_, bass_);
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
          if (x <= ws_) {
            x = we_;
          } else {
            out_.repeat(static_cast<uint64_t>(n) - 1);
          }
        }
      }
    }
  }

  const std::vector<uint64_t>& points_;
  Meter& meter_;
  const std::vector<double>& beat_;
  Frames& out_;
  Poller& poller_;
  uint32_t cnt_[128] = {};
  int32_t pc_cnt_[12] = {};  // sounding notes per pitch class
  uint64_t mask_[2] = {0, 0};
  double pc_[12] = {}, bass_[12] = {};
  bool open_ = false;
  double ws_ = 0, we_ = 0, wlen_ = 1, seg_end_ = 0;
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
  IntPass(const uint64_t* points, size_t n, Meter& meter, const std::vector<double>& beat,
          Frames& out, Poller& poller)
      : points_(points), n_(n), meter_(meter), beat_(beat), out_(out), poller_(poller) {
    std::memcpy(pclass_, kPitchClass.data(), sizeof pclass_);
    std::memcpy(pbit_, kPitchBit.data(), sizeof pbit_);
  }

  // Whether the frames have whole-tick edges and sums that fit: `max_tick`
  // is the last boundary tick, `notes` bounds the notes sounding.
  static bool usable(const std::vector<double>& beat, uint64_t max_tick, size_t notes) {
    if (max_tick >= (uint64_t{1} << 50)) return false;
    for (const double w : beat) {
      if (!(w >= 1 && w < 0x1p40 && w == std::floor(w))) return false;
      if ((1 + kOnset) * static_cast<double>(notes) * w >= 0x1p52) return false;
    }
    return true;
  }

  // The loop branches only at window ends and to find the lowest sounding
  // pitch: the bass stretch since the last boundary is added at every
  // boundary (zero at the same tick; to a spare slot when nothing sounds).
  void run() {
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
        if (tick >= we) [[unlikely]] {
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
        // A start adds a sounding note, an end removes one. (Every end has
        // its start before it: the notes have end > start, unclamped, see
        // analyze_chords, and an end sorts after a start of an earlier tick,
        // so no count goes below 0.) (Arithmetic rather than branches:
        // starts and ends alternate unpredictably.)
        const uint32_t pitch = p & 127;
        const int64_t c = cnt_[pitch];
        const int64_t start = static_cast<int64_t>((p >> 8) & 1);
        const int64_t delta = 2 * start - 1;
        const int64_t now = c + delta;
        cnt_[pitch] = static_cast<int32_t>(now);
        const size_t pc = pclass_[pitch];
        pc_cnt_[pc] += delta;
        pc_[pc] += delta * static_cast<int64_t>(we - tick) + start * onset_;
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
    // (Pass opens no window when nothing lasts; a window opened at the last
    // tick holds nothing.)
    if (x != first_tick && x != ws_) finalize();
  }

 private:
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
      wlen_ = static_cast<uint64_t>(beat_[si]);
      onset_ = static_cast<int64_t>(kOnset * beat_[si]);
    }
    open_aligned(s.tick + (x - s.tick) / wlen_ * wlen_);
  }

  // Opens the window starting at x, a window edge inside the current meter
  // segment (what open_at(x) does, without its search and division).
  void open_aligned(uint64_t x) {
    ws_ = x;
    we_ = std::min(ws_ + wlen_, seg_end_);
    const int64_t len = static_cast<int64_t>(we_ - ws_);
#if defined(__SSE2__)
    // Two at a time (the counts are below 2^31 and not negative: their low
    // halves times a length below 2^32 are the exact products).
    if (len < (int64_t{1} << 32)) [[likely]] {
      const __m128i l = _mm_set1_epi64x(len);
      unrolled<6>([&](size_t i) {
        const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(pc_cnt_ + 2 * i));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(pc_ + 2 * i), _mm_mul_epu32(c, l));
      });
      return;
    }
#endif
    unrolled<12>([&](size_t i) { pc_[i] = pc_cnt_[i] * len; });
  }

  void finalize() {
    out_.push(ws_, pc_, bass_);
    // Unrolled: GCC makes a fill of 13 words a "rep stos", slow to start.
    unrolled<14>([&](size_t k) { bass_[k] = 0; });
  }

  // From x (inside the open window) past the window's end to b: the windows
  // ending at or before b are finalised; returns where the stretch in the window
  // holding b starts.
  [[gnu::noinline]] uint64_t cross(uint64_t x, uint64_t b, uint64_t m0, uint64_t m1) {
    while (we_ <= b) {
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
          out_.repeat(n - 2);
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
  const std::vector<double>& beat_;
  Frames& out_;
  Poller& poller_;
  int32_t cnt_[128] = {};
  // Copies of kPitchClass and kPitchBit in the object (on the stack): the
  // loop addresses them from the stack pointer, with no register of their own.
  uint8_t pclass_[128];
  uint64_t pbit_[128][2];
  int64_t pc_cnt_[12] = {};
  int64_t pc_[12] = {}, bass_[14] = {};  // bass_[12]: time with nothing sounding; [13]: padding
  uint64_t ws_ = 0, we_ = 0, wlen_ = 1, seg_end_ = 0;
  int64_t onset_ = 0;  // a start's onset weight: kOnset x wlen_
  size_t wlen_seg_ = SIZE_MAX;
};

struct Entry {
  uint64_t tick;
  int id;         // root * kChordQualities + quality, or -1 for no chord ("N")
  int bass = 12;  // the span's most frequent bass pitch class (12: none)
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

// The frame length (the beat) of every meter segment: the bar divided by
// the time signature's numerator, or by a third of it in compound metres
// (6/8, 9/8, 12/8, 6/16, ...: dotted beats); 4/4 until the first signature.
std::vector<double> beat_lengths(const DepthInput& in, Meter& meter, bool sub) {
  std::vector<double> beat(meter.size());
  size_t ti = 0;
  uint32_t sig = 4u << 8 | 2;
  for (size_t si = 0; si < meter.size(); ++si) {
    const Meter::Seg& s = meter.seg(si);
    while (ti < in.time_sigs.size() && in.time_sigs[ti].first <= s.tick)
      sig = in.time_sigs[ti++].second;
    const uint32_t nn = sig >> 8, dd = 1u << (sig & 7);
    uint32_t beats = nn;
    if (nn >= 6 && nn % 3 == 0 && dd >= 8) beats = nn / 3;
    beat[si] = beats > 0 ? s.bar_len / beats : s.bar_len;
    if (!(beat[si] > 0)) beat[si] = meter.quarter();
    if (sub) beat[si] /= (beats != nn ? 3 : 2);
  }
  return beat;
}

// The pitch classes of the key (tonic, minor) as a 12-bit mask: the major
// scale, or the natural minor with the raised seventh.
unsigned key_mask(const KeyEstimate& k) {
  constexpr unsigned kMajor = 0xAB5, kMinor = 0xDAD;  // {0,2,4,5,7,9,11}, {0,2,3,5,7,8,10,11}
  const unsigned m = k.minor ? kMinor : kMajor;
  const unsigned t = static_cast<unsigned>(k.tonic) % 12;
  return ((m << t) | (m >> (12 - t))) & 0xFFF;
}

// The pitch classes of quality q at root r as a 12-bit mask.
unsigned chord_mask(int r, int q) {
  unsigned m = 0;
  for (int i = 0; i < kQualities[q].n; ++i) m |= 1u << ((r + kQualities[q].iv[i]) % 12);
  return m;
}

// The qualities the root pass scores: maj, min, dim, 7, dim7 (the chords
// whose notes name their root; m7, maj7 and m7b5 hold another triad whole,
// and scoring them moved roots to a third away: 75.2% against 73.1% of the
// roots on the labelled pieces).
constexpr int kRootQualities[5] = {0, 1, 2, 8, 12};

// Four floats, lane by lane (a GCC and Clang extension: SSE on x86-64,
// plain scalar code where there are no vectors). The 12 roots are 3 of them.
using F4 = float __attribute__((vector_size(16)));
[[gnu::always_inline]] inline F4 load4(const float* p) noexcept {
  F4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
[[gnu::always_inline]] inline F4 max4(F4 a, F4 b) noexcept { return a < b ? b : a; }
using I4 = int32_t __attribute__((vector_size(16)));
// Bit i set when lane i of m is set (a comparison's result: all ones or 0).
[[gnu::always_inline]] inline unsigned lanes(I4 m) noexcept {
#if defined(__SSE__)
  return static_cast<unsigned>(__builtin_ia32_movmskps(reinterpret_cast<F4>(m)));
#else
  return (m[0] & 1u) | (m[1] & 2u) | (m[2] & 4u) | (m[3] & 8u);
#endif
}

// Per frame, per root, the best score of the root pass's qualities (times
// the frame's count), then the Viterbi step; returns the root of every
// frame. (One function: the steps share the per-frame state.) The 12 roots
// are 3 vectors of 4.
std::vector<int8_t> roots_of(const std::vector<Frame>& frames, Meter& meter,
                             const std::vector<double>& beat, unsigned key, Poller& poller) {
  const Params& p = params();
  // The constant part of each (quality, root) score: - prior + key bonus.
  alignas(16) float base[5][12];
  for (int j = 0; j < 5; ++j) {
    for (int r = 0; r < 12; ++r) {
      const int q = kRootQualities[j];
      base[j][r] = static_cast<float>(-prior(q) - (q == 2 ? p.dim : 0) +
                                      ((chord_mask(r, q) & ~key) == 0 ? p.key : 0));
    }
  }
  // The bass bonus by the frame's bass (row 12: none).
  alignas(16) float bonus[13][12] = {};
  for (int b = 0; b < 12; ++b) bonus[b][b] = static_cast<float>(p.bass);
  const size_t n = frames.size();
  std::vector<uint16_t> moved(n);
  std::vector<uint8_t> from(n);
  F4 v[3] = {};
  BarCursor bars(meter);
  size_t seg = 0;
  const auto pedal_frames = static_cast<uint64_t>(p.pedal_frames);
  uint64_t held = 0;      // frames with the bass of this one, up to it
  uint32_t held_pc = 12;  // that bass
  for (size_t f = 0; f < n; ++f) {
    poller.step();
    const Frame& fr = frames[f];
    held = fr.bass == held_pc ? held + fr.reps + 1 : fr.reps + 1;
    held_pc = fr.bass;
    const bool pedal = fr.bass < 12 && held > pedal_frames;
    F4 e[3] = {};
    if (fr.bass < 12) {
      // Each template's share of the frame: x2 holds the times twice over,
      // so that root r's intervals are x2[r + i].
      alignas(16) float x2[24];
      std::memcpy(x2, fr.x, sizeof fr.x);
      std::memcpy(x2 + 12, fr.x, sizeof fr.x);
      float inv = fr.inv;
      if (pedal) [[unlikely]] {
        float total = 0;
        for (int i = 0; i < 12; ++i) total += x2[i];
        const float b = x2[fr.bass] * static_cast<float>(p.pedal_weight);
        total += b - x2[fr.bass];
        x2[fr.bass] = x2[fr.bass + 12] = b;
        inv = total > 0 ? 1 / total : 0;
      }
      const F4 two = {2 * inv, 2 * inv, 2 * inv, 2 * inv};
      unrolled<3>([&](size_t k) {
        const float* w = x2 + 4 * k;
        const F4 w0 = load4(w), w3 = load4(w + 3), w4 = load4(w + 4), w6 = load4(w + 6),
                 w7 = load4(w + 7), w9 = load4(w + 9), w10 = load4(w + 10);
        const F4 s047 = w0 + w4 + w7, s037 = w0 + w3 + w7, s036 = w0 + w3 + w6;
        const F4 m0 =
            max4(two * s047 + load4(base[0] + 4 * k), two * s037 + load4(base[1] + 4 * k));
        const F4 m1 =
            max4(two * s036 + load4(base[2] + 4 * k), two * (s047 + w10) + load4(base[3] + 4 * k));
        e[k] = max4(max4(m0, m1), two * (s036 + w9) + load4(base[4] + 4 * k)) +
               load4(bonus[pedal ? 12 : fr.bass] + 4 * k);
      });
    }
    // The change penalty by the frame's place in the bar.
    double pos;
    bars.bar_of(fr.tick, pos);
    while (seg + 1 < meter.size() && meter.seg(seg + 1).tick <= fr.tick) ++seg;
    // (Whole when its truncation equals it, as floor would say below 2^62;
    // a cast is cheaper than floor without SSE4.1.)
    const double in_beat = pos / beat[seg];
    const bool on_beat = std::fabs(in_beat) < 0x1p62
                             ? static_cast<double>(static_cast<int64_t>(in_beat)) == in_beat
                             : in_beat == std::floor(in_beat);
    const float pen = static_cast<float>(pos == 0  ? p.change_bar
                                         : on_beat ? p.change_beat
                                                   : p.change_sub);
    // The best state (the first of the best) and the step.
    const F4 t = max4(max4(v[0], v[1]), v[2]);
    const float vmax = std::max(std::max(t[0], t[1]), std::max(t[2], t[3]));
    const F4 vm = {vmax, vmax, vmax, vmax};
    const unsigned at_top = lanes(v[0] == vm) | lanes(v[1] == vm) << 4 | lanes(v[2] == vm) << 8;
    const float mv = vmax - pen, count = static_cast<float>(fr.reps) + 1;
    const F4 move = {mv, mv, mv, mv}, cnt = {count, count, count, count};
    unsigned m = 0;
    unrolled<3>([&](size_t k) {
      const I4 take = move > v[k];
      m |= lanes(take) << (4 * k);
      // (Kept near 0: the best path's score is subtracted.)
      v[k] = (take ? move : v[k]) - vm + e[k] * cnt;
    });
    moved[f] = static_cast<uint16_t>(m);
    from[f] = static_cast<uint8_t>(std::countr_zero(at_top));
  }
  alignas(16) float last[12];
  std::memcpy(last, v, sizeof last);
  std::vector<int8_t> root(n);
  int s = 0;
  for (int r = 1; r < 12; ++r) s = last[r] > last[s] ? r : s;
  for (size_t f = n; f-- > 0;) {
    root[f] = static_cast<int8_t>(s);
    if ((moved[f] >> s) & 1) s = from[f];
  }
  return root;
}

// The family of each frame within its span of one root (0 major: maj, 7;
// 1 minor; 2 diminished: dim, dim7), by a Viterbi pass over each span with
// the root pass's scores for that root; changing family costs
// Params::family. A root state may hold C, then Cm, then the diminished
// seventh C Eb F# A (which step 4 may name after another of its notes) at no
// cost in the root pass: here they become chords of their own. (One
// function: a span's scores and steps share its root's intervals.)
std::vector<uint8_t> families_of(const std::vector<Frame>& frames, const std::vector<int8_t>& root,
                                 Poller& poller) {
  const Params& p = params();
  const float pen = static_cast<float>(p.family);
  const float pr_maj = static_cast<float>(prior(0)), pr_7 = static_cast<float>(prior(8)),
              pr_min = static_cast<float>(prior(1)), pr_dim = static_cast<float>(prior(2) + p.dim),
              pr_dim7 = static_cast<float>(prior(12));
  const size_t n = frames.size();
  std::vector<uint8_t> fam(n, 0);
  std::vector<uint8_t> step(n);  // bits 0-2: the family came from another; bits 4-5: which
  for (size_t a = 0; a < n;) {
    size_t b = a + 1;
    while (b < n && root[b] == root[a]) ++b;
    if (b - a > 1) {
      poller.step(b - a);
      // The pitch classes of the root's intervals.
      const size_t r = static_cast<size_t>(root[a]);
      const auto at = [r](size_t i) { return r + i < 12 ? r + i : r + i - 12; };
      const size_t i0 = r, i3 = at(3), i4 = at(4), i6 = at(6), i7 = at(7), i9 = at(9), i10 = at(10);
      // Each family's score in frame f (times its count).
      const auto score = [&](size_t f, float(&e)[3]) __attribute__((always_inline)) {
        const Frame& fr = frames[f];
        const float* x = fr.x;
        // (0 in a silent frame, which continues the chord around it)
        const float c = fr.bass < 12 ? static_cast<float>(fr.reps) + 1 : 0, two = 2 * fr.inv;
        const float s047 = x[i0] + x[i4] + x[i7], s036 = x[i0] + x[i3] + x[i6];
        e[0] = c * std::max(two * s047 - pr_maj, two * (s047 + x[i10]) - pr_7);
        e[1] = c * (two * (x[i0] + x[i3] + x[i7]) - pr_min);
        e[2] = c * std::max(two * s036 - pr_dim, two * (s036 + x[i9]) - pr_dim7);
      };
      float v[3];
      score(a, v);
      for (size_t f = a + 1; f < b; ++f) {
        float e[3];
        score(f, e);
        const int best = v[2] > std::max(v[0], v[1]) ? 2 : v[1] > v[0] ? 1 : 0;
        const float move = v[best] - pen;
        const bool t0 = move > v[0], t1 = move > v[1], t2 = move > v[2];
        v[0] = (t0 ? move : v[0]) + e[0];
        v[1] = (t1 ? move : v[1]) + e[1];
        v[2] = (t2 ? move : v[2]) + e[2];
        step[f] = static_cast<uint8_t>(best << 4 | t2 << 2 | t1 << 1 | static_cast<int>(t0));
      }
      int s = v[2] > std::max(v[0], v[1]) ? 2 : v[1] > v[0] ? 1 : 0;
      for (size_t f = b; f-- > a;) {
        fam[f] = static_cast<uint8_t>(s);
        if ((step[f] >> s) & 1) s = step[f] >> 4;
      }
    }
    a = b;
  }
  return fam;
}

// The local key over time: KeyTimeline's model (decode_key_path) over
// segments of kKeySegmentBeats quarter notes, longer when a file would need
// more than KeyTimeline::kMaxSegments. Each span of one chord adds its
// shares (its frames alike, as for the piece's key), spread evenly over the
// segments it covers.
class LocalKeys {
 public:
  LocalKeys(uint64_t t0, uint64_t last, double quarter) : t0_(t0) {
    last = std::max(last, t0);
    seg_ = std::max<uint64_t>(
        {1, floor_u64(kKeySegmentBeats * quarter), (last - t0) / KeyTimeline::kMaxSegments + 1});
    v_.assign(static_cast<size_t>((last - t0) / seg_ + 1) * 12, 0.0F);
  }
  void add(uint64_t start, uint64_t end, const float (&x)[12]) {
    const size_t n = v_.size() / 12;
    const size_t a = std::min(static_cast<size_t>((start - t0_) / seg_), n - 1);
    const size_t b =
        end > start ? std::min(std::max(a, static_cast<size_t>((end - 1 - t0_) / seg_)), n - 1) : a;
    const float c = 1.0F / static_cast<float>(b - a + 1);
    for (size_t i = a; i <= b; ++i) {
      unrolled<12>([&](size_t j) { v_[i * 12 + j] += c * x[j]; });
    }
  }
  // The local key's tonic at `tick` (the keys are decoded at the first call:
  // most files never ask).
  int tonic(uint64_t tick) {
    if (keys_.empty()) {
      keys_.resize(v_.size() / 12);
      decode_key_path(v_.data(), keys_.size(), KeyProfile::albrecht_shanahan, KeySectionParams{},
                      keys_.data());
    }
    const size_t i = std::min(static_cast<size_t>((tick - t0_) / seg_), keys_.size() - 1);
    return keys_[i] % 12;
  }

 private:
  uint64_t t0_, seg_ = 1;
  std::vector<float> v_;
  std::vector<uint8_t> keys_;
};

// The chord of a span of frames of root r: the quality of best score over
// all templates, or -1 ("N") when its cosine is below the threshold.
int quality_of(const double (&x)[12], int r) {
  double total = 0, sumsq = 0, w2[24];
  for (int i = 0; i < 12; ++i) {
    total += x[i];
    sumsq += x[i] * x[i];
    w2[i] = w2[i + 12] = x[i];
  }
  if (!(total > 0)) return -1;
  // The weight under every template (as spelled in kQualities; templates
  // that start alike share their partial sums).
  const double* w = w2 + r;
  const double s04 = w[0] + w[4], s047 = s04 + w[7], s03 = w[0] + w[3], s037 = s03 + w[7];
  const double s036 = s03 + w[6], s02 = w[0] + w[2], s024 = s02 + w[4], s0247 = s024 + w[7];
  const double s057 = w[0] + w[5] + w[7];
  const double in[kTemplates] = {s047,          s037,          s036,
                                 s04 + w[8],    s02 + w[7],    s057,
                                 s047 + w[9],   s037 + w[9],   s047 + w[10],
                                 s047 + w[11],  s037 + w[10],  s036 + w[10],
                                 s036 + w[9],   s057 + w[10],  s0247,
                                 s0247 + w[10], s0247 + w[11], s02 + w[3] + w[7] + w[10]};
  int pick = 0;
  double pick_score = -1e300;
  unrolled<kTemplates>([&](size_t q) {
    const double score = 2 * in[q] - kPrior[q] * total;  // (times total)
    if (score > pick_score) {
      pick = static_cast<int>(q);
      pick_score = score;
    }
  });
  const double cosine = in[pick] / std::sqrt(sumsq * kQualities[pick].n);
  return cosine < kParams.no_chord ? -1 : r * kChordQualities + pick;
}

// quality_of spells the templates of kQualities out; this checks that they
// are the ones it spells.
constexpr bool spelled_as_in_quality_of() {
  constexpr uint8_t kSpelled[kTemplates][5] = {
      {0, 4, 7},        {0, 3, 7},        {0, 3, 6},       {0, 4, 8},     {0, 2, 7},
      {0, 5, 7},        {0, 4, 7, 9},     {0, 3, 7, 9},    {0, 4, 7, 10}, {0, 4, 7, 11},
      {0, 3, 7, 10},    {0, 3, 6, 10},    {0, 3, 6, 9},    {0, 5, 7, 10}, {0, 2, 4, 7},
      {0, 2, 4, 7, 10}, {0, 2, 4, 7, 11}, {0, 2, 3, 7, 10}};
  for (int q = 0; q < kTemplates; ++q) {
    for (int i = 0; i < 5; ++i) {
      if (kQualities[q].iv[i] != kSpelled[q][i]) return false;
    }
  }
  return true;
}
static_assert(spelled_as_in_quality_of());

// A triad over a bass a third below its root is the seventh chord on the
// bass in root position (D F A over B: Bm7b5; B D F over G: G7; C E G over
// A: Am7; E G B over C: Cmaj7), and so is a sixth chord over its sixth (D F
// A B over B: Bm7b5; C E G A over A: Am7). `b`: the span's bass (its most
// frequent one; have_bass false: none).
int seventh_over_bass(int id, int b, bool have_bass) {
  if (!have_bass) return id;
  const int r = id / kChordQualities, q = id % kChordQualities;
  const int below = (r - b + 12) % 12;  // the bass this far below the root
  int seventh = -1;
  if (below == 3 && q == 1)
    seventh = 11;  // min over a minor third: m7b5
  else if (below == 4 && q == 2)
    seventh = 8;  // dim over a major third: 7
  else if (below == 3 && q == 0)
    seventh = 10;  // maj over a minor third: m7
  else if (below == 4 && q == 1)
    seventh = 9;  // min over a major third: maj7
  else if (below == 3 && q == 7)
    seventh = 11;  // m6 over its sixth (D F A B over B): m7b5
  else if (below == 3 && q == 6)
    seventh = 10;  // 6 over its sixth (C E G A over A): m7
  return seventh < 0 ? id : b * kChordQualities + seventh;
}

}  // namespace

std::string_view chord_quality_name(int q) noexcept {
  return q >= 0 && q < kChordQualities ? kQualities[q].name : "none";
}
std::string_view chord_suffix(int q) noexcept {
  return q >= 0 && q < kChordQualities ? kQualities[q].suffix : "";
}

namespace depth_detail {

// The boundaries, the frames, the roots, the spans' qualities, then the
// summary: one screen would hide the order of the steps.
void analyze_chords(const DepthInput& in, Clock& clock, Meter& meter, Depth& d, Poller& poller) {
  // The boundaries of the non-drum notes with a length, sorted: the
  // analysis's (drum boundaries are skipped) when it passed them on and no
  // tick reached the clamp below, else built here. Either way every note
  // has end > start (IntPass::run relies on it).
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

  // 1. The frames. The integer pass reads the non-drum boundaries only:
  // those in [first_i, last_i) when no drum boundary lies among them, else a
  // copy without the drums (made without branches: drum and other
  // boundaries alternate unpredictably).
  const std::vector<double> beat = beat_lengths(in, meter, true);
  const std::vector<double> beat_only = beat_lengths(in, meter, false);
  Frames frames;
  {
    // At most one frame per window, and (the held windows merged) about
    // one per boundary: the smaller of the two, so that a sparse file with
    // long deltas reserves little.
    const double shortest = *std::min_element(beat.begin(), beat.end());
    const double windows = static_cast<double>(last - first) / shortest + 2;
    const double bounded = static_cast<double>(last_i - first_i) / 2 + 2;
    frames.v.reserve(static_cast<size_t>(std::min(windows, bounded)));
  }
  poller.step(last_i - first_i);
  if (IntPass::usable(beat, last, points.size() / 2 + 1)) {
    // (Not looked for when the analysis read no drum note, or in our own.)
    uint64_t any[4] = {};  // (four words: fewer dependencies, fewer loop steps)
    if (!in.boundaries_without_drums && bounds != &own) {
      size_t at = first_i;
      for (; at + 4 <= last_i; at += 4) {
        unrolled<4>([&](size_t j) { any[j] |= points[at + j]; });
      }
      for (; at < last_i; ++at) any[0] |= points[at];
    }
    if (((any[0] | any[1] | any[2] | any[3]) & kDrumBit) == 0) {
      IntPass(points.data() + first_i, last_i - first_i, meter, beat, frames, poller).run();
    } else {
      std::unique_ptr<uint64_t[]> copy(new uint64_t[last_i - first_i]);
      size_t k = 0, i = first_i;
      const uint64_t* const pts = points.data();
      for (; i + 4 <= last_i; i += 4) {  // (unrolled: fewer loop steps)
        unrolled<4>([&](size_t j) {
          const uint64_t p = pts[i + j];
          copy[k] = p;
          k += ((p >> 7) & 1) ^ 1;  // (kDrumBit is bit 7)
        });
      }
      for (; i < last_i; ++i) {
        const uint64_t p = pts[i];
        copy[k] = p;
        k += (p & kDrumBit) == 0;
      }
      IntPass(copy.get(), k, meter, beat, frames, poller).run();
    }
  } else {
    Pass(points, meter, beat, frames, poller).run(first_i);
  }
  std::vector<uint64_t>().swap(own);
  if (frames.v.empty()) return;

  // 2. The key of the piece (the frames' pitch classes, each frame alike).
  double hist[12] = {};
  {
    F4 h[3] = {};
    for (const Frame& f : frames.v) {
      const float c = (static_cast<float>(f.reps) + 1) * f.inv;
      const F4 cv = {c, c, c, c};
      unrolled<3>([&](size_t k) { h[k] += load4(f.x + 4 * k) * cv; });
    }
    for (int i = 0; i < 12; ++i) hist[i] = h[i / 4][i % 4];
  }
  const KeyEstimate k =
      estimate_key(std::span<const double, 12>(hist, 12), KeyProfile::albrecht_shanahan);
  const unsigned key = k.found ? key_mask(k) : 0xFFF;

  // 3. The roots and the families, then each span's quality.
  const std::vector<int8_t> root = roots_of(frames.v, meter, beat_only, key, poller);
  const std::vector<uint8_t> fam = families_of(frames.v, root, poller);
  std::vector<Entry> prog;
  LocalKeys local(frames.v.front().tick, last, meter.quarter());
  for (size_t f0 = 0; f0 < frames.v.size();) {
    size_t f1 = f0;
    F4 sum[3] = {};
    float bass[13] = {};
    for (; f1 < frames.v.size() && root[f1] == root[f0] && fam[f1] == fam[f0]; ++f1) {
      poller.step();
      const Frame& fr = frames.v[f1];
      const float c = (static_cast<float>(fr.reps) + 1) * fr.inv;  // (each frame alike)
      const F4 cv = {c, c, c, c};
      unrolled<3>([&](size_t j) { sum[j] += load4(fr.x + 4 * j) * cv; });
      bass[fr.bass] += static_cast<float>(fr.reps) + 1;
    }
    alignas(16) float xf[12];
    std::memcpy(xf, sum, sizeof xf);
    local.add(frames.v[f0].tick,
              f1 < frames.v.size() ? frames.v[f1].tick : std::max(last, frames.v[f0].tick), xf);
    double x[12];
    for (int i = 0; i < 12; ++i) x[i] = xf[i];
    int id = quality_of(x, root[f0]);
    int b = 0;  // the first of the most frequent (with branches, as in Frames::push)
    unrolled<11>([&](size_t j) {
      if (bass[j + 1] > bass[b]) [[unlikely]]
        b = static_cast<int>(j + 1);
    });
    if (id >= 0) id = seventh_over_bass(id, b, bass[b] > 0);
    if (!(prog.empty() && id < 0) && (prog.empty() || prog.back().id != id)) {
      prog.push_back(Entry{frames.v[f0].tick, id, bass[b] > 0 ? b : 12});
    }
    f0 = f1;
  }
  while (!prog.empty() && prog.back().id < 0) prog.pop_back();
  if (prog.empty()) return;
  // 4. The rules that read the local key.
  // A diminished seventh chord has four possible roots (its notes a minor
  // third apart): the one a semitone below where it resolves, the next
  // chord's root (its bass when that is a six-four chord: the cadential
  // six-four after the leading tone of the dominant), else the local key's
  // leading tone, else the leading tone of its dominant, else the one the
  // frames chose.
  for (size_t i = 0; i < prog.size(); ++i) {
    if (prog[i].id < 0 || prog[i].id % kChordQualities != 12) continue;
    const int r = prog[i].id / kChordQualities;
    int pick = -1;
    if (i + 1 < prog.size() && prog[i + 1].id >= 0) {
      int next = prog[i + 1].id / kChordQualities;
      if (prog[i + 1].bass == (next + 7) % 12) next = prog[i + 1].bass;
      if ((next + 11 - r) % 3 == 0) pick = (next + 11) % 12;
    }
    if (pick < 0) {
      const int tonic = local.tonic(prog[i].tick);
      if ((tonic + 11 - r) % 3 == 0)
        pick = (tonic + 11) % 12;
      else if ((tonic + 6 - r) % 3 == 0)
        pick = (tonic + 6) % 12;
    }
    if (pick >= 0) prog[i].id = pick * kChordQualities + 12;
  }
  // An augmented sixth sounds as a dominant seventh on the local key's
  // sixth degree (Ab C Eb F# in C minor: Ab7): read as one when it goes
  // where an augmented sixth goes, a semitone down to the dominant (G) or up
  // a major third to the tonic six-four (C over G). It is named after its
  // raised fourth (F#), a major second below.
  for (size_t i = 0; i + 1 < prog.size(); ++i) {
    if (prog[i].id < 0 || prog[i].id % kChordQualities != 8 || prog[i + 1].id < 0) continue;
    const int r = prog[i].id / kChordQualities, next = prog[i + 1].id / kChordQualities;
    if ((next == (r + 11) % 12 || next == (r + 4) % 12) &&
        r == (local.tonic(prog[i].tick) + 8) % 12) {
      prog[i].id = (r + 10) % 12 * kChordQualities + kAug6;
    }
  }
  // (The new names may have made neighbours equal: merged.)
  prog.erase(std::unique(prog.begin(), prog.end(),
                         [](const Entry& a, const Entry& b) { return a.id == b.id; }),
             prog.end());

  // Summary, weighted by each chord's ticks (to the next entry or the last note end).
  double time[12 * kChordQualities] = {};
  double total = 0, qual = 0;
  std::vector<double> spans;  // each chord's length in bars
  d.chords.reserve(prog.size());
  for (size_t i = 0; i < prog.size(); ++i) {
    poller.step();
    const Entry& e = prog[i];
    const int q = e.id >= 0 ? e.id % kChordQualities : -1;
    // (The names from a table: one string built, no strlen, no append.)
    const ChordName& name = e.id >= 0 ? kChordNames[static_cast<size_t>(e.id)] : kNoChordName;
    ChordEvent c{e.tick, clock.at(e.tick), std::nullopt, std::string(chord_quality_name(q)),
                 std::string(name.text, name.len)};
    if (e.id >= 0) {
      const int r = e.id / kChordQualities;
      c.root = static_cast<int16_t>(r);
      const uint64_t end = i + 1 < prog.size() ? prog[i + 1].tick : std::max(last, e.tick);
      const double dt = static_cast<double>(end - e.tick);
      time[e.id] += dt;
      total += dt;
      qual += dt * quality_weight(q);
      d.has_sevenths |= is_seventh(q);
      d.has_extended |= is_extended(q);
      spans.push_back(dt / meter.seg(meter.seg_of(e.tick)).bar_len);
    }
    d.chords.push_back(std::move(c));
  }
  // The harmonic rhythm: the median chord length against the bar.
  const double median = spans.empty() ? 1 : median_of(spans);
  d.chord_resolution = median <= 0.4 ? "beat" : median <= 0.75 ? "half_bar" : "bar";
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
