#pragma once
// Driving an io_context from a test thread: run handlers until a condition holds or a time
// limit passes (no sleeps where an event can be awaited). Header-only; test code only.

#include <boost/asio/io_context.hpp>
#include <algorithm>
#include <chrono>

namespace tg::testing {

// Runs handlers of `io` until `pred` holds or `limit` passes; false on timeout.
template <typename Pred>
bool runUntil(boost::asio::io_context& io, Pred pred,
              std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  using Clock = std::chrono::steady_clock;
  auto end = Clock::now() + limit;
  while (!pred()) {
    auto now = Clock::now();
    if (now >= end) {
      return false;
    }
    if (io.stopped()) {
      io.restart();
    }
    io.run_one_for(std::min<Clock::duration>(end - now, std::chrono::milliseconds(50)));
  }
  return true;
}

}  // namespace tg::testing
