// midipipe: key estimation (profile correlation) and key names.
#include "key.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <new>
#include <vector>

namespace midipipe {
namespace {

struct ProfileData {
  std::string_view name;
  double major[12];
  double minor[12];
};

// Tonic first: C, C#, D, ... for a key on C.
constexpr ProfileData kProfiles[] = {
    {"krumhansl_kessler",
     {6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88},
     {6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17}},
    {"temperley_kostka_payne",
     {0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400},
     {0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330}},
    {"temperley_1999",
     {5.0, 2.0, 3.5, 2.0, 4.5, 4.0, 2.0, 4.5, 2.0, 3.5, 1.5, 4.0},
     {5.0, 2.0, 3.5, 4.5, 2.0, 4.0, 2.0, 4.5, 3.5, 2.0, 1.5, 4.0}},
    {"albrecht_shanahan",
     {0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081},
     {0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052}},
    {"aarden_essen",
     {17.7661, 0.145624, 14.9265, 0.160186, 19.8049, 11.3587, 0.291248, 22.062, 0.145624, 8.15494,
      0.232998, 4.95122},
     {18.2648, 0.737619, 14.0499, 16.8599, 0.702494, 14.4362, 0.702494, 18.6161, 4.56621, 1.93186,
      7.37619, 1.75623}},
    {"bellman_budge",
     {16.80, 0.86, 12.95, 1.41, 13.49, 11.93, 1.25, 20.28, 1.80, 8.04, 0.62, 10.57},
     {18.16, 0.69, 12.99, 13.34, 1.07, 11.15, 1.38, 21.07, 7.49, 1.53, 0.92, 10.21}},
};
static_assert(std::size(kProfiles) == static_cast<size_t>(KeyProfile::count_));

// Pearson correlation of x (rotated so that index `tonic` comes first) with p.
double correlate(const double (&x)[12], int tonic, const double (&p)[12]) noexcept {
  double mx = 0, mp = 0;
  for (int i = 0; i < 12; ++i) {
    mx += x[i];
    mp += p[i];
  }
  mx /= 12;
  mp /= 12;
  double sxy = 0, sxx = 0, spp = 0;
  for (int i = 0; i < 12; ++i) {
    const double dx = x[(i + tonic) % 12] - mx;
    const double dp = p[i] - mp;
    sxy += dx * dp;
    sxx += dx * dx;
    spp += dp * dp;
  }
  if (sxx <= 0 || spp <= 0) return 0;
  return sxy / std::sqrt(sxx * spp);
}

// (best - second) / (1 - second) in 0..1; see estimate_key.
double margin_confidence(double best, double second) noexcept {
  double conf = 0;
  if (best > 0 && best > second && second < 1) conf = (best - second) / (1 - second);
  if (!(conf >= 0)) conf = 0;
  if (conf > 1) conf = 1;
  return conf;
}

}  // namespace

std::string_view key_profile_name(KeyProfile p) noexcept {
  const auto i = static_cast<size_t>(p);
  return i < std::size(kProfiles) ? kProfiles[i].name : std::string_view("unknown");
}

KeyEstimate estimate_key(std::span<const double, 12> hist, KeyProfile profile) noexcept {
  KeyEstimate r;
  const auto pi = static_cast<size_t>(profile);
  if (pi >= std::size(kProfiles)) return r;
  const ProfileData& pd = kProfiles[pi];
  double x[12];
  double total = 0;
  for (int i = 0; i < 12; ++i) {
    x[i] = std::isfinite(hist[i]) && hist[i] > 0 ? hist[i] : 0;
    total += x[i];
  }
  if (!(total > 0)) return r;

  double best = -2, second = -2;
  int best_tonic = 0;
  bool best_minor = false;
  for (int mode = 0; mode < 2; ++mode) {
    for (int t = 0; t < 12; ++t) {
      const double c = correlate(x, t, mode == 0 ? pd.major : pd.minor);
      if (c > best) {
        second = best;
        best = c;
        best_tonic = t;
        best_minor = mode == 1;
      } else if (c > second) {
        second = c;
      }
    }
  }
  r.found = true;
  r.tonic = best_tonic;
  r.minor = best_minor;
  r.correlation = best;
  r.second = second;
  // Confidence: the margin between the best and the runner-up correlation,
  // relative to the room the best one leaves below a perfect fit:
  //   (r1 - r2) / (1 - r2), in 0..1.
  // 0 when two keys fit equally well (or the best fit is not positive), near 1
  // when one key fits almost perfectly and no other comes close. On the
  // Nottingham set the correctly detected tunes average a clearly higher
  // confidence than the wrong ones (checked by test/analysis key_accuracy).
  r.confidence = margin_confidence(best, second);
  return r;
}

std::string_view key_name(int tonic, bool minor) noexcept {
  static constexpr std::string_view kMajor[12] = {"C major",  "Db major", "D major",  "Eb major",
                                                  "E major",  "F major",  "F# major", "G major",
                                                  "Ab major", "A major",  "Bb major", "B major"};
  static constexpr std::string_view kMinor[12] = {"C minor",  "C# minor", "D minor",  "Eb minor",
                                                  "E minor",  "F minor",  "F# minor", "G minor",
                                                  "G# minor", "A minor",  "Bb minor", "B minor"};
  if (tonic < 0 || tonic > 11) return {};
  return minor ? kMinor[tonic] : kMajor[tonic];
}

std::optional<std::string_view> key_signature_name(int sf, int mi) noexcept {
  static constexpr std::string_view kMajor[15] = {
      "Cb major", "Gb major", "Db major", "Ab major", "Eb major", "Bb major", "F major", "C major",
      "G major",  "D major",  "A major",  "E major",  "B major",  "F# major", "C# major"};
  static constexpr std::string_view kMinor[15] = {
      "Ab minor", "Eb minor", "Bb minor", "F minor",  "C minor",  "G minor",  "D minor", "A minor",
      "E minor",  "B minor",  "F# minor", "C# minor", "G# minor", "D# minor", "A# minor"};
  if (sf < -7 || sf > 7 || (mi != 0 && mi != 1)) return std::nullopt;
  return mi == 1 ? kMinor[sf + 7] : kMajor[sf + 7];
}

// ---- KeyTimeline --------------------------------------------------------
//
// Why a decode over segments and not one histogram: the labelled Nottingham
// tunes (test/analysis/key_accuracy) are labelled with the key they start in
// (the ABC K: field in force when the music starts), and so is the start of
// most music: 35 of the 516 tunes change key (a B part in the dominant or the
// relative key), and the one correlation of the whole histogram got only 17
// of those 35 right, since the second key pulls the histogram towards itself.
// A hidden Markov model over the segments lets the later sections take their
// own key and reports the first; a tune that stays in one key decodes to one
// key throughout (the change probability makes a change cost more than a
// few segments that fit another key slightly better).
//
// The model (as in Temperley, "Music and Probability", 2007, ch. 4, with
// durations instead of presence): the emission of key k for a segment with
// pitch-class durations d (segment units) is weight * sum_pc d[pc] *
// log p_k[pc], p_k the profile normalised to sum 1; a key change has a
// uniform probability per segment; the first key has the prior
// major_probability (split evenly over the 12 tonics of each mode).
//
// The parameters were fitted on the Nottingham tunes and cross-validated
// (key_accuracy --cv: 10 folds over the tunes, a grid of 108 points: 1/2/4
// beats, weight 0.5..4, change 0.3/0.1/0.01, major 0.5/0.75/0.9): held-out
// accuracy 491/516 = 95.16%. The whole-set accuracy is flat around the
// choice (weight per beat 1 wins whatever the segment length; change
// probabilities 0.3 and 0.01 tie at 494/516, the smaller one, a key that
// changes less readily, is kept; the major prior gains one tune over 0.5;
// every one of the 108 grid points beats the one histogram: 480..494).
// On the 48 lieder of chords-labelled/ (never used to fit) the default gives
// 45/48 (one histogram: 42/48), and so did the seven 1- and 2-beat grid
// points tried there. docs/analysis-depth.md has the figures.

void KeyTimeline::start(uint32_t ppq, double ticks_per_second,
                        const KeySectionParams& params) noexcept {
  params_ = params;
  double ticks = 0;
  if (ppq != 0) {
    ticks = static_cast<double>(ppq) * params.beats_per_segment;
  } else if (ticks_per_second > 0) {
    ticks = ticks_per_second * 0.5 * params.beats_per_segment;
  }
  seg_ticks_ = std::isfinite(ticks) && ticks >= 1 && ticks < 1e15
                   ? static_cast<uint64_t>(std::llround(ticks))
                   : 0;
  first_seg_ticks_ = seg_ticks_;
  set_limit();
}

// Ticks up to which the segments allocated at most reach; 0 when unused.
void KeyTimeline::set_limit() noexcept {
  inv_seg_ = seg_ticks_ ? 1.0 / static_cast<double>(seg_ticks_) : 0;
  limit_ = seg_ticks_ && seg_ticks_ <= (uint64_t{1} << 50) ? seg_ticks_ * kMaxSegments
                                                           : (seg_ticks_ ? ~uint64_t{0} : 0);
}

void KeyTimeline::grow(size_t segments) {
  // Geometric growth (from 64 segments), capped at the maximum.
  size_t want = std::max<size_t>({segments, part_.size() / 6, 64});
  want = std::min(want, kMaxSegments);
  part_.resize(want * 12, 0.0F);
  whole_.resize(want * 12, 0);
}

// Segments twice as long: neighbours merged, the values turned back into
// segment units of the new length (estimate() scales the emissions back to
// the original length, so that a beat of notes weighs the same).
void KeyTimeline::fold() {
  const size_t n = used_;
  int32_t run[12] = {};
  for (size_t i = 0; i < n; ++i) {
    for (int pc = 0; pc < 12; ++pc) {
      run[pc] += whole_[i * 12 + pc];
      const float v = (part_[i * 12 + pc] + static_cast<float>(run[pc])) / 2;
      whole_[i * 12 + pc] = 0;
      if (i % 2 == 0) {
        part_[(i / 2) * 12 + pc] = v;
      } else {
        part_[(i / 2) * 12 + pc] += v;
      }
    }
  }
  std::fill(part_.begin() + static_cast<std::ptrdiff_t>(((n + 1) / 2) * 12),
            part_.begin() + static_cast<std::ptrdiff_t>(n * 12), 0.0F);
  used_ = (n + 1) / 2;
  seg_ticks_ *= 2;
  set_limit();
}

void KeyTimeline::add(uint64_t start, uint64_t end, uint8_t pitch) {
  if (seg_ticks_ == 0 || end <= start) return;
  while (end > limit_) fold();
  const uint64_t a = start / seg_ticks_;
  const uint64_t a_end = (a + 1) * seg_ticks_;
  const int pc = pitch % 12;
  if (end <= a_end) {  // within one segment (most notes)
    if (a >= used_) {
      if ((a + 1) * 12 > part_.size()) grow(static_cast<size_t>(a) + 1);
      used_ = static_cast<size_t>(a) + 1;
    }
    part_[a * 12 + pc] += static_cast<float>(static_cast<double>(end - start) * inv_seg_);
    return;
  }
  const uint64_t b = (end - 1) / seg_ticks_;
  if (b >= used_) {
    if ((b + 1) * 12 > part_.size()) grow(static_cast<size_t>(b) + 1);
    used_ = static_cast<size_t>(b) + 1;
  }
  part_[a * 12 + pc] += static_cast<float>(static_cast<double>(a_end - start) * inv_seg_);
  part_[b * 12 + pc] += static_cast<float>(static_cast<double>(end - b * seg_ticks_) * inv_seg_);
  if (b > a + 1) {
    whole_[(a + 1) * 12 + pc] += 1;
    whole_[b * 12 + pc] -= 1;
    have_whole_ = true;
  }
}

namespace {

// log p_k[pc] of each profile, pitch class major: [pc][k], k = major tonics
// 0..11 then minor; computed once.
struct LogProfiles {
  float v[static_cast<size_t>(KeyProfile::count_)][12][24];
};
const LogProfiles& log_profiles() noexcept {
  static const LogProfiles table = [] {
    LogProfiles t{};
    for (size_t p = 0; p < std::size(kProfiles); ++p) {
      for (int mode = 0; mode < 2; ++mode) {
        const double* prof = mode == 0 ? kProfiles[p].major : kProfiles[p].minor;
        double sum = 0;
        for (int i = 0; i < 12; ++i) sum += prof[i];
        for (int tonic = 0; tonic < 12; ++tonic) {
          for (int pc = 0; pc < 12; ++pc) {
            t.v[p][pc][mode * 12 + tonic] =
                static_cast<float>(std::log(prof[(pc - tonic + 12) % 12] / sum));
          }
        }
      }
    }
    return t;
  }();
  return table;
}

}  // namespace

// Viterbi, run from the last segment back to the first: W_t(k) is the best
// log-probability of the segments t.. given key k at t; the key of the first
// segment of the best path is argmax_k W_first(k). No back-pointers are kept
// (only the first key is reported). Per segment with notes: 24 multiply-adds
// per sounding pitch class and 24 for the transition. Consumes the timeline.
KeyEstimate KeyTimeline::estimate(KeyProfile profile, std::span<const double, 12> global) {
  KeyEstimate r;
  const auto pi = static_cast<size_t>(profile);
  if (pi >= std::size(kProfiles) || used_ == 0) return r;
  const ProfileData& pd = kProfiles[pi];
  const auto& logp = log_profiles().v[pi];
  const double eps = std::clamp(params_.change_probability, 1e-12, 0.5);
  const auto stay = static_cast<float>(std::log1p(-eps));
  const auto change = static_cast<float>(std::log(eps / 23));
  const auto weight =
      static_cast<float>((params_.weight > 0 ? params_.weight : 1) *
                         (static_cast<double>(seg_ticks_) / static_cast<double>(first_seg_ticks_)));

  // Segment values: the whole segments (prefix sums of the difference array)
  // added to the partial ones, in place (only when a note covers one whole).
  const size_t n = used_;
  if (have_whole_) {
    int32_t run[12] = {};
    for (size_t i = 0; i < n; ++i) {
      for (int pc = 0; pc < 12; ++pc) {
        run[pc] += whole_[i * 12 + pc];
        part_[i * 12 + pc] += static_cast<float>(run[pc]);
      }
    }
  }
  // Single precision: the values are renormalised every segment (the best
  // key at 0), so they stay small; the result is deterministic either way.
  float w[24] = {};
  bool any = false;
  for (size_t i = n; i-- > 0;) {
    const float* d = &part_[i * 12];
    float e[24] = {};
    bool notes = false;
    for (int pc = 0; pc < 12; ++pc) {
      if (!(d[pc] > 0)) continue;
      notes = true;
      const float x = weight * d[pc];
      for (int k = 0; k < 24; ++k) e[k] += x * logp[pc][k];
    }
    if (!notes) continue;
    if (any) {
      float m = w[0];
      for (int k = 1; k < 24; ++k) m = std::max(m, w[k]);
      const float floor = change + m;
      for (int k = 0; k < 24; ++k) w[k] = e[k] + std::max(w[k] + stay, floor) - m;
    } else {
      for (int k = 0; k < 24; ++k) w[k] = e[k];
      any = true;
    }
  }
  std::vector<float>().swap(part_);
  std::vector<int32_t>().swap(whole_);
  used_ = 0;
  have_whole_ = false;
  if (!any) return r;
  // The prior of the first key (the initial distribution of the chain).
  const double major = std::clamp(params_.major_probability, 1e-6, 1 - 1e-6);
  const auto lmaj = static_cast<float>(std::log(major)),
             lmin = static_cast<float>(std::log1p(-major));
  for (int k = 0; k < 24; ++k) w[k] += k < 12 ? lmaj : lmin;
  int best = 0;
  for (int k = 1; k < 24; ++k) {
    if (w[k] > w[best]) best = k;
  }
  r.found = true;
  r.tonic = best % 12;
  r.minor = best >= 12;
  // Correlation and confidence of that key against the whole histogram, as
  // estimate_key defines them (0 when another key correlates better).
  double x[12];
  for (int i = 0; i < 12; ++i) x[i] = std::isfinite(global[i]) && global[i] > 0 ? global[i] : 0;
  double other = -2;
  for (int k = 0; k < 24; ++k) {
    const double c = correlate(x, k % 12, k < 12 ? pd.major : pd.minor);
    if (k == best) {
      r.correlation = c;
    } else {
      other = std::max(other, c);
    }
  }
  r.second = other;
  r.confidence = margin_confidence(r.correlation, other);
  return r;
}

// The Viterbi of estimate() run forward, with back-pointers: per segment,
// the best key of the segment before and a bit per key that came from it
// rather than stayed. The 24 keys are 6 vectors of 4 floats (a GCC and Clang
// extension: SSE on x86-64, scalar code elsewhere; the same arithmetic in
// the same order either way).
namespace {
using V = float __attribute__((vector_size(16)));
using VI = int32_t __attribute__((vector_size(16)));
V max(V a, V b) noexcept { return a < b ? b : a; }
// Bit i set when lane i of m (a comparison's result: all ones or 0) is set.
uint32_t lanes(VI m) noexcept {
#if defined(__SSE__)
  return static_cast<uint32_t>(__builtin_ia32_movmskps(reinterpret_cast<V>(m)));
#else
  return (m[0] & 1u) | (m[1] & 2u) | (m[2] & 4u) | (m[3] & 8u);
#endif
}
}  // namespace

void decode_key_path(const float* seg, size_t n, KeyProfile profile, const KeySectionParams& params,
                     uint8_t* out) {
  const auto pi = static_cast<size_t>(profile);
  if (n == 0) return;
  if (pi >= std::size(kProfiles)) {
    std::fill(out, out + n, uint8_t{0});
    return;
  }
  const auto& logp = log_profiles().v[pi];
  const double eps = std::clamp(params.change_probability, 1e-12, 0.5);
  const auto stay = static_cast<float>(std::log1p(-eps));
  const auto change = static_cast<float>(std::log(eps / 23));
  const auto weight = static_cast<float>(params.weight > 0 ? params.weight : 1);
  const double major = std::clamp(params.major_probability, 1e-6, 1 - 1e-6);
  const auto lmaj = static_cast<float>(std::log(major)),
             lmin = static_cast<float>(std::log1p(-major));
  std::vector<uint8_t> back(n);
  std::vector<uint32_t> moved(n);
  V w[6];
  for (int j = 0; j < 6; ++j) {
    const float x = j < 3 ? lmaj : lmin;
    w[j] = V{x, x, x, x};
  }
  const V st = {stay, stay, stay, stay};
  for (size_t i = 0; i < n; ++i) {
    const float* d = seg + i * 12;
    V e[6] = {};
    for (int pc = 0; pc < 12; ++pc) {
      if (!(d[pc] > 0)) continue;
      const float x = weight * d[pc];
      const V xv = {x, x, x, x};
      for (int j = 0; j < 6; ++j) {
        V l;
        std::memcpy(&l, &logp[pc][4 * j], sizeof l);
        e[j] += xv * l;
      }
    }
    // The best key (the first of the best) and the step.
    const V m4 = max(max(max(w[0], w[1]), max(w[2], w[3])), max(w[4], w[5]));
    const float m = std::max(std::max(m4[0], m4[1]), std::max(m4[2], m4[3]));
    const V mv = {m, m, m, m};
    uint32_t top = 0;
    for (int j = 0; j < 6; ++j) top |= lanes(w[j] == mv) << (4 * j);
    const int best = top != 0 ? std::countr_zero(top) : 0;  // (0 only were a score NaN)
    const float floor = change + m;
    const V fl = {floor, floor, floor, floor};
    uint32_t bits = 0;
    if (i > 0) {
      for (int j = 0; j < 6; ++j) {
        const V s = w[j] + st;
        const auto take = fl > s;  // all ones where the key came from `best`
        bits |= lanes(take) << (4 * j);
        w[j] = e[j] + (take ? fl : s) - mv;
      }
    } else {
      for (int j = 0; j < 6; ++j) w[j] = e[j] + w[j] - mv;
    }
    back[i] = static_cast<uint8_t>(best);
    moved[i] = bits;
  }
  float wf[24];
  std::memcpy(wf, w, sizeof wf);
  int k = 0;
  for (int j = 1; j < 24; ++j) k = wf[j] > wf[k] ? j : k;
  for (size_t i = n; i-- > 0;) {
    out[i] = static_cast<uint8_t>(k);
    if ((moved[i] >> k) & 1) k = back[i];
  }
}

}  // namespace midipipe
