// midipipe: the musical analysis of one MIDI file (see analysis.hpp, SPEC.md).
//
// One streaming pass over the events (parse_smf with the Analyzer visitor
// below), then one pass over the sorted note boundaries. Cost: linear in the
// events plus a radix sort of two 64-bit keys per sounding note; memory: a few
// words per note and per tempo/signature event, never more.
//
// Definitions (where SPEC.md leaves a choice, the choice made here):
//   * A note is a note-on with velocity > 0. A note-off is 8n, or 9n with
//     velocity 0. Notes are paired per (track, channel, pitch), first on first
//     off (FIFO), so overlapping notes of one pitch are all kept. A note that is
//     never switched off ends at the end of the file (format 0/1) or of its
//     track (format 2). Channel index 9 is the drum channel.
//   * Time: formats 0 and 1 use one tempo map made of the Set Tempo events of
//     every track (merged by tick, tracks in file order, the last event at a
//     tick wins: mido's playback order). Format 2 tracks are independent
//     sequences: each has its own tempo map and starts at 0, so
//     duration_seconds is that of the longest track and the tempo figures
//     combine all tracks. SMPTE division: seconds = ticks / (fps *
//     ticks_per_frame), fps 29 meaning 29.97; Set Tempo events then only feed
//     the tempo figures. A Set Tempo of 0 us/quarter (an infinite tempo) or
//     shorter than 3 bytes is ignored.
//   * duration = the latest event of any track, End of Track included.
//   * tempo_bpm: the tempo in force at tick 0 (the last Set Tempo at tick 0),
//     120 when none. tempo_changes: how many times the tempo in force changes
//     value after that (events that repeat the tempo in force are not
//     changes). tempo_min/max: over every tempo in force at some tick.
//     tempo_mean_bpm: weighted by seconds over the whole duration (= 60 *
//     quarter notes / seconds for PPQ files); tempo_bpm when the duration is 0.
//   * time_signature: in force at tick 0 ("4/4" when none); changes counted as
//     for the tempo. key_signature: the first valid FF 59 at the earliest tick.
//     Signatures of all tracks are merged by tick, whatever the format.
//   * Polyphony: the number of notes sounding at once, drum notes included,
//     notes of zero length excluded. polyphony_mean is time-weighted over the
//     time during which at least one note sounds (not over the whole piece):
//     sum of note lengths / length of their union, in seconds.
//   * Pitch statistics, unique_pitches and the key use the non-drum channels
//     only; velocity statistics use every note (population standard deviation).
//   * channels: channels with any channel message. programs /
//     instrument_families: program changes on non-drum channels only (a
//     program change on channel 9 selects a drum kit, not a GM instrument).
//     A track's `program` is its first program change on any channel; its
//     `instrument` is the GM name, or a GM2 drum kit name when that program
//     change is on channel 9.
//   * Text: title = first FF 03 of the first track; copyright = first FF 02;
//     track_names = the first FF 03 of every track that has one, in track
//     order; markers = every FF 06 in file order. has_lyrics: an FF 05 lyric
//     with a non-blank character, or a .kar-style file: an FF 01 text starting
//     with "@K" (the "@KMIDI KARAOKE FILE" signature) or "@L"/"@T"/"@V"/"@I"
//     headers, plus at least one FF 01 text that is not such a header (the
//     syllables).
#include "analysis.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <new>

#include "analysis_internal.hpp"
#include "analyze.hpp"
#include "key.hpp"
#include "stop.hpp"

namespace midipipe {
namespace {

constexpr uint32_t kNil = UINT32_MAX;
constexpr uint8_t kDrumChannel = 9;

// A note boundary, sortable as one integer:
//   tick << 9 | is_start << 8 | is_drum << 7 | pitch
// Ends sort before starts at the same tick, so back-to-back notes do not
// overlap. Ticks above 2^55 are clamped (unreachable within the reader's
// limits: 50 M events * 2^28 ticks < 2^55).
constexpr int kPointShift = 9;
constexpr uint64_t kMaxPointTick = (uint64_t{1} << (64 - kPointShift)) - 1;

inline uint64_t point(uint64_t tick, bool start, bool drum, uint8_t pitch) noexcept {
  if (tick > kMaxPointTick) tick = kMaxPointTick;
  return (tick << kPointShift) | (uint64_t{start} << 8) | (uint64_t{drum} << 7) | pitch;
}

// LSD radix sort of 64-bit keys, 11 bits a pass, only as many passes as the
// largest key needs. Linear; `tmp` is scratch of the same size.
void radix_sort(std::vector<uint64_t>& v, std::vector<uint64_t>& tmp, Poller& poller) {
  const size_t n = v.size();
  if (std::is_sorted(v.begin(), v.end())) return;
  if (n < 1024) {
    std::sort(v.begin(), v.end());
    return;
  }
  uint64_t all = 0;
  for (const uint64_t x : v) all |= x;
  const int bits = 64 - std::countl_zero(all);
  tmp.resize(n);
  constexpr int kDigit = 11;
  constexpr size_t kBuckets = size_t{1} << kDigit;
  std::vector<size_t> count(kBuckets);
  for (int shift = 0; shift < bits; shift += kDigit) {
    std::fill(count.begin(), count.end(), 0);
    for_polled(&poller, n, [&](size_t i) { ++count[(v[i] >> shift) & (kBuckets - 1)]; });
    size_t sum = 0;
    for (size_t& c : count) {
      const size_t k = c;
      c = sum;
      sum += k;
    }
    for_polled(&poller, n, [&](size_t i) {
      const uint64_t x = v[i];
      tmp[count[(x >> shift) & (kBuckets - 1)]++] = x;
    });
    v.swap(tmp);
  }
}

struct TickValue {
  uint64_t tick;
  uint32_t value;
};

void sort_by_tick(std::vector<TickValue>& v) {
  const auto less = [](const TickValue& a, const TickValue& b) { return a.tick < b.tick; };
  if (!std::is_sorted(v.begin(), v.end(), less)) std::stable_sort(v.begin(), v.end(), less);
}

inline double bpm_of(uint32_t tempo_us) noexcept { return 60'000'000.0 / tempo_us; }

// Tick -> seconds through a tempo map (or an SMPTE rate).
class TimeMap {
 public:
  struct Seg {
    uint64_t tick;
    double sec;
    uint32_t tempo;  // us per quarter
  };

  // `tempos` sorted by tick (stable: playback order); values > 0.
  TimeMap(const Header& h, const std::vector<TickValue>& tempos) {
    if (h.ppq == 0 && h.smpte_fps != 0) {
      smpte_ = true;
      const double fps = h.smpte_fps == 29 ? 29.97 : static_cast<double>(h.smpte_fps);
      sec_per_tick_ = 1.0 / (fps * (h.smpte_ticks_per_frame ? h.smpte_ticks_per_frame : 1));
    } else {
      ppq_ = h.ppq ? static_cast<double>(h.ppq) : 1.0;
    }
    segs_.reserve(tempos.size() + 1);
    segs_.push_back(Seg{0, 0.0, 500'000});
    for (const TickValue& t : tempos) {
      Seg& last = segs_.back();
      if (t.tick == last.tick) {
        last.tempo = t.value;
        if (segs_.size() > 1 && segs_[segs_.size() - 2].tempo == last.tempo) segs_.pop_back();
      } else if (t.value != last.tempo) {
        const double sec = seconds_in(last, t.tick);
        segs_.push_back(Seg{t.tick, sec, t.value});
      }
    }
  }

  // Monotonic calls are O(1) amortised; others binary-search.
  double at(uint64_t tick) noexcept {
    if (tick < segs_[cur_].tick) {
      const auto it = std::upper_bound(segs_.begin(), segs_.end(), tick,
                                       [](uint64_t t, const Seg& s) { return t < s.tick; });
      cur_ = static_cast<size_t>(it - segs_.begin()) - 1;
    }
    while (cur_ + 1 < segs_.size() && segs_[cur_ + 1].tick <= tick) ++cur_;
    return seconds_in(segs_[cur_], tick);
  }

  const std::vector<Seg>& segs() const noexcept { return segs_; }

 private:
  double seconds_in(const Seg& s, uint64_t tick) const noexcept {
    if (smpte_) return static_cast<double>(tick) * sec_per_tick_;
    return s.sec + static_cast<double>(tick - s.tick) * (s.tempo / (ppq_ * 1e6));
  }

  bool smpte_ = false;
  double sec_per_tick_ = 0;
  double ppq_ = 1;
  std::vector<Seg> segs_;
  size_t cur_ = 0;
};

// What the sweep over the note boundaries and the tempo maps accumulate.
struct TimelineAcc {
  double sounding_sec = 0;  // union of the notes
  double note_sec = 0;      // sum of the notes
  uint32_t poly_max = 0;
  double hist_sec[12] = {};    // non-drum pitch classes, weighted by seconds
  double hist_ticks[12] = {};  // the same in ticks
  double bass_sec[12] = {};    // lowest sounding non-drum pitch class, by seconds
  // tempo
  double bpm_sec = 0;  // integral of bpm over seconds
  double seconds = 0;  // duration(s) the integral covers
  double bpm_min = 0, bpm_max = 0;
  bool have_bpm = false;
  uint32_t tempo_changes = 0;
};

// Sweeps the sorted note boundaries of one timeline; `map` converts ticks.
// The per-pitch-class sums are kept as (sum of end times - sum of start
// times), O(1) per boundary; only the bass histogram (when asked for) needs
// the set of sounding pitches between boundaries.
void sweep(std::vector<uint64_t>& points, std::vector<uint64_t>& scratch, TimeMap& map,
           bool want_bass, TimelineAcc& acc, Poller& poller) {
  if (points.empty()) return;
  radix_sort(points, scratch, poller);
  uint32_t active = 0;
  uint32_t pitch_active[128] = {};
  uint64_t mask[2] = {0, 0};  // non-drum pitches sounding (bass only)
  uint64_t prev_tick = points.front() >> kPointShift;
  double prev_sec = map.at(prev_tick);
  double sec = prev_sec;
  for_polled(&poller, points.size(), [&](size_t i) {
    const uint64_t p = points[i];
    const uint64_t tick = p >> kPointShift;
    if (tick != prev_tick) {
      sec = map.at(tick);
      const double dt = sec - prev_sec;
      if (active != 0) acc.sounding_sec += dt;
      if (want_bass && (mask[0] | mask[1]) != 0) {
        const int low = mask[0] != 0 ? std::countr_zero(mask[0]) : 64 + std::countr_zero(mask[1]);
        acc.bass_sec[low % 12] += dt;
      }
      prev_tick = tick;
      prev_sec = sec;
    }
    const bool start = (p >> 8) & 1;
    const bool drum = (p >> 7) & 1;
    const uint8_t pitch = static_cast<uint8_t>(p & 127);
    const double sign = start ? -1.0 : 1.0;
    acc.note_sec += sign * sec;
    if (start) {
      if (++active > acc.poly_max) acc.poly_max = active;
    } else if (active != 0) {
      --active;
    }
    if (!drum) {
      acc.hist_sec[pitch % 12] += sign * sec;
      acc.hist_ticks[pitch % 12] += sign * static_cast<double>(tick);
      if (want_bass) {
        if (start) {
          if (pitch_active[pitch]++ == 0) mask[pitch >> 6] |= uint64_t{1} << (pitch & 63);
        } else if (pitch_active[pitch] != 0 && --pitch_active[pitch] == 0) {
          mask[pitch >> 6] &= ~(uint64_t{1} << (pitch & 63));
        }
      }
    }
  });
}

// Tempo figures of one timeline that lasts `end_tick` ticks.
void tempo_stats(TimeMap& map, uint64_t end_tick, TimelineAcc& acc) {
  const auto& segs = map.segs();
  acc.tempo_changes += static_cast<uint32_t>(segs.size() - 1);
  for (size_t i = 0; i < segs.size(); ++i) {
    const double bpm = bpm_of(segs[i].tempo);
    if (!acc.have_bpm) {
      acc.bpm_min = acc.bpm_max = bpm;
      acc.have_bpm = true;
    } else {
      acc.bpm_min = std::min(acc.bpm_min, bpm);
      acc.bpm_max = std::max(acc.bpm_max, bpm);
    }
    if (segs[i].tick >= end_tick) continue;
    // Segment i lasts to the next one (whose start time is stored) or to the end.
    const double to =
        i + 1 < segs.size() && segs[i + 1].tick <= end_tick ? segs[i + 1].sec : map.at(end_tick);
    const double dt = to - segs[i].sec;
    acc.bpm_sec += bpm * dt;
    acc.seconds += dt;
  }
}

// dst += weight * src / sum(src)
void add_normalised(double (&dst)[12], const double* src, double weight) noexcept {
  if (!(weight > 0)) return;
  double total = 0;
  for (int i = 0; i < 12; ++i) total += std::isfinite(src[i]) && src[i] > 0 ? src[i] : 0;
  if (!(total > 0)) return;
  for (int i = 0; i < 12; ++i) {
    if (std::isfinite(src[i]) && src[i] > 0) dst[i] += weight * src[i] / total;
  }
}

bool is_blank(std::span<const uint8_t> d) noexcept {
  for (const uint8_t c : d) {
    if (c > 0x20) return false;
  }
  return true;
}

bool is_kar_header(std::span<const uint8_t> d) noexcept {
  if (d.size() < 2 || d[0] != '@') return false;
  const uint8_t c = d[1];
  return c == 'K' || c == 'L' || c == 'T' || c == 'V' || c == 'I';
}

std::vector<int16_t> mask_to_list(const uint64_t* words, int nbits) {
  std::vector<int16_t> out;
  for (int i = 0; i < nbits; ++i) {
    if ((words[i >> 6] >> (i & 63)) & 1) out.push_back(static_cast<int16_t>(i));
  }
  return out;
}

class Analyzer {
 public:
  Analyzer(Analysis& a, const AnalyzeOptions& opt, StopCheck stop)
      : a_(a), opt_(opt), poller_(stop) {
    for (Slot& s : slots_) s = Slot{};
    din_.stop = stop;
  }

  // Room for the notes of a file of `bytes` bytes, so that the vectors that
  // take one entry per note do not grow (and copy) as they fill: a note needs
  // at least 6 bytes (two events of delta, status or running status, two data
  // bytes), so bytes / 6 bounds the notes of most files (a file with more
  // grows the vectors as usual). Capped by the event limit (a note is an
  // event): only reserved, the pages are touched as the notes come.
  [[gnu::noinline]] void size_hint(size_t bytes, uint64_t max_events) {
    const size_t notes = static_cast<size_t>(std::min<uint64_t>(bytes / 6, max_events));
    points_.reserve(2 * notes);
    if (opt_.depth) din_.notes.reserve(notes);
  }

  void on_header(const Header& h) {
    header_ = h;
    a_.format = h.format;
    if (h.ppq != 0) {
      a_.ppq = h.ppq;
    } else {
      a_.smpte_fps = h.smpte_fps;
      a_.smpte_ticks_per_frame = h.smpte_ticks_per_frame;
    }
    if (opt_.key_sections) {
      const double fps = h.smpte_fps == 29 ? 29.97 : static_cast<double>(h.smpte_fps);
      key_timeline_.start(h.ppq, fps * h.smpte_ticks_per_frame, opt_.key_section_params);
    }
    const size_t n = h.ntracks_declared < 4096 ? h.ntracks_declared : 4096;
    a_.tracks.reserve(n);
  }

  void on_track_begin(uint32_t track, uint64_t /*offset*/) {
    a_.tracks.emplace_back();
    a_.tracks.back().track_no = track;
    tr_ = TrackState{};
    depth_track_ = static_cast<uint32_t>(a_.tracks.size() - 1);
  }

  // (Inlined into the parse loop: the event limit's checkpoint and the stop
  // polling made GCC stop inlining it, which cost 3% of the analysis.)
  [[gnu::always_inline]] void on_channel(uint64_t tick, uint8_t status, uint8_t d1, uint8_t d2) {
    const uint8_t ch = status & 0x0F;
    tr_.channels |= static_cast<uint16_t>(1u << ch);
    switch (status & 0xF0) {
      case 0x90:
        if (d2 != 0) {
          note_on(tick, ch, d1, d2);
        } else {
          note_off(tick, ch, d1);
        }
        break;
      case 0x80:
        note_off(tick, ch, d1);
        break;
      case 0xB0:
        ++a_.cc_count;
        if (opt_.depth) {
          ++din_.cc_counts[d1];
          if (d1 == 64) {  // sustain pedal
            const bool down = d2 >= 64;
            if (down && !(sustain_ & (1u << ch))) ++din_.sustain_presses;
            sustain_ = static_cast<uint16_t>(down ? sustain_ | (1u << ch) : sustain_ & ~(1u << ch));
          }
        }
        break;
      case 0xE0:
        ++a_.pitch_bend_count;
        break;
      case 0xC0:
        if (!tr_.has_program) {
          tr_.has_program = true;
          tr_.program = d1;
          tr_.program_on_drums = ch == kDrumChannel;
        }
        if (ch != kDrumChannel) programs_[d1 >> 6] |= uint64_t{1} << (d1 & 63);
        break;
      default:
        break;
    }
  }

  void on_sysex(uint64_t /*tick*/, uint8_t /*status*/, std::span<const uint8_t> /*data*/) {
    ++a_.sysex_count;
  }

  void on_meta(uint64_t tick, uint8_t type, std::span<const uint8_t> d) {
    switch (type) {
      case 0x51:  // Set Tempo
        if (d.size() >= 3) {
          const uint32_t us = (uint32_t{d[0]} << 16) | (uint32_t{d[1]} << 8) | d[2];
          if (us != 0) {
            tempos_.push_back(TickValue{tick, us});
            if (opt_.depth) din_.tempos.emplace_back(tick, us);
          }
        }
        break;
      case 0x58:  // Time Signature nn dd cc bb
        if (d.size() >= 2 && d[0] != 0 && d[1] <= 7) {
          time_sigs_.push_back(TickValue{tick, (uint32_t{d[0]} << 8) | d[1]});
        }
        break;
      case 0x59:  // Key Signature sf mi
        if (d.size() >= 2) {
          const int sf = static_cast<int8_t>(d[0]);
          if (key_signature_name(sf, d[1])) {
            key_sigs_.push_back(TickValue{tick, static_cast<uint32_t>((sf + 7) << 1 | d[1])});
          }
        }
        break;
      case 0x03:  // Sequence/Track Name
        if (!tr_.has_name) {
          tr_.has_name = true;
          TrackAnalysis& t = a_.tracks.back();
          t.name = sanitize_text(d);
          if (a_.tracks.size() == 1) a_.title = *t.name;
          if (a_.track_names.size() < kMaxListEntries) a_.track_names.push_back(*t.name);
        }
        break;
      case 0x02:  // Copyright
        if (!a_.copyright) a_.copyright = sanitize_text(d);
        break;
      case 0x06:  // Marker
        if (a_.markers.size() < kMaxListEntries) a_.markers.push_back(sanitize_text(d));
        break;
      case 0x05:  // Lyric
        if (!is_blank(d)) lyric_ = true;
        break;
      case 0x01:  // Text
        if (is_kar_header(d)) {
          kar_header_ = true;
        } else if (!is_blank(d)) {
          plain_text_ = true;
        }
        break;
      default:
        break;
    }
  }

  void on_track_end(uint32_t /*track*/, uint64_t end_tick, bool /*had_eot*/) {
    TrackAnalysis& t = a_.tracks.back();
    t.duration_ticks = end_tick;
    if (end_tick > a_.duration_ticks) a_.duration_ticks = end_tick;
    {
      const uint64_t m = tr_.channels;
      t.channels = mask_to_list(&m, 16);
    }
    channels_ |= tr_.channels;
    if (tr_.has_program) {
      t.program = tr_.program;
      t.instrument = std::string(tr_.program_on_drums ? gm_drum_kit_name(tr_.program)
                                                      : gm_program_name(tr_.program));
    }
    t.note_count = tr_.notes;
    if (tr_.notes != 0) {
      t.pitch_min = tr_.pitch_min;
      t.pitch_max = tr_.pitch_max;
    }
    t.is_drum = tr_.notes != 0 && tr_.notes == tr_.drum_notes;

    // Notes still sounding: they end at the end of the file (format 0/1: known
    // only after the last track) or of this track (format 2).
    const bool independent = header_.format == 2;
    for (const uint16_t si : touched_) {
      Slot& s = slots_[si];
      const bool drum = (si >> 7) == kDrumChannel;
      const uint8_t pitch = static_cast<uint8_t>(si & 127);
      for (uint32_t n = s.head; n != kNil;) {
        const uint64_t start = pool_[n].tick;
        if (opt_.depth) {
          depth_end(pool_[n].didx, independent ? end_tick : kOpenEnd);
          if (!independent) depth_open_.push_back(pool_[n].didx);
        }
        if (independent) {
          add_note(start, end_tick, drum, pitch);
        } else {
          stuck_.push_back(point(start, true, drum, pitch));
        }
        const uint32_t next = pool_[n].next;
        free_node(n);
        n = next;
      }
      s = Slot{};
    }
    touched_.clear();

    if (independent) {
      // Each format 2 track is its own timeline with its own tempo map.
      sort_by_tick(tempos_);
      TimeMap map(header_, tempos_);
      sweep(points_, scratch_, map, opt_.key_bass_weight > 0, acc_, poller_);
      tempo_stats(map, end_tick, acc_);
      const double sec = map.at(end_tick);
      if (sec > a_.duration_seconds) a_.duration_seconds = sec;
      if (a_.tracks.size() == 1) a_.tempo_bpm = bpm_of(map.segs().front().tempo);
      points_.clear();
      tempos_.clear();
    }
  }

  void finish() {
    poller_.poll();
    if (opt_.depth) {
      const uint64_t end = a_.duration_ticks;
      if (depth_seq_ == din_.notes.size()) {
        // Every note was completed: the stuck ones are those listed.
        for (const uint32_t i : depth_open_) {
          DepthNote& n = din_.notes[i];
          n.end = std::max(n.start, end);
        }
      } else {
        for (DepthNote& n : din_.notes) {
          if (n.end == kOpenEnd) n.end = std::max(n.start, end);
        }
      }
    }
    // What the parse needed and the passes below do not: freed before they
    // allocate (the peak memory of a file at the event limit).
    std::vector<uint32_t>().swap(depth_open_);
    std::vector<Node>().swap(pool_);
    std::vector<uint16_t>().swap(touched_);
    if (header_.format != 2) {
      for (const uint64_t p : stuck_) {
        poller_.step();
        const uint64_t start = p >> kPointShift;
        add_note(start, a_.duration_ticks, (p >> 7) & 1, static_cast<uint8_t>(p & 127));
      }
      std::vector<uint64_t>().swap(stuck_);
      sort_by_tick(tempos_);
      TimeMap map(header_, tempos_);
      sweep(points_, scratch_, map, opt_.key_bass_weight > 0, acc_, poller_);
      tempo_stats(map, a_.duration_ticks, acc_);
      a_.duration_seconds = map.at(a_.duration_ticks);
      a_.tempo_bpm = bpm_of(map.segs().front().tempo);
      if (opt_.depth) {
        // Sorted now: the chord pass of the analysis depth reuses them.
        din_.boundaries.swap(points_);
        din_.have_boundaries = true;
        // (every drum boundary is a note-on on the drum channel's)
        din_.boundaries_without_drums = a_.drum_note_count == 0;
      }
    }
    std::vector<uint64_t>().swap(points_);
    std::vector<uint64_t>().swap(scratch_);
    poller_.poll();

    // tempo
    a_.tempo_changes = acc_.tempo_changes;
    if (acc_.have_bpm) {
      a_.tempo_min_bpm = acc_.bpm_min;
      a_.tempo_max_bpm = acc_.bpm_max;
    } else {
      a_.tempo_min_bpm = a_.tempo_max_bpm = a_.tempo_bpm;
    }
    a_.tempo_mean_bpm = acc_.seconds > 0 ? acc_.bpm_sec / acc_.seconds : a_.tempo_bpm;

    // signatures
    sort_by_tick(time_sigs_);
    constexpr uint32_t kFourFour = (4u << 8) | 2u;  // nn << 8 | dd
    uint32_t ts = kFourFour, initial_ts = kFourFour;
    for (size_t i = 0; i < time_sigs_.size(); ++i) {
      // Several at one tick: the last one is the one in force.
      if (i + 1 < time_sigs_.size() && time_sigs_[i + 1].tick == time_sigs_[i].tick) continue;
      const uint32_t v = time_sigs_[i].value;
      if (time_sigs_[i].tick == 0) {
        ts = initial_ts = v;
      } else if (v != ts) {
        ++a_.time_signature_changes;
        ts = v;
      }
    }
    a_.time_signature =
        std::to_string(initial_ts >> 8) + "/" + std::to_string(1u << (initial_ts & 0xFF));
    sort_by_tick(key_sigs_);
    if (!key_sigs_.empty()) {
      const uint32_t v = key_sigs_.front().value;
      if (auto name = key_signature_name(static_cast<int>(v >> 1) - 7, v & 1)) {
        a_.key_signature = std::string(*name);
      }
    }

    // notes
    a_.has_drums = a_.drum_note_count != 0;
    if (a_.note_count != 0) {
      const double n = static_cast<double>(a_.note_count);
      const double mean = static_cast<double>(vel_sum_) / n;
      const double var = static_cast<double>(vel_sumsq_) / n - mean * mean;
      a_.velocity_min = vel_min_;
      a_.velocity_max = vel_max_;
      a_.velocity_mean = mean;
      a_.velocity_stddev = var > 0 ? std::sqrt(var) : 0.0;
    }
    if (pitched_ != 0) {
      a_.pitch_min = pitch_min_;
      a_.pitch_max = pitch_max_;
      a_.pitch_mean = static_cast<double>(pitch_sum_) / static_cast<double>(pitched_);
      a_.unique_pitches =
          static_cast<uint32_t>(std::popcount(pitches_[0]) + std::popcount(pitches_[1]));
    }
    a_.note_density =
        a_.duration_seconds > 0 ? static_cast<double>(a_.note_count) / a_.duration_seconds : 0.0;
    a_.polyphony_max = acc_.poly_max;
    a_.polyphony_mean = acc_.sounding_sec > 0 ? acc_.note_sec / acc_.sounding_sec : 0.0;

    // key
    const double* hist = opt_.key_weight == KeyWeight::seconds ? acc_.hist_sec
                         : opt_.key_weight == KeyWeight::ticks ? acc_.hist_ticks
                                                               : count_hist_;
    double mixed[12] = {};
    add_normalised(mixed, hist, 1.0);
    add_normalised(mixed, acc_.bass_sec, opt_.key_bass_weight);
    add_normalised(mixed, final_hist_, opt_.key_final_weight);
    const std::span<const double, 12> global(mixed, 12);
    const KeyEstimate k = key_timeline_.active() ? key_timeline_.estimate(opt_.key_profile, global)
                                                 : estimate_key(global, opt_.key_profile);
    if (k.found) {
      a_.key = std::string(key_name(k.tonic, k.minor));
      a_.key_tonic = static_cast<int16_t>(k.tonic);
      a_.key_mode = k.minor ? "minor" : "major";
      a_.key_confidence = k.confidence;
    }

    // channels and programs
    {
      const uint64_t m = channels_;
      a_.channels = mask_to_list(&m, 16);
    }
    a_.programs = mask_to_list(programs_, 128);
    for (const int16_t p : a_.programs) {
      const std::string_view f = gm_family_name(p);
      if (std::find(a_.instrument_families.begin(), a_.instrument_families.end(), f) ==
          a_.instrument_families.end()) {
        a_.instrument_families.emplace_back(f);
      }
    }
    std::sort(a_.instrument_families.begin(), a_.instrument_families.end());

    a_.has_lyrics = lyric_ || (kar_header_ && plain_text_);
    a_.ntracks = static_cast<uint32_t>(a_.tracks.size());

    if (opt_.depth) {
      din_.ppq = header_.ppq;
      if (header_.ppq == 0 && header_.smpte_fps != 0) {
        const double fps = header_.smpte_fps == 29 ? 29.97 : static_cast<double>(header_.smpte_fps);
        din_.smpte_seconds_per_tick =
            1.0 / (fps * (header_.smpte_ticks_per_frame ? header_.smpte_ticks_per_frame : 1));
      }
      din_.duration_ticks = a_.duration_ticks;
      const auto by_tick = [](const std::pair<uint64_t, uint32_t>& x,
                              const std::pair<uint64_t, uint32_t>& y) { return x.first < y.first; };
      if (!std::is_sorted(din_.tempos.begin(), din_.tempos.end(), by_tick)) {
        std::stable_sort(din_.tempos.begin(), din_.tempos.end(), by_tick);
      }
      din_.time_sigs.reserve(time_sigs_.size());
      for (const TickValue& t : time_sigs_) din_.time_sigs.emplace_back(t.tick, t.value);
      a_.depth = compute_depth(din_);
      if (opt_.content) compute_content(din_, a_);
    }
  }

 private:
  struct Slot {
    uint32_t head = kNil, tail = kNil;
  };
  struct Node {
    uint64_t tick;
    uint32_t next;
    uint32_t didx;  // the note's index in din_.notes (analysis depth only)
  };
  static constexpr uint64_t kOpenEnd = UINT64_MAX;  // a stuck note (format 0/1): ends at the end
  struct TrackState {
    uint16_t channels = 0;
    bool has_program = false, program_on_drums = false, has_name = false;
    int16_t program = 0;
    uint64_t notes = 0, drum_notes = 0;
    int16_t pitch_min = 127, pitch_max = 0;
  };

  void note_on(uint64_t tick, uint8_t ch, uint8_t pitch, uint8_t vel) {
    ++a_.note_count;
    ++tr_.notes;
    if (pitch < tr_.pitch_min) tr_.pitch_min = pitch;
    if (pitch > tr_.pitch_max) tr_.pitch_max = pitch;
    vel_sum_ += vel;
    vel_sumsq_ += uint64_t{vel} * vel;
    if (vel < vel_min_) vel_min_ = vel;
    if (vel > vel_max_) vel_max_ = vel;
    if (ch == kDrumChannel) {
      ++a_.drum_note_count;
      ++tr_.drum_notes;
    } else {
      ++pitched_;
      pitch_sum_ += pitch;
      if (pitch < pitch_min_) pitch_min_ = pitch;
      if (pitch > pitch_max_) pitch_max_ = pitch;
      pitches_[pitch >> 6] |= uint64_t{1} << (pitch & 63);
      count_hist_[pitch % 12] += 1;
      // The last onset of the piece (format 0/1 ticks are global): its pitch
      // classes, the lowest counted twice (the bass of the final chord).
      if (!have_final_ || tick > final_tick_) {
        have_final_ = true;
        final_tick_ = tick;
        final_low_ = pitch;
        std::fill(std::begin(final_hist_), std::end(final_hist_), 0.0);
        final_hist_[pitch % 12] += 2;
      } else if (tick == final_tick_) {
        if (pitch < final_low_) {
          final_hist_[final_low_ % 12] -= 1;
          final_hist_[pitch % 12] += 2;
          final_low_ = pitch;
        } else {
          final_hist_[pitch % 12] += 1;
        }
      }
    }
    // Append to the FIFO of this (channel, pitch).
    const uint16_t si = static_cast<uint16_t>(ch << 7 | pitch);
    Slot& s = slots_[si];
    const uint32_t n = alloc_node(tick, opt_.depth ? depth_start(tick, ch, pitch, vel) : 0);
    if (s.head == kNil) {
      if (!slot_touched(si)) touched_.push_back(si);
      s.head = s.tail = n;
    } else {
      pool_[s.tail].next = n;
      s.tail = n;
    }
  }

  void note_off(uint64_t tick, uint8_t ch, uint8_t pitch) {
    const uint16_t si = static_cast<uint16_t>(ch << 7 | pitch);
    Slot& s = slots_[si];
    if (s.head == kNil) return;  // a note-off without a note: ignored
    const uint32_t n = s.head;
    s.head = pool_[n].next;
    if (s.head == kNil) s.tail = kNil;
    add_note(pool_[n].tick, tick, ch == kDrumChannel, pitch);
    if (opt_.depth) depth_end(pool_[n].didx, tick);
    free_node(n);
  }

  // Depth notes are recorded at their note-on (so each track's are in start
  // order) and completed at their note-off, which also gives them their
  // place among the notes starting together (DepthNote::seq).
  uint32_t depth_start(uint64_t start, uint8_t ch, uint8_t pitch, uint8_t vel) {
    const uint32_t i = static_cast<uint32_t>(din_.notes.size());
    din_.notes.push_back(DepthNote{start, kOpenEnd, 0, depth_track_, ch, pitch, vel});
    return i;
  }
  void depth_end(uint32_t i, uint64_t end) {
    DepthNote& n = din_.notes[i];
    n.end = end;
    n.seq = depth_seq_++;
  }

  void add_note(uint64_t start, uint64_t end, bool drum, uint8_t pitch) {
    if (end <= start) return;  // zero length: no sounding time
    points_.push_back(point(start, true, drum, pitch));
    points_.push_back(point(end, false, drum, pitch));
    if (!drum && key_timeline_.active()) key_timeline_.add(start, end, pitch);
  }

  // touched_ lists the slots that held a note in this track, so that the end
  // of a track costs what the track used, not 2048 slots (65,535 tracks).
  bool slot_touched(uint16_t si) {
    const uint64_t bit = uint64_t{1} << (si & 63);
    if (touched_mask_gen_[si >> 6] != track_gen()) {
      touched_mask_gen_[si >> 6] = track_gen();
      touched_mask_[si >> 6] = 0;
    }
    const bool was = touched_mask_[si >> 6] & bit;
    touched_mask_[si >> 6] |= bit;
    return was;
  }
  uint32_t track_gen() const noexcept { return static_cast<uint32_t>(a_.tracks.size()); }

  uint32_t alloc_node(uint64_t tick, uint32_t didx) {
    uint32_t n;
    if (free_ != kNil) {
      n = free_;
      free_ = pool_[n].next;
      pool_[n] = Node{tick, kNil, didx};
    } else {
      n = static_cast<uint32_t>(pool_.size());
      pool_.push_back(Node{tick, kNil, didx});
    }
    return n;
  }
  void free_node(uint32_t n) {
    pool_[n].next = free_;
    free_ = n;
  }

  Analysis& a_;
  const AnalyzeOptions& opt_;
  Poller poller_;
  Header header_;
  TrackState tr_;

  Slot slots_[16 * 128];
  std::vector<Node> pool_;
  uint32_t free_ = kNil;
  std::vector<uint16_t> touched_;
  uint64_t touched_mask_[32] = {};
  uint32_t touched_mask_gen_[32] = {};

  std::vector<uint64_t> points_, scratch_, stuck_;
  std::vector<TickValue> tempos_, time_sigs_, key_sigs_;
  TimelineAcc acc_;

  uint16_t channels_ = 0;
  uint64_t programs_[2] = {0, 0};
  uint64_t pitches_[2] = {0, 0};
  uint64_t pitched_ = 0, pitch_sum_ = 0;
  int16_t pitch_min_ = 127, pitch_max_ = 0;
  uint64_t vel_sum_ = 0, vel_sumsq_ = 0;
  int16_t vel_min_ = 127, vel_max_ = 0;
  double count_hist_[12] = {};
  double final_hist_[12] = {};
  KeyTimeline key_timeline_;  // opt_.key_sections
  uint64_t final_tick_ = 0;
  uint8_t final_low_ = 0;
  bool have_final_ = false;
  bool lyric_ = false, kar_header_ = false, plain_text_ = false;
  // analysis depth (opt_.depth)
  DepthInput din_;
  uint16_t sustain_ = 0;              // channels whose sustain pedal is down
  uint32_t depth_seq_ = 0;            // depth notes completed so far
  uint32_t depth_track_ = 0;          // the track being read (its index in a_.tracks)
  std::vector<uint32_t> depth_open_;  // depth notes stuck at a track end (format 0/1)
};

}  // namespace

AnalyzeOptions default_analyze_options() noexcept { return AnalyzeOptions{}; }

AnalyzeResult analyze_with(std::span<const uint8_t> bytes, const Limits& limits,
                           const AnalyzeOptions& options) {
  AnalyzeResult r;
  try {
    Analyzer v(r.analysis, options, limits.stop);
    v.size_hint(bytes.size(), limits.max_events);
    r.status = parse_smf(bytes, v, limits);
    if (r.status.ok()) v.finish();
  } catch (const Cancelled&) {
    // Limits::stop asked the engine to stop during an analysis pass (parse
    // reports it by itself). Nothing of the analysis is kept.
    r.analysis = Analysis{};
    r.status.code = Code::cancelled;
    r.status.offset = 0;
    r.status.message.clear();
  } catch (...) {
    // std::bad_alloc (the only exception the code above can throw). Reported
    // as a fatal status; nothing escapes into the caller (the database server).
    r.analysis = Analysis{};
    r.status.code = Code::out_of_memory;
    r.status.offset = 0;
    try {
      r.status.message = "out of memory while analysing the file";
    } catch (...) {
    }
  }
  return r;
}

AnalyzeResult analyze(std::span<const uint8_t> bytes, const Limits& limits) {
  return analyze_with(bytes, limits, default_analyze_options());
}

}  // namespace midipipe
