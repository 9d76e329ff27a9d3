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
//   * pattern: each bar's hits as a set of (position rounded to the 16th,
//     class), hashed (so that humanised playing still repeats); a hit at most
//     PPQ/16 ticks before a bar line whose nearest 16th is that line counts as
//     the next bar's downbeat (played early); pattern_bars = the smallest P
//     in 1..8 such that the bar sequence (first to last drum bar, empty bars included) repeats with
//     period P in at least 75% of the bars and holds at least two periods
//     (then loops = true); otherwise the number of drum bars when at most 8
//     (loops = false), else NULL.
#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <span>

#include "depth_internal.hpp"

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
// A drum note: what the passes below read of it, its class computed once.
struct Hit {
  uint64_t start;
  uint8_t cls, velocity;
};

// drum_class_of() of every key byte.
constexpr std::array<uint8_t, 256> kClassOf = [] {
  std::array<uint8_t, 256> t{};
  for (int k = 0; k < 256; ++k) t[static_cast<size_t>(k)] = static_cast<uint8_t>(class_of_key(k));
  return t;
}();
}  // namespace

void analyze_drums(const DepthInput& in, Clock& clock, Meter& meter, Depth& d, Poller& poller) {
  // Pointers to the drum notes (room for every note: no counting pass first;
  // branch-free: a note that is not a drum is written over), then the drum
  // notes with their classes, their counts by class, the snare hits by
  // velocity and the snare and tom onsets (flams) and the kick onsets
  // (double bass), in order, branch-free as well.
  const auto index = std::make_unique_for_overwrite<const DepthNote*[]>(in.notes.size() + 1);
  size_t ndrums = 0;
  poller.step(in.notes.size());
  for (const DepthNote& n : in.notes) {
    index[ndrums] = &n;
    ndrums += n.channel == kDrumChannel;
  }
  poller.step(in.notes.size());
  if (ndrums == 0) return;
  const auto hits = std::make_unique_for_overwrite<Hit[]>(ndrums);
  const auto picked = std::make_unique_for_overwrite<uint64_t[]>(2 * (ndrums + 1));
  uint64_t* const snare_toms = picked.get();
  uint64_t* const kicks = snare_toms + ndrums + 1;
  size_t nsnare_toms = 0, nkicks = 0;
  uint64_t snare_vel[256] = {};
  for (size_t k = 0; k < ndrums; ++k) {
    poller.step();
    const DepthNote& n = *index[k];
    const uint8_t cls = kClassOf[n.pitch];
    hits[k] = Hit{n.start, cls, n.velocity};
    ++d.drum_counts[cls];
    snare_vel[n.velocity] += cls == snare;
    snare_toms[nsnare_toms] = n.start;
    nsnare_toms += (cls == snare) | (cls == toms);
    kicks[nkicks] = n.start;
    nkicks += cls == kick;
  }
  const std::span<const Hit> drums(hits.get(), ndrums);

  // ghost notes
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

  // flams
  {
    bool have = false;
    uint64_t prev_tick = 0;
    double prev_sec = 0;
    for (size_t i = 0; i < nsnare_toms; ++i) {
      poller.step();
      const uint64_t tick = snare_toms[i];
      const double sec = clock.at(tick);
      if (have && tick != prev_tick && sec - prev_sec < 0.030) {
        ++d.flams;
        have = false;  // the pair is used up
        continue;
      }
      have = true;
      prev_tick = tick;
      prev_sec = sec;
    }
  }
  if (in.ppq == 0) return;
  const double q = in.ppq;

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

  // swing, feel, bar pattern: one walk over the distinct onsets by beat.
  std::vector<double> ratios;
  uint64_t beats_with_hits = 0, inner_beats = 0, inner_onsets = 0, inner_on16 = 0;
  std::vector<std::pair<uint64_t, uint64_t>> bar_hash;  // (bar, hash) for bars with hits
  bool pattern_sorted = true;                           // bar_hash by bar
  {
    uint64_t cur_bar = UINT64_MAX, cur_beat = UINT64_MAX;
    double pmin = 2, pmax = -1;
    uint64_t prev_tick = UINT64_MAX;
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
    // What depends on the start only, computed once per distinct start.
    bool have_start = false;
    uint64_t start = 0, bar = 0;
    uint64_t pbar = 0, upos = 0;  // the pattern's bar and quantised position
    double pos = 0, bar_len = 0;
    uint64_t seg_end = 0;
    BarCursor bars_at(meter);
    const ExactDiv div_q(in.ppq);
    bool whole = false;  // pos is a whole number of ticks below 2^24
    uint32_t t8 = 0;     // then floor(8P / Q) for P = pos
    for (const Hit& n : drums) {
      poller.step();
      if (!have_start || n.start != start) {
        have_start = true;
        start = n.start;
        bar = bars_at.bar_of(n.start, pos);
        // The pattern position: the nearest 16th (as qpos), except that a hit
        // at most PPQ/16 ticks before the bar line whose nearest 16th is that
        // line is the next bar's downbeat (played early).
        whole = pos >= 0 && pos < 0x1p24 && static_cast<double>(static_cast<uint32_t>(pos)) == pos;
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
        pbar = bar;
        if (n.start >= seg_end) {  // the meter segment of the start (starts ascend)
          const size_t si = meter.seg_of(n.start);
          bar_len = meter.seg(si).bar_len;
          seg_end = si + 1 < meter.size() ? meter.seg(si + 1).tick : UINT64_MAX;
        }
        if (bar_len - pos <= q / 16 && static_cast<double>(upos) * q / 4 >= bar_len) {
          pbar = bar + 1;
          upos = 0;
        }
      }
      if (bar != cur_bar) {
        end_beat();
        cur_beat = UINT64_MAX;
        cur_bar = bar;
      }
      const uint64_t h = mix64((upos << 8) | uint64_t{n.cls});
      if (!bar_hash.empty() && bar_hash.back().first == pbar) {
        bar_hash.back().second += h;
      } else {
        pattern_sorted &= bar_hash.empty() || bar_hash.back().first < pbar;
        bar_hash.emplace_back(pbar, h);
      }
      if (n.start == prev_tick) continue;  // distinct onsets only from here
      prev_tick = n.start;
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
  poller.step(bar_hash.size());
  if (!pattern_sorted) std::sort(bar_hash.begin(), bar_hash.end());
  poller.step(bar_hash.size());
  const uint64_t first = bar_hash.front().first, last = bar_hash.back().first;
  const uint64_t span = last - first + 1;
  size_t bars_with_hits = 0;
  for (size_t i = 0; i < bar_hash.size(); ++i) {
    bars_with_hits += i == 0 || bar_hash[i].first != bar_hash[i - 1].first;
  }
  if (span > 4 * static_cast<uint64_t>(bars_with_hits) + 64) return;
  std::vector<uint64_t> seq(static_cast<size_t>(span), 0);
  for (const auto& [b, h] : bar_hash) seq[static_cast<size_t>(b - first)] += h;
  const size_t nb = seq.size();
  for (size_t p = 1; p <= 8 && 2 * p <= nb; ++p) {
    poller.step(nb);
    size_t match = 0;
    for (size_t i = p; i < nb; ++i) match += seq[i] == seq[i - p];
    if (static_cast<double>(match) >= 0.75 * static_cast<double>(nb - p)) {
      d.drum_pattern_bars = static_cast<uint32_t>(p);
      d.drum_loops = true;
      return;
    }
  }
  if (nb <= 8) d.drum_pattern_bars = static_cast<uint32_t>(nb);
}

}  // namespace depth_detail
}  // namespace midipipe
