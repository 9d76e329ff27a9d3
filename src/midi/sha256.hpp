// midipipe: SHA-256 (FIPS 180-4) of file contents.
//
// Plain C++20; never includes postgres.h (the extension, the CLI and the
// engine-alone benchmarks all use it). Uses the x86 SHA extensions when the CPU
// has them, a portable implementation otherwise; both give the same digest.
// Never throws, never allocates.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace midipipe {

using Sha256Digest = std::array<uint8_t, 32>;

// Incremental hashing: update() any number of times, then finish() once.
class Sha256 {
 public:
  Sha256() noexcept { reset(); }
  void reset() noexcept;
  void update(std::span<const uint8_t> data) noexcept;
  Sha256Digest finish() noexcept;

 private:
  uint32_t state_[8];
  uint8_t buffer_[64];
  size_t buffered_;
  uint64_t total_;
};

// The digest of `data` in one call.
Sha256Digest sha256(std::span<const uint8_t> data) noexcept;

// Lower-case hex of a digest (64 characters).
std::string sha256_hex(const Sha256Digest& digest);

// Whether the hardware (x86 SHA-NI) path is in use; for tests and benchmarks.
bool sha256_uses_hardware() noexcept;
// Forces the portable path (tests compare both); returns the previous setting.
bool sha256_force_portable(bool force) noexcept;

}  // namespace midipipe
