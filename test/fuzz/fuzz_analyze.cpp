// libFuzzer target: analyze() (with the analysis depth), split_tracks(),
// filename_meta() and to_json() with every JsonOptions on arbitrary bytes.
//
// The whole input is the MIDI file. Its last bytes (up to 48) also serve as
// the file name for filename_meta() and the JSON "path", behind one of a few
// directory prefixes, so that the name parser sees arbitrary bytes and the
// MIDI seeds stay usable as they are.
//
// Checks (any failure aborts: a finding):
//   * to_json() gives one object in valid UTF-8 without raw control
//     characters, with and without the extra keys;
//   * every split track carries the SHA-256 of its bytes, reads back as a
//     clean format-0 file (no warnings) with one track, and holds the notes
//     it claims;
//   * a split is deterministic (a second run gives the same bytes).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "analysis.hpp"
#include "filename_meta.hpp"
#include "sha256.hpp"
#include "smf.hpp"
#include "split.hpp"

namespace {
// to_json must produce valid UTF-8 with no raw control characters.
bool valid_json_text(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20) return false;
    int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (n < 0 || i + static_cast<size_t>(n) >= s.size()) return false;
    for (int k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + static_cast<size_t>(k)]) >> 6) != 2) return false;
    }
    i += static_cast<size_t>(n) + 1;
  }
  return true;
}

void check_json(const std::string& j) {
  if (j.empty() || j.front() != '{' || j.back() != '}') std::abort();
  if (!valid_json_text(j)) std::abort();
}

constexpr std::string_view kDirs[] = {"", "Funk/", "Loops/Drums 95 BPM/", "Am/jazz_120bpm/"};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  const midipipe::AnalyzeResult r = midipipe::analyze(bytes);

  // The file name: a directory prefix chosen by the first byte, then the
  // input's last bytes.
  const size_t name_len = size < 48 ? size : 48;
  std::string path(kDirs[size != 0 ? data[0] % 4 : 0]);
  path.append(reinterpret_cast<const char*>(data) + (size - name_len), name_len);

  check_json(midipipe::to_json(r, "fuzz.mid"));
  const midipipe::FilenameMeta meta = midipipe::filename_meta(path, &r.analysis);
  const midipipe::FilenameMeta meta_alone = midipipe::filename_meta(path, nullptr);
  if (meta.bpm != meta_alone.bpm || meta.key != meta_alone.key ||
      meta.genres != meta_alone.genres || meta_alone.bpm_agrees || meta_alone.key_agrees) {
    std::abort();  // the analysis may only add the agreement columns
  }

  const midipipe::SplitResult split = midipipe::split_tracks(bytes);
  if (!split.status.ok() && !split.tracks.empty()) std::abort();
  for (const midipipe::SplitTrack& t : split.tracks) {
    if (midipipe::sha256(t.smf) != t.sha256) std::abort();
    const midipipe::Smf sp = midipipe::read_smf(t.smf);
    if (!sp.status.ok() || sp.status.warning_count != 0 || sp.header.format != 0 ||
        sp.tracks.size() != 1) {
      std::abort();
    }
    const midipipe::AnalyzeResult a = midipipe::analyze(t.smf);
    if (!a.status.ok() || a.analysis.note_count != t.note_count) std::abort();
  }
  if (split.status.ok()) {
    const midipipe::SplitResult again = midipipe::split_tracks(bytes);
    if (again.tracks.size() != split.tracks.size()) std::abort();
    for (size_t i = 0; i < again.tracks.size(); ++i) {
      if (again.tracks[i].smf != split.tracks[i].smf) std::abort();
    }
  }

  midipipe::JsonOptions all;
  all.depth = true;
  all.filename_meta = true;
  all.splits = &split;
  check_json(midipipe::to_json(r, path, all));
  midipipe::JsonOptions depth_only;
  depth_only.depth = true;
  check_json(midipipe::to_json(r, {}, depth_only));
  return 0;
}
