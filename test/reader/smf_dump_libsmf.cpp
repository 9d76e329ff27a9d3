// smf-dump-libsmf FILE: print libsmf's reading of a MIDI file, one line per
// event in the format of test/common/smf_text.hpp, for the differential test.
// Test-only: links libsmf (Debian libsmf-dev), never linked into the
// extension. libsmf aborts or misreads on malformed files, so the test runs
// this program in a child process; exit status 1 = libsmf could not load it.
// smf.h includes glib.h inside extern "C", which C++ headers reject: include
// glib first so its include guard makes that a no-op.
#include <glib.h>
#include <smf.h>

#include <cstdio>
#include <span>
#include <string>

#include "smf_text.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: smf-dump-libsmf FILE\n");
    return 2;
  }
  smf_t* smf = smf_load(argv[1]);
  if (smf == nullptr) return 1;
  std::printf("# libsmf format %d tracks %d ppqn %d\n", smf->format, smf->number_of_tracks,
              smf->ppqn);
  for (int t = 1; t <= smf->number_of_tracks; ++t) {
    smf_track_t* track = smf_get_track_by_number(smf, t);
    if (track == nullptr) continue;
    for (int n = 1; n <= track->number_of_events; ++n) {
      const smf_event_t* e = smf_track_get_event_by_number(track, n);
      if (e == nullptr || e->midi_buffer_length < 1) continue;
      const std::span<const uint8_t> buf(e->midi_buffer,
                                         static_cast<size_t>(e->midi_buffer_length));
      const uint8_t status = buf[0];
      const auto tr = static_cast<uint32_t>(t - 1);
      const auto tick = static_cast<uint64_t>(e->time_pulses);
      std::string line;
      if (status == 0xFF && buf.size() >= 2) {
        // FF type VLQ-length data: print the type and the data only.
        size_t i = 2;
        while (i < buf.size() && (buf[i] & 0x80) != 0) ++i;
        ++i;  // last byte of the length
        line = midipipe::testing::event_line(tr, tick, 0xFF, buf[1],
                                             i <= buf.size() ? buf.subspan(i) : buf.subspan(0, 0));
      } else {
        line = midipipe::testing::event_line(tr, tick, status, 0, buf.subspan(1));
      }
      std::printf("%s\n", line.c_str());
    }
  }
  smf_delete(smf);
  return 0;
}
