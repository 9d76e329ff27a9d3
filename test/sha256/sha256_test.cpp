// SHA-256: FIPS 180-4 / NIST CAVP vectors, hardware vs portable path, and
// incremental updates split at every boundary.
#include "sha256.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace {

using midipipe::Sha256;
using midipipe::sha256;
using midipipe::sha256_hex;

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

struct Vector {
  std::string input;
  const char* hex;
};

std::vector<Vector> vectors() {
  return {
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
      {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmn"
       "o"
       "pqrsmnopqrstnopqrstu",
       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
      {std::string(1000000, 'a'),
       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
      // 55, 56, 63, 64 bytes: the padding boundaries.
      {std::string(55, 'a'), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
      {std::string(56, 'a'), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
      {std::string(63, 'a'), "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
      {std::string(64, 'a'), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
  };
}

class Sha256Paths : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { previous_ = midipipe::sha256_force_portable(GetParam()); }
  void TearDown() override { midipipe::sha256_force_portable(previous_); }
  bool previous_ = false;
};

TEST_P(Sha256Paths, KnownVectors) {
  for (const auto& v : vectors()) {
    EXPECT_EQ(sha256_hex(sha256(bytes(v.input))), v.hex) << "input length " << v.input.size();
  }
}

TEST_P(Sha256Paths, IncrementalSplitsMatchOneShot) {
  std::mt19937 rng(12345);
  std::vector<uint8_t> data(1000);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  const auto whole = sha256(data);
  for (size_t cut = 0; cut <= data.size(); cut += 7) {
    Sha256 h;
    h.update(std::span<const uint8_t>(data).first(cut));
    h.update(std::span<const uint8_t>(data).subspan(cut));
    EXPECT_EQ(h.finish(), whole) << "cut at " << cut;
  }
  // Byte at a time, and reuse after finish().
  Sha256 h;
  for (uint8_t b : data) h.update(std::span<const uint8_t>(&b, 1));
  EXPECT_EQ(h.finish(), whole);
  h.update(bytes("abc"));
  EXPECT_EQ(sha256_hex(h.finish()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

INSTANTIATE_TEST_SUITE_P(Both, Sha256Paths, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "portable" : "default"; });

TEST(Sha256, HardwareAndPortableAgreeOnRandomData) {
  std::mt19937 rng(777);
  for (size_t len : {0u, 1u, 63u, 64u, 65u, 127u, 128u, 4095u, 10000u, 65537u}) {
    std::vector<uint8_t> data(len);
    for (auto& b : data) b = static_cast<uint8_t>(rng());
    const bool prev = midipipe::sha256_force_portable(true);
    const auto portable = sha256(data);
    midipipe::sha256_force_portable(false);
    const auto fast = sha256(data);
    midipipe::sha256_force_portable(prev);
    EXPECT_EQ(portable, fast) << "length " << len;
  }
  RecordProperty("hardware", midipipe::sha256_uses_hardware() ? "yes" : "no");
}

}  // namespace
