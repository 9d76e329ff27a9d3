// midipipe: polling of Limits::stop inside the analysis passes.
//
// Plain C++20; never includes postgres.h. A pass counts its units of work
// (notes, boundaries, bytes) with Poller::step(); every kStopEvery units it
// asks the StopCheck, and when that says stop it throws Cancelled, which
// unwinds the pass through ordinary C++ destructors up to the engine's entry
// point (analyze_with, split_tracks, to_json), which catches it and reports
// Code::cancelled. Cancelled never leaves the engine.
#pragma once

#include <cstddef>
#include <cstdint>

#include "smf.hpp"

namespace midipipe {

struct Cancelled {};

class Poller {
 public:
  Poller() noexcept = default;
  explicit Poller(StopCheck stop) noexcept
      : stop_(stop), left_(stop.fn != nullptr ? kStopEvery : kNever) {}
  // Counts n units of work; polls when kStopEvery have been counted since
  // the last poll. One subtraction and one branch when it does not poll.
  void step(uint64_t n = 1) {
    if (n >= left_) [[unlikely]] {
      poll();
    } else {
      left_ -= n;
    }
  }
  // Polls now (between passes).
  void poll() {
    left_ = stop_.fn != nullptr ? kStopEvery : kNever;
    if (stop_.requested()) [[unlikely]]
      throw Cancelled{};
  }
  const StopCheck& check() const noexcept { return stop_; }

 private:
  static constexpr uint64_t kNever = UINT64_MAX;
  StopCheck stop_;
  uint64_t left_ = kNever;
};

// body(i) for i in [0, n), with a poll (when `poller` is set) before every
// block of kStopEvery: the loop over a block is the plain loop.
template <class F>
void for_polled(Poller* poller, size_t n, F&& body) {
  for (size_t b = 0; b < n;) {
    const size_t e = n - b > kStopEvery ? b + kStopEvery : n;
    if (poller != nullptr) poller->step(e - b);
    for (size_t i = b; i < e; ++i) body(i);
    b = e;
  }
}

}  // namespace midipipe
