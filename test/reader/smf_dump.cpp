// smf-dump FILE: print what midipipe's reader makes of a MIDI file: the status
// (code, offset, message, warnings) on lines starting with '#', then one line
// per event in the format of test/common/smf_text.hpp. Test/debug tool.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

#include "smf.hpp"
#include "smf_text.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: smf-dump FILE\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "smf-dump: cannot open %s\n", argv[1]);
    return 2;
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  const midipipe::Smf smf = midipipe::read_smf(bytes);
  const auto& st = smf.status;
  std::printf("# code %s offset %llu events %llu tracks %u%s%s\n",
              std::string(midipipe::code_name(st.code)).c_str(),
              static_cast<unsigned long long>(st.offset),
              static_cast<unsigned long long>(st.events), st.tracks,
              st.message.empty() ? "" : " : ", st.message.c_str());
  std::printf("# header format %u ntracks %u division %04x ppq %u fps %u tpf %u\n",
              smf.header.format, smf.header.ntracks_declared, smf.header.division_raw,
              smf.header.ppq, smf.header.smpte_fps, smf.header.smpte_ticks_per_frame);
  for (const auto& w : st.warnings) {
    std::printf("# warning %s at %llu\n", std::string(midipipe::code_name(w.code)).c_str(),
                static_cast<unsigned long long>(w.offset));
  }
  for (const auto& line : midipipe::testing::event_lines(smf, bytes))
    std::printf("%s\n", line.c_str());
  return 0;
}
