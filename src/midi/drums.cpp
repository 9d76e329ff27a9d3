// midipipe: drum analysis (see docs/analysis-depth.md, "Drums"). Only notes
// on channel index 9 are drums.
//
//   * classes: GM drum keys (35/36 kick, 38/40 snare, 37 side stick, 39 clap,
//     42 closed hi-hat, 44 pedal hi-hat, 46 open hi-hat, 41/43/45/47/48/50
//     toms, 49/57 crash, 51/59 ride, 53 ride bell, 52 china, 55 splash, any
//     other key percussion).
//   * ghost note: a snare hit (38/40) below 60% of the snares' 90th
//     percentile velocity (the accent level).
//   * flam: two snare/tom onsets less than 30 ms apart (and not at the same
//     tick); a pair is counted once.
//   * double bass: a run of at least 4 kick onsets each at most a 16th (PPQ/4
//     ticks, +5%) after the previous one.
//   * swing: per beat with onsets, the onsets strictly inside the beat; when
//     they all sit at one position p (within 1/12 beat) with 0.4 <= p <= 0.8,
//     the beat is an off-beat-8th sample of ratio p / (1 - p). swing_ratio is
//     the median over at least 4 samples. feel: straight below 1.25; shuffled
//     from 1.6 when at least 75% of the beats with drum onsets are samples
//     (long-short on every beat); swung otherwise. Without samples, straight
//     when at least 4 beats have inner onsets and 80% of those lie within
//     1/20 beat of the 16th grid; otherwise NULL.
//   * pattern: each bar's hits as onsets on the 16th grid (position rounded
//     to the nearest 16th; a hit at most PPQ/16 ticks before a bar line whose
//     nearest 16th is that line counts as the next bar's downbeat, played
//     early) in four instrument groups with weights: kick 2; snare, side
//     stick and clap 2; hi-hats and ride 1; other percussion 1 (toms and
//     crash/china/splash cymbals, the fills' and accents' voices, 0). Two bars
//     are alike when the weighted share of their onsets that find an onset of
//     the same group within one 16th in the other bar is at least 60%. For a
//     period P in 1..8 (with at least two periods of bars), the bars at each
//     phase of P get a prototype: of up to 16 of them, evenly spaced, the one
//     most alike the others (summed likeness), which must hold weighted hits;
//     pattern_bars = the smallest P at which the bars (first to last drum
//     bar, empty ones included) repeat exactly (every hit's 16th and class)
//     for at least 75% of them (a programmed loop keeps its exact length);
//     else the smallest P for which at least 75% of all bars are alike their
//     phase's prototype. Either way loops = true (the file is mostly that
//     pattern); otherwise the number of drum bars when at most 8 (loops = false), else
//     NULL. Human drumming never repeats exactly: ghost notes, hi-hat
//     variations and timing a 16th off still loop; a fill bar does not.
#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <span>

#include "depth_internal.hpp"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <cpuid.h>
#endif

namespace midipipe {
namespace {

constexpr const char* kClassNames[kDrumClasses] = {
    "kick", "snare", "side_stick", "clap",      "hihat_closed", "hihat_pedal", "hihat_open",
    "toms", "crash", "ride",       "ride_bell", "china",        "splash",      "percussion"};

enum Cls {
  kick,
  snare,
  side_stick,
  clap,
  hh_closed,
  hh_pedal,
  hh_open,
  toms,
  crash,
  ride,
  ride_bell,
  china,
  splash,
  percussion
};

constexpr int class_of_key(int key) noexcept {
  switch (key) {
    case 35:
    case 36:
      return kick;
    case 38:
    case 40:
      return snare;
    case 37:
      return side_stick;
    case 39:
      return clap;
    case 42:
      return hh_closed;
    case 44:
      return hh_pedal;
    case 46:
      return hh_open;
    case 41:
    case 43:
    case 45:
    case 47:
    case 48:
    case 50:
      return toms;
    case 49:
    case 57:
      return crash;
    case 51:
    case 59:
      return ride;
    case 53:
      return ride_bell;
    case 52:
      return china;
    case 55:
      return splash;
    default:
      return percussion;
  }
}

}  // namespace

std::string_view drum_class_name(int cls) noexcept {
  return cls >= 0 && cls < kDrumClasses ? kClassNames[cls] : "";
}

int drum_class_of(int key) noexcept { return class_of_key(key); }

namespace depth_detail {

namespace {
// drum_class_of() of every key byte.
constexpr std::array<uint8_t, 256> kClassOf = [] {
  std::array<uint8_t, 256> t{};
  for (int k = 0; k < 256; ++k) t[static_cast<size_t>(k)] = static_cast<uint8_t>(class_of_key(k));
  return t;
}();

// The pattern's instrument group of each class (kGroups = none) and the
// groups' weights.
constexpr int kGroups = 4;
constexpr std::array<uint8_t, kDrumClasses> kGroupOf = [] {
  std::array<uint8_t, kDrumClasses> t{};
  t.fill(kGroups);
  t[kick] = 0;
  t[snare] = t[side_stick] = t[clap] = 1;
  t[hh_closed] = t[hh_pedal] = t[hh_open] = t[ride] = t[ride_bell] = 2;
  t[percussion] = 3;
  return t;
}();
constexpr uint64_t kGroupWeight[kGroups] = {2, 2, 1, 1};

// Set bits of x, inline (std::popcount is a library call without -mpopcnt,
// which the baseline x86-64 target lacks).
constexpr int bits_set(uint64_t x) noexcept {
  x -= (x >> 1) & 0x5555555555555555ull;
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
  return static_cast<int>((x * 0x0101010101010101ull) >> 56);
}

// One bar's onsets: bit u of g[k] = an onset of group k at 16th u (u < 64);
// exact = the sum of a hash of every (16th, class) of the bar, for exact
// repetition. near and weight are derived by finish().
struct BarBits {
  uint64_t g[kGroups];
  uint64_t exact;
  uint64_t near[kGroups];  // g[k] widened by one 16th either way
  uint64_t weight;         // the weighted number of onsets
  void finish() noexcept {
    weight = 0;
    for (int k = 0; k < kGroups; ++k) {
      near[k] = g[k] | (g[k] << 1) | (g[k] >> 1);
      weight += kGroupWeight[k] * static_cast<uint64_t>(bits_set(g[k]));
    }
  }
};

// Whether the weighted onsets of a and b that find a partner of their group
// within one 16th in the other bar are at least 60% of all their weighted
// onsets (10 * found >= 6 * total; two empty bars are alike). Pop counts the
// set bits (bits_set, or the popcnt instruction: see loop_period).
template <class Pop>
inline bool alike(const BarBits& a, const BarBits& b, Pop pop) noexcept {
  uint64_t found = 0;
  for (int k = 0; k < kGroups; ++k) {
    found +=
        kGroupWeight[k] * static_cast<uint64_t>(pop(a.g[k] & b.near[k]) + pop(b.g[k] & a.near[k]));
  }
  return 10 * found >= 6 * (a.weight + b.weight);
}

// The smallest P in 1..8 with at least two periods in which bar i equals bar
// i - P exactly for at least 75% of the bars, 0 when none.
uint32_t exact_period(const std::vector<BarBits>& bars) {
  const size_t nb = bars.size();
  for (size_t p = 1; p <= 8 && 2 * p <= nb; ++p) {
    size_t match = 0;
    for (size_t i = p; i < nb; ++i) match += bars[i].exact == bars[i - p].exact;
    if (4 * match >= 3 * (nb - p)) return static_cast<uint32_t>(p);
  }
  return 0;
}

// How many bars of a phase are tried as its prototype.
constexpr size_t kCandidates = 8;

// The smallest period P in 1..8 of `bars` as defined above, 0 when none.
template <class Pop>
inline __attribute__((always_inline)) uint32_t loop_period_with(const std::vector<BarBits>& bars,
                                                                Pop pop) {
  const size_t nb = bars.size();
  for (size_t p = 1; p <= 8 && 2 * p <= nb; ++p) {
    size_t alike_bars = 0;
    bool ok = true;
    for (size_t ph = 0; ph < p && ok; ++ph) {
      const size_t members = (nb - ph + p - 1) / p;  // bars ph, ph + p, ...
      const size_t ncand = std::min<size_t>(members, kCandidates);
      size_t best = 0, best_score = 0;
      for (size_t c = 0; c < ncand; ++c) {
        const BarBits& cand = bars[ph + (c * members / ncand) * p];
        size_t score = 0;
        for (size_t i = ph; i < nb; i += p) score += alike(cand, bars[i], pop);
        if (c == 0 || score > best_score) {
          best = ph + (c * members / ncand) * p;
          best_score = score;
        }
        // Enough for this phase: a better prototype cannot change the verdict
        // (every phase at 75% makes the whole 75%).
        if (4 * best_score >= 3 * members && bars[best].weight != 0) break;
      }
      ok = bars[best].weight != 0;
      alike_bars += best_score;
    }
    if (ok && 4 * alike_bars >= 3 * nb) return static_cast<uint32_t>(p);
  }
  return 0;
}

// loop_period_with() counts about eight bit sets per pair of bars compared:
// the popcnt instruction where the CPU has it (the baseline x86-64 target
// lacks it), bits_set() elsewhere; the same counts either way.
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
__attribute__((target("popcnt"))) uint32_t loop_period_popcnt(const std::vector<BarBits>& bars) {
  return loop_period_with(bars, [](uint64_t x) { return __builtin_popcountll(x); });
}
// CPUID leaf 1, ECX bit 23 (as sha256.cpp asks for SHA-NI: no dependence on
// the order of static initialisers, as __builtin_cpu_supports would have).
bool cpu_has_popcnt() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 23)) != 0;
}
const bool kHasPopcnt = cpu_has_popcnt();
#endif

uint32_t loop_period(const std::vector<BarBits>& bars) {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  if (kHasPopcnt) return loop_period_popcnt(bars);
#endif
  return loop_period_with(bars, [](uint64_t x) { return bits_set(x); });
}
}  // namespace

namespace {
// The groups of notes starting together that hold drum notes, when
// performance() did not list them (no PPQ or no notes): the bar and the
// position are only found with a PPQ.
std::vector<DrumOnset> find_drum_onsets(const DepthInput& in, Meter& meter, Poller& poller) {
  std::vector<DrumOnset> out;
  const std::vector<DepthNote>& notes = in.notes;
  BarCursor bars_at(meter);
  for (size_t i = 0; i < notes.size();) {
    size_t j = i;
    bool drum = false;
    do {
      drum |= notes[j].channel == kDrumChannel;
      ++j;
    } while (j < notes.size() && notes[j].start == notes[i].start);
    poller.step(j - i);
    if (drum) {
      DrumOnset o{notes[i].start, 0, 0, i, j, false};
      if (in.ppq != 0) o.bar = bars_at.bar_of(o.start, o.pos);
      o.whole = whole_pos(o.pos);
      out.push_back(o);
    }
    i = j;
  }
  return out;
}
}  // namespace

// One walk over the groups of notes holding drum notes (DrumOnset): per
// group, its bar, beat and pattern position; per drum note, its class, the
// counts by class, the snare hits by velocity, the snare and tom onsets
// (flams), the kick onsets (double bass) and the bar's pattern bits. Then
// each field from what the walk gathered. (Long: the walk's state is shared
// by the swing, feel and pattern definitions above.)
void analyze_drums(const DepthInput& in, Clock& clock, Meter& meter, Depth& d, Poller& poller,
                   const DrumOnsets* listed) {
  std::vector<DrumOnset> found;
  std::span<const DrumOnset> onsets;
  if (listed == nullptr) {
    found = find_drum_onsets(in, meter, poller);
    onsets = found;
  } else {
    onsets = std::span<const DrumOnset>(listed->v.get(), listed->size);
  }
  if (onsets.empty()) return;
  // Room for the snare/tom and kick onsets: the notes of the groups.
  size_t room = 0;
  for (const DrumOnset& o : onsets) room += o.end - o.first;
  poller.step(onsets.size());
  const auto picked = std::make_unique_for_overwrite<uint64_t[]>(2 * (room + 1));
  uint64_t* const snare_toms = picked.get();
  uint64_t* const kicks = snare_toms + room + 1;
  size_t nsnare_toms = 0, nkicks = 0;
  uint64_t snare_vel[256] = {};
  const DepthNote* const notes = in.notes.data();
  // A drum note counted (branch-free); returns its class.
  const auto count_hit = [&](const DepthNote& n) {
    const uint8_t cls = kClassOf[n.pitch];
    ++d.drum_counts[cls];
    snare_vel[n.velocity] += cls == snare;
    snare_toms[nsnare_toms] = n.start;
    nsnare_toms += (cls == snare) | (cls == toms);
    kicks[nkicks] = n.start;
    nkicks += cls == kick;
    return cls;
  };
  // ghost notes and flams, from the counts (no PPQ needed)
  const auto ghosts_and_flams = [&]() {
    if (const uint64_t snares = d.drum_counts[snare]; snares != 0) {
      // The k-th smallest snare velocity (as a 7-bit value), k = (snares - 1) * 9 / 10.
      const uint64_t k = (snares - 1) * 9 / 10;
      uint64_t below = 0;
      int v = 0;
      while (below + snare_vel[v] + snare_vel[v + 128] <= k) {
        below += snare_vel[v] + snare_vel[v + 128];
        ++v;
      }
      const double accent = v;
      for (int vel = 0; vel < 256; ++vel) {
        if (vel < 0.6 * accent) d.ghost_notes += snare_vel[vel];
      }
    }
    bool have = false;
    uint64_t prev_tick = 0;
    double prev_sec = 0;
    for_polled(&poller, nsnare_toms, [&](size_t i) {
      const uint64_t tick = snare_toms[i];
      const double sec = clock.at(tick);
      if (have && tick != prev_tick && sec - prev_sec < 0.030) {
        ++d.flams;
        have = false;  // the pair is used up
        return;
      }
      have = true;
      prev_tick = tick;
      prev_sec = sec;
    });
  };
  if (in.ppq == 0) {
    for (const DrumOnset& o : onsets) {
      poller.step(o.end - o.first);
      for (size_t k = o.first; k < o.end; ++k) {
        if (notes[k].channel == kDrumChannel) count_hit(notes[k]);
      }
    }
    ghosts_and_flams();
    return;
  }
  const double q = in.ppq;

  // swing, feel, bar pattern: one walk over the distinct onsets by beat.
  std::vector<double> ratios;
  uint64_t beats_with_hits = 0, inner_beats = 0, inner_onsets = 0, inner_on16 = 0;
  std::vector<std::pair<uint64_t, BarBits>> bar_bits;  // (bar, onsets) for bars with hits
  bool pattern_sorted = true;                          // bar_bits by bar
  {
    uint64_t cur_bar = UINT64_MAX, cur_beat = UINT64_MAX;
    double pmin = 2, pmax = -1;
    auto end_beat = [&]() {
      if (cur_beat == UINT64_MAX) return;
      ++beats_with_hits;
      if (pmax >= 0) {
        ++inner_beats;
        if (pmax - pmin <= 1.0 / 12) {
          const double p = (pmin + pmax) / 2;
          if (p >= 0.4 && p <= 0.8) ratios.push_back(p / (1 - p));
        }
      }
      pmin = 2;
      pmax = -1;
    };
    double bar_len = 0;
    uint64_t seg_end = 0;
    const ExactDiv div_q(in.ppq);
    size_t next_poll = 0;  // polled once a block of kStopEvery notes
    for (const DrumOnset& o : onsets) {
      if (o.first >= next_poll) {
        poller.step(kStopEvery);
        next_poll = o.first + kStopEvery;
      }
      const uint64_t bar = o.bar;
      const double pos = o.pos;
      // The pattern position: the nearest 16th (as qpos), except that a hit
      // at most PPQ/16 ticks before the bar line whose nearest 16th is that
      // line is the next bar's downbeat (played early).
      // whole: pos is a whole number of ticks below 2^24 (the walk that
      // listed the onsets found it); then t8 = floor(8P / Q).
      const bool whole = o.whole;
      uint32_t t8 = 0;
      uint64_t upos;
      if (whole) {
        // llround(4P / Q) of a whole P: the quotient is a half exactly or
        // at least 1 / 2Q away from one, so it rounds as the exact value,
        // floor((8P / Q + 1) / 2) = floor((t8 + 1) / 2) (floor(a / n) =
        // floor(floor(a) / n) for a whole n).
        t8 = div_q(8 * static_cast<uint32_t>(pos));
        upos = (t8 + 1) / 2;
      } else {
        upos = static_cast<uint64_t>(std::llround(pos * 4 / q));
      }
      uint64_t pbar = bar;
      if (o.start >= seg_end) {  // the meter segment of the start (starts ascend)
        const size_t si = meter.seg_of(o.start);
        bar_len = meter.seg(si).bar_len;
        seg_end = si + 1 < meter.size() ? meter.seg(si + 1).tick : UINT64_MAX;
      }
      if (bar_len - pos <= q / 16 && static_cast<double>(upos) * q / 4 >= bar_len) {
        pbar = bar + 1;
        upos = 0;
      }
      if (bar != cur_bar) {
        end_beat();
        cur_beat = UINT64_MAX;
        cur_bar = bar;
      }
      if (bar_bits.empty() || bar_bits.back().first != pbar) {
        pattern_sorted &= bar_bits.empty() || bar_bits.back().first < pbar;
        bar_bits.emplace_back(pbar, BarBits{});
      }
      BarBits& bits = bar_bits.back().second;
      for (size_t k = o.first; k < o.end; ++k) {
        const DepthNote& n = notes[k];
        if (n.channel != kDrumChannel) continue;
        const uint8_t cls = count_hit(n);
        bits.exact += mix64((upos << 8) | uint64_t{cls});
        if (const uint8_t g = kGroupOf[cls]; g < kGroups && upos < 64) {
          bits.g[g] |= uint64_t{1} << upos;
        }
      }
      // floor(pos / q): for whole ticks the quotient P / Q is at least 1 / Q
      // below the next integer, far more than its rounding error, so it is
      // the integer quotient.
      uint64_t beat;
      double beat_f;
      if (whole) {
        beat = t8 / 8;  // floor(P / Q) = floor(floor(8P / Q) / 8)
        beat_f = static_cast<double>(beat);
      } else {
        beat_f = std::floor(pos / q);
        beat = floor_u64(beat_f);
      }
      if (beat != cur_beat) {
        end_beat();
        cur_beat = beat;
      }
      const double phase = pos / q - beat_f;
      if (phase > 0.04 && phase < 0.96) {
        pmin = std::min(pmin, phase);
        pmax = std::max(pmax, phase);
        ++inner_onsets;
        if (std::fabs(phase * 4 - round_nonneg(phase * 4)) <= 0.2) ++inner_on16;
      }
    }
    end_beat();
  }
  ghosts_and_flams();

  // double bass
  {
    const double gap_max = q / 4 * 1.05;
    bool have = false;
    uint64_t prev = 0;
    uint32_t run = 0;
    auto end_run = [&]() {
      if (run >= 4) ++d.double_bass_runs;
      run = 0;
    };
    poller.step(nkicks);
    for (size_t i = 0; i < nkicks; ++i) {
      const uint64_t tick = kicks[i];
      if (have && tick == prev) continue;
      if (have && static_cast<double>(tick - prev) <= gap_max) {
        ++run;
      } else {
        end_run();
        run = 1;
      }
      have = true;
      prev = tick;
    }
    end_run();
    d.double_bass = d.double_bass_runs != 0;
  }

  if (ratios.size() >= 4) {
    const double r = median_of(ratios);
    d.swing_ratio = r;
    if (r < 1.25) {
      d.drum_feel = "straight";
    } else if (r >= 1.6 &&
               static_cast<double>(ratios.size()) >= 0.75 * static_cast<double>(beats_with_hits)) {
      d.drum_feel = "shuffled";
    } else {
      d.drum_feel = "swung";
    }
  } else if (inner_beats >= 4 &&
             static_cast<double>(inner_on16) >= 0.8 * static_cast<double>(inner_onsets)) {
    d.drum_feel = "straight";
  }

  // pattern (a bar may have two entries when a snapped hit went back a bar)
  poller.step(bar_bits.size());
  if (!pattern_sorted) {
    std::sort(bar_bits.begin(), bar_bits.end(),
              [](const auto& x, const auto& y) { return x.first < y.first; });
  }
  poller.step(bar_bits.size());
  const uint64_t first = bar_bits.front().first, last = bar_bits.back().first;
  const uint64_t span = last - first + 1;
  size_t bars_with_hits = 0;
  for (size_t i = 0; i < bar_bits.size(); ++i) {
    bars_with_hits += i == 0 || bar_bits[i].first != bar_bits[i - 1].first;
  }
  if (span > 4 * static_cast<uint64_t>(bars_with_hits) + 64) return;
  std::vector<BarBits> seq(static_cast<size_t>(span), BarBits{});
  for (const auto& [b, bits] : bar_bits) {
    BarBits& to = seq[static_cast<size_t>(b - first)];
    for (int k = 0; k < kGroups; ++k) to.g[k] |= bits.g[k];
    to.exact += bits.exact;
  }
  for (BarBits& b : seq) b.finish();
  poller.step(8 * seq.size());
  uint32_t p = exact_period(seq);
  poller.step(8 * seq.size());
  if (p == 0) p = loop_period(seq);
  poller.step(8 * seq.size());
  if (p != 0) {
    d.drum_pattern_bars = p;
    d.drum_loops = true;
    return;
  }
  if (seq.size() <= 8) d.drum_pattern_bars = static_cast<uint32_t>(seq.size());
}

}  // namespace depth_detail
}  // namespace midipipe
